"""Point metrics for float labels: ``f(y_true, y_pred, *, sample_weight=None) -> float``.

Naming follows scikit-learn: ``*_score`` is higher-better, ``*_error`` and
``*_loss`` are lower-better. Labels may be any floats (soft labels, fractions,
regression targets); nothing is rounded to a class except in
:func:`auroc_score`, which binarises at a stated threshold. Inputs are numpy
arrays, torch tensors or lists of shape ``(N,)`` or ``(N, T)``; for ``T``
outputs the metric is averaged uniformly over the outputs. ``sample_weight``
(shape ``(N,)``) weights rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import LosslabError
from ._checks import check_pair, check_unit_interval, checked_options

__all__ = [
    "mean_squared_error",
    "mean_absolute_error",
    "brier_loss",
    "bernoulli_kl",
    "spearman_score",
    "auroc_score",
]


def _weighted_mean(values: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted mean over rows, then plain mean over outputs (for 2-d ``values``)."""
    per_output = values.mean(axis=0) if w is None else np.tensordot(w, values, axes=(0, 0)) / w.sum()
    return float(np.mean(per_output))


def mean_squared_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Mean squared error.

    .. math:: \mathrm{MSE} = \frac{\sum_i w_i (y_i - \hat y_i)^2}{\sum_i w_i}

    Args:
        y_true: labels, ``(N,)`` or ``(N, T)``.
        y_pred: predictions, same shape.
        sample_weight: ``(N,)`` non-negative row weights (default: all 1).

    Returns:
        a float, averaged over outputs when ``T > 1``.

    >>> round(mean_squared_error([0.2, 0.8], [0.0, 1.0]), 6)
    0.04
    """
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    return mse_unchecked(yt, yp, w)


def mse_unchecked(yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> float:
    """:func:`mean_squared_error` on arrays :func:`check_pair` already checked (``evaluate`` calls it once per output)."""
    return _weighted_mean((yt - yp) ** 2, w)


def mean_absolute_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Mean absolute error.

    .. math:: \mathrm{MAE} = \frac{\sum_i w_i |y_i - \hat y_i|}{\sum_i w_i}

    Args:
        y_true: labels, ``(N,)`` or ``(N, T)``.
        y_pred: predictions, same shape.
        sample_weight: ``(N,)`` non-negative row weights.

    Returns:
        a float.

    >>> round(mean_absolute_error([0.2, 0.8], [0.0, 1.0]), 6)
    0.2
    """
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    return mae_unchecked(yt, yp, w)


def mae_unchecked(yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> float:
    """:func:`mean_absolute_error` on arrays :func:`check_pair` already checked (``evaluate`` calls it once per output)."""
    return _weighted_mean(np.abs(yt - yp), w)


def brier_loss(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Brier loss of a probability against a float label in [0, 1].

    .. math:: \mathrm{BS} = \frac{\sum_i w_i (y_i - p_i)^2}{\sum_i w_i}, \qquad y_i, p_i \in [0, 1]

    The squared error of a probability: for a soft label it is minimised by
    ``p = y`` and its expectation decomposes into calibration and refinement
    terms (Brier 1950, "Verification of forecasts expressed in terms of probability").

    Args:
        y_true: soft labels in ``[0, 1]``, ``(N,)`` or ``(N, T)``.
        y_pred: probabilities in ``[0, 1]``, same shape.
        sample_weight: ``(N,)`` row weights.

    Returns:
        a float in ``[0, 1]``.

    >>> brier_loss([0.25, 1.0], [0.5, 0.5])
    0.15625
    """
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    check_unit_interval(yt, "y_true")
    check_unit_interval(yp, "y_pred")
    return mse_unchecked(yt, yp, w)


def xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x log y`` with ``0 log y = 0`` for every ``y >= 0`` (also ``y = 0``), as ``torch.xlogy`` does."""
    with np.errstate(divide="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def bernoulli_kl(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Mean Kullback–Leibler divergence ``KL(y || p)`` between Bernoulli laws: BCE minus the label entropy.

    .. math::
        \mathrm{KL}(y \,\|\, p) = y \log\frac{y}{p} + (1-y)\log\frac{1-y}{1-p}
                                = \mathrm{BCE}(p, y) - H(y)

    Soft-label BCE never reaches 0 (its minimum is ``H(y)``); this excess does,
    exactly at ``p = y``, so it reads as "how far from a perfect fit". It is
    ``+inf`` where ``p`` is 0 or 1 and ``y`` disagrees (no clipping is applied).

    Args:
        y_true: soft labels in ``[0, 1]``, ``(N,)`` or ``(N, T)``.
        y_pred: probabilities in ``[0, 1]``, same shape.
        sample_weight: ``(N,)`` row weights.

    Returns:
        a float ``>= 0`` (nats).

    >>> round(bernoulli_kl([0.75], [0.5]), 6)  # log 2 - H(0.75)
    0.130812
    """
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    check_unit_interval(yt, "y_true")
    check_unit_interval(yp, "y_pred")
    return bernoulli_kl_unchecked(yt, yp, w)


def bernoulli_kl_unchecked(yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> float:
    """:func:`bernoulli_kl` on arrays :func:`check_pair` already checked (``evaluate`` calls it once per output)."""
    kl = (xlogy(yt, yt) - xlogy(yt, yp)) + (xlogy(1 - yt, 1 - yt) - xlogy(1 - yt, 1 - yp))
    # Each bracket is >= 0 in exact arithmetic only jointly; rounding can leave -1e-17 at p == y.
    return max(_weighted_mean(kl, w), 0.0)


def weighted_midranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` (1-d) where a value of weight ``w`` counts as ``w`` tied copies.

    Ties share the mid-rank of their group, so with integer weights the ranks equal
    those of the data with each row repeated ``w`` times.
    """
    order = np.argsort(x, kind="mergesort")
    xs, ws = x[order], w[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group_w = np.add.reduceat(ws, starts)
    below = np.cumsum(group_w) - group_w
    group_rank = below + (group_w + 1.0) / 2.0
    ranks = np.empty_like(x)
    ranks[order] = np.repeat(group_rank, np.diff(np.r_[starts, len(xs)]))
    return ranks


def _weighted_pearson(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    wa, wb = np.average(a, weights=w), np.average(b, weights=w)
    da, db = a - wa, b - wb
    cov = np.sum(w * da * db)
    var = np.sum(w * da * da) * np.sum(w * db * db)
    if var <= 0:
        return float("nan")
    return float(np.clip(cov / np.sqrt(var), -1.0, 1.0))


def spearman_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    r"""Spearman rank correlation between labels and predictions (higher is better).

    .. math:: \rho = \operatorname{corr}_w\big(R(y), R(\hat y)\big)

    the weighted Pearson correlation of mid-ranks ``R``; with weights, a row of
    weight ``w`` counts as ``w`` tied copies, so integer weights give the same
    value as repeating rows. It is ``nan`` when labels or predictions are
    constant (the correlation is undefined there).

    Args:
        y_true: labels, ``(N,)`` or ``(N, T)``.
        y_pred: predictions, same shape.
        sample_weight: ``(N,)`` row weights.

    Returns:
        a float in ``[-1, 1]`` (mean over outputs), or ``nan``.

    References:
        Spearman (1904), "The proof and measurement of association between two things".

    >>> spearman_score([0.1, 0.4, 0.3], [1.0, 3.0, 2.0])
    1.0
    """
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    return spearman_unchecked(yt, yp, w)


def spearman_unchecked(yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> float:
    """:func:`spearman_score` on arrays :func:`check_pair` already checked (``evaluate`` calls it once per output)."""
    w = np.ones(yt.shape[0]) if w is None else w
    yt2, yp2 = yt.reshape(yt.shape[0], -1), yp.reshape(yp.shape[0], -1)
    keep = w > 0
    rhos = [
        _weighted_pearson(weighted_midranks(yt2[keep, j], w[keep]), weighted_midranks(yp2[keep, j], w[keep]), w[keep])
        for j in range(yt2.shape[1])
    ]
    return float(np.mean(rhos))


def _auroc_1d(pos: np.ndarray, score: np.ndarray, w: np.ndarray) -> float:
    # Mann–Whitney form: P(score of a positive > score of a negative) + 1/2 P(tie), weighted.
    order = np.argsort(score, kind="mergesort")
    s, p, ww = score[order], pos[order], w[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wpos = np.add.reduceat(ww * p, starts)
    wneg = np.add.reduceat(ww * (1 - p), starts)
    neg_below = np.cumsum(wneg) - wneg
    return float(np.sum(wpos * (neg_below + 0.5 * wneg)) / (wpos.sum() * wneg.sum()))


@checked_options
def auroc_score(y_true: Any, y_pred: Any, *, threshold: float = 0.5, sample_weight: Any = None) -> float:
    r"""Area under the ROC curve, with float labels binarised at ``threshold``.

    .. math::
        \mathrm{AUROC} = P(\hat y_i > \hat y_j \mid y_i > t \ge y_j) + \tfrac12 P(\hat y_i = \hat y_j \mid y_i > t \ge y_j)

    A label counts as positive when it is strictly greater than ``threshold``
    (as ``sklearn.preprocessing.Binarizer`` does); ties in ``y_pred`` count one half.

    Args:
        y_true: float labels, ``(N,)`` or ``(N, T)``.
        y_pred: scores (any real numbers), same shape.
        threshold: the binarisation threshold (default 0.5).
        sample_weight: ``(N,)`` row weights.

    Returns:
        a float in ``[0, 1]`` (mean over outputs).

    Raises:
        LosslabError: when an output has only one class after binarising.

    References:
        Hanley & McNeil (1982), "The meaning and use of the area under a ROC curve".

    >>> auroc_score([0.9, 0.2, 0.7, 0.4], [0.8, 0.3, 0.3, 0.1])
    0.875
    """
    yt, yp, w = check_pair(y_true, y_pred, sample_weight)
    if not np.isfinite(threshold):
        raise LosslabError(f"threshold={threshold!r}; expected a finite number")
    return auroc_unchecked(yt, yp, threshold, w)


def auroc_unchecked(yt: np.ndarray, yp: np.ndarray, threshold: float, w: np.ndarray | None) -> float:
    """:func:`auroc_score` on arrays :func:`check_pair` already checked (``evaluate`` calls it once per output)."""
    w = np.ones(yt.shape[0]) if w is None else w
    pos = (yt > threshold).astype(np.float64).reshape(yt.shape[0], -1)
    yp2 = yp.reshape(yp.shape[0], -1)
    out = []
    for j in range(pos.shape[1]):
        wp, wn = float(np.sum(w * pos[:, j])), float(np.sum(w * (1 - pos[:, j])))
        if wp == 0 or wn == 0:
            kind = "positive" if wp == 0 else "negative"
            raise LosslabError(
                f"y_true has no {kind} label at threshold={threshold:g}"
                + (f" in output {j}" if pos.shape[1] > 1 else "")
                + "; AUROC needs labels on both sides of the threshold"
            )
        out.append(_auroc_1d(pos[:, j], yp2[:, j], w))
    return float(np.mean(out))
