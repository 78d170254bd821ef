"""The curve checks' tolerances, from the spreads measured by the calibration (parity/calibration.json).

A curve check compares, at every epoch, the difference Keras - PyTorch of one curve (training loss,
validation loss, validation accuracy) and, once, of the final test accuracy. The calibration trained
both sides on many seeds with nothing wrong and measured, per epoch, the spread of that difference
(its root mean square about zero, so that a systematic difference between two correct pipelines
widens the band instead of failing it). A difference is then read in spreads: `margin = |K - T| /
spread`. The allowed margin is one number per configuration and mode, chosen so that a run with no
real difference fails ANY of its curve checks (3 curves x epochs + the test accuracy, a family of
comparisons) with probability at most the calibration's family-wise false-alarm rate: Bonferroni over
the family, with Student's t for a spread estimated from `runs` seeds (python -m parity.calibrate).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from shared.spec import Spec, load_spec

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
# The configurations a calibration can be made of (python -m parity.calibrate [--quick] [--kind cnn]):
# name -> (its --set overrides, --quick). The model's kind changes the spread from seed to seed.
CONFIGURATIONS = {
    "default": ((), False),
    "quick": ((), True),
    "cnn": (("model.kind=cnn",), False),
    "quick-cnn": (("model.kind=cnn",), True),
}
# The curves compared per epoch, with their labels; the test accuracy is compared once.
CURVES = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
}
CHECKED = (*CURVES, "test_accuracy")


class CalibrationError(ValueError):
    """The calibration the spec names is missing or unreadable; the message says how to make it."""


@dataclass(frozen=True)
class Tolerances:
    """The calibrated spreads of one configuration and mode, and the margin they allow."""

    config: str
    mode: str  # the calibrated mode that judges the run (lockstep's curves are judged as aligned)
    allowed: float  # the largest passing margin, in spreads
    spreads: dict[str, tuple[float, ...]]  # curve -> per-epoch spread; "test_accuracy" -> (one,)
    runs: int  # seeds the spreads were measured on
    false_alarm_rate: float  # family-wise, per run

    def spread(self, key: str, epoch: int = 1) -> float:
        """The spread of `key`'s difference at `epoch` (1-based); past the calibrated epochs, the
        last calibrated one's (the spread settles as training converges)."""
        values = self.spreads[key]
        return values[min(epoch, len(values)) - 1]

    def limit(self, key: str, epoch: int = 1) -> float:
        """The largest passing absolute difference of `key` at `epoch`."""
        return self.allowed * self.spread(key, epoch)

    @classmethod
    def of(cls, entry: dict, config: str, mode: str, false_alarm_rate: float) -> Tolerances:
        """From one mode's entry of calibration.json."""
        spreads = {key: tuple(entry["spread"][key]) for key in CURVES}
        spreads["test_accuracy"] = (entry["spread"]["test_accuracy"],)
        return cls(config, mode, entry["allowed"], spreads, entry["runs"], false_alarm_rate)


@functools.cache
def _calibration(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CalibrationError(
            f"cannot read the calibration {path}: {err}; make it with python -m parity.calibrate"
        ) from err


def calibration_name(spec: Spec, path: Path = CALIBRATION_PATH) -> str:
    """The calibration that judges `spec`'s curves: spec.parity.calibration, or its variant for the
    spec's model kind ("quick-cnn") where that one is calibrated."""
    base, kind = spec.parity.calibration, spec.model.kind
    variant = f"{base}-{kind}" if base != "default" else kind
    if kind == "mlp" or variant not in CONFIGURATIONS:
        return base
    try:
        return variant if variant in _calibration(Path(path)) else base
    except CalibrationError:
        return base


def configuration_spec(name: str, settings: list[str] | tuple = ()) -> Spec:
    """The spec a calibrated configuration trains, with `settings` added (a seed)."""
    overrides, quick = CONFIGURATIONS[name]
    return load_spec([*overrides, *settings], quick=quick)


def tolerances(spec: Spec, mode: str, path: Path = CALIBRATION_PATH) -> Tolerances:
    """The calibrated tolerances for `spec`'s configuration (calibration_name) and `mode`."""
    config = calibration_name(spec, path)
    judged = "aligned" if mode == "lockstep" else mode
    doc = _calibration(Path(path))
    try:
        entry = doc[config]
        calibrated = entry["modes"][judged]
    except KeyError as err:
        raise CalibrationError(
            f"{path} has no {config} calibration of {judged} mode: make it with "
            f"python -m parity.calibrate{' --quick' if config == 'quick' else ''}"
        ) from err
    return Tolerances.of(calibrated, config, judged, entry["false_alarm_rate"])
