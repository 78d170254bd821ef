"""The audit: each side's live settings, side by side, each row classed same, bridged, asked, noted
or differs. A row that differs fails the verdict.

Each side describes its own pipeline (keras_parity/audit_rows.py, torch_parity/audit_rows.py, run
with `--audit PATH`); this module only compares the two descriptions.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from parity.bridges import ablated_rows, bridge_for_row
from parity.checks import Check

STATUSES = ("same", "bridged", "asked", "noted", "differs")

# row id (or the prefix of numbered rows) -> (group, label, spec keys that move it)
ROWS = {
    "optimizer.algorithm": ("optimizer", "algorithm", ()),
    "optimizer.learning_rate": ("optimizer", "learning rate", ("train.lr",)),
    "optimizer.betas": ("optimizer", "betas", ("train.beta1", "train.beta2")),
    "optimizer.epsilon": ("optimizer", "epsilon", ("train.epsilon",)),
    "optimizer.epsilon_placement": ("optimizer", "where epsilon enters", ()),
    "optimizer.weight_decay": ("optimizer", "weight decay", ()),
    "optimizer.amsgrad": ("optimizer", "amsgrad", ()),
    "optimizer.clipping": ("optimizer", "gradient clipping", ()),
    "loss.function": ("loss", "function", ()),
    "loss.reduction": ("loss", "reduction", ()),
    "loss.from_logits": ("loss", "takes logits", ()),
    "loss.label_smoothing": ("loss", "label smoothing", ()),
    "loss.class_weights": ("loss", "class weights", ()),
    "loss.ignored_label": ("loss", "ignored label", ()),
    "model.flatten": ("model", "flatten", ()),
    "model.flatten_rows": ("model", "first dense layer's rows against the flattened features", ()),
    "model.conv": ("model", "convolution", ("model.filters", "model.kind")),
    "model.conv_padding": (
        "model",
        "padding applied by convolution",
        ("model.filters", "model.kind"),
    ),
    "model.conv_init": ("model", "initial kernel of convolution", ("model.filters", "model.kind")),
    "model.batchnorm_momentum": (
        "model",
        "BatchNorm running statistics, block",
        ("model.batchnorm_momentum", "model.kind"),
    ),
    "model.batchnorm_epsilon": ("model", "BatchNorm epsilon, block", ("model.batchnorm_epsilon",)),
    "model.batchnorm_variance": ("model", "BatchNorm running variance, block", ("model.kind",)),
    "model.block_activation": ("model", "activation of block", ("model.activation", "model.kind")),
    "model.pool": ("model", "pooling of block", ("model.kind",)),
    "model.layer": (
        "model",
        "layer",
        ("model.hidden", "model.kind", "model.filters", "model.activation"),
    ),
    "model.kernel_init": (
        "model",
        "initial weights of layer",
        (
            "model.hidden",
            "model.kind",
            "model.filters",
        ),
    ),
    "model.bias_init": (
        "model",
        "initial biases of layer",
        (
            "model.hidden",
            "model.kind",
            "model.filters",
        ),
    ),
    "model.dropout": ("model", "dropout rate after layer", ("model.hidden", "model.dropout")),
    "model.parameters": (
        "model",
        "parameters",
        (
            "model.hidden",
            "model.kind",
            "model.filters",
        ),
    ),
    "data.stages": ("data", "preprocessing stages, in order", ("augment.enabled",)),
    "data.rescale": ("data", "rescale [scale, offset]", ()),
    "data.normalize_mean": ("data", "normalization mean", ("data.mean",)),
    "data.normalize_std": ("data", "normalization std", ("data.std",)),
    "augment.degrees": ("data", "augmentation angle range", ("augment.degrees", "augment.enabled")),
    "augment.translate": (
        "data",
        "augmentation shift range",
        ("augment.translate", "augment.enabled"),
    ),
    "augment.scale": ("data", "augmentation scale range", ("augment.scale", "augment.enabled")),
    "augment.shear": ("data", "augmentation shear", ("augment.enabled",)),
    "augment.interpolation": (
        "data",
        "interpolation",
        ("augment.interpolation", "augment.enabled"),
    ),
    "augment.fill": ("data", "fill outside the image", ("augment.enabled",)),
    "augment.parameters": ("data", "augmentation parameters", ("augment.enabled",)),
    "augment.drawn_angle": (
        "data",
        "angles drawn (degrees)",
        ("augment.degrees", "augment.enabled"),
    ),
    "augment.drawn_shift": (
        "data",
        "shifts drawn (pixels)",
        ("augment.translate", "augment.enabled"),
    ),
    "augment.drawn_scale": ("data", "scales drawn", ("augment.scale", "augment.enabled")),
    "augment.splits": ("data", "augmented splits", ("augment.enabled",)),
    "loop.batch_size": ("loop", "batch size", ("train.batch_size",)),
    "loop.partial_last_batch": ("loop", "partial last batch", ()),
    "loop.shuffle": ("loop", "shuffling", ()),
    "loop.epochs": ("loop", "epochs", ("train.epochs",)),
    "loop.reported_loss": ("loop", "reported training loss", ()),
    "numerics.dtype": ("numerics", "dtype", ()),
    "numerics.device": ("numerics", "device", ()),
    "numerics.keras_backend": ("numerics", "Keras backend", ()),
    "numerics.xla": ("numerics", "XLA compilation", ()),
    "numerics.tf32": ("numerics", "TF32 float32 matmuls", ()),
    "numerics.deterministic_ops": ("numerics", "deterministic ops switch", ()),
}


@dataclass(frozen=True)
class AuditRow:
    id: str
    group: str
    label: str
    keras: object
    torch: object
    status: str
    note: str  # empty for same; otherwise one line on why the row is what it is
    keras_read: str
    torch_read: str

    def to_dict(self) -> dict:
        return asdict(self)


def row_info(row_id: str) -> tuple[str, str, tuple[str, ...]]:
    if row_id in ROWS:
        return ROWS[row_id]
    prefix = row_id.rstrip("0123456789")
    if prefix in ROWS:
        group, label, keys = ROWS[prefix]
        return group, f"{label} {row_id[len(prefix) :]}", keys
    return row_id.split(".")[0], row_id, ()


def same_value(a, b) -> bool:
    """Equal, numbers to float32 rounding (a float32 learning rate is the same rate)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool | None):
        return not isinstance(b, bool) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def noted_reason(row_id: str, keras_rows: dict, torch_rows: dict) -> str | None:
    """Why a difference in this row cannot change this pipeline's numbers, or None."""
    value = {
        side: rows.get(row_id, {}).get("value")
        for side, rows in (("keras", keras_rows), ("torch", torch_rows))
    }
    devices = {rows.get("numerics.device", {}).get("value") for rows in (keras_rows, torch_rows)}
    if row_id == "loss.ignored_label" and {value["keras"], value["torch"]} <= {None, -100}:
        return "no MNIST label is -100, so torch's ignore_index default ignores nothing here"
    if row_id == "numerics.keras_backend":
        return "which backend runs Keras; PyTorch has no such choice"
    if row_id == "numerics.tf32" and devices == {"cpu"}:
        return "TF32 applies to float32 matmuls on NVIDIA GPUs only; both sides ran on the CPU"
    if row_id == "numerics.xla":
        return "XLA compiles the same operations, in another order: float rounding differs, not the maths"
    if row_id == "numerics.device":
        return "the two sides ran on different devices: float32 results differ in rounding"
    if row_id == "numerics.deterministic_ops" and devices == {"cpu"}:
        return "these CPU kernels are deterministic either way"
    return None


def classify(keras_rows: dict, torch_rows: dict, asked: dict[str, set[str]]) -> list[AuditRow]:
    """Both sides' descriptions side by side. `asked`: {side: spec keys that side overrides alone}."""
    asked_keys = asked.get("keras", set()) | asked.get("torch", set())
    ablated = ablated_rows(asked_keys)
    order = list(keras_rows) + [r for r in torch_rows if r not in keras_rows]
    rows = []
    for row_id in order:
        group, label, keys = row_info(row_id)
        keras, torch = (
            rows_.get(row_id, {}).get("value", "-") for rows_ in (keras_rows, torch_rows)
        )
        reads = [rows_.get(row_id, {}).get("read", "absent") for rows_ in (keras_rows, torch_rows)]
        bridge = bridge_for_row(row_id)
        if same_value(keras, torch):
            if bridge:
                status = "bridged"
                note = (
                    f"Keras default: {bridge.keras_default}; PyTorch default: {bridge.torch_default}; "
                    f"bridged: {bridge.bridged} [{bridge.id}]"
                )
            else:
                status, note = "same", ""
        elif set(keys) & asked_keys:
            overridden = sorted(set(keys) & asked_keys)
            status, note = "asked", f"a one-sided override asked for it ({', '.join(overridden)})"
        elif row_id in ablated or row_id.rstrip("0123456789") in ablated:
            status, note = "asked", "an ablation asked for it (--ablate)"
        elif reason := noted_reason(row_id, keras_rows, torch_rows):
            status, note = "noted", reason
        else:
            status = "differs"
            note = (
                f"the sides differ; the bridge [{bridge.id}] is broken"
                if bridge
                else "the sides differ"
            )
        rows.append(AuditRow(row_id, group, label, keras, torch, status, note, *reads))
    return rows


def passed(rows: list[AuditRow]) -> bool:
    return not any(r.status == "differs" for r in rows)


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def audit_table(rows: list[AuditRow], markdown: bool = False) -> str:
    """Every row: its class, the setting, Keras's and PyTorch's values, and a note on every row that is
    not same."""
    if markdown:
        lines = ["| class | setting | Keras | PyTorch | note |", "|---|---|---|---|---|"]
        for r in rows:
            cells = [r.status, f"{r.group}: {r.label}", _show(r.keras), _show(r.torch), r.note]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        return "\n".join(lines)
    width = max(len(f"{r.group}: {r.label}") for r in rows)
    value_width = min(45, max(len(_show(r.keras)) for r in rows))
    lines = [f"{'class':8} {'setting':{width}}  {'Keras':{value_width}}  PyTorch"]
    for r in rows:
        setting = f"{r.group}: {r.label}"
        lines.append(
            f"{r.status:8} {setting:{width}}  {_show(r.keras):{value_width}}  {_show(r.torch)}"
        )
        if r.note:
            lines.append(f"{'':8} {'':{width}}  -> {r.note}")
    return "\n".join(lines)


def summary_line(rows: list[AuditRow]) -> str:
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    differing = [f"{r.group}: {r.label}" for r in rows if r.status == "differs"]
    if differing:
        return f"AUDIT FAIL: {len(differing)} of {len(rows)} settings differ ({'; '.join(differing)}); {shown}"
    return f"AUDIT PASS: no setting differs ({shown})"


def asked_keys(side_sets: list[str]) -> set[str]:
    """The spec keys a side's one-sided overrides (KEY=VALUE) touch."""
    return {item.partition("=")[0].strip() for item in side_sets}


def read_descriptions(paths: dict[str, Path]) -> dict[str, dict] | None:
    """Both sides' descriptions, or None when a side wrote none (it crashed or refused first)."""
    if not all(path.exists() for path in paths.values()):
        return None
    return {side: json.loads(path.read_text()) for side, path in paths.items()}


def audit_check(rows: list[AuditRow]) -> Check:
    differing = [f"{r.group}: {r.label}" for r in rows if r.status == "differs"]
    detail = "; ".join(differing) if differing else f"{len(rows)} settings compared"
    return Check("audit: no setting differs", None, 0.0, not differing, detail)


def compare_files(paths: dict[str, Path], side_sets: dict[str, list[str]]) -> list[AuditRow]:
    """The audit of both sides' descriptions at `paths` (side -> file), each side's one-sided
    overrides (KEY=VALUE) asked; [] when a side wrote none."""
    descriptions = read_descriptions(paths)
    if not descriptions:
        return []
    asked = {side: asked_keys(one_sided) for side, one_sided in side_sets.items()}
    return classify(descriptions["keras"], descriptions["torch"], asked)
