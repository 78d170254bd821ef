"""Calibrate compare.py's curve checks, then check them on seeds the calibration did not use.

    python -m parity.calibrate            # the default configuration (slow: 80 pairs of full runs)
    python -m parity.calibrate --quick    # the [quick] configuration
    python -m parity.calibrate --quick --kind cnn   # the convolutional model's (quick-cnn)

For each mode (aligned, independent), both sides train once per calibration seed exactly as
`compare.py --seed N --mode M` trains them (in aligned mode the shared weights and order follow the
seed), and the difference Keras - PyTorch of every curve is measured at every epoch. Its spread per
epoch is the root mean square of those differences about zero (the check asks "is the difference
zero?", so a systematic offset between two correct pipelines belongs in the band). The allowed margin,
in spreads, is Student's t quantile for `runs` degrees of freedom at a two-sided level of the
family-wise false-alarm rate divided by the family's size (3 curves x epochs + the test accuracy):
Bonferroni over the checks of one run, with the uncertainty of a spread measured on `runs` seeds.

Then every held-out seed is trained the same way and judged by parity/checks.py with the new
tolerances, as compare.py would judge it; the count that pass and each check's largest margin are
recorded beside the calibration (parity/calibration.json), with the commit. Runs go through the
machinery of `compare.py --seeds` (parity/seeds.py): with --runs DIR they are kept, and a
calibration interrupted or repeated trains only what is missing (a `compare.py --seeds 20 --seed N
--mode M --out DIR/CONFIG-MODE-SET` run, SET `calibration` or `held-out`, is reused as it is).

The equivalence margins of `compare.py --seeds` follow from the same runs: the margin at which 5
seeds per side with no real difference show equivalence 95% of the time (equivalence_margin), from
each side's seed-to-seed spread of the final test scores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from parity.ablations import git, relative
from parity.checks import parity_checks, spreads_text
from parity.seeds import RUNS, collect
from parity.tolerances import (
    CALIBRATION_PATH,
    CONFIGURATIONS,
    CURVES,
    Tolerances,
    calibration_name,
    configuration_spec,
)
from shared.results import SIDES, Result, write_json
from shared.spec import CALIBRATED_MODES, spec_from_dict

FALSE_ALARM_RATE = 0.001  # family-wise, per run: one untouched run in 1,000 may fail a curve check
CALIBRATION_SEEDS = list(range(100, 120))
HELD_OUT_SEEDS = list(range(0, 20))  # compare.py's own seeds, 0 (the default) first
# The equivalence margins of `compare.py --seeds`: wide enough that EQUIVALENCE_SEEDS runs per side
# of two sides with no real difference show equivalence with probability EQUIVALENCE_POWER.
EQUIVALENCE_SEEDS = 5
EQUIVALENCE_POWER = 0.95


def options(mode: str, seed: int, config: str, out: Path) -> list[str]:
    """One side's run, as compare.py --seed `seed` --mode `mode` makes it (no audit, no probe)."""
    overrides, quick = CONFIGURATIONS[config]
    return [
        *("--quiet", "--device", "cpu", "--mode", mode, "--out", str(out)),
        *("--align-seed", str(seed), f"--set=train.seed={seed}"),
        *(f"--set={setting}" for setting in overrides),
        *(["--quick"] if quick else []),
    ]


def expected(mode: str, seed: int, config: str) -> dict:
    """What a kept run must hold (a --runs directory reused)."""
    spec = configuration_spec(config, [f"train.seed={seed}"])
    return {"mode": mode, "align_seed": seed, "spec": spec.to_dict()}


def train(mode: str, seeds: list[int], config: str, directory: Path) -> dict[str, list[Result]]:
    """Every seed of `mode` on both sides (a seed's two sides at once)."""
    results = collect(
        directory,
        seeds,
        lambda side, seed, out: options(mode, seed, config, out),
        lambda side, seed: expected(mode, seed, config),
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


def differences(results: dict[str, list[Result]]) -> dict[str, np.ndarray]:
    """Keras - PyTorch per seed (rows) and epoch (columns) of every checked quantity."""
    pairs = list(zip(results["keras"], results["torch"]))
    out = {
        key: np.array(
            [
                [getattr(hk, key) - getattr(ht, key) for hk, ht in zip(k.history, t.history)]
                for k, t in pairs
            ]
        )
        for key in CURVES
    }
    out["test_accuracy"] = np.array([[k.test.accuracy - t.test.accuracy] for k, t in pairs])
    return out


def tails(diffs: list[dict[str, np.ndarray]]) -> dict:
    """How heavy the tails of a difference are, measured: every calibration run's differences over
    the spread of the OTHER runs (leave one out, so that a run does not shrink its own yardstick),
    pooled over every curve, epoch and mode, and matched to a scaled Student t by their variance and
    kurtosis (a t with df degrees of freedom has kurtosis 3 + 6 / (df - 4)). Two correct pipelines
    part now and then by more than a normal curve allows (a validation score that dips for one
    epoch); a threshold from the normal curve would then fail them more often than it says."""
    z = []
    for by_key in diffs:
        for d in by_key.values():
            for i in range(len(d)):
                others = np.delete(d, i, axis=0)
                z.append(d[i] / np.sqrt(np.mean(others**2, axis=0)))
    z = np.concatenate(z)
    variance = float(np.mean(z**2))
    kurtosis = float(np.mean(z**4) / variance**2)
    # no heavier than normal: the t of a spread measured on the runs left out, as for normal noise
    df = 4 + 6 / (kurtosis - 3) if kurtosis > 3 + 6 / (len(diffs[0]["train_loss"]) - 5) else None
    df = df or float(len(diffs[0]["train_loss"]) - 1)
    return {
        "values": int(z.size),
        "variance": variance,
        "kurtosis": kurtosis,
        "df": df,
        "scale": float(np.sqrt(variance * (df - 2) / df)),
        "largest": float(np.max(np.abs(z))),
    }


def allowed_margin(tail: dict, epochs: int, rate: float = FALSE_ALARM_RATE) -> float:
    """The margin, in spreads, that a run with no real difference passes on all of its 3 x epochs + 1
    curve checks with probability at least 1 - rate: Bonferroni over the family, each check's
    two-sided quantile of the measured tails (a scaled Student t)."""
    family = len(CURVES) * epochs + 1
    return float(tail["scale"] * stats.t.ppf(1 - rate / (2 * family), tail["df"]))


def equivalence_margin(sd_keras: float, sd_torch: float, n: int = EQUIVALENCE_SEEDS) -> float:
    """The margin at which n seeds per side, with these spreads and no real difference, show
    equivalence (the 90% Welch interval inside +-margin) with probability EQUIVALENCE_POWER:
    the interval's half-width plus the two-sided EQUIVALENCE_POWER quantile of the observed
    difference, both in standard errors of the difference of the means."""
    se = float(np.sqrt((sd_keras**2 + sd_torch**2) / n))
    df = (n - 1) * (sd_keras**2 + sd_torch**2) ** 2 / (sd_keras**4 + sd_torch**4)
    return (stats.t.ppf(0.95, df) + stats.norm.ppf(0.5 + EQUIVALENCE_POWER / 2)) * se


def calibrate(results: dict[str, list[Result]], tail: dict, rate: float) -> dict:
    """One mode's entry of calibration.json from its calibration runs and the measured tails."""
    diffs = differences(results)
    runs, epochs = diffs["train_loss"].shape
    side_sd = {
        side: {
            key: float(np.std([getattr(r.test, key) for r in rs], ddof=1))
            for key in ("accuracy", "loss")
        }
        for side, rs in results.items()
    }
    spread = {key: np.sqrt(np.mean(d**2, axis=0)).tolist() for key, d in diffs.items()}
    spread["test_accuracy"] = spread["test_accuracy"][0]
    return {
        "runs": runs,
        "seeds": [r.seed for r in results["keras"]],
        "spread": spread,
        # for the reader: a mean far from zero in its own standard errors is a systematic offset
        "mean_difference": {key: d.mean(axis=0).round(6).tolist() for key, d in diffs.items()},
        "allowed": allowed_margin(tail, epochs, rate),
        "side_sd": side_sd,
        "mean_test_accuracy": {
            side: float(np.mean([r.test.accuracy for r in rs])) for side, rs in results.items()
        },
        "suggested_equivalence": {
            key: equivalence_margin(side_sd["keras"][key], side_sd["torch"][key])
            for key in ("accuracy", "loss")
        },
    }


def judge_held_out(results: dict[str, list[Result]], tol: Tolerances) -> dict:
    """Every held-out pair judged by compare.py's curve checks under `tol`."""
    verdicts, largest = [], {}
    for keras, torch in zip(results["keras"], results["torch"]):
        spec = configuration_spec(tol.config, [f"train.seed={keras.seed}"])
        checks = [c for c in parity_checks(keras, torch, spec, tol.mode, tol) if c.spread]
        worst = max(checks, key=lambda c: c.margin)
        verdicts.append(
            {
                "seed": keras.seed,
                "passed": all(c.passed for c in checks),
                "closest": worst.name,
                "margin": round(worst.margin, 3),
            }
        )
        for c in checks:
            largest[c.name] = max(largest.get(c.name, 0.0), round(c.margin, 3))
    return {
        "runs": len(verdicts),
        "passed": sum(v["passed"] for v in verdicts),
        "largest_margin": largest,
        "allowed": tol.allowed,
        "per_seed": verdicts,
    }


def record_control(path: Path, name: str, run_dir: Path, what: str, commit: str) -> None:
    """Keep a finished compare.py run of a one-sided slip in the calibration file: its two results,
    its command and the configuration that judged it (its spec's, not --quick's or --kind's).
    tests/test_verdict.py judges it again under every new calibration, and the curve checks must
    still fail it (a calibration wide enough to pass it would have lost its point)."""
    run = json.loads((run_dir / "spec.json").read_text())
    config = calibration_name(spec_from_dict(run["spec"]), path)
    doc = json.loads(path.read_text())
    doc.setdefault("controls", {})[name] = {
        "what": what,
        "command": run["command"],
        "mode": run["mode"],
        "config": config,
        "commit": commit,
        **{side: json.loads((run_dir / f"{side}.json").read_text()) for side in SIDES},
    }
    write_json(path, doc)


def table(doc: dict) -> str:
    """The calibration as a table (docs/tolerances.md quotes it): per configuration and mode, the spreads (first and last
    epoch), the allowed margin and the held-out seeds' outcome."""
    lines = [
        "| run | mode | seeds | train loss | val loss | val accuracy | test accuracy | allowed | "
        "held-out seeds passing | largest held-out margin |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in CONFIGURATIONS:
        for mode, e in doc.get(config, {}).get("modes", {}).items():
            s = e["spread"]
            curves = [f"{s[key][0]:.4f} → {s[key][-1]:.4f}" for key in CURVES]
            held = e.get("held_out", {})
            largest = max(held.get("largest_margin", {}).values(), default=float("nan"))
            lines.append(
                f"| {config} | {mode} | {e['runs']} | {' | '.join(curves)} | "
                f"{s['test_accuracy']:.4f} | {e['allowed']:.2f} | "
                f"{held.get('passed', '-')} of {held.get('runs', '-')} | {largest:.2f} |"
            )
    return "\n".join(lines)


def controls_table(doc: dict) -> str:
    """Each recorded control judged under the current calibration: its curve checks' margins."""
    lines = ["| control | curve checks failed (margin of allowed, in spreads) |", "|---|---|"]
    for name, control in doc.get("controls", {}).items():
        keras, torch = (Result.from_dict(control[side]) for side in SIDES)
        spec = configuration_spec(control["config"])
        checks = [c for c in parity_checks(keras, torch, spec, control["mode"]) if c.spread]
        failed = [f"{c.name.split(' (')[0]}: {spreads_text(c)}" for c in checks if not c.passed]
        lines.append(f"| {name}: {control['what']} | {'; '.join(failed) or 'none'} |")
    return "\n".join(lines)


def configuration(quick: bool, kind: str) -> str:
    """The configuration's name in parity/calibration.json (parity/tolerances.py CONFIGURATIONS)."""
    base = "quick" if quick else "default"
    return base if kind == "mlp" else (kind if base == "default" else f"{base}-{kind}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity.calibrate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="calibrate the [quick] configuration")
    parser.add_argument(
        "--kind",
        choices=("mlp", "cnn"),
        default="mlp",
        help="the model's kind: cnn calibrates the cnn (or quick-cnn) configuration",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=CALIBRATION_SEEDS)
    parser.add_argument("--held-out", type=int, nargs="*", default=HELD_OUT_SEEDS)
    parser.add_argument("--false-alarm-rate", type=float, default=FALSE_ALARM_RATE)
    parser.add_argument("--out", default=str(CALIBRATION_PATH))
    parser.add_argument(
        "--runs",
        help="keep every run in this directory (default: a temporary one); calibrating again with "
        "the same directory trains only the runs missing there",
    )
    parser.add_argument(
        "--control",
        nargs=2,
        metavar=("NAME", "RUN_DIR"),
        help="record the finished compare.py run in RUN_DIR, of a one-sided slip, as a control that "
        "the curve checks must fail (no training; --what says what was slipped)",
    )
    parser.add_argument("--what", default="", help="with --control: the slip, in words")
    parser.add_argument(
        "--commit", help="with --control: the commit the run trained at (default: HEAD)"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="print the calibration as a table (docs/tolerances.md quotes it)",
    )
    args = parser.parse_args(argv)
    if args.table:
        doc = json.loads(Path(args.out).read_text())
        print(f"{table(doc)}\n\n{controls_table(doc)}")
        return 0
    config = configuration(args.quick, args.kind)
    if args.control:
        commit = args.commit or git("rev-parse", "HEAD")
        record_control(Path(args.out), args.control[0], Path(args.control[1]), args.what, commit)
        return 0
    if len(args.seeds) < 2 or len(set(args.seeds)) != len(args.seeds):
        parser.error("a spread needs at least two different seeds")
    if set(args.seeds) & set(args.held_out):
        parser.error("a held-out seed must not be a calibration seed")
    if not 0 < args.false_alarm_rate < 1:
        parser.error("--false-alarm-rate must be between 0 and 1")

    section = {
        "command": " ".join(["python -m parity.calibrate", *(argv or sys.argv[1:])]),
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(
            git(
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                f":!{relative(Path(args.out))}",
            )
        ),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.system()}, CPU, Keras on TensorFlow",
        "false_alarm_rate": args.false_alarm_rate,
        "modes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.runs or tmp)
        where = {mode: workdir / f"{config}-{mode}" for mode in CALIBRATED_MODES}
        runs = {
            mode: train(mode, args.seeds, config, Path(f"{where[mode]}-calibration") / RUNS)
            for mode in CALIBRATED_MODES
        }
        section["tails"] = tails([differences(r) for r in runs.values()])
        for mode in CALIBRATED_MODES:
            entry = calibrate(runs[mode], section["tails"], args.false_alarm_rate)
            if args.held_out:
                held = train(mode, args.held_out, config, Path(f"{where[mode]}-held-out") / RUNS)
                tol = Tolerances.of(entry, config, mode, args.false_alarm_rate)
                entry["held_out"] = judge_held_out(held, tol)
            section["modes"][mode] = entry
            held = entry.get("held_out")
            print(
                f"{config} {mode}: {entry['runs']} seeds, allowed margin {entry['allowed']:.2f} "
                "spreads"
                + (f"; held-out seeds passing {held['passed']} of {held['runs']}" if held else "")
            )
    path = Path(args.out)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[config] = section
    write_json(path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
