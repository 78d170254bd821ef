"""The parity verdict: every check, its measured value, its tolerance, pass or fail."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from shared.results import SIDES, Result
from shared.spec import Spec

# (history key, tolerance name, label): the per-epoch curves compared, largest difference over the epochs.
CURVES = (
    ("train_loss", "train_loss", "training loss"),
    ("val_loss", "val_loss", "validation loss"),
    ("val_accuracy", "val_accuracy", "validation accuracy"),
)


@dataclass(frozen=True)
class Check:
    name: str
    measured: float | None  # None when there was nothing to measure (a side did not finish)
    tolerance: float
    passed: bool
    detail: str
    at_least: bool = False  # measured must reach the tolerance (a floor), not stay under it

    def to_dict(self) -> dict:
        return asdict(self)


def _finished(side: str, result: Result | None) -> Check:
    ok = result is not None and result.ok
    if result is None:
        why = "no result (the side crashed)"
    else:
        why = result.message or ("finished" if result.ok else f"status {result.status}")
    return Check(f"{side} trained to the end", None, 0.0, ok, why)


def parity_checks(keras: Result | None, torch: Result | None, spec: Spec, mode: str) -> list[Check]:
    """Compare the two results (the shared schema) under `spec`'s tolerances for `mode`."""
    checks = [_finished(side, result) for side, result in zip(SIDES, (keras, torch))]
    if not all(c.passed for c in checks):
        return checks
    tol = spec.tolerances(mode)
    floor = spec.parity.min_test_accuracy
    for side, result in zip(SIDES, (keras, torch)):
        acc = result.test.accuracy
        checks.append(
            Check(
                f"{side} test accuracy >= minimum",
                acc,
                floor,
                acc >= floor,
                f"{acc:.4f} vs required {floor:.4f}",
                at_least=True,
            )
        )
    if len(keras.history) != len(torch.history):
        return [
            *checks,
            Check(
                "same number of epochs",
                None,
                0.0,
                False,
                f"keras {len(keras.history)}, torch {len(torch.history)}",
            ),
        ]
    diff = abs(keras.test.accuracy - torch.test.accuracy)
    checks.append(
        Check(
            "test accuracy difference",
            diff,
            tol.test_accuracy,
            diff <= tol.test_accuracy,
            f"keras {keras.test.accuracy:.4f}, torch {torch.test.accuracy:.4f}",
        )
    )
    for key, tol_name, label in CURVES:
        diffs = [
            abs(getattr(k, key) - getattr(t, key)) for k, t in zip(keras.history, torch.history)
        ]
        # a NaN compares False with everything: put it first, so that it is the worst and fails
        worst = max(range(len(diffs)), key=lambda i: (not math.isfinite(diffs[i]), diffs[i]))
        limit = getattr(tol, tol_name)
        checks.append(
            Check(
                f"{label} difference (max over epochs)",
                diffs[worst],
                limit,
                diffs[worst] <= limit,
                f"largest at epoch {worst + 1}: keras {getattr(keras.history[worst], key):.4f}, "
                f"torch {getattr(torch.history[worst], key):.4f}",
            )
        )
    return checks


def verdict(checks: list[Check], mode: str) -> str:
    failed = [c for c in checks if not c.passed]
    if not failed:
        return f"PARITY PASS: all {len(checks)} checks within tolerance ({mode} mode)"
    first = failed[0]
    measured = (
        ""
        if first.measured is None
        else f": {first.measured:.4g} > tolerance {first.tolerance:.4g}"
    )
    if first.at_least:
        measured = f": {first.measured:.4f} < {first.tolerance:.4f}"
    return (
        f"PARITY FAIL: {len(failed)} of {len(checks)} checks failed ({mode} mode); "
        f"first: {first.name}{measured} ({first.detail})"
    )
