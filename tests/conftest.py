"""Both frameworks meet in this one test process, so the import order is fixed here, first.

Importing TensorFlow before torchvision segfaults, and so does creating a torch optimizer after
TensorFlow was imported unless torch._dynamo came first. pytest loads this file before it collects
any test module, so whatever order it then collects in, torch, torchvision and torch._dynamo are
already loaded when a Keras test imports TensorFlow. (compare.py runs each side in its own process.)
"""

import json
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One thread per process (the workers and every process they start), as compare.py gives each of
# two sides on 2 cores: the suite runs a worker per core already, and PyTorch's default of one
# intra-op thread per core makes the threads of busy processes wait on each other. Measured on 2 cores
# while the other worker ran: the nine PyTorch CNN probes of tests/test_cnn.py took 130 s with two
# threads, 17 s with one. compare.py, run by compare_cli, shares out the cores itself, as it would
# for a user: its own choice of threads is what its tests check.
OMP_SET_HERE = "OMP_NUM_THREADS" not in os.environ
os.environ.setdefault("OMP_NUM_THREADS", "1")

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
        if OMP_SET_HERE:  # compare.py gives each side its share of the cores (parity/runner.py)
            del env["OMP_NUM_THREADS"]
        cmd = [sys.executable, "compare.py", *args]
        return subprocess.run(
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )

    return run


class ForkedSides:
    """side_runs(side, *ARGS, root=ROOT, module=None): `python -m MODULE ARGS` (by default
    {side}_parity.side, the instrumented side) run in `root` (this repository or a patched copy), as
    a child forked from a process that has imported the side's framework already
    (tests/forked_side.py): the same run, without 3-5 s of imports each time."""

    def __init__(self, directory: Path):
        self.directory, self.servers, self.runs = directory, {}, 0

    def server(self, side: str) -> subprocess.Popen:
        if side not in self.servers:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            script = str(ROOT / "tests" / "forked_side.py")
            self.servers[side] = server = subprocess.Popen(
                [sys.executable, script, side],
                cwd=self.directory,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,  # its children with it, should a run time out
            )
            assert server.stdout.readline().strip() == "ready", f"{side}: the server did not start"
        return self.servers[side]

    def __call__(
        self, side: str, *args: str, root: Path = ROOT, timeout: float = 300, module=None
    ) -> subprocess.CompletedProcess:
        server = self.server(side)
        self.runs += 1
        out, err = (self.directory / f"{self.runs}-{side}.{kind}" for kind in ("out", "err"))
        request = [str(root), module or f"{side}_parity.side", list(args), str(out), str(err)]
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        if not select.select([server.stdout], [], [], timeout)[0]:
            os.killpg(server.pid, signal.SIGKILL)
            del self.servers[side]
            raise TimeoutError(f"{side} {' '.join(args)}: no exit in {timeout} s")
        status = json.loads(server.stdout.readline())
        return subprocess.CompletedProcess(args, status, out.read_text(), err.read_text())

    def close(self) -> None:
        for server in self.servers.values():
            server.stdin.close()
            server.wait(30)


@pytest.fixture(scope="session")
def side_runs(tmp_path_factory):
    """ForkedSides: `python -m {side}_parity.side ARGS` (or another module of the side) in a
    repository, forked from a process with the side's framework imported. Its tests share one
    xdist_group, "forked-sides", so that one worker starts the two servers."""
    sides = ForkedSides(tmp_path_factory.mktemp("forked-sides"))
    yield sides
    sides.close()


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
def untouched_probe_run(tmp_path_factory, compare_cli):
    """(run directory, the finished process) of one untouched `compare.py --probe-only`: both sides'
    audits (keras-audit.json, torch-audit.json, what `python -m {side}_parity.side --audit PATH
    --audit-only` writes) and float64 lockstep probes (keras-probe.json, torch-probe.json), shared by
    the tests that read them: the command's own test, the audit's and the probe's untouched
    references, and the Keras backends' reference."""

    def compute(directory):
        out = directory / "run"
        return out, compare_cli("--probe-only", "--out", str(out))

    return once(tmp_path_factory, "untouched-probe-run", compute)


# The convolutional model's probes, each side's in one process of its own (the probe and the audit, as
# `compare.py --probe-only --set model.kind=cnn` runs them): {side}-{name}-probe.json and
# {side}-{name}-audit.json, name "untouched" or an ablation switch (argv[2]: the names, null for none).
CNN_PROBES = """
import json, sys
from {side}_parity import side
for name in json.loads(sys.argv[2]):
    out = f"{{sys.argv[1]}}/{side}-{{name or 'untouched'}}"
    ablate = ["--set", f"ablate.{{name}}=true"] if name else []
    argv = ["--set", "model.kind=cnn", *ablate, "--device", "cpu", "--quiet"]
    argv += ["--probe", out + "-probe.json", "--audit", out + "-audit.json", "--audit-only"]
    assert side.main(argv) == 0
"""
# the PyTorch side's ablations of the convolutional model, each probed against the untouched Keras side
CNN_ABLATIONS = [
    "conv_padding",
    "conv_layout",
    "flatten_layout",
    "flatten_order",
    "batchnorm_momentum",
    "batchnorm_epsilon",
    "batchnorm_variance",
    "init_kernel",
]


@pytest.fixture(scope="session")
def cnn_probes(computed_once) -> Path:
    """The directory of the convolutional model's probes and audits (CNN_PROBES): the untouched Keras
    side's, and the PyTorch side's untouched and with each of CNN_ABLATIONS. Read by tests/test_cnn.py
    and, as the PyTorch reference of the Keras side's other backends, tests/test_keras_backends.py:
    their tests share one xdist_group, "cnn-probes"."""

    def compute(directory: Path) -> Path:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for side, names in (("keras", [None]), ("torch", [None, *CNN_ABLATIONS])):
            script = CNN_PROBES.format(side=side)
            cmd = [sys.executable, "-c", script, str(directory), json.dumps(names)]
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return directory

    return computed_once("cnn-probes", compute)


@pytest.fixture(scope="session")
def computed_once(tmp_path_factory):
    """once(), for the session fixtures of test files: computed_once(name, compute)."""
    return lambda name, compute: once(tmp_path_factory, name, compute)
