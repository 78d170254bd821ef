"""Both frameworks meet in this one test process, so the import order is fixed here, first.

Importing TensorFlow before torchvision segfaults, and so does creating a torch optimizer after
TensorFlow was imported unless torch._dynamo came first. pytest loads this file before it collects
any test module, so whatever order it then collects in, torch, torchvision and torch._dynamo are
already loaded when a Keras test imports TensorFlow. (compare.py runs each side in its own process.)
"""

import os
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
