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


# The convolution blocks' rows (model.kind = "cnn"), the same words on both sides.
def convolution_text(
    kernel: int, channels_in: int, channels_out: int, stride: int, bias: bool
) -> str:
    return (
        f"{kernel}x{kernel} convolution {channels_in} -> {channels_out}, stride {stride}, "
        f"{'bias' if bias else 'no bias'}"
    )


def padding_applied(ones: np.ndarray, height: int, width: int) -> str:
    """The padding a 3x3 convolution applied, measured: `ones` is its output (H', W') for an all-ones
    kernel on an all-ones image, so each output counts the image pixels its window covered; along a
    border, a window that hangs p pixels over covers 3 x (3 - p)."""
    top, bottom = (3 - round(ones[i, 1] / 3) for i in (0, -1))
    left, right = (3 - round(ones[1, j] / 3) for j in (0, -1))
    return f"top {top}, bottom {bottom}, left {left}, right {right} on {height}x{width}"


def momentum_text(keep: float) -> str:
    """BatchNorm's update of its running statistics, `keep` the weight on the old value (Keras's
    momentum; PyTorch's momentum is 1 - keep)."""
    return f"running = {keep:.6g} x running + {1 - keep:.6g} x batch"


# BatchNorm's running variance, measured: a fresh layer of the live one's class and settings takes one
# training batch of the values 0 and 1 (biased variance 0.25, unbiased 0.5) from its starting 1.
VARIANCE_BATCH = (0.0, 1.0)


def running_variance_kind(moving_variance: float, keep: float) -> str:
    batch = (moving_variance - keep) / (1 - keep)
    kinds = {"biased: the batch's variance divided by n": 0.25, "unbiased: divided by n - 1": 0.5}
    for kind, value in kinds.items():
        if math.isclose(batch, value, rel_tol=1e-3):  # float32 on some backends
            return kind
    return f"neither: the batch's variance taken as {batch:.6g} (biased 0.25, unbiased 0.5)"


def flatten_rows_text(features: np.ndarray, rows: np.ndarray) -> str:
    """Whether the first Dense layer's kernel rows meet the features Flatten gives: `features` are
    Flatten's outputs for an image whose every element holds its own index in Keras's (h, w, c)
    flattening, `rows` the same index for each kernel row, as this side holds the shared kernel."""
    if np.array_equal(features, rows):
        return "each kernel row meets its own feature"
    wrong = int(np.sum(features != rows))
    return f"{wrong} of {features.size} kernel rows meet another feature"
