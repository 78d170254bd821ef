"""The ladder of `mnist-parity pair`: what the two halves wrote (keras.json, torch.json), judged rung
by rung, stopping at the first that fails, and the audit of the two models' settings beside it.

1. structure: the weighted layers paired in order, their shapes mapped by the layout rules, the
   dropout layers in the same places; 2. weights: each Keras tensor carried by its rule (or, where the
   PyTorch builder loaded them itself, each loaded tensor checked against the carried one);
3. forward: each paired layer's output (before its activation) and the model's, in inference mode;
4. backward: the first step's loss and every gradient; 5. training: every step's loss, gradients,
weights after the update and running statistics, the first differing step and tensor named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from parity.step_comparison import relative

RUNGS = ("structure", "weights", "forward", "backward", "training")
# the loss of a training step: the batch's, through the model in training mode with the shared
# dropout masks (a dropout rate or place that differs shows here first)
LOSS = "the training loss (dropout on, masks shared)"


@dataclass
class Rung:
    name: str
    passed: bool | None  # None: not reached
    summary: str
    where: str = ""  # the layer (and step) where it failed
    largest: float = 0.0


@dataclass
class Ladder:
    dtype: str
    tolerance: float
    judged_steps: int  # float32: the first steps only
    rungs: list[Rung] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)  # {row, keras, torch, status}

    @property
    def failed(self) -> Rung | None:
        return next((rung for rung in self.rungs if rung.passed is False), None)

    @property
    def audit_differs(self) -> list[dict]:
        return [row for row in self.audit if row["status"] == "differs"]

    @property
    def passed(self) -> bool:
        return self.failed is None and not self.audit_differs


def _labeller(keras_layers: list[dict], torch_layers: list[dict]):
    """name -> words: `dense_1 (Dense) / layers.3 (Linear): kernel` for a Keras layer (and role) and
    its PyTorch partner; "output" -> the model's output."""
    partners = {k["name"]: t for k, t in zip(_weighted(keras_layers), _weighted(torch_layers))}
    classes = {entry["name"]: entry["class"] for entry in keras_layers}

    def label(name: str) -> str:
        if name == "output":
            last = keras_layers[-1]
            activation = last.get("activation", "linear")
            after = f" (after the {activation} of {last['name']})" if activation != "linear" else ""
            return f"the model's output{after}"
        layer, _, role = name.partition("/")
        t = partners[layer]
        return f"{layer} ({classes[layer]}) / {t['name']} ({t['class']}): {role or 'output'}"

    return label


def _weighted(layers: list[dict]) -> list[dict]:
    return [entry for entry in layers if entry["kind"] in ("dense", "conv2d", "batchnorm")]


def _difference(a: dict, b: dict, key: str) -> float:
    """Relative difference of two records' fingerprints; infinite where one side lacks the key (a
    PyTorch parameter with no gradient: frozen on that side only)."""
    return relative(a[key], b[key]) if key in a and key in b else math.inf


def _first_beyond(a: dict, b: dict, keys, tolerance: float) -> tuple[str | None, float]:
    """The first of `keys` whose fingerprints differ beyond `tolerance`, and the largest difference."""
    first, largest = None, 0.0
    for key in keys:
        measured = _difference(a, b, key)
        largest = max(largest, measured)
        if first is None and not measured <= tolerance:
            first = key
    return first, largest


def _by(measured: float) -> str:
    return (
        "is missing on one side (frozen there?)"
        if math.isinf(measured)
        else f"differs by {measured:.3g}"
    )


def judge(keras: dict, torch: dict, tolerance: float, judged_steps: int, dtype: str) -> Ladder:
    ladder = Ladder(dtype, tolerance, judged_steps)
    label = _labeller(keras["layers"], torch["layers"])
    if "settings" in torch:
        ladder.audit = audit_rows(keras["settings"], torch["settings"])

    def rung(name: str, passed: bool, summary: str, where: str = "", largest: float = 0.0) -> bool:
        ladder.rungs.append(Rung(name, passed, summary, where, largest))
        return passed

    def unreached() -> Ladder:
        for name in RUNGS[len(ladder.rungs) :]:
            ladder.rungs.append(Rung(name, None, "not reached"))
        return ladder

    paired = len(_weighted(keras["layers"]))
    dropouts = sum(entry["kind"] == "dropout" for entry in keras["layers"])
    if "structure" in torch:
        rung("structure", False, torch["structure"], torch["structure"])
        return unreached()
    rung("structure", True, f"{paired} weighted layers paired in order, dropout layers: {dropouts}")

    slips = [row for row in torch["weights"] if row["loaded"] is not None]
    how = "loaded by the PyTorch builder, checked" if torch["builder_loaded"] else "carried"
    if slips:
        row = slips[0]
        where = f"{row['tensor']} into {row['into']}"
        rung(
            "weights", False, f"{where}: loaded as {row['loaded']}; the rule: {row['rule']}", where
        )
        return unreached()
    rung("weights", True, f"{len(torch['weights'])} tensors {how}")

    keys = [key for key in keras["forward"] if key in torch["forward"]]
    first, largest = _first_beyond(keras["forward"], torch["forward"], keys, tolerance)
    if first is not None:
        where = label(first)
        measured = _difference(keras["forward"], torch["forward"], first)
        rung("forward", False, f"{where} {_by(measured)}", where, largest)
        return unreached()
    rung(
        "forward",
        True,
        f"{len(keys)} outputs agree, largest relative difference {largest:.2g}",
        largest=largest,
    )

    k_step, t_step = keras["steps"][0], torch["steps"][0]
    keys = ["loss", *(key for key in k_step if key.startswith("grad/"))]
    first, largest = _first_beyond(k_step, t_step, keys, tolerance)
    if first is not None:
        where = LOSS if first == "loss" else label(first.split("/", 1)[1]) + " gradient"
        measured = _difference(k_step, t_step, first)
        rung("backward", False, f"step 1: {where} {_by(measured)}", where, largest)
        return unreached()
    rung(
        "backward",
        True,
        f"the loss and {len(keys) - 1} gradients agree, largest {largest:.2g}",
        largest=largest,
    )

    largest, judged = 0.0, keras["steps"][:judged_steps]
    for step, (k_step, t_step) in enumerate(zip(judged, torch["steps"]), 1):
        keys = [*k_step, *(key for key in t_step if key not in k_step)]
        first, step_largest = _first_beyond(k_step, t_step, keys, tolerance)
        largest = max(largest, step_largest)
        if first is not None:
            kind, _, name = first.partition("/")
            what = {"grad": "gradient", "param": "after the update", "state": "running statistic"}
            where = LOSS if first == "loss" else f"{label(name)} ({what[kind]})"
            measured = _difference(k_step, t_step, first)
            rung(
                "training",
                False,
                f"step {step}: {where} {_by(measured)}",
                f"step {step}: {where}",
                largest,
            )
            return ladder
    window = (
        ""
        if judged_steps >= len(keras["steps"])
        else f" (the first {judged_steps} of {len(keras['steps'])}, float32)"
    )
    rung(
        "training",
        True,
        f"{len(judged)} steps{window}: losses, gradients, weights and running "
        f"statistics agree, largest {largest:.2g}",
        largest=largest,
    )
    return ladder


# Rows that may differ with no effect on the ladder, and why
NOTED = {
    "initializer": "the tool carries the Keras weights, so the initializers do not enter the ladder; "
    "a port that trains from its own initialization starts elsewhere",
    "not measured before": "padding applied before the convolution by an operation the tool could "
    "not see (not a padding module or functional.pad right before it): the forward rung compares "
    "the convolution's output",
}


def audit_rows(keras: dict, torch: dict) -> list[dict]:
    """Each setting side by side: same; bridged (equal, where PyTorch's default differs); noted
    (differs with no effect on the ladder, NOTED says why); differs."""
    rows = []
    for name in [*keras, *(name for name in torch if name not in keras)]:
        k = keras.get(name, "(none)")
        t, default = torch.get(name, ["(none)", "(none)"])
        status = "differs" if k != t else "bridged" if default != t else "same"
        if status == "differs" and any(name.endswith(key) or str(t).endswith(key) for key in NOTED):
            status = "noted"
        rows.append(
            {"row": name, "keras": k, "torch": t, "torch_default": default, "status": status}
        )
    return rows


def verdict_line(ladder: Ladder) -> str:
    failed, differs = ladder.failed, ladder.audit_differs
    if ladder.passed:
        return (
            f"PASS: every rung agrees ({ladder.dtype}, tolerance {ladder.tolerance:g}) and no "
            "audited setting differs"
        )
    parts = []
    if failed:
        parts.append(f"rung {RUNGS.index(failed.name) + 1} ({failed.name}) fails at {failed.where}")
    if differs:
        parts.append(
            "the audit: "
            + ", ".join(row["row"] for row in differs)
            + " differ"
            + ("s" if len(differs) == 1 else "")
        )
    return "FAIL: " + "; ".join(parts)


def terminal_text(ladder: Ladder) -> str:
    lines = []
    for index, rung in enumerate(ladder.rungs, 1):
        word = {True: "pass", False: "FAIL", None: "-"}[rung.passed]
        lines.append(f"{index} {rung.name:9} {word:4}  {rung.summary}")
    counts = {
        status: sum(row["status"] == status for row in ladder.audit)
        for status in ("same", "bridged", "noted", "differs")
    }
    lines.append(
        f"  audit     {len(ladder.audit)} settings: "
        + ", ".join(f"{n} {status}" for status, n in counts.items())
        if ladder.audit
        else "  audit     not run: the models could not be paired"
    )
    for row in ladder.audit_differs:
        lines.append(f"    differs  {row['row']}: keras {row['keras']}; torch {row['torch']}")
    lines.append(verdict_line(ladder))
    return "\n".join(lines)


def markdown(ladder: Ladder, header: list[str], weights: list[dict]) -> str:
    lines = [
        "# mnist-parity pair",
        "",
        *header,
        "",
        "| rung | result | where / what |",
        "|---|---|---|",
    ]
    for index, rung in enumerate(ladder.rungs, 1):
        word = {True: "pass", False: "**FAIL**", None: "not reached"}[rung.passed]
        lines.append(f"| {index} {rung.name} | {word} | {rung.summary} |")
    lines += [
        "",
        "## The audit",
        "",
        "| setting | Keras | PyTorch | PyTorch's default | |",
        "|---|---|---|---|---|",
    ]
    for row in ladder.audit:
        lines.append(
            f"| {row['row']} | {row['keras']} | {row['torch']} | {row['torch_default']} "
            f"| {row['status']} |"
        )
    if weights:
        lines += [
            "",
            "## The weights, Keras to PyTorch",
            "",
            "| Keras tensor | into | rule | loaded |",
            "|---|---|---|---|",
        ]
        for row in weights:
            loaded = "" if row["loaded"] is None else row["loaded"]
            lines.append(f"| {row['tensor']} | {row['into']} | {row['rule']} | {loaded} |")
    lines += ["", verdict_line(ladder), ""]
    return "\n".join(lines)
