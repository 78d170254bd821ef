"""Calibrate compare.py's tolerances from how much each framework moves, alone, from seed to seed.

    python -m parity.calibrate --seeds 0 1 2            # the default configuration (slow: full runs)
    python -m parity.calibrate --quick --seeds 0 1 2 3 4

For each mode and each framework, train once per seed and measure the spread (sample standard
deviation across seeds) of every curve at every epoch and of the final test accuracy and loss. The
runs go one at a time through the machinery of `compare.py --seeds` (parity/seeds.py); with
--runs DIR they are kept, and a calibration interrupted or repeated trains only what is missing.
Aligned mode
keeps the shared initial weights and sample order fixed (align seed 0) and varies only the seed of
the framework's own randomness (dropout, augmentation), which is all that differs between the two
sides in that mode; independent mode varies everything. A cross-framework difference of two runs
has a standard deviation of sqrt(sd_keras^2 + sd_torch^2); the suggested tolerance is K (4) of
those, with each framework's per-epoch variances pooled over the epochs (a few seeds give a noisy
standard deviation per epoch; pooled over the epochs it is a steadier one). The suggested
equivalence margins of `compare.py --seeds` (parity.equivalence_accuracy, equivalence_loss) are
the margins at which 5 seeds per side with no real difference show equivalence 95% of the time
(see equivalence_margin). The measurements go to parity/calibration.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

from parity.seeds import collect
from shared.results import SIDES, Result, write_json
from shared.spec import CALIBRATED_MODES, load_spec

K = 4.0
METRICS = ("train_loss", "val_loss", "val_accuracy")
# The equivalence margins of `compare.py --seeds`: wide enough that EQUIVALENCE_SEEDS runs per side
# of two sides with no real difference show equivalence with probability EQUIVALENCE_POWER.
EQUIVALENCE_SEEDS = 5
EQUIVALENCE_POWER = 0.95


def options(side: str, mode: str, seed: int, quick: bool, out: Path) -> list[str]:
    """One calibration run: aligned mode keeps the shared weights and order at align seed 0."""
    opts = ["--quiet", "--device", "cpu", "--mode", mode, "--seed", str(seed), "--out", str(out)]
    opts += ["--align-seed", "0"] if mode == "aligned" else []
    return opts + (["--quick"] if quick else [])


def expected(mode: str, seed: int, quick: bool) -> dict:
    """What a kept run of this calibration must hold (a --runs directory reused)."""
    spec = load_spec([f"train.seed={seed}"], quick=quick)
    return {"mode": mode, "align_seed": 0 if mode == "aligned" else seed, "spec": spec.to_dict()}


def run_mode(mode: str, seeds: list[int], quick: bool, workdir: Path) -> dict[str, list[Result]]:
    """Every seed of `mode` on both sides, through the machinery of compare.py --seeds."""
    results = collect(
        workdir / ("quick" if quick else "default") / mode,
        seeds,
        lambda side, seed, out: options(side, mode, seed, quick, out),
        lambda side, seed: expected(mode, seed, quick),
        log=lambda line: print(f"{mode}: {line}", flush=True),
    )
    stopped = [
        f"{r.framework} seed {r.seed}: {r.message}"
        for runs in results.values()
        for r in runs
        if not r.ok
    ]
    if stopped:
        raise SystemExit("a calibration run did not finish: " + "; ".join(stopped))
    return results


def spreads(results: list[Result]) -> dict:
    """Per-epoch sample standard deviations of each curve, and of the test accuracy."""
    out = {
        key: np.std(
            [[getattr(h, key) for h in r.history] for r in results], axis=0, ddof=1
        ).tolist()
        for key in METRICS
    }
    accuracies = [r.test.accuracy for r in results]
    out["test_accuracy"] = float(np.std(accuracies, ddof=1))
    out["test_accuracy_mean"] = float(np.mean(accuracies))
    losses = [r.test.loss for r in results]
    out["test_loss"] = float(np.std(losses, ddof=1))
    out["test_loss_mean"] = float(np.mean(losses))
    return out


def pooled(sds: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(sds))))


def suggest(keras: dict, torch: dict) -> dict:
    tol = {key: K * float(np.hypot(pooled(keras[key]), pooled(torch[key]))) for key in METRICS}
    tol["test_accuracy"] = K * float(np.hypot(keras["test_accuracy"], torch["test_accuracy"]))
    return tol


def equivalence_margin(sd_keras: float, sd_torch: float, n: int = EQUIVALENCE_SEEDS) -> float:
    """The margin at which n seeds per side, with these spreads and no real difference, show
    equivalence (the 90% Welch interval inside +-margin) with probability EQUIVALENCE_POWER:
    the interval's half-width plus the two-sided EQUIVALENCE_POWER quantile of the observed
    difference, both in standard errors of the difference of the means."""
    se = float(np.sqrt((sd_keras**2 + sd_torch**2) / n))
    df = (n - 1) * (sd_keras**2 + sd_torch**2) ** 2 / (sd_keras**4 + sd_torch**4)
    return (stats.t.ppf(0.95, df) + stats.norm.ppf(0.5 + EQUIVALENCE_POWER / 2)) * se


def suggest_equivalence(keras: dict, torch: dict) -> dict:
    """parity.equivalence_accuracy / equivalence_loss from the test-score spreads (where recorded)."""
    return {
        key: equivalence_margin(keras[key], torch[key])
        for key in ("test_accuracy", "test_loss")
        if key in keras and key in torch
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.calibrate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="calibrate the [quick] configuration")
    parser.add_argument("--out", default=str(Path(__file__).with_name("calibration.json")))
    parser.add_argument(
        "--runs",
        help="keep every run in this directory (default: a temporary one); calibrating again with "
        "the same directory trains only the runs missing there",
    )
    args = parser.parse_args(argv)
    if len(args.seeds) < 2 or len(set(args.seeds)) != len(args.seeds):
        parser.error("a spread needs at least two different seeds")

    # One process at a time, through the machinery of compare.py --seeds (parity/seeds.py).
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.runs or tmp)
        by = {mode: run_mode(mode, args.seeds, args.quick, workdir) for mode in CALIBRATED_MODES}

    config = "quick" if args.quick else "default"
    path = Path(args.out)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[config] = {
        "command": " ".join(["python -m parity.calibrate", *(argv or sys.argv[1:])]),
        "seeds": args.seeds,
        "k": K,
        "modes": {},
    }
    for mode in CALIBRATED_MODES:
        s = {side: spreads(by[mode][side]) for side in SIDES}
        doc[config]["modes"][mode] = {
            "spread": s,
            "suggested_tolerances": suggest(s["keras"], s["torch"]),
            "suggested_equivalence": suggest_equivalence(s["keras"], s["torch"]),
        }
        print(
            f"{config} {mode}: suggested tolerances "
            + ", ".join(
                f"{k} {v:.4f}"
                for k, v in doc[config]["modes"][mode]["suggested_tolerances"].items()
            )
            + "; suggested equivalence margins "
            + ", ".join(
                f"{k} {v:.4f}"
                for k, v in doc[config]["modes"][mode]["suggested_equivalence"].items()
            )
            + f"; mean test accuracy keras {s['keras']['test_accuracy_mean']:.4f}, "
            f"torch {s['torch']['test_accuracy_mean']:.4f}"
        )
    write_json(path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
