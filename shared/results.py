"""The result of one run, in one typed schema both sides write: `Result`, its `EpochRow`s and `Scores`.

result = new_result("keras", spec.to_dict(), "aligned", 0, versions, "cpu")
result.history.append(epoch_row(1, train_loss, train_acc, val_loss, val_acc, seconds))
write_json(path, result.to_dict());  read_result(path) -> Result
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

SCHEMA = "mnist-parity/result/2"
SIDES = ("keras", "torch")
SIDE_LABELS = {"keras": "Keras", "torch": "PyTorch"}
STATUSES = ("ok", "diverged", "refused")  # refused: a probe the pipeline cannot run


@dataclass
class EpochRow:
    """One epoch: fit's training figures (dropout on), the validation pass, the epoch's wall time."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class StepRecord:
    """One training step of a lockstep run: each stage's fingerprint (shared/draws.py), in pipeline
    order: rescaled, augmented, normalized (those the side can see), logits, loss, grad/<param>,
    param/<param> (after the update). "loss" holds [the batch's loss, its absolute value]."""

    epoch: int
    step: int  # counted from 1 over the whole run
    order: (
        str  # digest of the batch as served: its raw images and labels, in order (shared/draws.py)
    )
    stages: dict[str, list[float]]


@dataclass
class Scores:
    loss: float
    accuracy: float


@dataclass
class Result:
    framework: str
    versions: dict[str, str]
    device: str
    mode: str
    seed: int
    align_seed: int
    spec: dict[str, Any]
    command: str
    status: str = "ok"
    message: str | None = None
    history: list[EpochRow] = field(default_factory=list)
    test: Scores | None = None
    confusion_matrix: list[list[int]] | None = None
    total_seconds: float = 0.0
    # wall seconds of the process's phases: imports, setup (data, model, audit), training, evaluation
    phases: dict[str, float] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)  # lockstep only
    # lockstep only: what the instruments found of the model's structure (dropout layers, the mode
    # evaluation ran in), compared before any step
    structure: dict[str, str] = field(default_factory=dict)
    schema: str = SCHEMA

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: Any) -> Result:
        """A Result from its JSON form; ValueError names the first key that breaks the schema."""
        if not isinstance(doc, dict):
            raise ValueError("a result must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        # results written before `structure` existed lack it
        missing, extra = sorted(names - set(doc) - {"structure"}), sorted(set(doc) - names)
        if missing or extra:
            raise ValueError(
                f"result: {'missing' if missing else 'unknown'} key {(missing or extra)[0]!r}"
            )
        values = {
            name: _typed(f"result: {name!r}", doc[name], kind)
            for name, kind in get_type_hints(cls).items()
            if name in doc
        }
        result = cls(**values)
        result.validate()
        return result

    def validate(self) -> None:
        """Raise ValueError naming what breaks the schema's rules beyond the field types."""
        if self.schema != SCHEMA or self.framework not in SIDES or self.status not in STATUSES:
            raise ValueError(
                f"result: bad schema/framework/status {self.schema!r}/{self.framework!r}/{self.status!r}"
            )
        for i, row in enumerate(self.history):
            if row.epoch != i + 1:
                raise ValueError(f"result: history[{i}] is epoch {row.epoch}, not epoch {i + 1}")
        if not self.ok:
            return
        if not self.history or self.test is None or self.confusion_matrix is None:
            raise ValueError("result: a finished run needs history, test and confusion_matrix")
        if not (math.isfinite(self.test.loss) and math.isfinite(self.test.accuracy)):
            raise ValueError("result: test loss and accuracy must be finite")
        classes = self.spec["data"]["num_classes"]
        if len(self.confusion_matrix) != classes or any(
            len(r) != classes for r in self.confusion_matrix
        ):
            raise ValueError(f"result: confusion_matrix must be {classes}x{classes} integers")


def _typed(where: str, value: Any, kind: Any) -> Any:
    """`value` read as `kind` (a real type from the dataclasses above), or ValueError naming `where`."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return None
        (kind,) = [arg for arg in args if arg is not type(None)]
        return _typed(where, value, kind)
    if kind is Any:
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise ValueError(f"{where} must be {kind.__name__}, not {type(value).__name__}")
        return kind(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, not {type(value).__name__}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, not {type(value).__name__}")
        return [_typed(f"{where}[{i}]", item, args[0]) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object, not {type(value).__name__}")
        return {key: _typed(f"{where}[{key!r}]", item, args[1]) for key, item in value.items()}
    if dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        if not isinstance(value, dict) or list(value) != list(hints):
            raise ValueError(f"{where} must have exactly the keys {tuple(hints)}")
        return kind(**{name: _typed(f"{where}.{name}", value[name], hints[name]) for name in hints})
    raise TypeError(
        f"shared/results.py cannot read a field of type {kind!r}: teach _typed that type"
    )


def new_result(
    framework: str, spec_dict: dict, mode: str, align_seed: int, versions: dict, device: str
) -> Result:
    return Result(
        framework=framework,
        versions={"python": platform.python_version(), **versions},
        device=device,
        mode=mode,
        seed=spec_dict["train"]["seed"],
        align_seed=align_seed,
        spec=spec_dict,
        command=" ".join(["python", *sys.argv]),
    )


def epoch_row(
    epoch: int, train_loss, train_accuracy, val_loss, val_accuracy, seconds: float
) -> EpochRow:
    """One history row, from numbers of any framework's scalar type."""
    return EpochRow(
        epoch,
        float(train_loss),
        float(train_accuracy),
        float(val_loss),
        float(val_accuracy),
        float(seconds),
    )


class Diverged(RuntimeError):
    """Training produced a non-finite or too large loss; the run stops instead of training on garbage."""

    def __init__(self, message: str, history: list[EpochRow] | None = None):
        super().__init__(message)
        self.history = history or []  # the epochs completed before it happened


def record_run(result: Result, train, test, stopwatch) -> Result:
    """Fill `result` from train() (the history) then test() ((loss, accuracy, confusion matrix)); a
    diverged run keeps the epochs it finished and says why. Each phase's seconds go to stopwatch."""
    start = time.perf_counter()
    try:
        result.history = train()
        stopwatch.lap("training")
        loss, accuracy, result.confusion_matrix = test()
        result.test = Scores(loss, accuracy)
        stopwatch.lap("evaluation")
    except Diverged as err:
        result.status, result.message, result.history = "diverged", str(err), err.history
    result.total_seconds = time.perf_counter() - start
    result.phases = stopwatch.phases
    return result


def check_divergence(loss: float, epoch: int, batches: int, train_spec) -> None:
    """Raise Diverged when the running mean training loss `loss` is past train.max_loss or not finite."""
    if train_spec.diverged(loss):
        raise Diverged(
            f"epoch {epoch}: training diverged: loss {loss:.4g} (limit train.max_loss = "
            f"{train_spec.max_loss:g}) after {batches} batches; lower train.lr (now {train_spec.lr:g})"
        )


EPOCH_COLUMNS = (
    ("train_loss", "train loss"),
    ("train_accuracy", "train acc"),
    ("val_loss", "val loss"),
    ("val_accuracy", "val acc"),
)


def epoch_line(framework: str, row: EpochRow, epochs: int) -> str:
    """One epoch's figures on one line: a side's progress where its output is not a terminal."""
    cells = ", ".join(f"{title} {getattr(row, key):.4f}" for key, title in EPOCH_COLUMNS)
    return f"{framework} epoch {row.epoch}/{epochs}: {cells}, {row.seconds:.1f} s"


def epoch_table(histories: dict[str, list[EpochRow]], markdown: bool = False) -> str:
    """The one epoch table: a row per side per epoch and, with two sides, their difference (first -
    second); plain columns for a terminal, or Markdown."""
    labels = list(histories)
    header = [
        "epoch",
        *(["side"] if len(labels) > 1 else []),
        *(t for _, t in EPOCH_COLUMNS),
        "sec",
    ]
    rows = []
    for i in range(max(map(len, histories.values()), default=0)):
        present = {label: h[i] for label, h in histories.items() if i < len(h)}
        for n, (label, row) in enumerate(present.items()):
            side = [label] if len(labels) > 1 else []
            cells = [f"{getattr(row, key):.4f}" for key, _ in EPOCH_COLUMNS]
            rows.append([str(i + 1) if n == 0 else "", *side, *cells, f"{row.seconds:.1f}"])
        if len(present) == 2:
            first, second = present.values()
            diff = [
                f"{getattr(first, key) - getattr(second, key):+.4f}" for key, _ in EPOCH_COLUMNS
            ]
            rows.append(["", "-".join(label[0].upper() for label in labels), *diff, ""])
    if markdown:
        return "\n".join(
            "| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows]
        )
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in [header, *rows]
    )


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that a reader never sees half a file and a failure leaves none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_json(path: str | os.PathLike, doc: Any) -> None:
    if dataclasses.is_dataclass(doc):
        doc = dataclasses.asdict(doc)
    write_atomically(path, (json.dumps(doc, indent=2, allow_nan=True) + "\n").encode())


def read_result(path: str | os.PathLike) -> Result:
    return Result.from_dict(json.loads(Path(path).read_text()))
