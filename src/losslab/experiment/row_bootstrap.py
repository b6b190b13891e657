"""Intervals and paired tests over the test rows and the seeds: the per-row values a run stores, bootstrapped.

:class:`RowBootstrap` holds the methods of :class:`~losslab.experiment.result.ComparisonResult`
that read each run's per-row test values (``row_<metric>`` arrays) and draw one shared bootstrap
resample of rows and seeds for every law and metric, so the differences between laws are paired.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._errors import LosslabError
from ..metrics.evaluate import ROW_METRICS as _EVALUATE_ROW_METRICS
from .stats import BootstrapCI, bootstrap_diff, bootstrap_draws, bootstrap_p_value, percentile_interval

__all__ = ["METHODS", "ROW_METRICS", "ROW_PREFIX", "RowBootstrap", "check_method"]

#: the prefix of the per-row arrays a run stores (``row_mean_squared_error``, ...; see ``metrics.evaluate(per_row=True)``)
ROW_PREFIX = "row_"
#: metrics that have per-row values, as a mean over test rows (:data:`losslab.metrics.evaluate.ROW_METRICS`);
#: the others get intervals over seeds only
ROW_METRICS = _EVALUATE_ROW_METRICS
#: how intervals and p-values are computed: a bootstrap over test rows and seeds, or a t-test over seeds
METHODS = ("bootstrap", "seeds")


def check_method(method: str) -> None:
    """A one-line error unless ``method`` is one of :data:`METHODS`."""
    if method not in METHODS:
        raise LosslabError(f"method={method!r}; expected 'bootstrap' (over test rows and seeds) or 'seeds' (a t-test over seeds)")


class RowBootstrap:
    """The bootstrap over test rows and seeds of a :class:`~losslab.experiment.result.ComparisonResult` (a base class of it).

    Reads ``self.runs``, ``self.laws``, ``self.values`` and the draws' cache ``self._boot``.
    """

    runs: list[dict]
    laws: list[str]
    _boot: dict[tuple, dict[tuple[str, str], tuple]]

    def row_values(self, law: str, metric: str) -> dict[int, np.ndarray]:
        """``{seed: (n_test,) per-row values of metric}`` of one law's finished runs that stored them.

        Each row's value is its term of the metric (averaged over outputs), so their mean is the
        run's metric. Empty for a metric that is not a mean over rows (:data:`ROW_METRICS`) and for
        runs recorded before losslab stored per-row values.
        """
        out = {}
        for r in self.runs:
            if r["law"] == law and r["status"] == "ok" and r["metrics"].get(metric) is not None:
                a = (r.get("arrays") or {}).get(ROW_PREFIX + metric)
                if a is not None:
                    out[r["seed"]] = np.asarray(a, dtype=float)
        return out

    def test_size(self) -> tuple[int, int] | None:
        """``(rows, outputs)`` of the test set (the smallest over the runs' splits), or None when no run kept its labels."""
        sizes = [np.shape(r["arrays"]["y_true"]) for r in self.runs if r["status"] == "ok" and "y_true" in (r.get("arrays") or {})]
        if not sizes:
            return None
        rows, outputs = min((s[0], int(np.prod(s[1:], dtype=int))) for s in sizes if len(s) >= 1)
        return int(rows), int(outputs)

    def interval_method(self, metric: str) -> tuple[str, str | None]:
        """``("bootstrap", None)`` when every law's finished runs hold per-row values of ``metric``, else ``("seeds", why)``."""
        if metric not in ROW_METRICS:
            return "seeds", f"{metric} is not a mean over test rows (a rank, calibration or validation statistic)"
        for law in self.laws:
            if self.values(law, metric) and self._row_matrix(law, metric) is None:
                if len(self.row_values(law, metric)) < len(self.values(law, metric)):
                    return "seeds", "the runs hold no per-row test values (runs recorded by an older losslab)"
                return "seeds", "the test sets have fewer than 2 rows or differ in size between seeds"
        return "bootstrap", None

    def _shared_rows(self) -> bool:
        """Whether every run was tested on the same rows (one split for all seeds), judged by their test labels."""
        ys = [r["arrays"]["y_true"] for r in self.runs if r["status"] == "ok" and "y_true" in (r.get("arrays") or {})]
        return all(np.shape(y) == np.shape(ys[0]) and np.array_equal(y, ys[0]) for y in ys[1:])

    def _row_matrix(self, law: str, metric: str) -> tuple[tuple[int, ...], list[np.ndarray]] | None:
        """``(seeds, per-seed row values)`` when every finished run of ``law`` holds them, on at least 2 rows; else None."""
        rows = self.row_values(law, metric)
        if not rows or len(rows) < len(self.values(law, metric)):
            return None
        seeds = tuple(sorted(rows))
        arrays = [rows[s] for s in seeds]
        sizes = {len(a) for a in arrays}
        if min(sizes) < 2 or (len(sizes) > 1 and self._shared_rows()):
            return None
        return seeds, arrays

    def _draws(self, n_boot: int, seed: int) -> dict[tuple[str, str], tuple]:
        """Bootstrap draws of every (law, metric) with per-row values, all from one shared resample per draw."""
        # The runs are part of the key: a result whose runs were replaced or extended draws again.
        key = (n_boot, seed, tuple((r["law"], r["seed"], r["status"], id(r.get("arrays"))) for r in self.runs))
        if key in self._boot:
            return self._boot[key]
        shared = self._shared_rows()
        batches: dict[tuple, list] = {}
        for law in self.laws:
            for metric in ROW_METRICS:
                got = self._row_matrix(law, metric)
                if got is not None:
                    seeds, arrays = got
                    batches.setdefault((seeds, tuple(len(a) for a in arrays)), []).append((law, metric, arrays))
        out: dict[tuple[str, str], tuple] = {}
        for (seeds, _), items in batches.items():
            if shared:
                stack: Any = np.stack([np.stack(arrays) for *_, arrays in items])  # (K, S, n)
            else:
                stack = [np.stack([arrays[i] for *_, arrays in items]) for i in range(len(seeds))]  # per seed (K, n_s)
            draws = bootstrap_draws(stack, shared_rows=shared, n_boot=n_boot, seed=seed)  # (K, B)
            for (law, metric, arrays), d in zip(items, draws):
                out[(law, metric)] = (seeds, arrays, d)
        self._boot[key] = out
        return out

    def _boot_mean(self, law: str, metric: str, level: float, n_boot: int, seed: int) -> BootstrapCI | None:
        got = self._draws(n_boot, seed).get((law, metric))
        if got is None:
            return None
        seeds, arrays, d = got
        lo, hi = percentile_interval(d, level)
        return BootstrapCI(float(np.mean([a.mean() for a in arrays])), lo, hi, math.nan, max(map(len, arrays)), len(seeds), n_boot, level)

    def _boot_diff(self, law: str, ref: str, metric: str, level: float, n_boot: int, seed: int) -> BootstrapCI | None:
        draws = self._draws(n_boot, seed)
        a, r = draws.get((law, metric)), draws.get((ref, metric))
        if a is None or r is None:
            return None
        if a[0] == r[0]:  # the same seeds: the draws share their resamples, so their difference is the paired bootstrap
            d = a[2] - r[2]
            lo, hi = percentile_interval(d, level)
            estimate = float(np.mean([x.mean() for x in a[1]]) - np.mean([y.mean() for y in r[1]]))
            return BootstrapCI(estimate, lo, hi, bootstrap_p_value(d), max(map(len, a[1])), len(a[0]), n_boot, level)
        common = sorted(set(a[0]) & set(r[0]))  # a law lost a seed (diverged): pair on the seeds both finished
        if not common:
            return None
        pick = lambda got: [got[1][got[0].index(s)] for s in common]  # noqa: E731
        shared = self._shared_rows()
        other, reference = pick(a), pick(r)
        if shared:
            other, reference = np.stack(other), np.stack(reference)
        return bootstrap_diff(other, reference, level=level, shared_rows=shared, n_boot=n_boot, seed=seed)
