"""The judging and the report of `compare.py --seeds K`: the final test accuracy and test loss by two
one-sided tests (parity/stats.py) against the spec's equivalence margins, per-epoch bands over the
seeds, and DIR/report.md, DIR/parity.json and DIR/curves.png (drawn by parity/seeds_plot.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parity import settings_audit, step_comparison
from parity.checks import Check
from parity.report import checks_table, lockstep_sections
from parity.seeds import RUNS
from parity.seeds_plot import plot_bands
from parity.stats import CONFIDENCE, Equivalence, tost
from shared.results import EPOCH_COLUMNS, Result, write_atomically, write_json

BAND_KEYS = [key for key, _ in EPOCH_COLUMNS]


# -- per-epoch bands ---------------------------------------------------------------------------


def bands(results: list[Result]) -> dict[str, dict[str, list[float]]]:
    """Per epoch, the mean and the sample standard deviation of every curve over the runs."""
    finished = [r for r in results if r.ok]
    epochs = min((len(r.history) for r in finished), default=0)
    out = {}
    for key in [*BAND_KEYS, "seconds"]:
        values = np.array([[getattr(h, key) for h in r.history[:epochs]] for r in finished])
        out[key] = {
            "mean": values.mean(axis=0).tolist() if len(finished) else [],
            "sd": values.std(axis=0, ddof=1).tolist() if len(finished) > 1 else [0.0] * epochs,
        }
    return out


def band_table(by_side: dict[str, dict], markdown: bool = False) -> str:
    """A row per epoch per side: mean +- sd of each curve over the seeds."""
    pm = " ± " if markdown else " +- "
    header = ["epoch", "side", *(title for _, title in EPOCH_COLUMNS), "sec"]
    rows = []
    epochs = max((len(b["train_loss"]["mean"]) for b in by_side.values()), default=0)
    for i in range(epochs):
        for n, (side, b) in enumerate(by_side.items()):
            if i >= len(b["train_loss"]["mean"]):
                continue
            cells = [f"{b[key]['mean'][i]:.4f}{pm}{b[key]['sd'][i]:.4f}" for key in BAND_KEYS]
            rows.append(
                [str(i + 1) if n == 0 else "", side, *cells, f"{b['seconds']['mean'][i]:.1f}"]
            )
    if markdown:
        return "\n".join(
            "| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows]
        )
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [header, *rows])


# -- the verdict -------------------------------------------------------------------------------


def judge(results: dict[str, list[Result]], spec) -> tuple[list[Check], list[Equivalence]]:
    """Every run finished, each side's mean test accuracy reaches the floor, and the final test
    accuracy and loss are equivalent within the spec's margins (TOST)."""
    checks = []
    for side, runs in results.items():
        stopped = [f"seed {r.seed}: {r.message}" for r in runs if not r.ok]
        checks.append(
            Check(
                f"every {side} run trained to the end",
                None,
                0.0,
                not stopped,
                "; ".join(stopped) or f"{len(runs)} runs",
            )
        )
    finished = {side: [r for r in runs if r.ok] for side, runs in results.items()}
    if any(len(runs) < 2 for runs in finished.values()):
        return checks, []
    floor = spec.parity.min_test_accuracy
    for side, runs in finished.items():
        mean = float(np.mean([r.test.accuracy for r in runs]))
        checks.append(
            Check(
                f"{side} mean test accuracy >= minimum",
                mean,
                floor,
                mean >= floor,
                f"{mean:.4f} vs required {floor:.4f}",
                at_least=True,
            )
        )
    keras, torch = finished["keras"], finished["torch"]
    p = spec.parity
    equivalences = [
        tost(
            [r.test.accuracy for r in keras],
            [r.test.accuracy for r in torch],
            p.equivalence_accuracy,
            "test accuracy",
            points=True,
        ),
        tost(
            [r.test.loss for r in keras],
            [r.test.loss for r in torch],
            p.equivalence_loss,
            "test loss",
        ),
    ]
    return checks, equivalences


def _margin(e: Equivalence) -> str:
    points = e.metric.endswith("accuracy")
    return f"+-{e.margin * 100:.2f} points" if points else f"+-{e.margin:.4f}"


def verdict_line(
    checks: list[Check], equivalences: list[Equivalence], k: int, mode: str
) -> tuple[bool, str]:
    passed = all(c.passed for c in checks) and bool(equivalences)
    passed = passed and all(e.passed for e in equivalences)
    where = f"{k} seeds per side, {mode} mode"
    if passed:
        within = " and ".join(f"{e.metric} within {_margin(e)}" for e in equivalences)
        return True, f"SEEDS PASS: equivalent with {CONFIDENCE:.0%} confidence: {within} ({where})"
    problems = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    for e in equivalences:
        if not e.passed:
            scale, unit = (100, " points") if e.metric.endswith("accuracy") else (1, "")
            problems.append(
                f"{e.metric} {e.outcome.upper()} (difference {e.difference * scale:+.4g}{unit}, "
                f"{CONFIDENCE:.0%} CI [{e.ci_low * scale:+.4g}, {e.ci_high * scale:+.4g}]{unit}, "
                f"margin {_margin(e)})"
            )
    if not equivalences:
        problems.append("no equivalence test: fewer than two finished runs on a side")
    return False, f"SEEDS FAIL ({where}): " + "; ".join(problems)


# -- the report --------------------------------------------------------------------------------


def equivalence_table(equivalences: list[Equivalence]) -> str:
    lines = [
        f"| | keras mean ± sd | torch mean ± sd | K-T | {CONFIDENCE:.0%} CI | margin | df | "
        "TOST p | outcome |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in equivalences:
        lines.append(
            f"| {e.metric} | {e.mean_keras:.4f} ± {e.sd_keras:.4f} | {e.mean_torch:.4f} ± "
            f"{e.sd_torch:.4f} | {e.difference:+.4f} | [{e.ci_low:+.4f}, {e.ci_high:+.4f}] | "
            f"±{e.margin:g} | {e.df:.1f} | {e.p_value:.3g} | **{e.outcome}** |"
        )
    return "\n".join(lines)


def runs_table(results: dict[str, list[Result]]) -> str:
    lines = [
        "| seed | keras test acc | torch test acc | keras test loss | torch test loss | seconds (K, T) |",
        "|---|---|---|---|---|---|",
    ]
    for keras, torch in zip(results["keras"], results["torch"]):

        def cell(r, key):
            return f"{getattr(r.test, key):.4f}" if r.ok else r.status

        lines.append(
            f"| {keras.seed} | {cell(keras, 'accuracy')} | {cell(torch, 'accuracy')} | "
            f"{cell(keras, 'loss')} | {cell(torch, 'loss')} | "
            f"{keras.total_seconds:.1f}, {torch.total_seconds:.1f} |"
        )
    return "\n".join(lines)


def write_outputs(
    out_dir: Path,
    results: dict[str, list[Result]],
    spec,
    mode: str,
    commands: list[str],
    notes: list[str],
    audit_rows: list | None = None,
    probe: tuple[Check, step_comparison.Comparison | None] | None = None,
) -> tuple[bool, str, list[Equivalence], dict]:
    """Judge the runs and write report.md, parity.json and curves.png; (passed, verdict, ...)."""
    seeds = [r.seed for r in results["keras"]]
    checks, equivalences = judge(results, spec)
    probe_check, probe = probe or (None, None)
    checks[:0] = [
        *([settings_audit.audit_check(audit_rows)] if audit_rows else []),
        *([probe_check] if probe_check else []),
    ]
    passed, line = verdict_line(checks, equivalences, len(seeds), mode)
    by_side = {side: bands(runs) for side, runs in results.items()}
    write_json(
        out_dir / "parity.json",
        {
            "mode": mode,
            "seeds": seeds,
            "passed": passed,
            "verdict": line,
            "confidence": CONFIDENCE,
            "equivalence": [e.to_dict() for e in equivalences],
            "checks": [c.to_dict() for c in checks],
            "audit": [r.to_dict() for r in audit_rows or []],
            "curves": by_side,
            "runs": {
                side: [
                    {
                        "seed": r.seed,
                        "status": r.status,
                        "test_accuracy": r.test.accuracy if r.test else None,
                        "test_loss": r.test.loss if r.test else None,
                        "total_seconds": r.total_seconds,
                        "file": f"{RUNS}/{side}-seed{r.seed}.json",
                    }
                    for r in runs
                ]
                for side, runs in results.items()
            },
        },
    )
    versions = "; ".join(
        f"{side}: " + ", ".join(f"{k} {v}" for k, v in sorted(runs[0].versions.items()))
        for side, runs in results.items()
        if runs
    )
    text = "\n\n".join(
        [
            f"# mnist-parity across seeds: Keras vs PyTorch ({mode} mode, {len(seeds)} seeds per side)",
            f"**{line}**",
            *(f"> {note}" for note in notes),
            *(
                [
                    "## Audit: the settings each side uses",
                    settings_audit.audit_table(audit_rows, True),
                ]
                if audit_rows
                else []
            ),
            *lockstep_sections({"probe": probe} if probe else {}),
            "## Equivalence of the final test scores (two one-sided tests, Welch's t)",
            *(f"- **{e.metric}**: {e.sentence}" for e in equivalences),
            equivalence_table(equivalences) if equivalences else "-",
            f"Seeds {seeds[0]}..{seeds[-1]}; K-T = mean Keras - mean PyTorch; the "
            f"{CONFIDENCE:.0%} interval is Welch's; equivalent = the whole interval inside the "
            "margin, shown different = the whole interval beyond it.",
            "## Per epoch: mean ± sd over the seeds",
            band_table(by_side, markdown=True),
            "## Every run",
            runs_table(results),
            "## Other checks",
            checks_table(checks),
            "## Versions",
            versions or "-",
            "## Reproduce",
            "```\n" + "\n".join(commands) + "\n```",
        ]
    )
    write_atomically(out_dir / "report.md", (text + "\n").encode())
    plot_bands(
        out_dir / "curves.png",
        by_side,
        results,
        equivalences,
        f"mnist-parity: Keras vs PyTorch over {len(seeds)} seeds, {mode} mode",
    )
    step_comparison.plot_steps(out_dir / "lockstep.png", {"probe": probe})
    return passed, line, equivalences, by_side
