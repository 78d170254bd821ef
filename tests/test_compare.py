"""compare.py end to end on the quick configuration: it passes, it fails when one side is changed,
and it reports a crashed side; each side runs in a process of its own. --probe-only: the audit and
the probe without training."""

import json
import sys
from pathlib import Path

import pytest

import compare
from parity import runner

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.xdist_group("untouched-quick-run")  # shares untouched_quick_run on one worker
def test_quick_run_passes_and_writes_every_artefact(untouched_quick_run, tmp_path, compare_cli):
    out, done = untouched_quick_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PARITY PASS" in done.stdout
    assert {p.name for p in out.iterdir()} == {
        "keras.json",
        "torch.json",
        "spec.json",
        "parity.json",
        "report.md",
        "curves.png",
        "keras-audit.json",
        "torch-audit.json",
        "keras-probe.json",
        "torch-probe.json",
        "lockstep.png",
    }
    parity = json.loads((out / "parity.json").read_text())
    assert (
        parity["passed"]
        and all(c["passed"] for c in parity["checks"])
        and len(parity["checks"]) == 10
    )
    assert {"measured", "tolerance", "passed", "name"} <= set(parity["checks"][4])
    report = (out / "report.md").read_text()
    assert (
        "PARITY PASS" in report
        and "python compare.py --quick" in report
        and "keras 3" in report.lower()
    )
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    from PIL import Image

    with Image.open(out / "curves.png") as image:
        assert 800 <= image.width <= 2000 and 600 <= image.height <= 1600
        assert len(image.convert("L").getcolors(256)) > 50  # drawn, not blank
    # never overwrites an earlier run
    again = compare_cli("--quick", "--out", str(out))
    assert again.returncode == 2 and "never overwrites" in again.stderr
    # the sides ran at once; one after the other, each trains exactly as it did
    assert "the sides ran at the same time" in done.stdout
    alone = compare_cli(
        "--quick", "--seed", "1", "--one-at-a-time", "--out", str(tmp_path / "alone")
    )
    assert alone.returncode == 0 and "the sides ran at the same time" not in alone.stdout
    for side in ("keras", "torch"):
        together, apart = (
            json.loads((d / f"{side}.json").read_text()) for d in (out, tmp_path / "alone")
        )
        assert together["test"] == apart["test"]
        for row, same in zip(together["history"], apart["history"], strict=True):
            assert {k: v for k, v in row.items() if k != "seconds"} == {
                k: v for k, v in same.items() if k != "seconds"
            }


@pytest.mark.slow
def test_a_one_sided_change_is_flagged(tmp_path, compare_cli):
    out = tmp_path / "run"
    done = compare_cli("--quick", "--torch-set", "train.lr=0.05", "--out", str(out))
    assert done.returncode == 1, done.stdout[-3000:]
    assert "PARITY FAIL" in done.stdout
    failed = [
        c["name"]
        for c in json.loads((out / "parity.json").read_text())["checks"]
        if not c["passed"]
    ]
    assert any("loss difference" in name for name in failed)
    assert "torch train.lr=0.05" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_crashed_side_is_named_and_the_other_side_kept(tmp_path, monkeypatch, capsys):
    real = runner.side_command

    def crash_torch(side, *args):
        if side == "torch":  # a side killed mid-run (a segfault, the OOM killer) looks like this
            return [
                sys.executable,
                "-c",
                "import os, sys; print('partial output'); sys.stdout.flush(); "
                "os.kill(os.getpid(), 9)",
            ]
        return real(side, *args)

    monkeypatch.setattr(runner, "side_command", crash_torch)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    small = ["--quick", "--set", "data.train_subset=2000", "--epochs", "1"]
    assert compare.main([*small, "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "the torch side crashed (killed by signal SIGKILL)" in err and "partial output" in err
    assert (out / "keras.json").exists() and not (out / "torch.json").exists()
    parity = json.loads((out / "parity.json").read_text())
    assert not parity["passed"] and "torch trained to the end" in parity["verdict"]
    assert (out / "curves.png").exists()


@pytest.mark.slow
def test_a_refusing_side_stops_the_other_and_nothing_is_written(tmp_path, compare_cli):
    # lockstep cannot share its draws with DataLoader workers: the torch side refuses (exit 2)
    out = tmp_path / "run"
    done = compare_cli(
        "--mode",
        "lockstep",
        "--quick",
        "--torch-set",
        "data.pipeline=classic",
        "--torch-set",
        "data.workers=2",
        "--out",
        str(out),
    )
    assert done.returncode == 2 and "the torch side refused its arguments" in done.stderr
    assert "data.workers=0" in done.stdout  # the torch side's own message, shown
    # the Keras side, whose output streams first, was stopped: no epoch, no summary of a finished run
    assert "keras: training on" in done.stdout
    assert "keras epoch" not in done.stdout and "test accuracy" not in done.stdout
    assert out.is_dir() and not any(out.iterdir())


@pytest.mark.slow
@pytest.mark.xdist_group("forked-sides")  # untouched_probe_run, as tests/test_lockstep.py's
def test_probe_only_passes_untouched_and_trains_nothing(untouched_probe_run):
    out, done = untouched_probe_run  # compare.py --probe-only
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PROBE PASS: no setting differs and the float64 lockstep probe agrees" in done.stdout
    assert {p.name for p in out.iterdir()} == {
        "spec.json",
        "keras-audit.json",
        "torch-audit.json",
        "keras-probe.json",
        "torch-probe.json",
        "parity.json",
        "report.md",
        "lockstep.png",
    }
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and parity["mode"] == "probe-only"
    audit, probe = parity["checks"]
    assert audit["name"] == "audit: no setting differs" and audit["passed"]
    assert probe["name"].startswith("lockstep probe (float64, 10 steps)") and probe["passed"]
    assert parity["probe"]["first_difference"] is None and parity["probe"]["steps"] == 10
    assert parity["audit"] and all(r["status"] != "differs" for r in parity["audit"])
    report = (out / "report.md").read_text()
    assert "## Audit" in report and "Every step agrees within 1e-10" in report
    assert "python compare.py --probe-only" in report


def test_probe_only_runs_alone(capsys):
    for other in (["--audit"], ["--seeds", "3"], ["--resume", "runs/x"]):
        with pytest.raises(SystemExit) as exit_:
            compare.main(["--probe-only", *other])
        assert exit_.value.code == 2
        assert "--probe-only runs alone" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.xdist_group("untouched-quick-run")  # shares untouched_quick_run on one worker
def test_the_untouched_project_passes_with_another_seed(untouched_quick_run):
    out, done = untouched_quick_run  # seed 1
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    checks = json.loads((out / "parity.json").read_text())["checks"]
    probe = next(c for c in checks if c["name"].startswith("lockstep probe"))
    assert probe["passed"] and probe["measured"] < 1e-12
    assert "Every step agrees within 1e-10" in (out / "report.md").read_text()


def test_a_missing_calibration_is_a_usage_error_before_any_training(
    tmp_path, compare_cli, patched_copy
):
    quick = '"quick": {\n    "command"'  # the quick configuration's section, renamed away
    root = patched_copy(
        tmp_path, "parity/calibration.json", quick, quick.replace("quick", "weekly", 1)
    )
    out = tmp_path / "run"
    done = compare_cli("--quick", "--out", str(out), root=root)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "has no quick calibration" in done.stderr
    assert "python -m parity.calibrate --quick" in done.stderr
    assert not out.exists()  # nothing trained, nothing written
