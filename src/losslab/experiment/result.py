"""The result of a comparison: its runs, tables, paired tests, a recommendation and ensemble scores.

A :class:`ComparisonResult` is built by :func:`losslab.compare` as the grid runs, or read
back from a run store by :func:`load_result`; both give the same tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from .._errors import LosslabError
from ..laws import get_law, law_class
from ..laws.spec import fixed_spread, law_for_data, law_label
from ..metrics.evaluate import ROW_METRICS as _EVALUATE_ROW_METRICS
from .plan import CompareConfig
from .runs import UNSTABLE_NATS
from .stats import (
    NOT_RANKED,
    BootstrapCI,
    bootstrap_diff,
    bootstrap_draws,
    bootstrap_p_value,
    higher_is_better,
    mean_ci,
    paired_test,
    percentile_interval,
)
from .store import Store

if TYPE_CHECKING:
    from .predictor import Predictor

_NOT_METRICS = ("reasons", "per_output")


#: the prefix of the per-row arrays a run stores (``row_mean_squared_error``, ...; see ``metrics.evaluate(per_row=True)``)
ROW_PREFIX = "row_"
#: metrics that have per-row values, as a mean over test rows (:data:`losslab.metrics.evaluate.ROW_METRICS`);
#: the others get intervals over seeds only
ROW_METRICS = _EVALUATE_ROW_METRICS
#: below this many test labels (rows x outputs) the recommendation and the report warn that the test set is small
SMALL_TEST_LABELS = 200
#: below this many seeds they warn that training randomness is barely measured
FEW_SEEDS = 3
METHODS = ("bootstrap", "seeds")


@dataclass
class Recommendation:
    law: str
    metric: str
    tied: list[str]
    reason: str
    value: float
    #: cautions about the evidence (a small test set, few seeds, intervals over seeds only); also at the end of ``reason``
    warnings: list[str] = field(default_factory=list)
    #: how the intervals and p-values were computed: "bootstrap" (over test rows, and seeds) or "seeds" (t over seeds)
    method: str = "seeds"

    def __str__(self) -> str:
        return self.reason


class ComparisonResult:
    """Runs of a comparison, with tables, paired tests, a recommendation and ensemble scores."""

    def __init__(
        self, runs: list[dict], config: CompareConfig, *, data_meta: dict, labels: Any = None, store: Store | None = None, versions: dict | None = None
    ) -> None:
        self.runs = runs
        #: the package versions the runs were trained with (as saved in the store); None if unknown
        self.versions = versions
        self.config = config
        self.data_meta = data_meta
        self.labels = labels
        self.store = store
        self.laws = [law_label(n, o) for n, o in config.laws]
        #: test labels shared by all seeds (absent when each seed has its own split): for ensembles
        self._test: dict[str, Any] = {}
        #: bootstrap draws, by (n_boot, seed, runs): {(law, metric): (seeds, per-seed row arrays, draws)}
        self._boot: dict[tuple, dict[tuple[str, str], tuple]] = {}
        #: the factory of a custom model (set by compare; None for a named model or a result read from a store):
        #: the predictors of best_model, model and ensemble_model rebuild the model with it
        self.model_factory: Any = None

    # -------------------------------------------------------------- frames
    def frame(self) -> pd.DataFrame:
        """One row per run: law, seed, status, epochs, seconds and every metric."""
        rows = []
        for r in self.runs:
            row = {"law": r["law"], "seed": r["seed"], "status": r["status"], "seconds": r["seconds"]}
            row["epochs"] = r["history"].get("epochs_run")
            row.update({k: v for k, v in r["metrics"].items() if k not in _NOT_METRICS})
            rows.append(row)
        df = pd.DataFrame(rows)
        if not df.empty:
            df["law"] = pd.Categorical(df["law"], categories=self.laws, ordered=True)
            df = df.sort_values(["law", "seed"]).reset_index(drop=True)
        return df

    def metrics(self) -> list[str]:
        df = self.frame()
        skip = {"law", "seed", "status"}
        return [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c]) and df[c].notna().any()]

    def values(self, law: str, metric: str) -> dict[int, float]:
        """``{seed: value}`` of one law's finished runs."""
        return {
            r["seed"]: r["metrics"].get(metric)
            for r in self.runs
            if r["law"] == law and r["status"] == "ok" and r["metrics"].get(metric) is not None
        }

    def per_output(self, metric: str | None = None) -> pd.DataFrame:
        """Law x output: ``metric`` of each output (e.g. each of 32 pixels), averaged over seeds.

        Empty when the labels have one output. The overall metric of :meth:`table` is the
        mean of a row.
        """
        metric = metric or self.config.primary_metric
        rows: dict[str, list[np.ndarray]] = {}
        for r in self.runs:
            values = r["metrics"].get("per_output", {}).get(metric) if r["status"] == "ok" else None
            if values is not None:
                rows.setdefault(r["law"], []).append(np.array([np.nan if v is None else v for v in values], dtype=float))
        if not rows:
            return pd.DataFrame()
        frame = pd.DataFrame({law: np.mean(v, axis=0) for law, v in rows.items()}).T
        frame.index.name, frame.columns.name = "law", "output"
        return frame.reindex([law for law in self.laws if law in rows])

    def table(self, level: float = 0.95, *, method: str = "bootstrap", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
        """Law x metric: the mean over seeds and its ``level`` interval (columns ``metric``, ``metric_low``, ``metric_high``).

        ``method="bootstrap"`` (the default): for the metrics that are a mean over test rows
        (:data:`ROW_METRICS`), a percentile bootstrap over the test rows and the seeds
        (:func:`~.stats.bootstrap_draws`, ``n_boot`` draws from ``seed``); for the others, and for
        runs that hold no per-row values (a store written by an older losslab), the t-interval
        over seeds. ``method="seeds"``: the t-interval over seeds everywhere, which leaves out
        test-set noise (and is NaN with one seed). ``table.attrs["interval_method"]`` says which
        each metric got.
        """
        _check_method(method)
        methods: dict[str, set[str]] = {}
        out = []
        for law in self.laws:
            row: dict[str, Any] = {"law": law}
            mine = [r for r in self.runs if r["law"] == law]
            row["runs"] = len(mine)
            row["diverged"] = sum(r["status"] == "diverged" for r in mine)
            # runs that ended far worse than they started (runs.unstable): finite numbers, but no evidence
            row["unstable"] = sum(bool(r["history"].get("unstable")) for r in mine if r["status"] == "ok")
            # the point prediction its point metrics score: "mean", or "median" for a law without a mean
            row["point"] = "/".join(sorted({r["metrics"].get("point", "mean") for r in mine if r["status"] == "ok"})) or None
            for m in self.metrics():
                ci = mean_ci(list(self.values(law, m).values()), level)
                row[m], row[f"{m}_low"], row[f"{m}_high"] = ci.mean, ci.low, ci.high
                boot = self._boot_mean(law, m, level, n_boot, seed) if method == "bootstrap" else None
                if boot is not None:
                    row[f"{m}_low"], row[f"{m}_high"] = boot.low, boot.high
                if ci.n:
                    methods.setdefault(m, set()).add("seeds" if boot is None else "bootstrap")
            out.append(row)
        df = pd.DataFrame(out).set_index("law")
        df.attrs["interval_method"] = {m: "/".join(sorted(v)) for m, v in methods.items()}
        return df

    def best(self, metric: str | None = None) -> str:
        metric = metric or self.config.primary_metric
        means = {law: mean_ci(list(self.values(law, metric).values())).mean for law in self.laws}
        means = {k: v for k, v in means.items() if math.isfinite(v)}
        if not means:
            raise LosslabError(f"no law has a finished run with metric {metric!r}")
        pick = max if higher_is_better(metric) else min
        return pick(means, key=means.get)

    def paired(self, metric: str | None = None, level: float = 0.95, *, method: str = "bootstrap", n_boot: int = 2000,
               seed: int = 0) -> pd.DataFrame:
        """Each law against the best one on ``metric``: the mean paired difference (law - best), its interval and p-value.

        ``method="bootstrap"`` (the default): a paired bootstrap over the test rows and the seeds
        both laws finished (one resample of rows and seeds per draw for every law, percentile
        interval, two-sided p-value by inverting it: :func:`~.stats.bootstrap_diff`); it falls back
        to the paired t-test over seeds for a metric that is not a mean over rows or runs without
        per-row values. ``method="seeds"``: the paired t-test over seeds (test-set noise left out).
        Columns: ``reference, diff, diff_low, diff_high, p_value, n`` (seeds), ``rows`` (test rows
        resampled; 0 for the t-test) and ``method`` (``"bootstrap"`` or ``"seeds"``).
        """
        _check_method(method)
        metric = metric or self.config.primary_metric
        ref = self.best(metric)
        ref_vals = self.values(ref, metric)
        rows = []
        for law in self.laws:
            boot = self._boot_diff(law, ref, metric, level, n_boot, seed) if method == "bootstrap" else None
            if boot is not None:
                rows.append(
                    {"law": law, "reference": ref, "diff": boot.estimate, "diff_low": boot.low, "diff_high": boot.high, "p_value": boot.p_value,
                     "n": boot.n_seeds, "rows": boot.n_rows, "method": "bootstrap"}
                )
                continue
            vals = self.values(law, metric)
            seeds = sorted(set(vals) & set(ref_vals))
            t = paired_test([vals[s] for s in seeds], [ref_vals[s] for s in seeds], level)
            rows.append(
                {"law": law, "reference": ref, "diff": t.diff.mean, "diff_low": t.diff.low, "diff_high": t.diff.high, "p_value": t.p_value, "n": t.n,
                 "rows": 0, "method": "seeds"}
            )
        return pd.DataFrame(rows).set_index("law")

    def recommend(self, metric: str | None = None, alpha: float = 0.05, *, method: str = "bootstrap", n_boot: int = 2000,
                  seed: int = 0) -> Recommendation:
        """The best law on ``metric``, the laws statistically tied with it, and why, in one paragraph.

        Ties and intervals come from :meth:`paired` and :meth:`table` with ``method``: by default a
        paired bootstrap over the test rows and the seeds, which includes test-set noise; the text
        names the method used. ``warnings`` (also at the end of the text) flag a test set of fewer
        than :data:`SMALL_TEST_LABELS` labels, fewer than :data:`FEW_SEEDS` seeds, and intervals
        over seeds only.
        """
        _check_method(method)
        metric = metric or self.config.primary_metric
        if metric in NOT_RANKED:
            raise LosslabError(f"metric {metric!r} is not ranked (a coverage is good near its nominal level)")
        check_comparable(metric, {law_label(n, o): law_class(n).likelihood for n, o in self.config.laws})
        best = self.best(metric)
        paired = self.paired(metric, method=method, n_boot=n_boot, seed=seed)

        def testable(law: str) -> bool:  # the t-test needs two seeds; the bootstrap has the test rows with one
            return law != best and (paired.loc[law, "method"] == "bootstrap" or paired.loc[law, "n"] >= 2)

        def p_text(law: str) -> str:
            p = paired.loc[law, "p_value"]
            if paired.loc[law, "method"] == "bootstrap" and p <= 2 / (n_boot + 1):
                return f"p < {math.ceil(2e4 / (n_boot + 1)) / 1e4:g}"  # the bootstrap's floor: no draw on the other side
            return f"p = {p:.2g}"

        tied = [law for law in self.laws if testable(law) and (paired.loc[law, "p_value"] >= alpha or math.isnan(paired.loc[law, "p_value"]))]
        table = self.table(method=method, n_boot=n_boot, seed=seed)
        v = table.loc[best, metric]
        direction = "highest" if higher_is_better(metric) else "lowest"
        used = "bootstrap" if paired.loc[best, "method"] == "bootstrap" else "seeds"
        why = self.interval_method(metric)[1] if method == "bootstrap" else "method='seeds' was asked for"
        parts = [
            f"Recommended law: {best}. It has the {direction} {metric} on held-out data "
            f"({self._ci_text(best, metric, table, used, int(paired.loc[best, 'rows']), why)}) among {len(self.laws)} laws."
        ]
        others = [law for law in self.laws if testable(law)]
        test = self._test_text(best, metric, paired, others)
        if tied:
            parts.append(f"Statistically tied with it ({test}, p >= {alpha:g}): " + ", ".join(f"{t} ({p_text(t)})" for t in tied) + ".")
        elif others:
            runner = min(others, key=lambda law: abs(paired.loc[law, "diff"]))
            parts.append(
                f"Every other law is worse ({test}, p < {alpha:g}); the runner-up, {runner}, differs by {paired.loc[runner, 'diff']:+.3g} "
                f"(95% CI {paired.loc[runner, 'diff_low']:+.3g} to {paired.loc[runner, 'diff_high']:+.3g}, {p_text(runner)})."
            )
        elif len(self.laws) > 1:
            parts.append(f"The other laws cannot be tested against it: a t-test over seeds needs two seeds, and {why}.")
        fixed = self.fixed_spread().get(best)
        for extra in ("log_score", "crps", "calibration_error"):
            if fixed is not None and extra in ("log_score", "crps"):
                continue
            if extra in table.columns and extra != metric and math.isfinite(table.loc[best, extra]):
                parts.append(f"Its {extra} is {table.loc[best, extra]:.4g}.")
        if fixed is not None:
            parts.append(
                f"{best} predicts a fixed spread (standard deviation {fixed:.3g}, set by an option, not fitted), "
                "so its log score and CRPS are not evidence about its uncertainty; rank by a point metric or compare distributional laws."
            )
        diverged = int(table["diverged"].sum())
        if diverged:
            parts.append(f"{diverged} run(s) diverged and are left out.")
        if table.loc[best, "point"] not in (None, "mean"):
            parts.append(f"{best} has no mean, so its point metrics score its {table.loc[best, 'point']}.")
        shaky = {law: int(n) for law, n in table["unstable"].items() if n}
        if shaky:
            parts.insert(
                1,
                "Warning: training was unstable: "
                + ", ".join(f"{n} run(s) of {law}" for law, n in shaky.items())
                + f" ended with a validation NLL more than {UNSTABLE_NATS:g} nat per label above the untrained model's "
                "(a learning rate too large?); their numbers are finite but are no evidence"
                + (", and the recommended law is among them." if best in shaky else "."),
            )
        warnings = self.uncertainty_warnings(metric, method=method)
        return Recommendation(best, metric, tied, " ".join(parts + warnings), float(v), warnings, used)

    # ------------------------------------------------------------------ uncertainty
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

    def uncertainty_warnings(self, metric: str | None = None, *, method: str = "bootstrap") -> list[str]:
        """Sentences that caution about the evidence: a small test set, few seeds, intervals over seeds only."""
        metric = metric or self.config.primary_metric
        out = []
        size = self.test_size()
        if size is not None and size[0] * size[1] < SMALL_TEST_LABELS:
            rows, outputs = size
            shape = f"{rows} rows x {outputs} outputs" if outputs > 1 else f"{rows} rows"
            out.append(
                f"Caution, small test set: {rows * outputs} test labels ({shape}), fewer than {SMALL_TEST_LABELS}; intervals and p-values "
                "from so few labels are rough (a bootstrap of a small sample is too narrow), so take the ranking as tentative "
                "and give the test split more rows (test=, --test) or use more data."
            )
        seeds = max((len(self.values(law, metric)) for law in self.laws), default=0)
        if 0 < seeds < FEW_SEEDS:
            what = "not measured at all" if seeds == 1 else "measured from only 2 runs per law"
            out.append(
                f"Caution, {seeds} seed{'s' if seeds > 1 else ''}: the spread due to training randomness (initial weights, "
                f"minibatch order) is {what}; use {FEW_SEEDS} or more seeds (seeds=, --seeds)."
            )
        used, why = self.interval_method(metric) if method == "bootstrap" else ("seeds", "method='seeds' was asked for")
        if used == "seeds":
            out.append(
                f"Caution: intervals and p-values on {metric} are over seeds only ({why}), so they leave out the noise of a finite test "
                "set" + ("; re-run the comparison with this losslab for a bootstrap over test rows." if "older" in (why or "") else ".")
            )
        return out

    def intervals_note(self, level: float = 0.95, n_boot: int = 2000) -> str:
        """One sentence on how :meth:`table`'s intervals and :meth:`paired`'s p-values were computed (for reports)."""
        methods = self.table(level, n_boot=n_boot).attrs.get("interval_method", {})
        boot = [m for m, k in methods.items() if k == "bootstrap"]
        seeds = [m for m, k in methods.items() if k != "bootstrap" and m not in ("seconds", "epochs")]
        size = self.test_size()
        n_seeds = len(self.config.seeds)
        over = f"the {size[0]} test rows" if size else "the test rows"
        over += f" and the {n_seeds} seeds" if n_seeds > 1 else " with 1 seed"
        parts = []
        if boot:
            parts.append(f"{100 * level:g}% intervals are percentile bootstraps over {over} ({n_boot} paired draws) for {', '.join(boot)}")
        if seeds:
            parts.append(f"t-intervals over seeds (without test-set noise; none with one seed) for {', '.join(seeds)}")
        metric = self.config.primary_metric
        p_method = self.interval_method(metric)[0]
        p_text = "a paired bootstrap over test rows and seeds" if p_method == "bootstrap" else "paired t-tests over seeds"
        return "; ".join(parts) + f". p-values are from {p_text} against the best law on {metric}."

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

    def _ci_text(self, law: str, metric: str, table: pd.DataFrame, used: str, n_rows: int, why: str | None) -> str:
        """The value of ``law`` on ``metric`` with its interval and how it was made, never a NaN bound."""
        v, lo, hi = table.loc[law, metric], table.loc[law, metric + "_low"], table.loc[law, metric + "_high"]
        n_seeds = len(self.values(law, metric))
        seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
        if used == "bootstrap" and math.isfinite(lo) and math.isfinite(hi):
            over = f"the {n_rows} test rows and the {seeds}" if n_seeds > 1 else f"the {n_rows} test rows; {seeds}"
            return f"{v:.4g}, 95% CI {lo:.4g} to {hi:.4g} by a bootstrap over {over}"
        if math.isfinite(lo) and math.isfinite(hi):
            return f"{v:.4g}, 95% CI {lo:.4g} to {hi:.4g} over {seeds} (a t-interval, without test-set noise)"
        return f"{v:.4g}, {seeds}; no interval: one seed gives no spread over seeds, and {why or 'no test rows were kept'}"

    def _test_text(self, best: str, metric: str, paired: pd.DataFrame, others: list[str]) -> str:
        """The name of the test behind the ties, e.g. "paired bootstrap over 72 test rows and 5 seeds"."""
        kinds = {paired.loc[law, "method"] for law in others}
        if kinds == {"bootstrap"}:
            rows = int(paired.loc[others, "rows"].max())
            n = int(paired.loc[others, "n"].max())
            return f"paired bootstrap over {rows} test rows and {n} seeds" if n > 1 else f"paired bootstrap over {rows} test rows, 1 seed"
        if kinds == {"seeds"}:
            return "paired t-test over seeds"
        return "paired bootstrap over test rows and seeds, or a paired t-test over seeds for the laws without per-row values"

    def ensemble(self) -> pd.DataFrame:
        """Deep-ensemble scores of each law: the equal mixture of its seeds' predictive laws, from stored outputs.

        Needs the arrays of the runs (a comparison with a store, or kept in memory) and one
        test split shared by all seeds (the default, ``split_seed``).
        """
        rows = []
        for law in self.laws:
            runs = [r for r in self.runs if r["law"] == law and r["status"] == "ok" and "arrays" in r]
            if len(runs) < 2 or "test_y" not in self._test:
                rows.append({"law": law, "members": len(runs), "log_score": math.nan, "mean_squared_error": math.nan})
                continue
            law_obj = law_for_data(*self._law_spec(law), self._test["train_y"])
            y = torch.as_tensor(self._test["test_y"])
            trials = None if self._test.get("test_trials") is None else torch.as_tensor(self._test["test_trials"])
            nlls, means = [], []
            for r in runs:
                params = law_obj.link(torch.as_tensor(r["arrays"]["raw"]))
                nlls.append(law_obj.nll(params, y, trials=trials))
                means.append(torch.as_tensor(r["arrays"]["y_pred"]))
            logp = torch.logsumexp(-torch.stack(nlls), dim=0) - math.log(len(runs))
            mean = torch.stack(means).mean(dim=0)
            rows.append(
                {
                    "law": law,
                    "members": len(runs),
                    "log_score": float(-logp.mean()),
                    "mean_squared_error": float(((mean - y) ** 2).mean()),
                }
            )
        return pd.DataFrame(rows).set_index("law")

    # ------------------------------------------------------------------ the models
    def best_model(self, law: str | None = None, *, model: Any = None, device: str = "cpu") -> "Predictor":
        """The trained model to keep: the recommended law's best seed, as a :class:`~.predictor.Predictor`.

        The law is :meth:`recommend`'s (or ``law``). Its seed is chosen on the validation rows,
        never on the test rows that ranked the laws: the seed whose model scored best on the
        primary metric over the validation rows (recorded with each run); runs recorded without
        that score, and metrics that do not apply to the law, fall back to the validation NLL
        (the early-stopping criterion); ties go to the smaller seed, and runs flagged unstable
        are passed over while the law has a stable one.

        Args:
            law: a law's label; default the recommended one.
            model: the factory of a custom model, for a result read back from a store
                (a fresh result remembers it).
            device: where the predictor computes.
        """
        label, seed = self.best_seed(law)
        return self.model(label, seed, model=model, device=device)

    def best_seed(self, law: str | None = None) -> tuple[str, int]:
        """``(law, seed)`` of :meth:`best_model`: the recommended law (or ``law``) and its seed chosen on the validation rows."""
        label = self.recommend().law if law is None else self._known_law(law)
        runs = [r for r in self.runs if r["law"] == label and r["status"] == "ok"]
        if not runs:
            raise LosslabError(f"law {label!r} has no finished run (every run diverged); choose another law")
        stable = [r for r in runs if not r["history"].get("unstable")] or runs
        metric = self.config.primary_metric
        scores = {r["seed"]: (r["history"].get("val_metric") or {}).get("value") for r in stable}
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in scores.values()):
            better = higher_is_better(metric)
        else:  # runs recorded without the score: the validation NLL, which every run has
            scores, better = {r["seed"]: r["metrics"].get("val_nll") for r in stable}, False
        scores = {s: v if isinstance(v, (int, float)) and math.isfinite(v) else math.inf * (-1 if better else 1) for s, v in scores.items()}
        return label, sorted(scores, key=lambda s: (-scores[s] if better else scores[s], s))[0]

    def model(self, law: str, seed: int, *, model: Any = None, device: str = "cpu") -> "Predictor":
        """The trained model of one run (``law``'s label, ``seed``) as a :class:`~.predictor.Predictor`."""
        from .predictor import Predictor

        label = self._known_law(law)
        runs = [r for r in self.runs if r["law"] == label and r["seed"] == seed]
        if not runs:
            seeds = sorted(r["seed"] for r in self.runs if r["law"] == label)
            raise LosslabError(f"law {label!r} has no run with seed {seed!r}; its seeds: {seeds}")
        return Predictor.from_runs(runs, ensemble=False, model=self._factory(model), device=device)

    def ensemble_model(self, law: str | None = None, *, model: Any = None, device: str = "cpu") -> "Predictor":
        """A law's finished seeds as one predictor whose predictive law is the equal mixture of theirs
        (:class:`~.predictor.EqualMixture`): a deep ensemble, with :meth:`ensemble`'s scores.

        ``law`` defaults to the recommended one; diverged seeds are left out.
        """
        from .predictor import Predictor

        label = self.recommend().law if law is None else self._known_law(law)
        runs = sorted((r for r in self.runs if r["law"] == label and r["status"] == "ok"), key=lambda r: r["seed"])
        if not runs:
            raise LosslabError(f"law {label!r} has no finished run (every run diverged); choose another law")
        return Predictor.from_runs(runs, ensemble=True, model=self._factory(model), device=device)

    def _known_law(self, law: Any) -> str:
        from .._errors import close_matches

        if law not in self.laws:
            raise LosslabError(f"law {law!r} is not in this comparison{close_matches(str(law), self.laws)}; its laws: {', '.join(self.laws)}")
        return law

    def _factory(self, model: Any) -> Any:
        return model if model is not None else self.model_factory

    def fixed_spread(self) -> dict[str, float]:
        """``{law label: predictive standard deviation}`` of the laws whose spread is an option, not fitted.

        See :func:`losslab.laws.spec.fixed_spread`: such a law's log score, CRPS, PIT and
        intervals score a spread chosen by an option.
        """
        out = {}
        for name, opts in self.config.laws:
            try:
                sd = fixed_spread(get_law(name, **opts))
            except LosslabError:  # options this losslab no longer accepts (an old store): not flagged
                continue
            if sd is not None:
                out[law_label(name, opts)] = sd
        return out

    def _law_spec(self, label: str) -> tuple[str, dict]:
        for name, opts in self.config.laws:
            if law_label(name, opts) == label:
                return name, opts
        raise KeyError(label)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise LosslabError(f"method={method!r}; expected 'bootstrap' (over test rows and seeds) or 'seeds' (a t-test over seeds)")


def check_comparable(metric: str, kinds: dict[str, str]) -> None:
    """Log-likelihoods rank laws only within one likelihood kind (a density, a pmf of counts, a soft-label BCE).

    ``kinds`` maps each law's label to its ``likelihood``.
    """
    if metric not in ("log_score", "val_nll") or len(set(kinds.values())) < 2:
        return
    groups: dict[str, list[str]] = {}
    for label, kind in kinds.items():
        groups.setdefault(kind, []).append(label)
    listing = "; ".join(f"{kind}: {', '.join(labels)}" for kind, labels in groups.items())
    raise LosslabError(
        f"metric {metric!r} cannot rank these laws: their log-likelihoods are of different kinds ({listing}) and are not "
        "comparable; compare laws of one kind, or rank by crps or mean_squared_error"
    )


def load_result(store: str | Store, comparison: str | None = None) -> ComparisonResult:
    """Rebuild a :class:`ComparisonResult` from a store (its latest comparison unless ``comparison`` is given)."""
    st = store if isinstance(store, Store) else Store(store)
    comps = st.comparisons()
    if not comps:
        raise LosslabError(f"store {st.path!r} holds no comparison")
    comp = comps[-1] if comparison is None else next((c for c in comps if c["key"] == comparison), None)
    if comp is None:
        raise LosslabError(f"store {st.path!r} has no comparison {comparison!r}")
    c = comp["config"]
    cfg = CompareConfig.from_dict(c)
    runs = list(st.runs(comp["key"], arrays=True))
    labels = {law_label(n, o) for n, o in cfg.laws}
    runs = [r for r in runs if r["law"] in labels and r["seed"] in cfg.seeds]
    if not runs:
        raise LosslabError(f"store {st.path!r}: the comparison has no finished run yet")
    data = c.get("data", {})
    meta = {"name": data.get("name"), "n": data.get("n"), "kind": data.get("kind"), **data.get("meta", {})}
    for key in ("target_names", "feature_names"):
        if data.get(key):
            meta[key] = data[key]
    return ComparisonResult(runs, cfg, data_meta=meta, labels=_label_report(c.get("labels")), store=st, versions=c.get("versions"))


def _label_report(d: dict | None):
    """The label diagnostics saved with a comparison, as a :class:`~losslab.data.LabelReport` (None if absent or stale)."""
    if not d:
        return None
    from ..data.inspect import LabelReport

    try:
        d = dict(d)
        if d.get("trials_range") is not None:
            d["trials_range"] = tuple(d["trials_range"])
        return LabelReport(**d)
    except TypeError:  # saved by a version whose report had other fields
        return None
