"""The lockstep comparison: every step's records of the two sides (shared/draws.py), stage by
stage in pipeline order, then each epoch's reported figures and the test scores. It names the
first step and the first stage beyond the tolerance, and the largest difference of each quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from parity.checks import Check
from shared.results import SIDES, Result, read_result
from shared.spec import Spec

PREPROCESSING = ("rescaled", "augmented", "normalized")
STRUCTURE = "the models' structure"
STAGE_LABELS = {
    "order": "the sample order (the images and labels served)",
    "rescaled": "the batch after rescaling",
    "augmented": "the batch after augmentation",
    "normalized": "the batch after normalization",
    "batch": "the batch the model receives",
    "logits": "the logits",
    "loss": "the loss",
    "dropout_layers": "the number of dropout layers",
    "evaluation_mode": "the mode evaluation runs in (inference: dropout off)",
}
EPOCH_FIGURES = {
    "train_loss": "the reported training loss",
    "train_accuracy": "the reported training accuracy",
    "val_loss": "the validation loss",
    "val_accuracy": "the validation accuracy",
}


def is_block(stage: str) -> bool:
    """block1, block2, ...: a convolution block's output (model.kind = "cnn")."""
    return stage.startswith("block") and stage[5:].isdigit()


def stage_label(stage: str) -> str:
    kind, _, name = stage.partition("/")
    if kind == "grad":
        return f"the gradient of {name}"
    if kind == "param":
        return f"{name} after the update"
    if is_block(kind):
        return f"the output of convolution block {kind[5:]}"
    if kind == "state":
        return f"{name} (BatchNorm's running statistic) after the step"
    others = {**EPOCH_FIGURES, "test_loss": "the test loss", "test_accuracy": "the test accuracy"}
    return STAGE_LABELS.get(stage) or others.get(stage, stage)


def quantity(stage: str) -> str:
    """The group a stage is reported in: grad/kernel_0 -> gradients, rescaled -> batch, ..."""
    kind = stage.partition("/")[0]
    if kind in ("grad", "param", "state"):
        return {"grad": "gradients", "param": "parameters", "state": "running statistics"}[kind]
    if is_block(stage):
        return "convolution blocks"
    return "batch" if stage in (*PREPROCESSING, "batch") else stage


def relative(a: list[float], b: list[float]) -> float:
    """Relative difference of two fingerprints [projection, norm] (or [value, |value|])."""
    scale = max(abs(a[1]), abs(b[1]))
    if not all(map(math.isfinite, [*a, *b])):
        return math.inf
    if scale == 0:
        return 0.0
    return max(abs(a[0] - b[0]), abs(a[1] - b[1])) / scale


@dataclass
class Difference:
    where: str  # "step 3 (epoch 1)", "epoch 2", "test"
    stage: str
    measured: float
    keras: float | str
    torch: float | str

    def describe(self) -> str:
        label = stage_label(self.stage)
        if self.where == STRUCTURE:
            return f"the models differ in {label}"
        verb = "differ" if label == "the logits" else "differs"
        return f"{self.where}: {label} {verb} by {self.measured:.3g}"


@dataclass
class Comparison:
    dtype: str
    tolerance: float
    steps: int  # steps compared
    largest: dict[str, float] = field(default_factory=dict)  # quantity -> largest relative
    first: Difference | None = None
    notes: list[str] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)  # side -> per-step loss

    @property
    def worst(self) -> float:
        return max(self.largest.values(), default=0.0)

    def see(self, where: str, stage: str, measured: float, keras, torch) -> None:
        group = quantity(stage) if where.startswith("step") else "epoch figures"
        group = "structure" if where == STRUCTURE else group
        self.largest[group] = max(self.largest.get(group, 0.0), measured)
        if self.first is None and not measured <= self.tolerance:
            self.first = Difference(where, stage, measured, keras, torch)


def compare_steps(keras: Result, torch: Result, spec: Spec) -> Comparison:
    """Compare two lockstep results of `spec`: float64 everything; float32 the first
    parity.lockstep.float32_steps steps only (later, float32 trajectories part; the curves judge)."""
    dtype = spec.train.dtype
    limit = None if dtype == "float64" else spec.parity.lockstep.float32_steps
    out = Comparison(dtype, spec.lockstep_tolerance(), 0)
    for key in sorted(set(keras.structure) | set(torch.structure)):
        a, b = keras.structure.get(key, "-"), torch.structure.get(key, "-")
        out.see(STRUCTURE, key, 0.0 if a == b else math.inf, a, b)
    out.losses = {
        side: [r.stages["loss"][0] for r in result.steps]
        for side, result in (("keras", keras), ("torch", torch))
    }
    stage_orders = {
        side: [s for s in r.steps[0].stages if s in PREPROCESSING] if r.steps else []
        for side, r in (("keras", keras), ("torch", torch))
    }
    if stage_orders["keras"] != stage_orders["torch"]:
        out.notes.append(
            "the preprocessing stages run in a different order: "
            + ", ".join(f"{side} {' -> '.join(order)}" for side, order in stage_orders.items())
        )
    if len(keras.steps) != len(torch.steps):
        out.notes.append(f"keras took {len(keras.steps)} steps, torch {len(torch.steps)}")
    pairs = list(zip(keras.steps, torch.steps))[:limit]
    out.steps = len(pairs)
    by_epoch: dict[int, list] = {}
    for k, t in pairs:
        by_epoch.setdefault(k.epoch, []).append((k, t))
    for epoch in range(1, max(len(keras.history), len(torch.history), 1) + 1):
        for k, t in by_epoch.get(epoch, []):
            where = f"step {k.step} (epoch {k.epoch})"
            if k.epoch != t.epoch:
                where = f"step {k.step} (epoch {k.epoch} on keras, {t.epoch} on torch)"
            out.see(where, "order", 0.0 if k.order == t.order else math.inf, k.order, t.order)
            stages = [*PREPROCESSING, *[s for s in t.stages if s not in PREPROCESSING]]
            for stage in [*stages, *[s for s in k.stages if s not in stages]]:
                a, b = k.stages.get(stage), t.stages.get(stage)
                if a is None and b is None:
                    continue
                if a is None or b is None:
                    shown = ("-" if a is None else a[0], "-" if b is None else b[0])
                    out.see(where, stage, math.inf, *shown)
                    continue
                out.see(where, stage, relative(a, b), a[0], b[0])
        if limit is None and epoch <= min(len(keras.history), len(torch.history)):
            k_row, t_row = keras.history[epoch - 1], torch.history[epoch - 1]
            for key in EPOCH_FIGURES:
                a, b = getattr(k_row, key), getattr(t_row, key)
                out.see(f"epoch {epoch}", key, relative([a, a], [b, b]), a, b)
    if limit is None and keras.test and torch.test:
        for key in ("loss", "accuracy"):
            a, b = getattr(keras.test, key), getattr(torch.test, key)
            out.see("test", f"test_{key}", relative([a, a], [b, b]), a, b)
    return out


def lockstep_check(comparison: Comparison, what: str) -> Check:
    """One verdict line: `what` is "lockstep probe" or "lockstep"."""
    c = comparison
    steps = f"{c.steps} steps" + ("" if c.dtype == "float64" else " (the first, float32)")
    name = f"{what} ({c.dtype}, {steps}): largest relative difference"
    if c.first is None:
        detail = ", ".join(f"{q} {v:.1g}" for q, v in c.largest.items()) or "no steps"
        passed = c.steps > 0
    else:
        f = c.first
        detail = f"first beyond tolerance: {f.describe()} (keras {f.keras}, torch {f.torch})"
        passed = False
    detail = "; ".join([detail, *c.notes])
    return Check(name, c.worst, c.tolerance, passed, detail)


def read_probe(paths: dict[str, Path], spec: Spec) -> tuple[Check, Comparison | None]:
    """The probe's line of the verdict, and its comparison, from each side's {side}-probe.json. The
    check fails, saying why, when a file is missing or a side could not run the probe."""

    def not_run(why: str) -> tuple[Check, None]:
        return Check("lockstep probe", None, 0.0, False, why), None

    if not all(path.exists() for path in paths.values()):
        return not_run("no probe records from one side or both")
    keras, torch = (read_result(paths[side]) for side in SIDES)
    for side, result in zip(SIDES, (keras, torch)):
        if result.status == "refused":
            return not_run(f"the {side} side could not run the probe: {result.message}")
    comparison = compare_steps(keras, torch, spec.probe_spec())
    return lockstep_check(comparison, "lockstep probe"), comparison


def steps_table(comparison: Comparison) -> str:
    """The largest relative difference of each quantity, as Markdown."""
    lines = ["| quantity | largest relative difference |", "|---|---|"]
    lines += [f"| {q} | {v:.2g} |" for q, v in comparison.largest.items()]
    return "\n".join(lines)


def plot_steps(path: Path, comparisons: dict[str, Comparison | None]) -> None:
    """Per-step losses of both sides and their relative difference (log scale), one row per
    comparison (the probe; the lockstep run)."""
    shown = {what: c for what, c in comparisons.items() if c and c.losses.get("keras")}
    if not shown:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(shown), 2, figsize=(11, 3.2 * len(shown)), squeeze=False)
    for (what, c), (left, right) in zip(shown.items(), axes):
        for side, losses in c.losses.items():
            left.plot(range(1, len(losses) + 1), losses, label=side, lw=1)
        left.set(title=f"{what}: loss of each step ({c.dtype})", xlabel="step", ylabel="loss")
        left.legend()
        pairs = list(zip(c.losses["keras"], c.losses["torch"]))
        diffs = [abs(a - b) / max(abs(a), abs(b), 1e-300) for a, b in pairs]
        right.semilogy(range(1, len(diffs) + 1), [max(d, 1e-18) for d in diffs], lw=1)
        right.axhline(c.tolerance, color="red", ls="--", lw=1, label="tolerance")
        right.set(title=f"{what}: relative difference of the losses", xlabel="step")
        right.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
