"""Statistics over seeds: means with t-intervals, paired differences and paired tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: metrics where a larger value is better; every other metric is lower-is-better
HIGHER_IS_BETTER = {"spearman_score", "auroc_score", "r2_score"}
#: scores that are negatively oriented despite the ``_score`` suffix (the log score here is a mean NLL)
LOWER_IS_BETTER = {"log_score", "energy_score", "val_nll"}
#: metrics that are not ranked (a coverage is good when near its nominal level, not when high or low)
NOT_RANKED = {"interval_coverage", "interval_width", "seconds", "epochs"}


def higher_is_better(metric: str) -> bool:
    """scikit-learn's convention: ``*_score`` is higher-better, ``*_error`` / ``*_loss`` lower-better.

    The proper scoring rules ``log_score`` (a mean NLL) and ``energy_score`` are lower-better.

    >>> higher_is_better("spearman_score"), higher_is_better("log_score"), higher_is_better("crps")
    (True, False, False)
    """
    if metric in LOWER_IS_BETTER:
        return False
    return metric in HIGHER_IS_BETTER or metric.endswith("_score")


@dataclass(frozen=True)
class MeanCI:
    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if self.n < 2 or not math.isfinite(self.low):
            return f"{self.mean:.4g}"
        return f"{self.mean:.4g} ± {(self.high - self.low) / 2:.2g}"


def mean_ci(values, level: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval over seeds (NaN-free values only).

    >>> str(mean_ci([1.0, 2.0, 3.0]))
    '2 ± 2.5'
    """
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0)
    m = float(v.mean())
    if v.size < 2:
        return MeanCI(m, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return MeanCI(m, m - half, m + half, int(v.size))


@dataclass(frozen=True)
class PairedTest:
    diff: MeanCI  # mean of (other - reference) over paired seeds, with its interval
    p_value: float  # two-sided paired t-test; 1.0 when the differences are all zero
    n: int


def paired_test(other, reference, level: float = 0.95) -> PairedTest:
    """Paired comparison of two laws over the seeds both finished (same split, init and batch order).

    >>> round(paired_test([1.0, 2.0, 3.0, 4.0], [1.1, 2.1, 3.05, 4.12]).p_value, 4)
    0.0085
    """
    pairs = [
        (a, b)
        for a, b in zip(other, reference)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    if not pairs:
        return PairedTest(MeanCI(math.nan, math.nan, math.nan, 0), math.nan, 0)
    d = np.array([a - b for a, b in pairs])
    ci = mean_ci(d, level)
    if d.size < 2:
        p = math.nan
    elif np.allclose(d, d[0]) and d[0] == 0:
        p = 1.0
    elif np.allclose(d, d[0]):
        p = 0.0  # a constant non-zero difference: no variance left to explain it
    else:
        p = float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
    return PairedTest(ci, p, int(d.size))
