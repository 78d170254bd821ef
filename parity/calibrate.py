"""Calibrate compare.py's tolerances from how much each framework moves, alone, from seed to seed.

    python -m parity.calibrate --seeds 0 1 2            # the default configuration (slow: full runs)
    python -m parity.calibrate --quick --seeds 0 1 2 3 4

For each mode and each framework, train once per seed and measure the spread (sample standard
deviation across seeds) of every curve at every epoch and of the final test accuracy. Aligned mode
keeps the shared initial weights and sample order fixed (align seed 0) and varies only the seed of
the framework's own randomness (dropout, augmentation), which is all that differs between the two
sides in that mode; independent mode varies everything. A cross-framework difference of two runs
has a standard deviation of sqrt(sd_keras^2 + sd_torch^2); the suggested tolerance is K (4) of
those, with each framework's per-epoch variances pooled over the epochs (a few seeds give a noisy
standard deviation per epoch; pooled over the epochs it is a steadier one). The measurements go to
parity/calibration.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from parity.runner import run_side
from shared.results import SIDES, Result, read_result, write_json
from shared.spec import MODES

K = 4.0
METRICS = ("train_loss", "val_loss", "val_accuracy")


def run(side: str, mode: str, seed: int, quick: bool, workdir: Path) -> Result:
    out = workdir / f"{side}-{mode}-{seed}.json"
    options = ["--quiet", "--device", "cpu", "--mode", mode, "--seed", str(seed), "--out", str(out)]
    options += ["--align-seed", "0"] if mode == "aligned" else []
    options += ["--quick"] if quick else []
    done = run_side(side, options)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(done.command)} failed:\n{done.output_tail}")
    print(f"done: {side} {mode} seed {seed}", flush=True)
    return read_result(out)


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
    return out


def pooled(sds: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(sds))))


def suggest(keras: dict, torch: dict) -> dict:
    tol = {key: K * float(np.hypot(pooled(keras[key]), pooled(torch[key]))) for key in METRICS}
    tol["test_accuracy"] = K * float(np.hypot(keras["test_accuracy"], torch["test_accuracy"]))
    return tol


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.calibrate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="calibrate the [quick] configuration")
    parser.add_argument("--out", default=str(Path(__file__).with_name("calibration.json")))
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("a spread needs at least two seeds")

    jobs = [(side, mode, seed) for mode in MODES for seed in args.seeds for side in SIDES]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        # Two processes at a time, one per core; results do not depend on timing.
        results = list(pool.map(lambda job: run(*job, args.quick, Path(tmp)), jobs))
    by = {}
    for (side, mode, _), result in zip(jobs, results):
        by.setdefault(mode, {}).setdefault(side, []).append(result)

    config = "quick" if args.quick else "default"
    path = Path(args.out)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[config] = {
        "command": " ".join(["python -m parity.calibrate", *(argv or sys.argv[1:])]),
        "seeds": args.seeds,
        "k": K,
        "modes": {},
    }
    for mode in MODES:
        s = {side: spreads(by[mode][side]) for side in SIDES}
        doc[config]["modes"][mode] = {
            "spread": s,
            "suggested_tolerances": suggest(s["keras"], s["torch"]),
        }
        print(
            f"{config} {mode}: suggested tolerances "
            + ", ".join(
                f"{k} {v:.4f}"
                for k, v in doc[config]["modes"][mode]["suggested_tolerances"].items()
            )
            + f"; mean test accuracy keras {s['keras']['test_accuracy_mean']:.4f}, "
            f"torch {s['torch']['test_accuracy_mean']:.4f}"
        )
    write_json(path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
