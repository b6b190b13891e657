"""Soft-label calibration: reliability curves and expected calibration error with float labels.

A probability ``p`` is calibrated for soft labels when ``E[y | p] = p``: among
the samples predicted ``p``, the labels average ``p``. The labels are floats in
``[0, 1]`` (annotator fractions, soft targets); they are averaged as floats and
never rounded to classes. Binning follows the usual ECE estimator (Naeini et
al. 2015; Guo et al. 2017) with the label frequency replaced by the mean label.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .._errors import LosslabError
from ._checks import check_choice, check_pair, check_unit_interval, checked_options

__all__ = ["ReliabilityCurve", "reliability_curve", "calibration_error", "bin_edges"]


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per non-empty bin: mean prediction, mean float label, count and an interval for the mean label.

    Arrays have one entry per non-empty bin, in increasing order of prediction;
    ``bin_index`` says which bin of ``bin_edges`` each entry is.
    """

    #: weighted mean prediction of each bin
    mean_pred: np.ndarray
    #: weighted mean float label of each bin
    mean_label: np.ndarray
    #: number of samples in each bin
    count: np.ndarray
    #: total weight in each bin (equals ``count`` without ``sample_weight``)
    weight: np.ndarray
    #: lower end of the interval for the mean label
    low: np.ndarray
    #: upper end of the interval for the mean label
    high: np.ndarray
    #: all ``n_bins + 1`` edges, empty bins included
    bin_edges: np.ndarray
    #: index into the bins defined by ``bin_edges`` of each returned entry
    bin_index: np.ndarray
    #: the interval's confidence level and method
    level: float
    interval: str


def bin_edges(y_pred: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """``n_bins + 1`` edges on ``[0, 1]``: equal widths (``"uniform"``) or equal counts (``"quantile"``).

    Quantile edges that coincide (many equal predictions) are merged, so fewer bins may result.

    >>> bin_edges(np.array([0.1, 0.2, 0.9]), 2, "uniform")
    array([0. , 0.5, 1. ])
    """
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise LosslabError(f"n_bins={n_bins!r}; expected a positive integer")
    check_choice(strategy, "strategy", ("uniform", "quantile"))
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.quantile(y_pred, np.linspace(0.0, 1.0, n_bins + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return np.unique(edges)


def _assign(y_pred: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Bins are [e_k, e_{k+1}); the last one also holds p == 1.
    return np.clip(np.searchsorted(edges, y_pred, side="right") - 1, 0, len(edges) - 2)


def _bin_stats(yt: np.ndarray, yp: np.ndarray, w: np.ndarray, idx: np.ndarray, n: int) -> dict[str, np.ndarray]:
    count = np.bincount(idx, minlength=n).astype(np.float64)
    W = np.bincount(idx, weights=w, minlength=n)
    W2 = np.bincount(idx, weights=w * w, minlength=n)
    safe = np.where(W > 0, W, 1.0)
    ybar = np.bincount(idx, weights=w * yt, minlength=n) / safe
    pbar = np.bincount(idx, weights=w * yp, minlength=n) / safe
    ss = np.bincount(idx, weights=w * (yt - ybar[idx]) ** 2, minlength=n)
    return {"count": count, "W": W, "W2": W2, "ybar": ybar, "pbar": pbar, "ss": ss}


def _prepare(y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    if yt.ndim != 1:
        raise LosslabError(
            f"y_true has shape {yt.shape}; calibration takes one output at a time, expected a 1-d array (N,)"
        )
    check_unit_interval(yt, "y_true")
    check_unit_interval(yp, "y_pred")
    return yt, yp, (np.ones_like(yt) if w is None else w)


@checked_options
def reliability_curve(
    y_true: Any,
    y_pred: Any,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    sample_weight: Any = None,
    interval: str = "wilson",
    level: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
) -> ReliabilityCurve:
    r"""Soft-label reliability curve: per bin of predictions, the mean prediction against the mean float label.

    The interval for a bin's mean label is either

    * ``"wilson"`` — the Wilson score interval with ``p`` the mean label and ``n`` the
      bin's effective size :math:`(\sum w)^2 / \sum w^2`:

      .. math::
          \frac{\bar y + \frac{z^2}{2n} \pm z \sqrt{\frac{\bar y(1-\bar y)}{n} + \frac{z^2}{4n^2}}}{1 + z^2/n}

      It uses the Bernoulli variance :math:`\bar y (1 - \bar y)`, the largest variance a
      variable on [0, 1] with mean :math:`\bar y` can have, so for soft labels it is conservative; or
    * ``"bootstrap"`` — percentile interval of the weighted mean label over ``n_boot``
      resamples of the bin (seeded by ``seed``).

    Args:
        y_true: soft labels in ``[0, 1]``, shape ``(N,)``.
        y_pred: predicted probabilities in ``[0, 1]``, shape ``(N,)``.
        n_bins: number of bins.
        strategy: ``"uniform"`` (equal widths on [0, 1]) or ``"quantile"`` (equal counts).
        sample_weight: ``(N,)`` row weights.
        interval: ``"wilson"`` or ``"bootstrap"``.
        level: confidence level of the interval.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        a :class:`ReliabilityCurve` (arrays over the non-empty bins).

    References:
        Wilson (1927), "Probable inference, the law of succession, and statistical inference";
        Bröcker & Smith (2007), "Increasing the reliability of reliability diagrams".

    >>> c = reliability_curve([0.1, 0.3, 0.8, 1.0], [0.2, 0.2, 0.9, 0.9], n_bins=2)
    >>> c.mean_pred.tolist(), c.mean_label.tolist(), c.count.tolist()
    ([0.2, 0.9], [0.2, 0.9], [2, 2])
    """
    yt, yp, w = _prepare(y_true, y_pred, sample_weight)
    check_choice(interval, "interval", ("wilson", "bootstrap"))
    if not 0 < level < 1:
        raise LosslabError(f"level={level!r}; expected a number in (0, 1)")
    edges = bin_edges(yp, n_bins, strategy)
    nb = len(edges) - 1
    idx = _assign(yp, edges)
    st = _bin_stats(yt, yp, w, idx, nb)
    keep = np.flatnonzero(st["count"] > 0)
    ybar, W = st["ybar"][keep], st["W"][keep]
    if interval == "wilson":
        z = NormalDist().inv_cdf(0.5 + level / 2)
        n = np.where(st["W2"][keep] > 0, W**2 / np.where(st["W2"][keep] > 0, st["W2"][keep], 1.0), 0.0)
        n = np.maximum(n, 1e-12)
        denom = 1 + z * z / n
        centre = (ybar + z * z / (2 * n)) / denom
        half = z * np.sqrt(np.clip(ybar * (1 - ybar), 0, None) / n + z * z / (4 * n * n)) / denom
        # The Wilson interval holds its estimate; rounding can leave an end 1e-17 past it (a bin of equal labels).
        low, high = np.clip(np.minimum(centre - half, ybar), 0, 1), np.clip(np.maximum(centre + half, ybar), 0, 1)
    else:
        if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
            raise LosslabError(f"n_boot={n_boot!r}; expected a positive integer")
        rng = np.random.default_rng(seed)
        low, high = np.empty(len(keep)), np.empty(len(keep))
        for j, b in enumerate(keep):
            members = np.flatnonzero(idx == b)
            draws = rng.integers(0, len(members), size=(n_boot, len(members)))
            ww, yy = w[members][draws], yt[members][draws]
            tot = ww.sum(axis=1)
            means = np.where(tot > 0, (ww * yy).sum(axis=1) / np.where(tot > 0, tot, 1.0), ybar[j])
            low[j], high[j] = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return ReliabilityCurve(
        mean_pred=st["pbar"][keep],
        mean_label=ybar,
        count=st["count"][keep].astype(np.int64),
        weight=W,
        low=low,
        high=high,
        bin_edges=edges,
        bin_index=keep,
        level=float(level),
        interval=interval,
    )


@checked_options
def calibration_error(
    y_true: Any,
    y_pred: Any,
    *,
    n_bins: int = 15,
    norm: str = "l1",
    strategy: str = "uniform",
    sample_weight: Any = None,
    debiased: bool = False,
) -> float:
    r"""Soft-label expected calibration error: the weighted gap between mean label and mean prediction per bin.

    With bins :math:`B_b` of total weight :math:`W_b` (out of :math:`W`), mean label
    :math:`\bar y_b` and mean prediction :math:`\bar p_b`:

    .. math::
        \mathrm{ECE}_{1} = \sum_b \frac{W_b}{W} |\bar y_b - \bar p_b|, \qquad
        \mathrm{ECE}_{2} = \Big(\sum_b \frac{W_b}{W} (\bar y_b - \bar p_b)^2\Big)^{1/2}, \qquad
        \mathrm{ECE}_{\max} = \max_b |\bar y_b - \bar p_b|

    The plain estimator is biased upwards: even a calibrated model shows gaps of
    the size of the noise in :math:`\bar y_b`. With ``debiased=True`` (``norm="l2"``
    only) each squared gap is reduced by an unbiased estimate of that noise,
    :math:`\widehat{\operatorname{Var}}(\bar y_b) = s_b^2 \sum_{i\in b} w_i^2 / W_b^2`, where
    :math:`s_b^2` is the bin's (reliability-weighted, unbiased) sample variance of the
    float labels — for 0/1 labels this is the estimator of Kumar et al. (2019); bins
    with one sample contribute their plain squared gap. The debiased squared error
    is clipped at 0 before the square root.

    Args:
        y_true: soft labels in ``[0, 1]``, shape ``(N,)``.
        y_pred: probabilities in ``[0, 1]``, shape ``(N,)``.
        n_bins: number of bins.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        strategy: ``"uniform"`` or ``"quantile"`` bins.
        sample_weight: ``(N,)`` row weights.
        debiased: subtract the estimated sampling noise (``norm="l2"`` only).

    Returns:
        a float in ``[0, 1]``; 0 when every bin's mean prediction equals its mean label.

    References:
        Naeini, Cooper & Hauskrecht (2015), "Obtaining well calibrated probabilities using Bayesian binning";
        Kumar, Liang & Ma (2019), "Verified uncertainty calibration".

    >>> round(calibration_error([0.1, 0.5, 0.8, 1.0], [0.2, 0.2, 0.9, 0.9], n_bins=2), 6)  # gaps 0.1 and 0.0
    0.05
    """
    yt, yp, w = _prepare(y_true, y_pred, sample_weight)
    check_choice(norm, "norm", ("l1", "l2", "max"))
    if debiased and norm != "l2":
        raise LosslabError(f"debiased=True needs norm='l2' (found norm={norm!r}); the debiased estimator is for the squared error")
    return calibration_error_unchecked(yt, yp, w, n_bins, norm, strategy, debiased)


def calibration_error_unchecked(yt: np.ndarray, yp: np.ndarray, w: np.ndarray, n_bins: int, norm: str, strategy: str, debiased: bool) -> float:
    """:func:`calibration_error` of checked 1-d arrays (``w`` all ones when unweighted)."""
    edges = bin_edges(yp, n_bins, strategy)
    st = _bin_stats(yt, yp, w, _assign(yp, edges), len(edges) - 1)
    keep = st["count"] > 0
    W, gap = st["W"][keep], st["ybar"][keep] - st["pbar"][keep]
    frac = W / W.sum()
    if norm == "l1":
        return float(np.sum(frac * np.abs(gap)))
    if norm == "max":
        return float(np.max(np.abs(gap)))
    sq = gap**2
    if debiased:
        W2 = st["W2"][keep]
        dof = W - W2 / np.where(W > 0, W, 1.0)  # reliability weights: W - sum(w^2)/W, = n - 1 for unit weights
        ok = dof > 0
        s2 = np.where(ok, st["ss"][keep] / np.where(ok, dof, 1.0), 0.0)
        sq = sq - np.where(ok, s2 * W2 / W**2, 0.0)
    return float(np.sqrt(max(float(np.sum(frac * sq)), 0.0)))
