"""What compare.py shows: the side-by-side table, report.md and curves.png."""

from __future__ import annotations

from pathlib import Path

from shared.parity import Check
from shared.spec import Spec

COLUMNS = (
    ("train_loss", "train loss", "{:.4f}"),
    ("train_accuracy", "train acc", "{:.4f}"),
    ("val_loss", "val loss", "{:.4f}"),
    ("val_accuracy", "val acc", "{:.4f}"),
)


def epoch_table(keras: dict | None, torch: dict | None) -> str:
    """Per epoch: Keras | PyTorch | difference (Keras - PyTorch) for each curve, and seconds."""
    rows_k = keras["history"] if keras else []
    rows_t = torch["history"] if torch else []
    head = (
        ["epoch"]
        + [f"{label} {who}" for _, label, _ in COLUMNS for who in ("K", "T", "K-T")]
        + ["sec K", "sec T"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i in range(max(len(rows_k), len(rows_t))):
        k = rows_k[i] if i < len(rows_k) else None
        t = rows_t[i] if i < len(rows_t) else None
        cells = [str(i + 1)]
        for key, _, fmt in COLUMNS:
            cells += [
                fmt.format(k[key]) if k else "-",
                fmt.format(t[key]) if t else "-",
                f"{k[key] - t[key]:+.4f}" if k and t else "-",
            ]
        cells += [f"{k['seconds']:.1f}" if k else "-", f"{t['seconds']:.1f}" if t else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def terminal_summary(keras: dict | None, torch: dict | None, checks: list[Check]) -> str:
    """The same numbers as report.md, narrow enough for a terminal: Keras, PyTorch and K-T rows per epoch."""
    rows = [
        f"{'epoch':>5} {'':8} {'train loss':>10} {'train acc':>9} {'val loss':>9} {'val acc':>8} {'sec':>6}"
    ]
    hist = {
        "Keras": keras["history"] if keras else [],
        "PyTorch": torch["history"] if torch else [],
    }
    for i in range(max(map(len, hist.values()))):
        pair = [h[i] if i < len(h) else None for h in hist.values()]
        for label, h in zip(hist, pair):
            if h:
                rows.append(
                    f"{i + 1 if label == 'Keras' or not pair[0] else '':>5} {label:8} {h['train_loss']:>10.4f} "
                    f"{h['train_accuracy']:>9.4f} {h['val_loss']:>9.4f} {h['val_accuracy']:>8.4f} "
                    f"{h['seconds']:>6.1f}"
                )
        if all(pair):
            k, t = pair
            rows.append(
                f"{'':>5} {'K-T':8} "
                + " ".join(
                    f"{k[key] - t[key]:>+{w}.4f}"
                    for key, w in (
                        ("train_loss", 10),
                        ("train_accuracy", 9),
                        ("val_loss", 9),
                        ("val_accuracy", 8),
                    )
                )
            )
    rows.append("")
    for label, r in (("Keras", keras), ("PyTorch", torch)):
        if r and r["test"]:
            rows.append(
                f"{label:8} test accuracy {r['test']['accuracy']:.4f}, test loss {r['test']['loss']:.4f}, "
                f"{r['total_seconds']:.1f} s on {r['device']}"
            )
    rows.append("")
    for c in checks:
        shown = (
            c.measured is not None and not c.at_least
        )  # a floor's detail already says both numbers
        measured = f"{c.measured:.4f} (tolerance {c.tolerance:.4f}) " if shown else ""
        rows.append(f"{'pass' if c.passed else 'FAIL'}  {c.name}: {measured}{c.detail}")
    return "\n".join(rows)


def test_table(keras: dict | None, torch: dict | None) -> str:
    lines = ["| | Keras | PyTorch | K-T |", "|---|---|---|---|"]
    for key in ("accuracy", "loss"):
        k = keras["test"][key] if keras and keras["test"] else None
        t = torch["test"][key] if torch and torch["test"] else None
        lines.append(
            f"| test {key} | {'-' if k is None else f'{k:.4f}'} | {'-' if t is None else f'{t:.4f}'} | "
            f"{'-' if k is None or t is None else f'{k - t:+.4f}'} |"
        )
    for name, key in (("total seconds", "total_seconds"), ("device", "device")):
        k, t = (keras or {}).get(key, "-"), (torch or {}).get(key, "-")
        fmt = (lambda v: f"{v:.1f}") if key == "total_seconds" else str
        lines.append(f"| {name} | {fmt(k) if k != '-' else k} | {fmt(t) if t != '-' else t} | |")
    return "\n".join(lines)


def checks_table(checks: list[Check]) -> str:
    lines = ["| check | measured | tolerance | result | detail |", "|---|---|---|---|---|"]
    for c in checks:
        measured = "-" if c.measured is None else f"{c.measured:.4f}"
        lines.append(
            f"| {c.name} | {measured} | {c.tolerance:.4f} | {'pass' if c.passed else 'FAIL'} | {c.detail} |"
        )
    return "\n".join(lines)


def write_report(
    path: Path,
    keras: dict | None,
    torch: dict | None,
    checks: list[Check],
    verdict: str,
    mode: str,
    command: str,
    notes: list[str],
) -> None:
    versions = "; ".join(
        f"{side}: " + ", ".join(f"{k} {v}" for k, v in sorted(r["versions"].items()))
        for side, r in (("keras side", keras), ("torch side", torch))
        if r
    )
    text = "\n\n".join(
        [
            f"# mnist-parity: Keras vs PyTorch ({mode} mode)",
            f"**{verdict}**",
            *(f"> {note}" for note in notes),
            "## Per epoch (K = Keras, T = PyTorch)",
            epoch_table(keras, torch),
            "## Test set",
            test_table(keras, torch),
            "## Parity checks",
            checks_table(checks),
            "## Versions",
            versions or "-",
            "## Reproduce",
            f"```\n{command}\n```",
        ]
    )
    path.write_text(text + "\n")


def plot_curves(path: Path, keras: dict | None, torch: dict | None, spec: Spec, mode: str) -> None:
    """Loss and accuracy of both sides per epoch (train and validation), and their differences with the
    tolerance band, in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    tol = spec.tolerances(mode)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True, height_ratios=[3, 2])
    sides = [
        (name, r, color)
        for name, r, color in (("Keras", keras, "tab:red"), ("PyTorch", torch, "tab:blue"))
        if r and r["history"]
    ]
    for col, (metric, title) in enumerate((("loss", "Loss"), ("accuracy", "Accuracy"))):
        ax = axes[0, col]
        for name, result, color in sides:
            epochs = [h["epoch"] for h in result["history"]]
            ax.plot(
                epochs,
                [h[f"train_{metric}"] for h in result["history"]],
                "--",
                color=color,
                marker="o",
                label=f"{name} train",
            )
            ax.plot(
                epochs,
                [h[f"val_{metric}"] for h in result["history"]],
                "-",
                color=color,
                marker="s",
                label=f"{name} validation",
            )
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if sides:
            ax.legend()
        ax = axes[1, col]
        if len(sides) == 2:
            rows = list(zip(keras["history"], torch["history"]))
            epochs = [k["epoch"] for k, _ in rows]
            for split, style in (("train", "--"), ("val", "-")):
                key = f"{split}_{metric}"
                ax.plot(
                    epochs,
                    [k[key] - t[key] for k, t in rows],
                    style,
                    color="black",
                    marker="o",
                    label=f"{'validation' if split == 'val' else split} Keras - PyTorch",
                )
            band = tol.val_loss if metric == "loss" else tol.val_accuracy
            ax.axhspan(
                -band, band, color="tab:green", alpha=0.15, label=f"validation tolerance +-{band:g}"
            )
            if metric == "loss":
                for sign in (-1, 1):
                    ax.axhline(
                        sign * tol.train_loss,
                        ls=":",
                        color="black",
                        lw=1,
                        label=f"training tolerance +-{tol.train_loss:g}" if sign > 0 else None,
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
