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


@pytest.mark.slow
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


# What a side prints: TensorFlow's notices on stderr (written in pieces that split lines), then its own
SIDE = r"""
import os, sys, time
notices = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796593185.855813   14782 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.\n"
    b"I0000 00:00:1796593185.856300   14782 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.\n"
)
for i in range(0, len(notices), 50):
    os.write(2, notices[i : i + 50])
    time.sleep(0.01)
side = sys.argv[1]
print(f"{side} epoch 1/1: train loss 0.5", flush=True)
print(f"{side}: a warning of its own", file=sys.stderr, flush=True)
sys.exit(3)
"""


def test_the_runner_drops_the_notices_from_a_streamed_and_a_held_side(tmp_path, monkeypatch, capfd):
    from parity import runner

    script = tmp_path / "side.py"  # a file, so that the command line shown holds no notice text
    script.write_text(SIDE)

    def fake(side, *options):
        return [sys.executable, str(script), side]

    monkeypatch.setattr(runner, "side_command", fake)
    runs = runner.run_sides({"keras": [], "torch": []}, echo=True)  # keras streamed, torch held
    shown = capfd.readouterr().out
    for side in ("keras", "torch"):
        assert f"{side} epoch 1/1: train loss 0.5" in shown
        assert f"{side}: a warning of its own" in shown
        assert runs[side].returncode == 3
        assert f"{side} epoch 1/1" in runs[side].output_tail  # the tail a crash report shows
        for kept in (shown, runs[side].output_tail):
            assert not any(word in kept for word in ("absl", "oneDNN", "cuda drivers"))
