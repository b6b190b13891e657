"""The result of a comparison: its runs, tables, paired tests, a recommendation and ensemble scores.

A :class:`ComparisonResult` is built by :func:`losslab.compare` as the grid runs, or read
back from a run store by :func:`load_result`; both give the same tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._errors import LosslabError
from ..laws import get_law, law_class
from ..laws.spec import fixed_spread, law_for_data, law_label
from .plan import CompareConfig
from .stats import NOT_RANKED, higher_is_better, mean_ci, paired_test
from .store import Store
from .trainer import TrainConfig

_NOT_METRICS = ("reasons", "per_output")


@dataclass
class Recommendation:
    law: str
    metric: str
    tied: list[str]
    reason: str
    value: float

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

    def table(self, level: float = 0.95) -> pd.DataFrame:
        """Law x metric: mean and ``level`` t-interval over seeds (columns ``metric``, ``metric_low``, ``metric_high``)."""
        out = []
        for law in self.laws:
            row: dict[str, Any] = {"law": law}
            statuses = [r["status"] for r in self.runs if r["law"] == law]
            row["runs"] = len(statuses)
            row["diverged"] = statuses.count("diverged")
            for m in self.metrics():
                ci = mean_ci(list(self.values(law, m).values()), level)
                row[m], row[f"{m}_low"], row[f"{m}_high"] = ci.mean, ci.low, ci.high
            out.append(row)
        return pd.DataFrame(out).set_index("law")

    def best(self, metric: str | None = None) -> str:
        metric = metric or self.config.primary_metric
        means = {law: mean_ci(list(self.values(law, metric).values())).mean for law in self.laws}
        means = {k: v for k, v in means.items() if math.isfinite(v)}
        if not means:
            raise LosslabError(f"no law has a finished run with metric {metric!r}")
        pick = max if higher_is_better(metric) else min
        return pick(means, key=means.get)

    def paired(self, metric: str | None = None, level: float = 0.95) -> pd.DataFrame:
        """Each law against the best one on ``metric``: mean paired difference, its interval and a paired t-test."""
        metric = metric or self.config.primary_metric
        ref = self.best(metric)
        ref_vals = self.values(ref, metric)
        rows = []
        for law in self.laws:
            vals = self.values(law, metric)
            seeds = sorted(set(vals) & set(ref_vals))
            t = paired_test([vals[s] for s in seeds], [ref_vals[s] for s in seeds], level)
            rows.append(
                {"law": law, "reference": ref, "diff": t.diff.mean, "diff_low": t.diff.low, "diff_high": t.diff.high, "p_value": t.p_value, "n": t.n}
            )
        return pd.DataFrame(rows).set_index("law")

    def recommend(self, metric: str | None = None, alpha: float = 0.05) -> Recommendation:
        """The best law on ``metric``, the laws statistically tied with it, and why, in one paragraph."""
        metric = metric or self.config.primary_metric
        if metric in NOT_RANKED:
            raise LosslabError(f"metric {metric!r} is not ranked (a coverage is good near its nominal level)")
        check_comparable(metric, {law_label(n, o): law_class(n).likelihood for n, o in self.config.laws})
        best = self.best(metric)
        paired = self.paired(metric)
        tied = [
            law
            for law in self.laws
            if law != best and paired.loc[law, "n"] >= 2 and (paired.loc[law, "p_value"] >= alpha or math.isnan(paired.loc[law, "p_value"]))
        ]
        table = self.table()
        v = table.loc[best, metric]
        direction = "highest" if higher_is_better(metric) else "lowest"
        n_seeds = len(self.values(best, metric))
        parts = [
            f"Recommended law: {best}. It has the {direction} {metric} on held-out data "
            f"({v:.4g}, 95% CI {table.loc[best, metric + '_low']:.4g} to {table.loc[best, metric + '_high']:.4g}, "
            f"{n_seeds} seeds) among {len(self.laws)} laws."
        ]
        if tied:
            parts.append(
                "Statistically tied with it (paired t-test over seeds, p >= "
                f"{alpha:g}): " + ", ".join(f"{t} (p = {paired.loc[t, 'p_value']:.2g})" for t in tied) + "."
            )
        else:
            others = [law for law in self.laws if law != best and paired.loc[law, "n"] >= 2]
            if others:
                runner = min(others, key=lambda law: abs(paired.loc[law, "diff"]))
                parts.append(
                    f"Every other law is worse in a paired t-test over seeds (p < {alpha:g}); the runner-up, {runner}, "
                    f"differs by {paired.loc[runner, 'diff']:+.3g} (p = {paired.loc[runner, 'p_value']:.2g})."
                )
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
        return Recommendation(best, metric, tied, " ".join(parts), float(v))

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
    cfg = CompareConfig(
        laws=[(n, o) for n, o in c["laws"]],
        seeds=c["seeds"],
        model=c["model"],
        primary_metric=c["primary_metric"],
        train=TrainConfig(**c["train"]),
        split_seed=c["split_seed"],
        val=c["val"],
        test=c["test"],
        device=c["device"],
        standardize=c["standardize"],
    )
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
