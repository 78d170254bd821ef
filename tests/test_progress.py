"""Where a side's output is not a terminal (a log file, CI, compare.py's pipe), its progress is one
plain line per epoch, the same on both sides: no progress bar's escape codes or per-batch updates.
Each side's `python -m {side}_impl.train` runs forked, its output to files (side_runs)."""

import re

import pytest

from shared.results import SIDES

# each side trains a tiny run in its own process
pytestmark = pytest.mark.slow

TINY = ["--set", "data.train_subset=500", "--set", "data.validation_size=500", "--epochs", "2"]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.xdist_group("forked-sides")  # side_runs' servers, started once: tests/conftest.py
def test_piped_progress_is_one_plain_line_per_epoch(side, side_runs):
    # `python -m {side}_impl.train`, its output to files
    done = side_runs(side, *TINY, module=f"{side}_impl.train", timeout=180)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "\x1b" not in out and "\r" not in out, out[:3000]
    line = rf"{side} epoch (\d)/2: train loss [\d.]+, train acc [\d.]+, val loss [\d.]+, val acc [\d.]+, [\d.]+ s"
    epochs = [m.group(1) for m in map(re.compile(line).fullmatch, out.splitlines()) if m]
    assert epochs == ["1", "2"], out[-3000:]
    assert len(out.splitlines()) < 30, out[:3000]  # no line per batch
