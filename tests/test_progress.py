"""Where a side's output is not a terminal (a log file, CI, compare.py's pipe), its progress is one
plain line per epoch, the same on both sides: no progress bar's escape codes or per-batch updates."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.results import SIDES

# each side trains a tiny run in its own process
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "data.train_subset=500", "--set", "data.validation_size=500", "--epochs", "2"]


@pytest.mark.parametrize("side", SIDES)
def test_piped_progress_is_one_plain_line_per_epoch(side):
    done = subprocess.run(
        [sys.executable, "-m", f"{side}_impl.train", *TINY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=180,
    )
    out = done.stdout.decode(errors="replace")
    assert done.returncode == 0, out[-3000:]
    assert "\x1b" not in out and "\r" not in out, out[:3000]
    line = rf"{side} epoch (\d)/2: train loss [\d.]+, train acc [\d.]+, val loss [\d.]+, val acc [\d.]+, [\d.]+ s"
    epochs = [m.group(1) for m in map(re.compile(line).fullmatch, out.splitlines()) if m]
    assert epochs == ["1", "2"], out[-3000:]
    assert len(out.splitlines()) < 30, out[:3000]  # no line per batch
