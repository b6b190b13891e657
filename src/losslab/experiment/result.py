"""The result of a comparison: its runs, tables, paired tests, a recommendation and ensemble scores.

A :class:`ComparisonResult` is built by :func:`losslab.compare` as the grid runs, or read
back from a run store by :func:`load_result`; both give the same tables. Its methods are
gathered from three modules besides this one: the bootstrap over test rows and seeds
(:mod:`~losslab.experiment.row_bootstrap`), the recommendation and its cautions
(:mod:`~losslab.experiment.recommend`) and the trained models (:mod:`~losslab.experiment.result_models`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._errors import LosslabError
from ..laws import get_law
from ..laws.spec import law_for_data, law_label
from .plan import CompareConfig
from .recommend import FEW_SEEDS, SMALL_TEST_LABELS, Recommendation, Recommending, check_comparable
from .result_models import KeptModels
from .row_bootstrap import METHODS, ROW_METRICS, ROW_PREFIX, RowBootstrap, check_method
from .stats import higher_is_better, mean_ci, paired_test
from .store import Store

if TYPE_CHECKING:  # pandas is imported by the methods that build tables: `import losslab` does not load it
    import pandas as pd

__all__ = [
    "FEW_SEEDS", "METHODS", "METRIC_ORDER", "ROW_METRICS", "ROW_PREFIX", "SMALL_TEST_LABELS", "ComparisonResult", "Recommendation",
    "check_comparable", "load_result",
]

_NOT_METRICS = ("reasons", "per_output")

#: The one column order of every table of a comparison (:meth:`ComparisonResult.metrics`, :meth:`~ComparisonResult.table`,
#: :meth:`~ComparisonResult.frame`, the report): point metrics, distributional scores, calibration, then the rest.
#: A run's metrics come in the order they were computed, or alphabetically when read back from a store; sorting them by
#: this tuple makes a fresh comparison, a resumed one and a rebuilt report list the same columns in the same order.
#: Metrics not named here (a user's) follow the known ones alphabetically, before ``seconds`` and ``epochs``.
METRIC_ORDER = (
    "mean_squared_error", "mean_absolute_error", "log_score", "crps", "energy_score", "calibration_error", "bernoulli_kl",
    "pit_calibration_error", "interval_coverage", "interval_width", "spearman_score", "auroc_score", "r2_score", "brier_loss",
    "val_nll", "seconds", "epochs",
)

#: properties of a run, not of its predictions: kept beside the metrics, not inside ``run["metrics"]``
_RUN_FIELDS = ("seconds", "epochs")


def _order_key(metric: str) -> tuple[int, str]:
    """Sort key of a metric in :data:`METRIC_ORDER`; unknown names after the known metrics, before the run fields.

    >>> sorted(["seconds", "zeta", "crps", "alpha", "mean_squared_error"], key=_order_key)
    ['mean_squared_error', 'crps', 'alpha', 'zeta', 'seconds']
    """
    if metric in _RUN_FIELDS:
        return (len(METRIC_ORDER) + 1 + _RUN_FIELDS.index(metric), "")
    return (METRIC_ORDER.index(metric), "") if metric in METRIC_ORDER else (len(METRIC_ORDER), metric)


def _run_value(run: dict, metric: str) -> Any:
    """``run``'s value of ``metric``: from its metrics, or for ``seconds``/``epochs`` from the run itself."""
    if metric == "seconds" and metric not in run["metrics"]:
        return run.get("seconds")
    if metric == "epochs" and metric not in run["metrics"]:
        return run["history"].get("epochs_run")
    return run["metrics"].get(metric)


class ComparisonResult(RowBootstrap, Recommending, KeptModels):
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
        """One row per run: law, seed, status, seconds, epochs and every metric (in :data:`METRIC_ORDER`)."""
        import pandas as pd

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
            head = ["law", "seed", "status", "seconds", "epochs"]
            df = df[head + sorted((c for c in df.columns if c not in head), key=_order_key)]
        return df

    def metrics(self) -> list[str]:
        """The numeric metrics some run has a value of, in :data:`METRIC_ORDER` (``seconds`` and ``epochs`` last)."""
        import pandas as pd

        df = self.frame()
        skip = {"law", "seed", "status"}
        found = [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c]) and df[c].notna().any()]
        return sorted(found, key=_order_key)

    def values(self, law: str, metric: str) -> dict[int, float]:
        """``{seed: value}`` of one law's finished runs (``seconds`` and ``epochs`` are read from the run)."""
        return {
            r["seed"]: _run_value(r, metric)
            for r in self.runs
            if r["law"] == law and r["status"] == "ok" and _run_value(r, metric) is not None
        }

    def per_output(self, metric: str | None = None) -> pd.DataFrame:
        """Law x output: ``metric`` of each output (e.g. each of 32 pixels), averaged over seeds.

        Empty when the labels have one output. The overall metric of :meth:`table` is the
        mean of a row.
        """
        import pandas as pd

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

        The columns are ``runs, diverged, stopped, unstable, point``, then each metric of
        :meth:`metrics` in :data:`METRIC_ORDER` with its bounds, the same for a fresh comparison
        and one read back from a store. ``seconds`` and ``epochs`` are the mean over a law's
        finished runs with a t-interval over seeds (they are properties of a run, never bootstrapped).
        """
        import pandas as pd

        check_method(method)
        methods: dict[str, set[str]] = {}
        out = []
        for law in self.laws:
            row: dict[str, Any] = {"law": law}
            mine = [r for r in self.runs if r["law"] == law]
            row["runs"] = len(mine)
            row["diverged"] = sum(r["status"] == "diverged" for r in mine)
            row["stopped"] = sum(r["status"] == "stopped" for r in mine)  # successive halving stopped them at a rung (experiment/halving.py)
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
        import pandas as pd

        check_method(method)
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

    def ensemble(self) -> pd.DataFrame:
        """Deep-ensemble scores of each law: the equal mixture of its seeds' predictive laws, from stored outputs.

        Needs the arrays of the runs (a comparison with a store, or kept in memory) and one
        test split shared by all seeds (the default, ``split_seed``).
        """
        import pandas as pd

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

    def fixed_spread(self) -> dict[str, float]:
        """``{law label: predictive standard deviation}`` of the laws whose spread is an option, not fitted.

        See :attr:`losslab.laws.Law.fixed_spread`: such a law's log score, CRPS, PIT and
        intervals score a spread chosen by an option.
        """
        out = {}
        for name, opts in self.config.laws:
            try:
                sd = get_law(name, **opts).fixed_spread
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
