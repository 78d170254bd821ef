"""The parity verdict: every check, its measured value, its tolerance, pass or fail."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from parity.tolerances import CURVES, Tolerances, calibration_name, configuration_spec, tolerances
from shared.results import SIDES, Result
from shared.spec import Spec


@dataclass(frozen=True)
class Check:
    name: str
    measured: float | None  # None when there was nothing to measure (a side did not finish)
    tolerance: float
    passed: bool
    detail: str
    at_least: bool = False  # measured must reach the tolerance (a floor), not stay under it
    # a calibrated check: the measured difference's calibrated spread, so that the report can say
    # how far inside its tolerance it is (measured / spread against tolerance / spread allowed)
    spread: float | None = None
    # False for a curve check of a configuration its calibration was not made for (uncalibrated()):
    # measured and shown, never failed
    judged: bool = True

    @property
    def margin(self) -> float | None:
        """The measured difference in calibrated spreads (None for an uncalibrated check)."""
        if self.spread is None or self.measured is None:
            return None
        return self.measured / self.spread

    @property
    def allowed(self) -> float | None:
        return None if self.spread is None else self.tolerance / self.spread

    def to_dict(self) -> dict:
        return asdict(self)


def _finished(side: str, result: Result | None) -> Check:
    ok = result is not None and result.ok
    if result is None:
        why = "no result (the side crashed)"
    else:
        why = result.message or ("finished" if result.ok else f"status {result.status}")
    return Check(f"{side} trained to the end", None, 0.0, ok, why)


def parity_checks(
    keras: Result | None,
    torch: Result | None,
    spec: Spec,
    mode: str,
    tol: Tolerances | None = None,
) -> list[Check]:
    """Compare the two results (the shared schema) under the calibrated tolerances of `spec`'s
    configuration and `mode` (or `tol`, the calibration's own before it is written)."""
    checks = [_finished(side, result) for side, result in zip(SIDES, (keras, torch))]
    if not all(c.passed for c in checks):
        return checks
    tol = tol or tolerances(spec, mode)
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
    spread = tol.spread("test_accuracy")
    checks.append(
        Check(
            "test accuracy difference",
            diff,
            tol.limit("test_accuracy"),
            diff <= tol.limit("test_accuracy"),
            f"keras {keras.test.accuracy:.4f}, torch {torch.test.accuracy:.4f}",
            spread=spread,
        )
    )
    for key, label in CURVES.items():
        diffs = [
            abs(getattr(k, key) - getattr(t, key)) for k, t in zip(keras.history, torch.history)
        ]
        # each epoch against its own spread: the worst epoch is the largest margin, not the largest
        # difference (the first epoch spreads most); a NaN is put first, so that it fails
        margins = [d / tol.spread(key, e + 1) for e, d in enumerate(diffs)]
        worst = max(range(len(diffs)), key=lambda i: (not math.isfinite(margins[i]), margins[i]))
        epoch = worst + 1
        limit = tol.limit(key, epoch)
        checks.append(
            Check(
                f"{label} difference (largest margin over epochs)",
                diffs[worst],
                limit,
                diffs[worst] <= limit,
                f"largest at epoch {epoch}: keras {getattr(keras.history[worst], key):.4f}, "
                f"torch {getattr(torch.history[worst], key):.4f}",
                spread=tol.spread(key, epoch),
            )
        )
    return checks


# spec keys that leave the seed-to-seed spread of the curves as calibrated: the verdict's own settings,
# the probe's, the ablations (one-sided, judged against the calibrated configuration), the seed, and
# how the torch side's batches are assembled (the same numbers on both data paths)
SPREAD_NEUTRAL = ("parity.", "probe.", "ablate.", "train.seed", "train.max_loss", "data.workers",
                  "data.pipeline")  # fmt: skip


def uncalibrated(spec: Spec) -> list[str]:
    """The settings (KEY=VALUE) on which `spec` differs from the configuration its calibration
    (calibration_name) was made for: its curves part by another spread from seed to seed."""
    calibrated = configuration_spec(calibration_name(spec)).to_dict()
    ours = spec.to_dict()
    return [
        f"{section}.{key}={_toml(value)}"
        for section, values in ours.items()
        for key, value in values.items()
        if not f"{section}.{key}".startswith(SPREAD_NEUTRAL) and value != calibrated[section][key]
    ]


def _toml(value) -> str:
    """A value as --set takes it: [512,256,128], true, 0.01."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_toml, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def unjudged(checks: list[Check], differing: list[str], config: str) -> list[Check]:
    """The calibrated checks, shown and not judged: the calibration is of another configuration."""
    why = (
        f"not judged: the {config} calibration is of another configuration ({', '.join(differing)})"
    )
    return [
        replace(c, passed=True, judged=False, detail=f"{why}; {c.detail}") if c.spread else c
        for c in checks
    ]


def spreads_text(check: Check) -> str:
    """'2.1 of 5.3 spreads': how far inside (or past) its tolerance a calibrated check is."""
    return f"{check.margin:.1f} of {check.allowed:.1f} spreads"


def verdict(checks: list[Check], mode: str) -> str:
    failed = [c for c in checks if not c.passed]
    shown = [c for c in checks if not c.judged]
    if shown and not failed:
        return (
            f"PARITY PASS: all {len(checks) - len(shown)} judged checks pass ({mode} mode); "
            f"{len(shown)} curve checks shown, {shown[0].detail.split('; ')[0]}"
        )
    if not failed:
        calibrated = [c for c in checks if c.margin is not None]
        closest = max(calibrated, key=lambda c: c.margin, default=None)
        nearest = f"; closest: {closest.name}, {spreads_text(closest)}" if closest else ""
        return f"PARITY PASS: all {len(checks)} checks within tolerance ({mode} mode){nearest}"
    first = failed[0]
    measured = (
        ""
        if first.measured is None
        else f": {first.measured:.4g} > tolerance {first.tolerance:.4g}"
    )
    if first.margin is not None and math.isfinite(first.margin):
        measured += f" ({spreads_text(first)})"
    if first.at_least:
        measured = f": {first.measured:.4f} < {first.tolerance:.4f}"
    return (
        f"PARITY FAIL: {len(failed)} of {len(checks)} checks failed ({mode} mode); "
        f"first: {first.name}{measured} ({first.detail})"
    )
