"""Both frameworks meet in this one test process, so the import order is fixed here, first.

Importing TensorFlow before torchvision segfaults, and so does creating a torch optimizer after
TensorFlow was imported unless torch._dynamo came first. pytest loads this file before it collects
any test module, so whatever order it then collects in, torch, torchvision and torch._dynamo are
already loaded when a Keras test imports TensorFlow. (compare.py runs each side in its own process.)
"""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import torch  # noqa: E402,F401
import torch._dynamo  # noqa: E402,F401
import torchvision  # noqa: E402,F401

from shared.spec import load_spec  # noqa: E402
from shared.splits import load_splits  # noqa: E402


def once(tmp_path_factory, name: str, compute):
    """compute(directory), run by one pytest-xdist worker of the session and read by the others (the
    fixtures that train: each would otherwise run again on every worker whose tests ask for it).
    What it returns must pickle; `directory` is the same for every worker."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    saved = root / f"{name}.pickle"
    with FileLock(str(saved) + ".lock"):
        if saved.exists():
            return pickle.loads(saved.read_bytes())
        directory = root / name
        directory.mkdir(exist_ok=True)
        value = compute(directory)
        saved.write_bytes(pickle.dumps(value))
        return value


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` sends the tests of one xdist_group to one worker by the suffix `@group` that
    pytest-xdist adds to their node ids. From pytest 9.2 a node's id is a structured `_id` and xdist
    (3.8) still writes the old `_nodeid`, so nothing is grouped: each test of a group may land on
    either worker, and the worker that did not compute the group's fixture waits for the other
    (pytest-xdist issue #1386). This adds the suffix the way pytest 9.2 reads it, on the workers, and
    only where xdist's own did not take (an xdist that works leaves nothing to do here)."""
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest: xdist's suffix works there
        return
    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid.rpartition("]")[2] and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(groups))}")


@pytest.fixture(scope="session")
def spec():
    return load_spec()


@pytest.fixture(scope="session")
def small_spec():
    """A fast configuration for training tests: 3,000 training images, 1 epoch."""
    return load_spec(["data.train_subset=3000", "train.epochs=1"])


@pytest.fixture(scope="session")
def splits(spec):
    return load_splits(spec)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def compare_cli():
    """Run `python compare.py ARGS` in a repository (this one, or a patched copy) as a user would."""

    def run(*args: str, root: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(root)}
        cmd = [sys.executable, "compare.py", *args]
        return subprocess.run(
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )

    return run


@pytest.fixture(scope="session")
def patched_copy():
    """make(tmp_path, file, old, new): a copy of the repository in tmp_path/repo whose `file` has its
    one occurrence of `old` replaced by `new` (a one-sided mistake, never a hook in the code)."""

    def make(tmp_path: Path, file: str, old: str, new: str) -> Path:
        root = tmp_path / "repo"
        ignore = shutil.ignore_patterns("__pycache__", "data")
        for package in (
            "keras_impl",
            "torch_impl",
            "keras_parity",
            "torch_parity",
            "parity",
            "shared",
        ):
            shutil.copytree(ROOT / package, root / package, ignore=ignore)
        (root / "shared" / "data").symlink_to(ROOT / "shared" / "data")
        shutil.copy(ROOT / "compare.py", root / "compare.py")
        path = root / file
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} must occur once in {file}"
        path.write_text(text.replace(old, new))
        return root

    return make


@pytest.fixture(scope="session")
def untouched_quick_run(tmp_path_factory, compare_cli):
    """(run directory, the finished process) of one untouched `compare.py --quick --seed 1`, shared
    by the tests that only read it: a whole run is the suite's most expensive thing."""

    def compute(directory):
        out = directory / "run"
        return out, compare_cli("--quick", "--seed", "1", "--out", str(out))

    return once(tmp_path_factory, "untouched-quick-run", compute)


@pytest.fixture(scope="session")
def computed_once(tmp_path_factory):
    """once(), for the session fixtures of test files: computed_once(name, compute)."""
    return lambda name, compute: once(tmp_path_factory, name, compute)
