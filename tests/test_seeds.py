"""compare.py --seeds K and --resume DIR: equivalence by two one-sided tests over K seeds per side.

Two small comparisons train (K = 3, the quick configuration on 3,000 images, margins that decide by
a wide distance): the untouched project, judged equivalent, and a large one-sided change, judged
shown different. An interrupted run is built from the first one's files. The TOST itself is
checked on hand-written numbers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import compare
from parity import calibrate
from parity.run_dirs import INTERRUPTED, mark_interrupted
from parity.stats import seeds_needed, tost
from shared.results import read_result
from shared.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
K = 3
# Margins far from what 3 seeds of either outcome measure: 10 accuracy points, a test loss of 0.5
# (seed to seed the small quick runs move by about 1 point and 0.02; the one-sided change below
# costs tens of points and more than 1 in loss).
SMALL = [
    "--quick",
    "--set",
    "data.train_subset=3000",
    "--set",
    "parity.min_test_accuracy=0.5",
    "--set",
    "parity.equivalence_accuracy=0.10",
    "--set",
    "parity.equivalence_loss=0.5",
]
FILES = [f"{side}-seed{seed}.json" for seed in range(K) for side in ("keras", "torch")]


@pytest.fixture(scope="session")
def equivalent_run(computed_once, compare_cli):
    def compute(directory):
        out = directory / "same"
        return out, compare_cli("--seeds", str(K), *SMALL, "--out", str(out))

    return computed_once("seeds-equivalent", compute)


@pytest.fixture(scope="session")
def different_run(computed_once, compare_cli):
    def compute(directory):
        out = directory / "different"
        lower = ["--torch-set", "train.lr=1e-5"]
        return out, compare_cli("--seeds", str(K), *SMALL, *lower, "--out", str(out))

    return computed_once("seeds-different", compute)


# -- the two one-sided tests on hand-written numbers --------------------------------------------


def test_tost_outcomes():
    same = tost([0.90, 0.91, 0.92], [0.905, 0.915, 0.91], margin=0.05, metric="test accuracy")
    assert same.outcome == "equivalent" and same.passed and same.sentence.startswith("Equivalent")
    assert -0.05 < same.ci_low < same.difference < same.ci_high < 0.05 and same.p_value < 0.05

    apart = tost([0.95, 0.96, 0.97], [0.70, 0.71, 0.72], margin=0.05, metric="test accuracy")
    assert apart.outcome == "shown different" and apart.ci_low > 0.05
    assert "more than the margin" in apart.sentence

    below = tost([0.70, 0.71, 0.72], [0.95, 0.96, 0.97], margin=0.05, metric="test accuracy")
    assert below.outcome == "shown different" and below.ci_high < -0.05

    noisy = tost([0.80, 0.95, 0.88], [0.90, 0.85, 0.97], margin=0.05, metric="test accuracy")
    assert noisy.outcome == "inconclusive" and not noisy.passed
    assert noisy.seeds_needed > 3 and f"about {noisy.seeds_needed} seeds" in noisy.sentence
    # the same spread with many more seeds would settle it: the estimate is consistent
    assert seeds_needed(noisy.sd_keras, noisy.sd_torch, 0.05 - abs(noisy.difference)) == (
        noisy.seeds_needed
    )


def test_tost_matches_welch_by_hand():
    k, t = [1.0, 2.0, 4.0], [2.0, 3.0, 3.5, 5.0]
    e = tost(k, t, margin=3.0, metric="test loss")
    # Welch-Satterthwaite, written out: var/n per side, df, and the 90% interval
    import numpy as np
    from scipy import stats

    vk, vt = np.var(k, ddof=1) / 3, np.var(t, ddof=1) / 4
    df = (vk + vt) ** 2 / (vk**2 / 2 + vt**2 / 3)
    half = stats.t.ppf(0.95, df) * np.sqrt(vk + vt)
    assert e.df == pytest.approx(df) and e.difference == pytest.approx(np.mean(k) - np.mean(t))
    assert (e.ci_low, e.ci_high) == pytest.approx((e.difference - half, e.difference + half))


def test_tost_refuses_too_few_runs_and_a_bad_margin():
    with pytest.raises(ValueError, match="two runs"):
        tost([0.9], [0.9, 0.91], margin=0.01, metric="test accuracy")
    with pytest.raises(ValueError, match="margin"):
        tost([0.9, 0.92], [0.9, 0.91], margin=0.0, metric="test accuracy")


def test_margins_are_typed_spec_fields_and_quick_is_wider():
    default, quick = load_spec().parity, load_spec(quick=True).parity
    assert default.equivalence_accuracy == 0.0035  # calibrated: 5 seeds cannot show 0.3 points
    assert quick.equivalence_accuracy > default.equivalence_accuracy
    assert quick.equivalence_loss > default.equivalence_loss
    with pytest.raises(SpecError, match="parity.equivalence_loss"):
        load_spec(["parity.equivalence_loss=0"])


@pytest.mark.parametrize("config", ["default", "quick"])
def test_margins_are_at_least_the_calibrated_suggestion(config):
    """parity/calibration.json's independent-mode suggestions, from each side's spread over 20 seeds,
    recomputed from the recorded spreads; the spec's margins are at least those, and not loose."""
    entry = json.loads((ROOT / "parity" / "calibration.json").read_text())[config]
    entry = entry["modes"]["independent"]
    suggested = entry["suggested_equivalence"]
    for key in ("accuracy", "loss"):
        recomputed = calibrate.equivalence_margin(
            entry["side_sd"]["keras"][key], entry["side_sd"]["torch"][key]
        )
        assert recomputed == pytest.approx(suggested[key], rel=1e-12)
    margins = load_spec(quick=config == "quick").parity
    assert suggested["accuracy"] <= margins.equivalence_accuracy <= 1.5 * suggested["accuracy"]
    assert suggested["loss"] <= margins.equivalence_loss <= 1.5 * suggested["loss"]


# -- usage errors: exit 2 before any training ---------------------------------------------------


def test_too_few_seeds_is_a_usage_error(tmp_path, capsys):
    assert compare.main(["--seeds", "1", "--quick", "--out", str(tmp_path / "x")]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_resume_needs_a_saved_run(tmp_path, capsys):
    assert compare.main(["--resume", str(tmp_path)]) == 2
    assert "seeds.json" in capsys.readouterr().err


# -- the untouched project, a one-sided change, an interrupted run -----------------------------


@pytest.mark.slow
@pytest.mark.xdist_group("seeds-runs")  # shares equivalent_run on one worker
def test_the_untouched_project_is_equivalent(equivalent_run):
    out, done = equivalent_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SEEDS PASS" in done.stdout and "independent mode" in done.stdout
    assert f"seed {K} of {K} (seed {K - 1}): training keras and torch" in done.stdout
    assert "s left" in done.stdout
    runs = sorted(
        p.name for p in (out / "seeds").iterdir() if not p.stem.endswith(("-audit", "-probe"))
    )
    assert runs == sorted(FILES)
    parity = json.loads((out / "parity.json").read_text())
    assert parity["audit"] and parity["checks"][0]["name"] == "audit: no setting differs"
    for name in FILES:
        side, seed = name.removesuffix(".json").split("-seed")
        result = read_result(out / "seeds" / name)
        assert (result.framework, result.seed, result.mode) == (side, int(seed), "independent")
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and parity["seeds"] == list(range(K))
    assert [e["outcome"] for e in parity["equivalence"]] == ["equivalent", "equivalent"]
    for e in parity["equivalence"]:  # decided by a wide distance
        assert -e["margin"] / 2 < e["ci_low"] < e["ci_high"] < e["margin"] / 2
    assert len(parity["curves"]["keras"]["val_accuracy"]["sd"]) == 2  # two epochs
    report = (out / "report.md").read_text()
    assert "Equivalent: with 90% confidence" in report and " ± " in report
    assert "python compare.py --seeds 3 --quick" in report
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


@pytest.mark.slow
@pytest.mark.xdist_group("seeds-runs")  # shares different_run on one worker
def test_a_large_one_sided_change_is_shown_different(different_run):
    out, done = different_run
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    parity = json.loads((out / "parity.json").read_text())
    accuracy, loss = parity["equivalence"]
    # shown different, not merely "not equivalent": the whole interval lies beyond the margin
    assert accuracy["outcome"] == "shown different" and accuracy["ci_low"] > 2 * accuracy["margin"]
    assert loss["outcome"] == "shown different" and loss["ci_high"] < -2 * loss["margin"]
    assert "Shown different" in (out / "report.md").read_text()
    assert "SEEDS FAIL" in done.stdout and "one-sided overrides: torch train.lr=1e-5" in done.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("seeds-runs")  # shares equivalent_run on one worker
def test_resume_trains_only_the_missing_and_the_damaged_seeds(
    equivalent_run, tmp_path, compare_cli
):
    source, _ = equivalent_run
    out = tmp_path / "interrupted"
    shutil.copytree(source / "seeds", out / "seeds")
    shutil.copy(source / "seeds.json", out / "seeds.json")
    runs = out / "seeds"
    # interrupted during torch seed 2, and keras seed 1's file cut short
    (runs / "torch-seed2.json").unlink()
    text = (runs / "keras-seed1.json").read_text()
    (runs / "keras-seed1.json").write_text(text[: len(text) // 2])
    kept = [name for name in FILES if name not in ("torch-seed2.json", "keras-seed1.json")]
    before = {name: ((runs / name).read_bytes(), (runs / name).stat().st_mtime_ns) for name in kept}
    mark_interrupted(out, "seed 3 of 3 (seed 2): training torch", "python compare.py --seeds 3")

    # a different command line for the same directory is refused before anything trains
    refused = compare_cli("--resume", str(out), "--seeds", "4")
    assert refused.returncode == 2 and "--seeds differs" in refused.stderr
    refused = compare_cli("--resume", str(out), "--torch-set", "train.lr=0.01")
    assert refused.returncode == 2 and "--torch-set differs" in refused.stderr

    done = compare_cli("--resume", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"damaged run file {runs / 'keras-seed1.json'}" in done.stdout
    # the finished runs were read back, not trained again: the same bytes, never rewritten
    for name, (data, mtime) in before.items():
        assert (runs / name).read_bytes() == data and (runs / name).stat().st_mtime_ns == mtime
    # the missing and the damaged ones were trained again, complete
    for name, seed in (("torch-seed2.json", 2), ("keras-seed1.json", 1)):
        assert read_result(runs / name).seed == seed
    assert (runs / "keras-seed1.json.damaged").read_text() == text[: len(text) // 2]
    kept = sorted(p.name for p in runs.glob("*.json") if not p.stem.endswith(("-audit", "-probe")))
    assert kept == sorted(FILES)
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and parity["seeds"] == list(range(K))
    assert "# resumed: python compare.py --resume" in (out / "report.md").read_text()
    assert not (out / INTERRUPTED).exists()  # finished: no longer marked interrupted
