"""curves.png of `compare.py --seeds K`: the per-epoch bands over the seeds, each seed's final test
scores, and the difference's confidence interval against the equivalence margin."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parity.stats import CONFIDENCE, Equivalence
from shared.results import SIDE_LABELS, Result


def plot_bands(
    path: Path,
    by_side: dict[str, dict],
    results: dict[str, list[Result]],
    equivalences: list[Equivalence],
    title: str,
) -> None:
    """Top: every curve's mean +- one sd per epoch, both sides. Middle: each seed's final test
    scores. Bottom: the difference's 90% interval against the equivalence margin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    colors = {"keras": "tab:red", "torch": "tab:blue"}
    fig, axes = plt.subplots(3, 2, figsize=(12, 11), height_ratios=[3, 1.4, 1.2])
    for col, (metric, name) in enumerate((("loss", "Loss"), ("accuracy", "Accuracy"))):
        ax = axes[0, col]
        for side, b in by_side.items():
            epochs = np.arange(1, len(b["train_loss"]["mean"]) + 1)
            for split, style, label in (("train", "--", "train"), ("val", "-", "validation")):
                mean = np.array(b[f"{split}_{metric}"]["mean"])
                sd = np.array(b[f"{split}_{metric}"]["sd"])
                ax.plot(epochs, mean, style, marker="o", color=colors[side])
                ax.fill_between(epochs, mean - sd, mean + sd, color=colors[side], alpha=0.18)
                ax.plot([], [], style, color=colors[side], label=f"{SIDE_LABELS[side]} {label}")
        ax.set_title(f"{name} per epoch: mean ± 1 sd over the seeds")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")

    for col, key in enumerate(("accuracy", "loss")):
        scale, unit = (100, " (percentage points)") if key == "accuracy" else (1, "")
        ax = axes[1, col]
        for row, side in enumerate(("torch", "keras")):
            values = [getattr(r.test, key) * scale for r in results[side] if r.ok]
            ax.plot(values, [row] * len(values), "o", color=colors[side], alpha=0.6)
            if len(values) > 1:
                ax.errorbar(
                    np.mean(values),
                    row,
                    xerr=np.std(values, ddof=1),
                    fmt="s",
                    color="black",
                    capsize=5,
                )
        ax.set_yticks([0, 1], [SIDE_LABELS["torch"], SIDE_LABELS["keras"]])
        ax.set_ylim(-0.6, 1.6)
        ax.set_title(
            f"final test {key}{' (%)' if key == 'accuracy' else ''} of each seed; "
            "black: mean ± 1 sd"
        )
        ax.grid(alpha=0.3)
        ax = axes[2, col]
        e = equivalences[col] if len(equivalences) > col else None
        if e is None:
            ax.text(0.5, 0.5, "no equivalence test", ha="center", transform=ax.transAxes)
            continue
        low, high, m = e.ci_low * scale, e.ci_high * scale, e.margin * scale
        ax.axvspan(-m, m, color="tab:green", alpha=0.2, label=f"margin ±{m:g}")
        ax.errorbar(
            e.difference * scale,
            0,
            xerr=[[e.difference * scale - low], [high - e.difference * scale]],
            fmt="D",
            color="black",
            capsize=6,
            label=f"{CONFIDENCE:.0%} confidence interval",
        )
        ax.axvline(0, color="gray", lw=0.8)
        reach = max(abs(low), abs(high), m) * 1.25
        ax.set_xlim(-reach, reach)
        ax.set_yticks([])
        ax.set_xlabel(f"Keras - PyTorch, difference of the mean test {key}{unit}")
        ax.set_title(f"test {key}: {e.outcome.upper()}")
        ax.legend(fontsize="small", loc="upper right")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
