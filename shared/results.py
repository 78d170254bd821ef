"""The result of one run: one JSON document, in one schema, written by both sides."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

SCHEMA = "mnist-parity/result/1"
FRAMEWORKS = ("keras", "torch")
STATUSES = ("ok", "diverged")
EPOCH_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")

# key -> the types allowed; "history", "test" and "confusion_matrix" are checked more closely below.
FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (str,),
    "framework": (str,),
    "versions": (dict,),
    "device": (str,),
    "mode": (str,),
    "seed": (int,),
    "align_seed": (int,),
    "spec": (dict,),
    "status": (str,),
    "message": (str, type(None)),
    "history": (list,),
    "test": (dict, type(None)),
    "confusion_matrix": (list, type(None)),
    "total_seconds": (float, int),
    "command": (str,),
}


class Diverged(RuntimeError):
    """Training produced a non-finite loss; the run stops instead of training on garbage."""

    def __init__(self, message: str, history: list | None = None):
        super().__init__(message)
        self.history = history or []  # the epochs completed before it happened


def new_result(
    framework: str, spec_dict: dict, mode: str, align_seed: int, versions: dict, device: str
) -> dict:
    return {
        "schema": SCHEMA,
        "framework": framework,
        "versions": {"python": platform.python_version(), **versions},
        "device": device,
        "mode": mode,
        "seed": spec_dict["train"]["seed"],
        "align_seed": align_seed,
        "spec": spec_dict,
        "status": "ok",
        "message": None,
        "history": [],
        "test": None,
        "confusion_matrix": None,
        "total_seconds": 0.0,
        "command": " ".join(["python", *sys.argv]),
    }


def validate_result(doc: Any) -> None:
    """Raise ValueError naming the first key that does not follow the schema."""
    if not isinstance(doc, dict):
        raise ValueError("a result must be a JSON object")
    for key, types in FIELDS.items():
        if key not in doc:
            raise ValueError(f"result: missing key {key!r}")
        if not isinstance(doc[key], types) or isinstance(doc[key], bool):
            raise ValueError(f"result: {key!r} has type {type(doc[key]).__name__}")
    extra = sorted(set(doc) - set(FIELDS))
    if extra:
        raise ValueError(f"result: unknown key {extra[0]!r}")
    if (
        doc["schema"] != SCHEMA
        or doc["framework"] not in FRAMEWORKS
        or doc["status"] not in STATUSES
    ):
        raise ValueError(
            f"result: bad schema/framework/status {doc['schema']!r}/{doc['framework']!r}/{doc['status']!r}"
        )
    for i, row in enumerate(doc["history"]):
        if not isinstance(row, dict) or tuple(row) != EPOCH_KEYS:
            raise ValueError(f"result: history[{i}] must have exactly the keys {EPOCH_KEYS}")
        if row["epoch"] != i + 1 or not all(isinstance(row[k], (int, float)) for k in EPOCH_KEYS):
            raise ValueError(f"result: history[{i}] is not epoch {i + 1} with numeric values")
    if doc["status"] == "ok":
        if not doc["history"] or doc["test"] is None or doc["confusion_matrix"] is None:
            raise ValueError("result: a finished run needs history, test and confusion_matrix")
        if set(doc["test"]) != {"loss", "accuracy"} or not all(
            map(math.isfinite, doc["test"].values())
        ):
            raise ValueError("result: test must be {'loss': finite, 'accuracy': finite}")
        k = doc["spec"]["data"]["num_classes"]
        cm = doc["confusion_matrix"]
        if len(cm) != k or any(len(r) != k or not all(isinstance(v, int) for v in r) for r in cm):
            raise ValueError(f"result: confusion_matrix must be {k}x{k} integers")


def write_json(path: str | os.PathLike, doc: Any) -> None:
    """Write atomically: a reader never sees half a file, and a failure leaves none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2, allow_nan=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_result(path: str | os.PathLike) -> dict:
    doc = json.loads(Path(path).read_text())
    validate_result(doc)
    return doc
