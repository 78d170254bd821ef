"""One function launches a side: `python -m {side}_impl.train OPTIONS` in a process of its own.

TensorFlow and torchvision must never share a process (importing TensorFlow first crashes it), and
one side at a time gives each side the whole machine.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # where shared/, keras_impl/ and torch_impl/ live


@dataclass(frozen=True)
class SideRun:
    command: list[str]
    returncode: int
    output_tail: str  # the end of its output (stdout and stderr together)

    def describe_exit(self) -> str:
        if self.returncode < 0:
            return f"killed by signal {signal.Signals(-self.returncode).name}"
        return f"exit status {self.returncode}"


KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def add_keras_backend_option(parser) -> None:
    """--keras-backend, for compare.py and bench.py: set in the environment each side inherits."""
    parser.add_argument(
        "--keras-backend",
        choices=KERAS_BACKENDS,
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="the Keras 3 backend of the Keras side (default: $KERAS_BACKEND, else tensorflow)",
    )


def side_command(side: str, *options: str) -> list[str]:
    return [sys.executable, "-m", f"{side}_impl.train", *options]


def run_side(side: str, options: list[str], echo: bool = False) -> SideRun:
    """Run one side to its end; with `echo`, stream its output to ours as it comes."""
    cmd = side_command(side, *options)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}  # the packages importable from any working directory
    if echo:
        print(f"\n=== {side}: {' '.join(cmd[1:])}", flush=True)
    tail: collections.deque[bytes] = collections.deque(maxlen=64)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) as proc:
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):
            if echo:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            tail.append(chunk)
    return SideRun(cmd, proc.returncode, b"".join(tail).decode(errors="replace")[-3000:])
