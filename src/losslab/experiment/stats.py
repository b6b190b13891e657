"""Statistics of a comparison: t-intervals and paired t-tests over seeds, and the bootstrap over test rows and seeds.

Seeds vary only the training randomness (initial weights, minibatch order): by default every
seed is tested on the same rows, so a t-test over seeds says nothing about how the ranking
would change on other test rows. :func:`bootstrap_diff` (and :func:`bootstrap_draws`, which it
builds on) resamples the test rows too, one resample per draw shared by every law and seed
(paired), from per-row metric values (``metrics.evaluate(..., per_row=True)``). Intervals are
percentile intervals (BCa's acceleration needs a jackknife, which has no single form for
resampling at two levels); p-values invert them.

Several test sets: with k-fold splits, concatenate the folds' per-row values (each row scored
by the model that did not train on it) and pass ``groups=`` the fold of each row, so that rows
are resampled within their fold; with a test set per seed (fixed per-seed splits) pass one
array per seed and ``shared_rows=False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import LosslabError
from ..metrics import info as metric_info

# The metric facts live in losslab.metrics.info; these names are kept for the code and users that read them.
#: metrics where a larger value is better; every other metric is lower-is-better
HIGHER_IS_BETTER = frozenset(metric_info.names(direction="higher"))
#: lower-better metrics the ``_score`` suffix would misread, and the NLLs (the log score here is a mean NLL)
LOWER_IS_BETTER = frozenset(m for m in metric_info.names(direction="lower") if m.endswith("_score") or metric_info.info(m).likelihood)
#: metrics that are not ranked (a coverage is good when near its nominal level, not when high or low)
NOT_RANKED = frozenset(metric_info.names(direction="none"))
#: scikit-learn's convention (``*_score`` higher-better), with the table's exceptions: see :func:`losslab.metrics.info.higher_is_better`
higher_is_better = metric_info.higher_is_better


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
    from scipy import stats  # here, not at the top: scipy.stats costs ~0.4 s of `import losslab`

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
        from scipy import stats

        p = float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
    return PairedTest(ci, p, int(d.size))


# ---------------------------------------------------------------------------- bootstrap over test rows
#: float64 elements of row counts held at once by :func:`bootstrap_draws` (32 MiB); draws are made in chunks of this size
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class BootstrapCI:
    estimate: float  # the statistic on the data: a mean over seeds of row means, or a difference of two
    low: float  # percentile interval from the bootstrap draws
    high: float
    p_value: float  # two-sided bootstrap p-value of "the statistic is 0" (NaN for a single mean)
    n_rows: int  # test rows per seed (the largest, where seeds have test sets of their own)
    n_seeds: int
    n_boot: int
    level: float

    def __str__(self) -> str:
        return f"{self.estimate:.4g} ({100 * self.level:g}% CI {self.low:.4g} to {self.high:.4g})"


def _as_seed_rows(values: Any, shared_rows: bool, what: str) -> tuple[list[np.ndarray], bool]:
    """``values`` as one ``(K, n_s)`` float64 array per seed (``K`` statistics sharing the resamples),
    and whether they were given stacked (``K`` explicit) rather than as one statistic."""
    if shared_rows or not isinstance(values, (list, tuple)):
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            sizes = [np.shape(v) for v in values] if isinstance(values, (list, tuple)) else "?"
            raise LosslabError(
                f"{what} holds seeds of shapes {sizes} with shared_rows=True; expected one test set for every seed "
                "(equal rows), or shared_rows=False when each seed has test rows of its own"
            ) from None
        stacked = arr.ndim == 3
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise LosslabError(f"{what} has shape {arr.shape}; expected (n_rows,), (n_seeds, n_rows) or (K, n_seeds, n_rows)")
        per_seed = [np.ascontiguousarray(arr[:, s, :]) for s in range(arr.shape[1])]
    else:
        per_seed = []
        for s, v in enumerate(values):
            a = np.asarray(v, dtype=float)
            a = a[None] if a.ndim == 1 else a
            if a.ndim != 2:
                raise LosslabError(f"{what}[{s}] has shape {np.shape(v)}; expected (n_rows,) or (K, n_rows): seed {s}'s own test rows")
            per_seed.append(a)
        stacked = any(np.ndim(v) == 2 for v in values)
        if len({a.shape[0] for a in per_seed}) > 1:
            raise LosslabError(f"{what}: the seeds hold different numbers of statistics {[a.shape[0] for a in per_seed]}; expected one K for all")
    if not per_seed or any(a.shape[1] == 0 for a in per_seed):
        raise LosslabError(f"{what} holds no seed or a seed with no test rows; expected at least one row per seed")
    for s, a in enumerate(per_seed):
        if not np.isfinite(a).all():
            raise LosslabError(f"{what}: seed {s} has {int((~np.isfinite(a)).sum())} non-finite row value(s); expected finite per-row metric values")
    return per_seed, stacked


def _group_index(groups: Any, sizes: list[int], shared_rows: bool) -> list[list[np.ndarray]]:
    """For each seed, the row positions of each group (one group of all rows when ``groups`` is None)."""
    if groups is None:
        return [[np.arange(n)] for n in sizes]
    per = [groups] * len(sizes) if shared_rows else list(groups)
    if len(per) != len(sizes):
        raise LosslabError(f"groups has {len(per)} entries for {len(sizes)} seeds; expected one array of fold ids per seed")
    out = []
    for s, (g, n) in enumerate(zip(per, sizes)):
        g = np.asarray(g)
        if g.shape != (n,):
            raise LosslabError(f"groups{'' if shared_rows else f'[{s}]'} has shape {g.shape}; expected ({n},): one fold id per test row")
        out.append([np.flatnonzero(g == u) for u in np.unique(g)])
    return out


def _counts(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """``(m, n)`` multiplicities of ``n`` rows drawn with replacement from ``n``, ``m`` times (each row sums to ``n``)."""
    flat = rng.integers(0, n, size=(m, n), dtype=np.int64) + (np.arange(m, dtype=np.int64) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=m * n).reshape(m, n).astype(float)


def _row_counts(rng: np.random.Generator, m: int, groups: list[np.ndarray], n: int) -> np.ndarray:
    """``(m, n)`` row multiplicities, each group (fold) resampled within itself so that it keeps its size."""
    v = np.empty((m, n))
    for idx in groups:
        v[:, idx] = _counts(rng, m, len(idx))
    return v


def bootstrap_draws(
    values: Any,
    *,
    groups: Any = None,
    shared_rows: bool = True,
    resample_seeds: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    r"""Bootstrap draws of the mean over seeds of the mean over test rows of per-row metric values.

    Each draw resamples the test rows with replacement and, where ``resample_seeds``, the seeds
    with replacement, independently (a two-level, "pigeonhole" bootstrap of a crossed design,
    Owen 2007); draw :math:`b` is

    .. math::
        \theta^*_b = \frac{1}{S} \sum_{s=1}^{S} w_{bs} \, \frac{1}{n} \sum_{i=1}^{n} v_{bi}\, x_{si},
        \qquad \sum_s w_{bs} = S, \quad \sum_i v_{bi} = n,

    with :math:`w_b` and :math:`v_b` multinomial counts. The draws depend only on the shapes,
    ``groups``, ``n_boot`` and ``seed``, never on the values: every statistic stacked in
    ``values``, and every later call with the same shapes and seed, gets the same resamples, so
    a difference of two laws' draws is the paired bootstrap of their difference (the statistic is
    linear in ``x``).

    Why both levels: with rows shared by the seeds, the estimate's variance is about
    :math:`\sigma^2_{seed}/S + \sigma^2_{row}/n + \sigma^2_{res}/(Sn)`. Resampling seeds alone
    (a t-test over seeds) leaves out the test-row term, resampling rows alone the seed term;
    resampling both estimates each, and over-counts only the residual term, so the interval
    is slightly conservative (Owen 2007). With one seed the seed term cannot be estimated and the
    draws cover test-row noise only. The training set is the same in every run, so its noise is
    in neither.

    Args:
        values: per-row values, ``(n,)`` (one seed), ``(S, n)``, or ``(K, S, n)`` for ``K``
            statistics that share the resamples. With ``shared_rows=False`` also a sequence of
            ``S`` arrays ``(n_s,)`` or ``(K, n_s)``: each seed's own test rows, sizes may differ.
        groups: fold ids of the rows, ``(n,)`` (or, with ``shared_rows=False``, one ``(n_s,)``
            per seed): rows are resampled within their fold, so each draw keeps every fold's size.
            For k-fold splits, concatenate the folds' test rows (each scored by the model that did
            not train on it) and pass the fold of each row; the statistic is then the mean over all
            rows, weighting each fold by its size.
        shared_rows: True when column ``i`` is the same test row for every seed (one split shared by
            all seeds: rows are resampled once per draw for all seeds); False when each seed has a
            test set of its own (fixed per-seed splits: each seed's rows are resampled apart, a nested
            two-stage bootstrap, which counts the within-seed noise once more and is conservative).
        resample_seeds: also resample the seeds (the default); False keeps them fixed.
        n_boot: the number of draws ``B``.
        seed: seed of the resamples (numpy's ``default_rng``).

    Returns:
        ``(B,)`` draws, or ``(K, B)`` for stacked ``values``.

    >>> x = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]])
    >>> d = bootstrap_draws(x, n_boot=4000)
    >>> d.shape, round(float(d.mean()), 1), bool(d.min() >= 1.0 and d.max() <= 5.0)
    ((4000,), 3.0, True)
    >>> bool((bootstrap_draws(np.stack([x, x + 1.0]))[1] - bootstrap_draws(x) == 1.0).all())  # shared resamples
    True
    """
    if isinstance(n_boot, (bool, np.bool_)) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise LosslabError(f"n_boot={n_boot!r}; expected a whole number of bootstrap draws, 1 or more (2000 by default)")
    per_seed, stacked_input = _as_seed_rows(values, shared_rows, "values")
    sizes = [a.shape[1] for a in per_seed]
    if shared_rows and len(set(sizes)) > 1:
        raise LosslabError(f"values: the seeds have {sizes} test rows with shared_rows=True; expected one test set for all (or shared_rows=False)")
    groups_by_seed = _group_index(groups, sizes, shared_rows)
    S, K = len(per_seed), per_seed[0].shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((K, n_boot))
    stacked = np.stack(per_seed, axis=1) if shared_rows else None  # (K, S, n)
    chunk = max(1, _CHUNK_ELEMENTS // max(sizes))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w = _counts(rng, b, S) if resample_seeds and S > 1 else np.ones((b, S))  # (b, S)
        if stacked is not None:
            n = sizes[0]
            v = _row_counts(rng, b, groups_by_seed[0], n)  # (b, n): one resample of the rows for every seed
            # One 2-d product (a batched matmul broadcasting v measured ten times slower).
            means = (stacked.reshape(K * S, n) @ v.T).reshape(K, S, b) / n  # (K, S, b)
        else:
            means = np.stack([a @ _row_counts(rng, b, g, a.shape[1]).T / a.shape[1] for a, g in zip(per_seed, groups_by_seed)], axis=1)
        out[:, start:start + b] = np.einsum("ksb,bs->kb", means, w) / S
    return out if stacked_input else out[0]


def percentile_interval(draws: Any, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap draws (Efron & Tibshirani 1993, ch. 13).

    >>> [round(x, 6) for x in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    _check_level(level)
    d = np.asarray(draws, dtype=float)
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_p_value(draws: Any, null: float = 0.0) -> float:
    r"""Two-sided bootstrap p-value of "the statistic equals ``null``", by inverting the percentile interval.

    .. math:: p = \min\Bigl(1,\ \frac{2\,\bigl(1 + \min(\#\{\theta^*_b \le \theta_0\},\ \#\{\theta^*_b \ge \theta_0\})\bigr)}{B + 1}\Bigr)

    About the smallest :math:`\alpha` whose :math:`1 - \alpha` percentile interval leaves out
    :math:`\theta_0`, so "p < 0.05" and "the 95% interval excludes 0" agree (up to the ``+1``,
    which keeps p above 0: its floor is :math:`2/(B+1)`, 0.001 for 2000 draws). Draws all equal
    to ``null`` (two identical laws) give 1.

    >>> round(bootstrap_p_value(np.r_[-1.0, np.ones(98), 2.0]), 4)   # 1 draw of 100 at or below 0: 2 * 2 / 101
    0.0396
    >>> bootstrap_p_value(np.zeros(10))
    1.0
    """
    d = np.asarray(draws, dtype=float)
    tail = min(int((d <= null).sum()), int((d >= null).sum()))
    return float(min(1.0, 2 * (1 + tail) / (d.size + 1)))


def _check_level(level: float) -> None:
    if not (isinstance(level, (int, float, np.floating)) and 0 < level < 1):
        raise LosslabError(f"level={level!r}; expected a confidence level strictly between 0 and 1, e.g. 0.95")


def _summary(estimate: float, draws: np.ndarray, per_seed: list[np.ndarray], level: float, p: float) -> BootstrapCI:
    lo, hi = percentile_interval(draws, level)
    return BootstrapCI(float(estimate), lo, hi, p, max(a.shape[1] for a in per_seed), len(per_seed), int(draws.size), float(level))


def bootstrap_mean(values: Any, *, level: float = 0.95, groups: Any = None, shared_rows: bool = True,
                   resample_seeds: bool = True, n_boot: int = 2000, seed: int = 0) -> BootstrapCI:
    """The mean over seeds of the mean over test rows, with its percentile bootstrap interval.

    ``values`` is ``(n,)`` or ``(S, n)`` (or, with ``shared_rows=False``, one array per seed);
    the other arguments as in :func:`bootstrap_draws`. The p-value is NaN (no null to test).

    >>> ci = bootstrap_mean(np.arange(1.0, 41.0))
    >>> ci.estimate, ci.n_rows, ci.n_seeds, bool(ci.low < 20.5 < ci.high)
    (20.5, 40, 1, True)
    """
    _check_level(level)
    per_seed, stacked = _as_seed_rows(values, shared_rows, "values")
    if stacked:
        raise LosslabError(f"values holds {per_seed[0].shape[0]} statistics; expected one law's (n_rows,) or (n_seeds, n_rows) values")
    draws = bootstrap_draws(values, groups=groups, shared_rows=shared_rows, resample_seeds=resample_seeds, n_boot=n_boot, seed=seed).reshape(-1)
    estimate = float(np.mean([a.mean() for a in per_seed]))
    return _summary(estimate, draws, per_seed, level, math.nan)


def bootstrap_diff(other: Any, reference: Any, *, paired: bool = True, level: float = 0.95, groups: Any = None,
                   shared_rows: bool = True, resample_seeds: bool = True, n_boot: int = 2000, seed: int = 0) -> BootstrapCI:
    """``other - reference``: the difference of two laws' means over seeds and test rows, with a bootstrap interval and p-value.

    ``paired`` (the default, and the design of a comparison: both laws are scored on the same
    test rows with the same seeds) applies one resample of rows and seeds to both laws in each
    draw, so what the rows share (a hard row is hard for every law) cancels in the difference.
    ``paired=False`` resamples the two laws independently, as if they had been scored on
    different test sets: for comparison only, it is wider wherever rows or seeds share an effect.

    Args:
        other, reference: per-row values of each law, same shapes (see :func:`bootstrap_draws`).
        level: of the percentile interval.
        groups, shared_rows, resample_seeds, n_boot, seed: as in :func:`bootstrap_draws`.

    >>> rng = np.random.default_rng(1)
    >>> hard = rng.exponential(size=200)            # a per-row difficulty every law shares
    >>> a, b = hard + 0.1 + 0.05 * rng.normal(size=200), hard + 0.05 * rng.normal(size=200)
    >>> p, u = bootstrap_diff(a, b), bootstrap_diff(a, b, paired=False)
    >>> round(p.estimate, 3), p.p_value < 0.01, bool(p.high - p.low < (u.high - u.low) / 5)
    (0.092, True, True)
    """
    _check_level(level)
    a, stacked = _as_seed_rows(other, shared_rows, "other")
    r, _ = _as_seed_rows(reference, shared_rows, "reference")
    if [x.shape for x in a] != [x.shape for x in r]:
        raise LosslabError(
            f"other and reference have per-seed shapes {[x.shape for x in a]} and {[x.shape for x in r]}; "
            "expected the same seeds and test rows for both laws (a paired comparison)"
        )
    if stacked:
        raise LosslabError(f"other holds {a[0].shape[0]} statistics; expected one law's (n_rows,) or (n_seeds, n_rows) values")
    kw = dict(groups=groups, shared_rows=shared_rows, resample_seeds=resample_seeds, n_boot=n_boot)
    if paired:
        draws = bootstrap_draws([x[0] - y[0] for x, y in zip(a, r)] if not shared_rows else np.stack([x[0] - y[0] for x, y in zip(a, r)]), seed=seed, **kw)
    else:
        # Independent resamples for the two laws: two streams of one seed sequence.
        s_other, s_ref = np.random.SeedSequence(seed).spawn(2)
        da = bootstrap_draws(other, seed=int(s_other.generate_state(1)[0]), **kw)
        dr = bootstrap_draws(reference, seed=int(s_ref.generate_state(1)[0]), **kw)
        draws = np.asarray(da).reshape(-1) - np.asarray(dr).reshape(-1)
    draws = np.asarray(draws).reshape(-1)
    estimate = float(np.mean([x.mean() for x in a]) - np.mean([y.mean() for y in r]))
    return _summary(estimate, draws, a, level, bootstrap_p_value(draws))
