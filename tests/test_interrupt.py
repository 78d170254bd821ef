"""Ctrl-C, sent for real: SIGINT to the process group of compare.py (or of one side run alone), as a
terminal sends it to its foreground job, once a real event shows the run under way. Exit 130, one
line saying what was interrupted, no traceback, no side process left, the run directory marked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from parity.run_dirs import INTERRUPTED
from parity.startup_notices import is_notice
from shared.exit_codes import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[1]
# real compare.py and side processes, interrupted
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc"),
]


class Started:
    """A command in a process group of its own, its output read line by line as it comes."""

    def __init__(self, *command: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait_for(self, event: Callable[[], bool], timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not event():
            assert self.process.poll() is None, (
                f"ended first: {''.join(self.out + self.err)[-3000:]}"
            )
            assert time.monotonic() < deadline, f"no event: {''.join(self.out + self.err)[-3000:]}"
            time.sleep(0.02)

    def ctrl_c(self, timeout: float = 30) -> float:
        """SIGINT to the whole process group; the seconds until the process ended."""
        start = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        for reader in self.readers:
            reader.join(5)
        return time.monotonic() - start

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.out)


def side_processes(marker: str) -> list[int]:
    """The pids of the side processes (`python -m {side}_parity`) whose command names `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(a.endswith(("_parity", "_parity.side")) for a in argv) and any(
            marker in a for a in argv
        ):
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_one_line_and_no_traceback(run: Started) -> str:
    """The one line Ctrl-C printed (a side alone also shows TensorFlow's start-up notices)."""
    assert "Traceback" not in "".join(run.out + run.err)
    lines = [line for line in run.err if line.strip() and not is_notice(line.rstrip().encode())]
    assert len(lines) == 1, run.err
    return lines[0]


def test_ctrl_c_during_the_probe_stops_both_sides_and_marks_the_run(tmp_path):
    out = tmp_path / "run"
    run = Started("compare.py", "--quick", "--out", str(out))
    # the Keras side says it starts its probe; the PyTorch side has finished its own
    run.wait_for(lambda: run.printed("keras: training on") and (out / "torch-probe.json").exists())
    sides = side_processes(str(out))
    assert len(sides) == 2 and all(map(alive, sides))

    seconds = run.ctrl_c()
    assert run.process.returncode == EXIT_INTERRUPTED
    assert seconds < 5, f"{seconds:.1f} s to stop"
    line = assert_one_line_and_no_traceback(run)
    assert (
        line.startswith("interrupted (Ctrl-C) during the keras side's probe") and str(out) in line
    )
    assert not any(map(alive, sides))
    marker = json.loads((out / INTERRUPTED).read_text())
    assert marker["interrupted"] and "keras side's probe" in marker["during"]
    assert marker["command"].startswith("python compare.py --quick")
    # nothing that reads as a finished run, and no half-written file
    assert not {"parity.json", "report.md", "keras.json", "torch.json"} & {
        p.name for p in out.iterdir()
    }
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("side", ["keras", "torch"])
def test_ctrl_c_stops_a_side_run_alone(side, tmp_path):
    out = tmp_path / f"{side}.json"
    run = Started("-m", f"{side}_impl.train", "--quick", "--out", str(out))
    run.wait_for(lambda: run.printed(f"{side}: training on"))  # its data loaded; it builds, trains
    run.ctrl_c()
    assert run.process.returncode == EXIT_INTERRUPTED
    line = assert_one_line_and_no_traceback(run)
    assert line.strip() == f"{side}: interrupted (Ctrl-C) before the run finished"
    assert list(tmp_path.iterdir()) == []  # no result, not even half of one


@pytest.mark.slow
def test_ctrl_c_during_seeds_keeps_the_finished_runs_and_says_how_to_resume(tmp_path):
    out = tmp_path / "seeds"
    small = ["--quick", "--set", "data.train_subset=3000"]
    run = Started("compare.py", "--seeds", "2", *small, "--out", str(out))
    run.wait_for(lambda: run.printed("seed 2 of 2 (seed 1): training keras and torch"))
    sides = side_processes(str(out))
    run.ctrl_c()
    assert run.process.returncode == EXIT_INTERRUPTED
    line = assert_one_line_and_no_traceback(run)
    assert "during seed 2 of 2 (seed 1)" in line
    assert line.rstrip().endswith(f"continue with: python compare.py --resume {out}")
    assert not any(map(alive, sides))
    marker = json.loads((out / INTERRUPTED).read_text())
    assert marker["resume"] == f"python compare.py --resume {out}"
    assert (out / "seeds.json").exists() and not (out / "parity.json").exists()
    finished = {p.name for p in (out / "seeds").glob("*-seed0.json")}
    assert finished == {"keras-seed0.json", "torch-seed0.json"}
