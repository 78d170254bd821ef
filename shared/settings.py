"""What both sides' audits share: how a setting is written down so that the two sides compare.

Each side's audit_rows.py ({keras,torch}_parity/) reads its live objects and reports rows {row id: {"value": ..., "read": ...}};
parity/settings_audit.py sets the two side by side and classes each row.
"""

from __future__ import annotations

import math

import numpy as np

UNIFORM_PERMUTATION = "a uniform permutation of every sample, drawn anew each epoch"


def row(value, read: str) -> dict:
    """One audited setting: its value (JSON) and where it was read (a live attribute, or recorded)."""
    return {"value": value, "read": read}


def kernel_family(weights: np.ndarray, fan_in: int, fan_out: int) -> str:
    """The initializer a weight tensor was drawn from, told from its largest magnitude."""
    largest = float(np.abs(weights).max()) if weights.size else 0.0
    if largest == 0.0:
        return "zeros"
    glorot, torch_default = math.sqrt(6 / (fan_in + fan_out)), 1 / math.sqrt(fan_in)
    for name, bound in (("glorot_uniform", glorot), ("torch's default", torch_default)):
        if 0.97 * bound <= largest <= bound * (1 + 1e-6):
            return f"{name}: U(+-{bound:.4g})"
    return f"max |w| {largest:.4g}: neither glorot_uniform ({glorot:.4g}) nor torch's default ({torch_default:.4g})"


def bias_family(bias: np.ndarray, fan_in: int) -> str:
    largest = float(np.abs(bias).max()) if bias.size else 0.0
    if largest == 0.0:
        return "zeros"
    bound = 1 / math.sqrt(fan_in)
    within = "within torch's default U(+-1/sqrt(fan_in))" if largest <= bound else "random"
    return f"nonzero, {within}"


# What the reported training loss averages, measured: the training loop runs one epoch of two batches
# of known loss (sizes 2 and 1) through a one-weight model whose logits are [0, x], every label 0, so
# that a sample's loss is log(1 + e^x): log 2 for x = 0, about 20 for x = 20. The second batch's large
# gradient also shows a loop that clips gradients between backward() and the optimizer's step.
REPORTED_LOSS_BATCHES = (([0.0, 0.0], [0, 0]), ([20.0], [0]))
WEIGHTED_MEAN = "the sample-weighted mean of the epoch's training batches, dropout on"


def reported_loss_kind(reported: float, batch_losses: list[float], sizes: list[int]) -> str:
    """Which mean of the batch losses the loop reported."""
    kinds = {
        WEIGHTED_MEAN: sum(loss * n for loss, n in zip(batch_losses, sizes)) / sum(sizes),
        "the unweighted mean of the batch losses": sum(batch_losses) / len(batch_losses),
        "the last batch's loss": batch_losses[-1],
    }
    for kind, value in kinds.items():
        if math.isclose(reported, value, rel_tol=1e-5):
            return kind
    return f"{reported:.6g}: no mean of the batch losses {[round(x, 6) for x in batch_losses]}"


DRAWS = 10_000  # samples of each side's live augmentation draw code for the audit


def drawn_ranges(angles, shifts, scales) -> dict[str, list[float]]:
    """The ranges DRAWS draws covered, rounded so that two samplings of one distribution agree: an
    angle to 0.1 degree, a shift to whole pixels (x and y together), a scale to 0.01."""
    angles, shifts, scales = (np.asarray(x, dtype=np.float64) for x in (angles, shifts, scales))
    return {
        "augment.drawn_angle": [round(float(angles.min()), 1), round(float(angles.max()), 1)],
        "augment.drawn_shift": [round(float(shifts.min())), round(float(shifts.max()))],
        "augment.drawn_scale": [round(float(scales.min()), 2), round(float(scales.max()), 2)],
    }
