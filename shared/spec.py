"""Typed, validated access to spec.toml, the one spec both pipelines share.

spec = load_spec(["train.lr=3e-4", "model.hidden=[512,256,128]"])
spec.train.lr, spec.model.hidden, spec.to_dict()
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SPEC_PATH = Path(__file__).with_name("spec.toml")

ACTIVATIONS = ("relu", "tanh", "sigmoid")
INTERPOLATIONS = ("bilinear", "nearest")
# Curve tolerances are calibrated (parity/calibration.json) for each configuration and for aligned and
# independent mode; lockstep compares every step and judges its curves by the aligned tolerances.
CALIBRATIONS = ("default", "quick")
CALIBRATED_MODES = ("aligned", "independent")
MODES = (*CALIBRATED_MODES, "lockstep")
DTYPES = ("float32", "float64")
PIPELINES = ("batched", "classic")
MODEL_KINDS = ("mlp", "cnn")


class SpecError(ValueError):
    """A bad spec value or override; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class DataSpec:
    # the shapes contract: checked against the images and labels loaded (shared/splits.py)
    height: int
    width: int
    channels: int
    num_classes: int
    mean: float
    std: float
    validation_size: int
    split_seed: int
    train_subset: int
    workers: int | str
    pipeline: str  # the torch side's data path: "batched" or "classic" (torchvision's idiom)


@dataclass(frozen=True)
class AugmentSpec:
    enabled: bool
    degrees: float
    translate: float
    scale: tuple[float, float]
    interpolation: str


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "mlp", or "cnn": convolution blocks (filters) before the same dense head
    filters: tuple[int, ...]  # cnn: one 3x3 convolution block per entry (Spec.feature_shape)
    batchnorm_momentum: (
        float  # cnn: Keras's meaning, the running statistics' weight on their old value
    )
    batchnorm_epsilon: float  # cnn
    hidden: tuple[int, ...]
    activation: str
    dropout: float


@dataclass(frozen=True)
class TrainSpec:
    lr: float  # Adam's: the one optimizer both sides build, with its three constants below
    beta1: float
    beta2: float
    epsilon: float
    batch_size: int
    epochs: int
    seed: int
    max_loss: float
    dtype: str  # float32 or float64, on both sides: every layer, weight, optimizer state and batch

    def diverged(self, loss: float) -> bool:
        return not math.isfinite(loss) or loss > self.max_loss


@dataclass(frozen=True)
class AblateSpec:
    """One switch per bridged difference (parity/bridges.py) and per classic porting slip: true turns
    the bridge off, or makes the slip, on the side that compare.py --ablate names."""

    normalize_std: bool
    fit_shuffle: bool
    augment_affine: bool
    augment_fill: bool
    init_kernel: bool
    init_bias: bool
    weight_layout: bool
    loss_from_logits: bool
    adam_epsilon: bool
    reported_loss: bool
    float64_constants: bool
    shuffle_batches: bool
    flatten_order: bool
    conv_padding: bool
    conv_layout: bool
    flatten_layout: bool
    batchnorm_momentum: bool
    batchnorm_epsilon: bool
    batchnorm_variance: bool


@dataclass(frozen=True)
class LockstepTolerances:
    float64: float  # largest relative per-step difference of any recorded quantity, float64
    float32: float  # the same in float32, over the first float32_steps steps
    float32_steps: int  # float32 trajectories part once a ReLU flips on rounding (spec.toml)


@dataclass(frozen=True)
class ParitySpec:
    min_test_accuracy: float
    calibration: str  # the calibrated configuration that judges the curves (parity/tolerances.py)
    equivalence_accuracy: float  # compare.py --seeds: TOST margin on the final test accuracy
    equivalence_loss: float  # compare.py --seeds: TOST margin on the final test loss
    lockstep: LockstepTolerances


@dataclass(frozen=True)
class Spec:
    data: DataSpec
    augment: AugmentSpec
    model: ModelSpec
    train: TrainSpec
    ablate: AblateSpec
    parity: ParitySpec
    quick: dict[str, Any]
    probe: dict[str, Any]

    @property
    def input_dim(self) -> int:
        return self.data.height * self.data.width * self.data.channels

    def block_shapes(self) -> list[tuple[int, int, int]]:
        """Each convolution block's output (height, width, channels), channels last: the first block
        keeps the size ("same" padding, stride 1) and max-pools by 2, each later one halves it with a
        stride-2 "same" convolution (rounding up, as "same" does). None for the MLP."""
        if self.model.kind != "cnn":
            return []
        height, width, shapes = self.data.height, self.data.width, []
        for index, filters in enumerate(self.model.filters):
            if index == 0:
                height, width = height // 2, width // 2
            else:
                height, width = -(-height // 2), -(-width // 2)
            shapes.append((height, width, filters))
        return shapes

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of what Flatten receives, channels last: the image itself for
        the MLP, the last convolution block's output for the CNN."""
        blocks = self.block_shapes()
        return blocks[-1] if blocks else (self.data.height, self.data.width, self.data.channels)

    @property
    def flat_dim(self) -> int:
        return math.prod(self.feature_shape)

    def shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """The shapes contract of spec.toml, for a batch of `batch` images."""
        d = self.data
        return {
            "raw": (batch, d.height, d.width),
            "torch_sample": (d.channels, d.height, d.width),
            "keras_sample": (d.height, d.width, d.channels),
            "torch_batch": (batch, d.channels, d.height, d.width),
            "keras_batch": (batch, d.height, d.width, d.channels),
            **{f"block{i}": (batch, *shape) for i, shape in enumerate(self.block_shapes(), 1)},
            "flat": (batch, self.flat_dim),
            "logits": (batch, d.num_classes),
        }

    def lockstep_tolerance(self) -> float:
        """The largest relative per-step difference lockstep allows in this spec's dtype."""
        return getattr(self.parity.lockstep, self.train.dtype)

    def probe_spec(self) -> Spec:
        """This spec with the [probe] overrides: the float64 lockstep probe of every compare.py run."""
        return spec_from_dict(self.to_dict(), list(self.probe.items()))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


SECTIONS = {
    "data": DataSpec,
    "augment": AugmentSpec,
    "model": ModelSpec,
    "train": TrainSpec,
    "ablate": AblateSpec,
}


def invalid(key: str, value: Any, allowed: str) -> SpecError:
    """The error for a bad value of `key`: it names the key, the value, what is allowed and the fix."""
    shown = list(value) if isinstance(value, tuple) else value
    return SpecError(
        f"spec value {key} = {shown!r} is invalid: {allowed}. "
        f"Fix it in shared/spec.toml or with --set {key}=VALUE."
    )


def _fail(key: str, value: Any, allowed: str) -> None:
    raise invalid(key, value, allowed)


def _number(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(key, value, f"expected a number ({kind.__name__})")
    if kind is int and not float(value).is_integer():
        _fail(key, value, "expected a whole number")
    return kind(value)


def _check(key: str, ok: bool, value: Any, allowed: str) -> None:
    if not ok:
        _fail(key, value, allowed)


def _coerce(cls: type, section: str, raw: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise SpecError(
            f"unknown spec key {section}.{unknown[0]}: allowed keys in [{section}] are "
            f"{', '.join(sorted(fields))}."
        )
    missing = sorted(set(fields) - set(raw))
    if missing:
        raise SpecError(
            f"spec key {section}.{missing[0]} is missing: add it to [{section}] in shared/spec.toml."
        )
    hints = get_type_hints(cls)
    return cls(**{name: _value(f"{section}.{name}", raw[name], hints[name]) for name in fields})


def _value(key: str, value: Any, kind: Any) -> Any:
    """`value` read as the field type `kind`; SpecError for a bad value, TypeError for a type that
    this reader was never taught (a new spec field needs a branch here)."""
    if kind in (int, float):
        return _number(key, value, kind)
    if kind is bool:
        _check(key, isinstance(value, bool), value, "expected true or false")
        return value
    if kind is str:
        _check(key, isinstance(value, str), value, "expected a string")
        return value
    if kind == tuple[int, ...]:
        allowed = "expected a list of whole numbers, e.g. [256, 128]"
        _check(key, isinstance(value, (list, tuple)), value, allowed)
        return tuple(_number(key, v, int) for v in value)
    if kind == tuple[float, float]:
        allowed = "expected two numbers [low, high]"
        _check(key, isinstance(value, (list, tuple)) and len(value) == 2, value, allowed)
        return tuple(_number(key, v, float) for v in value)
    if kind == int | str:  # a count, or "auto"
        return value if value == "auto" else _number(key, value, int)
    if dataclasses.is_dataclass(kind):  # a sub-table such as [parity.lockstep]
        _check(key, isinstance(value, dict), value, "expected a table")
        return _coerce(kind, key, value)
    raise TypeError(f"shared/spec.py cannot read {key} of type {kind!r}: teach _value that type")


@dataclass(frozen=True)
class Rule:
    """One rule of the spec: `ok(value, spec)` holds for the value at `key`, or the spec is refused
    with `allowed` (a text, or a function of the spec) as what is allowed."""

    key: str
    ok: Callable[[Any, Spec], bool]
    allowed: str | Callable[[Spec], str]


def _choice(key: str, choices: tuple[str, ...], where: str = "") -> Rule:
    return Rule(key, lambda v, _: v in choices, f"allowed: {', '.join(choices)}{where}")


def _positive(key: str) -> Rule:
    return Rule(key, lambda v, _: v > 0, "must be > 0")


TRAIN_IMAGES = 60000  # MNIST's training set, before the validation split (shared/mnist.py)


def _left_after_validation(spec: Spec) -> int:
    return TRAIN_IMAGES - spec.data.validation_size


# Every value check of the spec, in the spec file's order; the types are checked as it is read.
RULES: tuple[Rule, ...] = (
    _positive("data.std"),
    Rule(
        "data.validation_size",
        lambda v, _: 0 < v < TRAIN_IMAGES,
        "must be between 1 and 59,999 (the training set has 60,000 images)",
    ),
    Rule("data.split_seed", lambda v, _: v >= 0, "must be >= 0"),
    Rule(
        "data.train_subset",
        lambda v, spec: 0 <= v <= _left_after_validation(spec),
        lambda spec: (
            f"must be 0 (all) or at most {_left_after_validation(spec)} "
            "(the training images left after validation)"
        ),
    ),
    Rule("data.workers", lambda v, _: v == "auto" or v >= 0, 'must be "auto" or a count >= 0'),
    _choice("data.pipeline", PIPELINES),
    Rule("augment.degrees", lambda v, _: 0 <= v <= 180, "must be between 0 and 180"),
    Rule("augment.translate", lambda v, _: 0 <= v <= 1, "must be a fraction between 0 and 1"),
    Rule(
        "augment.scale", lambda v, _: 0 < v[0] <= v[1], "must be [low, high] with 0 < low <= high"
    ),
    _choice("augment.interpolation", INTERPOLATIONS),
    _choice("model.kind", MODEL_KINDS),
    Rule(
        "model.filters",
        lambda v, spec: (
            spec.model.kind != "cnn"
            or (len(v) > 0 and all(f > 0 for f in v) and min(spec.block_shapes()[-1][:2]) >= 1)
        ),
        'with model.kind = "cnn": one count > 0 per block, and few enough blocks that the image '
        "keeps at least one pixel (each block halves it)",
    ),
    Rule("model.batchnorm_momentum", lambda v, _: 0 <= v < 1, "must be in [0, 1)"),
    _positive("model.batchnorm_epsilon"),
    Rule("model.hidden", lambda v, _: all(h > 0 for h in v), "every layer size must be > 0"),
    _choice("model.activation", ACTIVATIONS),
    Rule("model.dropout", lambda v, _: 0 <= v < 1, "must be in [0, 1)"),
    _positive("train.lr"),
    Rule("train.beta1", lambda v, _: 0 <= v < 1, "must be in [0, 1)"),
    Rule("train.beta2", lambda v, _: 0 <= v < 1, "must be in [0, 1)"),
    _positive("train.epsilon"),
    Rule("train.batch_size", lambda v, _: v > 0, "must be >= 1"),
    Rule("train.epochs", lambda v, _: v > 0, "must be >= 1"),
    Rule("train.seed", lambda v, _: v >= 0, "must be >= 0"),
    _positive("train.max_loss"),
    _choice("train.dtype", DTYPES),
    Rule("parity.min_test_accuracy", lambda v, _: 0 <= v <= 1, "must be in [0, 1]"),
    _choice("parity.calibration", CALIBRATIONS, " (parity/calibration.json)"),
    _positive("parity.equivalence_accuracy"),
    _positive("parity.equivalence_loss"),
    _positive("parity.lockstep.float64"),
    _positive("parity.lockstep.float32"),
    _positive("parity.lockstep.float32_steps"),
)


def _validate(spec: Spec) -> None:
    for rule in RULES:
        value = functools.reduce(getattr, rule.key.split("."), spec)
        if not rule.ok(value, spec):
            allowed = rule.allowed(spec) if callable(rule.allowed) else rule.allowed
            _fail(rule.key, value, allowed)


def parse_override(text: str) -> tuple[str, Any]:
    """'train.lr=3e-4' -> ('train.lr', 0.0003); the value is read as TOML, else as a bare string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(
            f"bad override {text!r}: expected KEY=VALUE, for example --set train.lr=3e-4"
        )
    try:
        return key, tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def _apply(raw: dict[str, Any], key: str, value: Any) -> None:
    *path, last = key.split(".")
    node = raw
    for i, part in enumerate(path):
        if not isinstance(node.get(part), dict):
            raise SpecError(
                f"unknown spec key {key}: [{'.'.join(path[: i + 1])}] is not a section of the spec; "
                f"sections are {', '.join(k for k, v in raw.items() if isinstance(v, dict))}."
            )
        node = node[part]
    if not path or last not in node or isinstance(node[last], dict):
        where = ".".join(path) or "the top level"
        keys = ", ".join(k for k, v in node.items() if not isinstance(v, dict))
        raise SpecError(
            f"unknown spec key {key}: keys in {where} are {keys or '(none; name a section.key)'}."
        )
    node[last] = value


def spec_from_dict(raw: dict[str, Any], overrides: Iterable[str | tuple[str, Any]] = ()) -> Spec:
    raw = json.loads(json.dumps(raw))  # a deep copy that also turns tuples into lists
    for item in overrides:
        _apply(raw, *(parse_override(item) if isinstance(item, str) else item))
    known = [*SECTIONS, "parity", "quick", "probe"]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SpecError(f"unknown spec section [{unknown[0]}]: sections are {', '.join(known)}.")
    parts = {name: _coerce(cls, name, raw.get(name, {})) for name, cls in SECTIONS.items()}
    spec = Spec(
        **parts,
        parity=_coerce(ParitySpec, "parity", raw.get("parity", {})),
        quick=dict(raw.get("quick", {})),
        probe=dict(raw.get("probe", {})),
    )
    _validate(spec)
    return spec


def load_spec(
    overrides: Iterable[str] = (), quick: bool = False, path: str | os.PathLike | None = None
) -> Spec:
    """The spec from spec.toml, with the [quick] overrides when quick, then `overrides` (KEY=VALUE)."""
    path = Path(path or SPEC_PATH)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SpecError(f"cannot read the spec {path}: {err}") from err
    quick_items = list(raw.get("quick", {}).items()) if quick else []
    return spec_from_dict(raw, [*quick_items, *overrides])
