"""TensorFlow's start-up notices are kept out of a side's output by a filter on that output, not by
touching file descriptors at import: a learner's own warnings during the import still show."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.startup_notices import StartupNotices, is_notice

ROOT = Path(__file__).resolve().parents[1]

# What importing the Keras side prints, then a learner's own line on stderr and one on stdout
IMPORT = """
import sys, warnings
warnings.warn("a learner's own warning")
import keras_impl, keras
print("after the import", file=sys.stderr)
print("on stdout")
"""


@pytest.fixture(scope="module")
def import_output():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout.decode(errors="replace")
    return done.stdout


def filtered(output: bytes, size: int) -> bytes:
    notices = StartupNotices()
    out = b"".join(notices.feed(output[i : i + size]) for i in range(0, len(output), size))
    return out + notices.flush()


def test_the_import_prints_notices_that_the_filter_drops(import_output):
    lines = import_output.decode().splitlines()
    dropped = [line for line in lines if is_notice(line.encode())]
    assert dropped, "TensorFlow printed no start-up notice: nothing left to filter?"
    for size in (1, 7, 4096):  # output arrives in chunks that split lines anywhere
        kept = filtered(import_output, size).decode().splitlines()
        assert [line for line in lines if line not in dropped] == kept
        assert any("a learner's own warning" in line for line in kept)
        assert "after the import" in kept and "on stdout" in kept
        assert not any("absl" in line or "oneDNN" in line or "cuda" in line for line in kept)


def test_a_progress_line_passes_as_it_comes():
    notices = StartupNotices()
    assert notices.feed(b"\rEpoch 1/2:  40%|####") == b"\rEpoch 1/2:  40%|####"
    assert notices.feed(b"I0000 00:00:17") == b""  # may still become a notice: held
    assert (
        notices.feed(b"96.1   14 other.cc:9] kept\n")
        == b"I0000 00:00:1796.1   14 other.cc:9] kept\n"
    )
    assert notices.feed(b"WARNING: All log") == b""
    assert notices.flush() == b"WARNING: All log"  # the output ended: it was no notice
