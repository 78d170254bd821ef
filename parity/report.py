"""What compare.py shows: the side-by-side table, report.md and curves.png."""

from __future__ import annotations

from pathlib import Path

from parity.checks import Check, spreads_text
from parity.settings_audit import audit_table
from parity.step_comparison import Comparison, steps_table
from parity.tolerances import tolerances
from shared.results import SIDES, Result, epoch_table, write_atomically
from shared.spec import Spec


def terminal_summary(keras: Result | None, torch: Result | None, checks: list[Check]) -> str:
    """The same numbers as report.md, narrow enough for a terminal."""
    results = dict(zip(SIDES, (keras, torch)))
    rows = [epoch_table({side: r.history for side, r in results.items() if r}), ""]
    for side, r in results.items():
        if r and r.test:
            rows.append(
                f"{side:6} test accuracy {r.test.accuracy:.4f}, test loss {r.test.loss:.4f}, "
                f"{r.total_seconds:.1f} s on {r.device}"
            )
    for r in results.values():
        if r and r.phases:
            rows.append(f"time: {phases_line(r)}")
    rows.append("")
    for c in checks:
        # a floor's detail already says both numbers
        shown = c.measured is not None and not c.at_least
        margin = f", {spreads_text(c)}" if c.margin is not None else ""
        measured = (
            f"{number(c.measured)} (tolerance {number(c.tolerance)}{margin}) " if shown else ""
        )
        rows.append(f"{result_word(c)}  {c.name}: {measured}{c.detail}")
    return "\n".join(rows)


def result_word(check: Check) -> str:
    return "shown" if not check.judged else "pass" if check.passed else "FAIL"


def number(value: float) -> str:
    """Four decimals, or two significant digits for the tiny figures lockstep measures."""
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2g}"


def phases_line(result: Result) -> str:
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phases.items())
    return f"{result.framework}: {phases}" if phases else f"{result.framework}: -"


def test_table(keras: Result | None, torch: Result | None) -> str:
    lines = ["| | keras | torch | K-T |", "|---|---|---|---|"]
    scores = [r.test if r else None for r in (keras, torch)]
    for key in ("accuracy", "loss"):
        values = [getattr(s, key) if s else None for s in scores]
        cells = ["-" if v is None else f"{v:.4f}" for v in values]
        cells.append("-" if None in values else f"{values[0] - values[1]:+.4f}")
        lines.append(f"| test {key} | {' | '.join(cells)} |")
    seconds = ["-" if r is None else f"{r.total_seconds:.1f}" for r in (keras, torch)]
    devices = ["-" if r is None else r.device for r in (keras, torch)]
    lines += [
        f"| total seconds | {' | '.join(seconds)} | |",
        f"| device | {' | '.join(devices)} | |",
    ]
    return "\n".join(lines)


def checks_table(checks: list[Check]) -> str:
    lines = [
        "| check | measured | tolerance | margin (spreads) | result | detail |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        measured = "-" if c.measured is None else number(c.measured)
        result = result_word(c)
        margin = "-" if c.margin is None else spreads_text(c).replace(" spreads", "")
        lines.append(
            f"| {c.name} | {measured} | {number(c.tolerance)} | {margin} | {result} | {c.detail} |"
        )
    return "\n".join(lines)


def write_report(
    path: Path,
    keras: Result | None,
    torch: Result | None,
    checks: list[Check],
    verdict: str,
    mode: str,
    command: str,
    notes: list[str],
    audit_rows: list | None = None,
    lockstep: dict[str, Comparison] | None = None,
) -> None:
    versions = "; ".join(
        f"{side}: " + ", ".join(f"{k} {v}" for k, v in sorted(r.versions.items()))
        for side, r in (("keras side", keras), ("torch side", torch))
        if r
    )
    text = "\n\n".join(
        [
            f"# mnist-parity: Keras vs PyTorch ({mode} mode)",
            f"**{verdict}**",
            *(f"> {note}" for note in notes),
            *(
                ["## Audit: the settings each side uses", audit_table(audit_rows, markdown=True)]
                if audit_rows
                else []
            ),
            *lockstep_sections(lockstep or {}),
            "## Per epoch (K-T = Keras - PyTorch)",
            epoch_table(
                {side: r.history for side, r in zip(SIDES, (keras, torch)) if r}, markdown=True
            ),
            "## Test set",
            test_table(keras, torch),
            "## Where the time went (wall seconds per phase of each side's process)",
            "\n".join(f"- {phases_line(r)}" for r in (keras, torch) if r) or "-",
            "## Parity checks",
            checks_table(checks),
            "A curve check's margin is its difference in calibrated spreads: the spread that "
            "difference shows at that epoch from seed to seed when nothing is wrong "
            "(parity/calibration.json). It passes up to the allowed margin, chosen so that a run "
            "with no real difference fails any of its curve checks once in 1,000 runs; a margin "
            "near the allowed one is a near miss.",
            "## Versions",
            versions or "-",
            "## Reproduce",
            f"```\n{command}\n```",
        ]
    )
    write_atomically(path, (text + "\n").encode())


def lockstep_sections(comparisons: dict[str, Comparison]) -> list[str]:
    """Each lockstep comparison (the probe; a lockstep run): where the sides first differ, if they
    do, and the largest relative difference of each quantity over the steps."""
    if not comparisons:
        return []
    parts = ["## Lockstep: every step compared, stage by stage", "![per-step losses](lockstep.png)"]
    for what, c in comparisons.items():
        title = "The probe" if what == "probe" else "The lockstep run"
        if c.first:
            f = c.first
            found = (
                f"**First beyond the tolerance {c.tolerance:g}: {f.describe()}** "
                f"(keras {f.keras}, torch {f.torch})."
            )
        else:
            found = f"Every step agrees within {c.tolerance:g}."
        notes = "".join(f" Note: {note}." for note in c.notes)
        parts += [
            f"### {title} ({c.dtype}, {c.steps} steps)",
            found + notes,
            steps_table(c),
        ]
    return parts


def plot_curves(
    path: Path, keras: Result | None, torch: Result | None, spec: Spec, mode: str
) -> None:
    """Loss and accuracy of both sides per epoch (train and validation), and their differences with the
    tolerance band, in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    tol = tolerances(spec, mode)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True, height_ratios=[3, 2])
    sides = [
        (name, r, color)
        for name, r, color in (("Keras", keras, "tab:red"), ("PyTorch", torch, "tab:blue"))
        if r and r.history
    ]
    for col, (metric, title) in enumerate((("loss", "Loss"), ("accuracy", "Accuracy"))):
        ax = axes[0, col]
        for name, result, color in sides:
            epochs = [h.epoch for h in result.history]
            for split, style, marker in (("train", "--", "o"), ("val", "-", "s")):
                values = [getattr(h, f"{split}_{metric}") for h in result.history]
                label = f"{name} {'validation' if split == 'val' else split}"
                ax.plot(epochs, values, style, color=color, marker=marker, label=label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if sides:
            ax.legend()
        ax = axes[1, col]
        if len(sides) == 2:
            rows = list(zip(keras.history, torch.history))
            epochs = [k.epoch for k, _ in rows]
            for split, style in (("train", "--"), ("val", "-")):
                key = f"{split}_{metric}"
                ax.plot(
                    epochs,
                    [getattr(k, key) - getattr(t, key) for k, t in rows],
                    style,
                    color="black",
                    marker="o",
                    label=f"{'validation' if split == 'val' else split} Keras - PyTorch",
                )
            # each epoch's own calibrated tolerance: the band narrows as training settles
            key = "val_loss" if metric == "loss" else "val_accuracy"
            band = [tol.limit(key, e) for e in epochs]
            ax.fill_between(
                epochs,
                [-b for b in band],
                band,
                color="tab:green",
                alpha=0.15,
                label=f"validation tolerance ({tol.allowed:.1f} spreads)",
            )
            if metric == "loss":
                train_band = [tol.limit("train_loss", e) for e in epochs]
                for sign in (-1, 1):
                    ax.plot(
                        epochs,
                        [sign * b for b in train_band],
                        ls=":",
                        color="black",
                        lw=1,
                        label="training tolerance" if sign > 0 else None,
                    )
        else:
            ax.text(
                0.5, 0.5, "one side has no result", ha="center", va="center", transform=ax.transAxes
            )
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_title(f"{title} difference")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle(f"mnist-parity: Keras vs PyTorch, {mode} mode")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
