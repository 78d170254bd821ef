"""What both sides' audits share: how a setting is written down so that the two sides compare.

Each side's describe.py reads its live objects and reports rows {row id: {"value": ..., "read": ...}};
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
