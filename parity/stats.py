"""Equivalence of two sets of runs by two one-sided tests (TOST) on Welch's t, with scipy.

    result = tost(keras_values, torch_values, margin=0.003, metric="test accuracy", points=True)
    result.outcome in OUTCOMES; result.sentence: the outcome in one plain sentence

The difference is Keras - PyTorch. Its 90% confidence interval (Welch's t, unequal variances) is the
interval of the two one-sided tests at 5% each: the sides are **equivalent** when the whole interval
lies inside (-margin, +margin), **shown different** when it lies entirely beyond the margin (above
+margin or below -margin), and **inconclusive** otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

OUTCOMES = ("equivalent", "shown different", "inconclusive")
CONFIDENCE = 0.90  # the two one-sided tests at 5% each
MAX_SEEDS = 1000  # the estimate of seeds needed gives up here


@dataclass(frozen=True)
class Equivalence:
    metric: str  # "test accuracy", "test loss"
    margin: float
    n_keras: int
    n_torch: int
    mean_keras: float
    mean_torch: float
    sd_keras: float
    sd_torch: float
    difference: float  # mean Keras - mean PyTorch
    ci_low: float
    ci_high: float
    df: float  # Welch-Satterthwaite degrees of freedom
    p_value: float  # TOST: the larger of the two one-sided p-values
    outcome: str
    seeds_needed: int | None  # inconclusive only: an estimate, per side
    sentence: str

    @property
    def passed(self) -> bool:
        return self.outcome == "equivalent"

    def to_dict(self) -> dict:
        return {**asdict(self), "confidence": CONFIDENCE, "passed": self.passed}


def _fmt(value: float, points: bool, sign: bool = True) -> str:
    """An accuracy in percentage points, a loss as it is."""
    if points:
        return f"{value * 100:{'+' if sign else ''}.2f}"
    return f"{value:{'+' if sign else ''}.4f}"


def seeds_needed(sd_keras: float, sd_torch: float, gap: float) -> int | None:
    """The smallest number of seeds per side at which the 90% interval's half-width, with the spread
    seen so far, would be under `gap` (the distance from the observed difference to the margin).
    An estimate: it assumes the observed difference and spread stay as they are. None if more than
    MAX_SEEDS would be needed."""
    if gap <= 0:
        return None
    variance = sd_keras**2 + sd_torch**2
    if variance == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        df = (n - 1) * variance**2 / (sd_keras**4 + sd_torch**4)  # Welch-Satterthwaite, n per side
        if stats.t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(variance / n) < gap:
            return n
    return None


def tost(
    keras: list[float], torch: list[float], margin: float, metric: str, points: bool = False
) -> Equivalence:
    """Equivalence of Keras's and PyTorch's values of `metric` within +-`margin`; `points` shows an
    accuracy in percentage points."""
    if margin <= 0:
        raise ValueError(f"the equivalence margin must be > 0, not {margin}")
    if len(keras) < 2 or len(torch) < 2:
        raise ValueError("an equivalence test needs at least two runs per side")
    k, t = np.asarray(keras, dtype=float), np.asarray(torch, dtype=float)
    sd_k, sd_t = float(np.std(k, ddof=1)), float(np.std(t, ddof=1))
    diff = float(k.mean() - t.mean())
    if sd_k == 0 and sd_t == 0:  # identical runs on both sides: no spread, the interval is a point
        low = high = diff
        df = float(len(k) + len(t) - 2)
        p_value = 0.0 if abs(diff) < margin else 1.0
    else:
        welch = stats.ttest_ind(k, t, equal_var=False)
        low, high = (float(x) for x in welch.confidence_interval(CONFIDENCE))
        df = float(welch.df)
        # the two one-sided tests: H0 diff <= -margin, and H0 diff >= +margin
        p_lower = stats.ttest_ind(k + margin, t, equal_var=False, alternative="greater").pvalue
        p_upper = stats.ttest_ind(k - margin, t, equal_var=False, alternative="less").pvalue
        p_value = float(max(p_lower, p_upper))

    unit = "points" if points else ""
    m = _fmt(margin, points, sign=False)
    interval = f"{_fmt(low, points)} and {_fmt(high, points)}{' ' + unit if unit else ''}"
    what = f"{metric} (Keras - PyTorch)"
    needed = None
    if -margin < low and high < margin:
        outcome = "equivalent"
        sentence = (
            f"Equivalent: with {CONFIDENCE:.0%} confidence the true difference in {what} lies "
            f"between {interval}, inside the margin of +-{m}{' ' + unit if unit else ''}, so any "
            f"real difference is too small to matter."
        )
    elif low > margin or high < -margin:
        outcome = "shown different"
        sentence = (
            f"Shown different: with {CONFIDENCE:.0%} confidence the true difference in {what} lies "
            f"between {interval}, entirely beyond the margin of +-{m}{' ' + unit if unit else ''}, "
            f"so the two sides really differ by more than the margin; seed luck does not explain it."
        )
    else:
        outcome = "inconclusive"
        needed = seeds_needed(sd_k, sd_t, abs(margin - abs(diff)))
        more = (
            f"about {needed} seeds per side would likely settle it (an estimate from the spread "
            f"seen so far)"
            if needed
            else "the difference sits on the margin itself, so no reasonable number of seeds "
            "would settle it"
        )
        sentence = (
            f"Inconclusive: the {CONFIDENCE:.0%} confidence interval of the {what}, between {interval}, "
            f"crosses an edge of the margin of +-{m}{' ' + unit if unit else ''}, "
            f"so these seeds cannot tell a real difference from seed noise; {more}."
        )
    return Equivalence(
        metric,
        margin,
        len(k),
        len(t),
        float(k.mean()),
        float(t.mean()),
        sd_k,
        sd_t,
        diff,
        low,
        high,
        df,
        p_value,
        outcome,
        needed,
        sentence,
    )
