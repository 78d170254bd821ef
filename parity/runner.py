"""How compare.py and bench.py launch a side: `python -m {side}_parity OPTIONS` (the side's pipeline
with the parity instruments attached, {side}_parity/side.py) in a process of its own (TensorFlow and torchvision must never share a process: importing TensorFlow first crashes it).

compare.py starts both sides at once: on a CPU the PyTorch side trains on one thread and the Keras
side's step gains little from a second core, so together they take little longer than the slower one
alone. bench.py, which times them, runs one side at a time, each with the whole machine.

Each side runs in a process group of its own, so that a terminal's Ctrl-C reaches the caller only:
an interrupted caller stops every side it started (and the side's own children) itself, Ctrl-C first,
then SIGKILL after STOP_GRACE seconds, and no side's interrupted output is shown.

A side's output, shown and kept, passes through StartupNotices (parity/startup_notices.py): the
notices TensorFlow prints while it is imported, which no setting turns off, are dropped.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from parity.startup_notices import StartupNotices
from shared.exit_codes import EXIT_USAGE  # a side refused its arguments, spec or data

ROOT = (
    Path(__file__).resolve().parents[1]
)  # where shared/, the pipelines and their instruments live
STOP_GRACE = 1.0  # seconds a side has to end on Ctrl-C before it is killed


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
    return [sys.executable, "-m", f"{side}_parity", *options]  # its side.py, started (__main__.py)


def _side_env(sharing: int = 1) -> dict[str, str]:
    """The environment of a side, one of the `sharing` sides of one comparison (at once, or one after
    the other with the same threads, so that each trains exactly as it would at once)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}  # the packages importable from any working directory
    if sharing > 1:
        # Sides that share the cores take a share of them each: PyTorch's intra-op threads, by
        # default one per core, otherwise wait on each other (on 2 cores, measured: an epoch of 3-17 s
        # with two threads while the other side kept a core busy, 1.2-1.6 s with one).
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // sharing)))
    # Two sides may share one GPU: JAX would otherwise take 75% of its memory at start, TensorFlow all.
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    return env


class _Running:
    """One side's process; its output goes to a pipe copied to ours as it comes (`stream`), or to a
    file shown once the streamed side has ended."""

    def __init__(self, side: str, options: list[str], stream: bool, echo: bool, sharing: int = 1):
        self.command, self.echo = side_command(side, *options), echo
        self.tail: collections.deque[bytes] = collections.deque(maxlen=64)
        self.held = None if stream else tempfile.TemporaryFile()
        if echo and stream:
            print(f"\n=== {side}: {' '.join(self.command[1:])}", flush=True)
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stream else self.held,
            stderr=subprocess.STDOUT,
            env=_side_env(sharing),
            start_new_session=True,  # its own process group, out of reach of the terminal's Ctrl-C
        )
        self.reader = None
        if stream:
            self.reader = threading.Thread(target=self._copy, daemon=True)
            self.reader.start()

    def _copy(self) -> None:
        notices = StartupNotices()
        for chunk in iter(lambda: self.process.stdout.read1(4096), b""):
            self._show(notices.feed(chunk))
        self._show(notices.flush())

    def _show(self, output: bytes) -> None:
        """Echo a streamed side's output, TensorFlow's start-up notices dropped, and keep its tail."""
        if not output:
            return
        if self.echo:
            sys.stdout.buffer.write(output)
            sys.stdout.flush()
        self.tail.append(output)

    def finish(self, side: str) -> SideRun:
        """Wait for the process's end (and its streamed output's); show its held output."""
        self.process.wait()
        if self.reader:
            self.reader.join()
        else:
            self.held.seek(0)
            if self.echo:
                print(f"\n=== {side}: {' '.join(self.command[1:])}", flush=True)
                notices = StartupNotices()
                for chunk in iter(lambda: self.held.read(65536), b""):
                    sys.stdout.buffer.write(notices.feed(chunk))
                sys.stdout.buffer.write(notices.flush())
                sys.stdout.flush()
            size = self.held.seek(0, os.SEEK_END)
            self.held.seek(max(0, size - 4096))
            notices = StartupNotices()  # the tail too: a side that fails at once has notices in it
            self.tail.append(notices.feed(self.held.read()) + notices.flush())
            self.held.close()
        output = b"".join(self.tail).decode(errors="replace")[-3000:]
        return SideRun(self.command, self.process.returncode, output)

    def signal(self, signum: int) -> None:
        """Send `signum` to the side's process group: the side and the processes it started."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def stop(runs: list[_Running]) -> None:
    """Stop the sides still running, their output no longer shown: Ctrl-C, as a terminal sends it
    (a side ends at once, writing nothing more), then SIGKILL to those still there after STOP_GRACE."""
    running = [r for r in runs if r.process.poll() is None]
    for r in runs:
        r.echo = False
    try:
        for r in running:
            r.signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE
        for r in running:
            try:
                r.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:  # a second Ctrl-C while waiting must not leave a side behind
        for r in running:
            if r.process.poll() is None:
                r.signal(signal.SIGKILL)
        for r in running:
            r.process.wait()


@contextlib.contextmanager
def _starting():
    """Ctrl-C while sides start is taken once every side started is where `stop` finds it: between
    a side's start and its registration, the KeyboardInterrupt would leave it running (its own
    process group does not get the terminal's Ctrl-C), orphaned. Seen: a --seeds run interrupted
    as its second seed started left one side behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def run_sides(
    sides: dict[str, list[str]], echo: bool = False, at_once: bool = True
) -> dict[str, SideRun]:
    """Run each side (name -> its options) to its end: all at once, or one after the other. With
    `echo`, the first side's output streams to ours and the others' follows, in order, as one after
    the other would show it. A side that refuses its arguments (exit 2) stops the sides still to run,
    which are left out of the returned runs."""
    if not at_once:
        runs = {}
        for side, options in sides.items():
            started: list[_Running] = []
            try:
                with _starting():
                    # the same share of the cores as at once: a side's float sums depend on its threads
                    started.append(_Running(side, options, True, echo, sharing=len(sides)))
                runs[side] = started[0].finish(side)
            finally:  # an interrupt (Ctrl-C) or an error here ends the side
                stop(started)
            if runs[side].returncode == EXIT_USAGE:
                break
        return runs
    running: dict[str, _Running] = {}
    try:
        with _starting():
            for n, (side, options) in enumerate(sides.items()):
                running[side] = _Running(side, options, n == 0, echo, sharing=len(sides))
        while any(r.process.poll() is None for r in running.values()):
            if any(r.process.poll() == EXIT_USAGE for r in running.values()):
                break
            time.sleep(0.05)
        # after a refusal: the sides still running, whose results could not be compared
        stopped = [side for side, r in running.items() if r.process.poll() is None]
        stop([running[side] for side in stopped])
        return {side: r.finish(side) for side, r in running.items() if side not in stopped}
    finally:  # an interrupt (Ctrl-C) or an error here ends every side
        stop(list(running.values()))


def run_side(side: str, options: list[str], echo: bool = False) -> SideRun:
    """Run one side to its end; with `echo`, stream its output to ours as it comes."""
    return run_sides({side: options}, echo=echo)[side]
