"""The comparison: the same model trained under each law and several seeds, evaluated on held-out data.

Paired design: for one seed, every law gets the same split, the same initial
trunk weights and the same minibatch order, so differences between laws are
paired. By default the split is fixed across seeds (``split_seed``), so seeds
measure training randomness and the runs of one law form a deep ensemble;
data sets that come with fixed splits (the UCI sets) use split ``seed``.

Each finished run is written to the store at once; running the same
comparison again skips every stored run.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from .. import __version__
from .._errors import LosslabError
from ..laws import Law, get_law, law_class
from ..models import LawModel, build_model, channels_last, resolve_model
from .stats import NOT_RANKED, higher_is_better, mean_ci, paired_test
from . import _pool
from .store import Store
from .trainer import Progress, Split, TrainConfig, can_batch, resolve_device, train, train_replicas

LawSpec = str | tuple[str, dict] | Law


# ---------------------------------------------------------------------------- law specs
def parse_law_spec(spec: LawSpec) -> tuple[str, dict[str, Any]]:
    """``"binned:kind=twohot,n_bins=21"`` -> ``("binned", {"kind": "twohot", "n_bins": 21})``.

    >>> parse_law_spec("binned:kind=twohot,n_bins=21")
    ('binned', {'kind': 'twohot', 'n_bins': 21})
    """
    if isinstance(spec, Law):
        return spec.name, {k: v for k, v in spec.options().items() if v is not None}
    if isinstance(spec, tuple):
        return spec[0], dict(spec[1])
    name, _, rest = str(spec).strip().partition(":")
    opts: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise LosslabError(f"law option {item!r} in {spec!r} is not of the form key=value")
        try:
            opts[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            opts[key.strip()] = value.strip()
    return name.strip(), opts


def law_label(name: str, opts: dict[str, Any]) -> str:
    """The display name of a law with options: ``binned(kind=twohot)``."""
    return name if not opts else f"{name}({', '.join(f'{k}={v}' for k, v in sorted(opts.items()))})"


def _fingerprint(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha1()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _key(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------- config
@dataclass
class CompareConfig:
    laws: list[tuple[str, dict[str, Any]]]
    seeds: list[int]
    model: str = "auto"
    primary_metric: str = "mean_squared_error"
    train: TrainConfig = field(default_factory=TrainConfig)
    split_seed: int = 0
    val: float = 0.15
    test: float = 0.2
    device: str = "cpu"
    standardize: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "laws": [list(x) for x in self.laws],
            "seeds": list(self.seeds),
            "model": self.model,
            "primary_metric": self.primary_metric,
            "train": self.train.as_dict(),
            "split_seed": self.split_seed,
            "val": self.val,
            "test": self.test,
            "device": self.device,
            "standardize": self.standardize,
        }


# ---------------------------------------------------------------------------- data prep
def _as_dataset(data: Any, **read_kwargs: Any):
    from .. import data as lldata

    if isinstance(data, lldata.Dataset):
        return data
    if isinstance(data, tuple) and len(data) in (2, 3):
        return lldata.from_arrays(*data[:2], trials=data[2] if len(data) == 3 else None)
    return lldata.load(data, **read_kwargs)


def _split_tensors(ds, idx: dict[str, np.ndarray], device: torch.device, standardize: bool) -> dict[str, Split]:
    X = ds.X.astype(np.float32, copy=False)
    if standardize and ds.kind == "table":
        mu = X[idx["train"]].mean(axis=0)
        sd = X[idx["train"]].std(axis=0)
        sd = np.where(sd > 1e-8, sd, 1.0)
        X = (X - mu) / sd
    out = {}
    for part, rows in idx.items():
        out[part] = Split(
            # Images are kept channels-last, the order the CNN trunks convert a batch to on the CPU:
            # a minibatch gathered from them keeps that order, so there is no conversion per step.
            channels_last(torch.as_tensor(X[rows], device=device)),
            torch.as_tensor(ds.y[rows], dtype=torch.float32, device=device),
            None if ds.trials is None else torch.as_tensor(ds.trials[rows], dtype=torch.float32, device=device),
        )
    return out


def _law_for_data(name: str, opts: dict[str, Any], y: np.ndarray) -> Law:
    """Instantiate a law, filling data-dependent defaults (a binned law's range, an mvn's dim)."""
    opts = dict(opts)
    if name == "binned" and "low" not in opts and "high" not in opts:
        lo, hi = float(np.min(y)), float(np.max(y))
        if lo < 0.0 or hi > 1.0:
            pad = 0.05 * (hi - lo if hi > lo else 1.0)
            opts.update(low=lo - pad, high=hi + pad)
    if name == "mvn" and "dim" not in opts and y.ndim == 2:
        opts["dim"] = int(y.shape[1])
    return get_law(name, **opts)


def _n_targets(law: Law, y: np.ndarray) -> int:
    if law.event_dim:
        return 1
    return 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_run(model, law: Law, test: Split) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics of a trained model on the test split, and the arrays kept for reports and ensembles."""
    from .. import metrics as llmetrics

    model.eval()
    raw = model(test.X)
    params = law.link(raw)
    res = llmetrics.evaluate(law, params, test.y, trials=test.trials)
    reasons = res.pop("reasons", {}) if isinstance(res, dict) else {}
    metrics = {k: (float(v) if v is not None and _is_number(v) else None) for k, v in res.items() if not isinstance(v, dict)}
    metrics["reasons"] = reasons
    if "per_output" in res:  # multi-output labels: each metric per output, besides their mean above
        metrics["per_output"] = res["per_output"]
    arrays = {
        "y_true": test.y.float().cpu().numpy(),
        "y_pred": law.point(params, "mean").float().cpu().numpy(),
        "raw": raw.float().cpu().numpy(),
    }
    try:
        pit = llmetrics.pit(law.predictive(params, trials=test.trials) if law.needs_trials else law.predictive(params), test.y)
        arrays["pit"] = np.asarray(pit.cpu().numpy() if torch.is_tensor(pit) else pit, dtype=np.float32)
    except Exception:  # noqa: BLE001 - PIT does not apply to every law (no cdf, no density); the metrics say why
        pass
    return metrics, arrays


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------- the result
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
        _check_comparable(metric, {law_label(n, o): law_class(n).likelihood for n, o in self.config.laws})
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
        from ..report.write import fixed_spread_laws

        fixed = fixed_spread_laws(self).get(best)
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
            law_obj = _law_for_data(*self._law_spec(law), self._test["train_y"])
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

    def _law_spec(self, label: str) -> tuple[str, dict]:
        for name, opts in self.config.laws:
            if law_label(name, opts) == label:
                return name, opts
        raise KeyError(label)


# ---------------------------------------------------------------------------- the grid
def compare(
    data: Any = "digits-inpaint",
    *,
    laws: Sequence[LawSpec] | None = None,
    model: str | Callable = "auto",
    seeds: int | Sequence[int] = 5,
    primary_metric: str = "mean_squared_error",
    store: str | Store | None = None,
    epochs: int = 200,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    patience: int = 20,
    optimizer: str = "adam",
    device: str = "auto",
    replicas: bool | str = "auto",
    workers: int | str = 1,
    split_seed: int = 0,
    val: float = 0.15,
    test: float = 0.2,
    progress: Progress | None = None,
    **read_kwargs: Any,
) -> ComparisonResult:
    """Train ``model`` under each law and seed on ``data``; evaluate on held-out data; keep every run.

    Args:
        data: a :class:`losslab.data.Dataset`, a registry name (``"digits-inpaint"``), a path
            (CSV, Parquet, npz, image folder; ``target=`` etc. go through ``read_kwargs``) or ``(X, y[, trials])``.
        laws: law names, ``"name:opt=value,..."`` strings, ``(name, options)`` pairs or Law objects;
            by default the laws suggested by :func:`losslab.inspect` for these labels.
        model: ``"auto"``, ``"mlp"``, ``"cnn"``, ``"cnn-small"``, ``"linear"`` or a factory ``f(input_shape) -> nn.Module``.
        seeds: a number of seeds (0..n-1) or the seeds themselves.
        primary_metric: the metric the recommendation ranks by.
        store: a SQLite path (finished runs are written at once and skipped when re-run) or a :class:`Store`.
        device: ``"auto"`` (CUDA, then Apple MPS, then the CPU), or a torch device name.
        replicas: train the seeds of each law as one batched model (``True``), one at a time
            (``False``), the seeds of all laws whose heads have one shape as one batched model
            (``"laws"``: bernoulli, sigmoid-mse and continuous-bernoulli have one raw output per
            target), or where that measured faster (``"auto"``: ``"laws"`` on a GPU, whose tiny-model
            steps are launch-bound; on the CPU the seeds of a law for MLPs and linear models, where
            batched matrix products beat one model at a time; there, grouping laws as well measured
            no faster). Each replica's gradient and Adam step are its own, so on the CPU the numbers
            agree in every mode to rounding, and stored runs are shared between the modes. On a GPU the
            batched products round differently, and a run whose validation loss was nearly tied
            between two epochs may keep the other (``docs/performance.md``, GPU).
        workers: train the laws side by side in this many processes on the CPU, each with its
            share of the cores as torch threads (``"auto"``, when there are several jobs: one per
            physical core for CNN runs trained one at a time on the CPU, in a grid big enough to repay
            the workers' start, ``_pool.MIN_CNN_WORK``; else one per two logical CPUs). A worker takes
            a law's batched seeds together, and seeds that train one at a time one by one. Each run's
            numbers equal those of one process up to the
            floating-point order of its matrix products; the parent writes every run to the
            store as its job finishes. Processes are spawned, so a script using ``workers > 1``
            needs an ``if __name__ == "__main__":`` guard; the ``losslab`` command has one.
        progress: a callable receiving event dicts (``grid``, ``run_start``, ``epoch``, ``run_end``).
    """
    from .. import data as lldata

    ds = _as_dataset(data, **read_kwargs)
    if len(ds) < 3:
        raise LosslabError(f"data {ds.name!r} has {len(ds)} row(s); a comparison needs at least 3 (train, validation, test)")
    report = lldata.inspect(ds.y, trials=ds.trials)
    if laws is None:
        laws = lldata.default_laws(report)
    specs = [parse_law_spec(s) for s in laws]
    if not specs:
        raise LosslabError("laws is empty; name at least one law")
    labels = [law_label(n, o) for n, o in specs]
    if len(set(labels)) != len(labels):
        raise LosslabError(f"laws lists a law twice: {labels}")
    # Build each law once up front: bad names, options and label supports fail before any training.
    law_objs = {lab: _law_for_data(n, o, ds.y) for lab, (n, o) in zip(labels, specs)}
    misfits: dict[str, str] = {}
    for lab, law in law_objs.items():
        if law.needs_trials and ds.trials is None:
            raise LosslabError(f"law {lab!r} needs trials (counts n of k/n labels), and data {ds.name!r} has none; pass trials=")
        try:
            law.check_labels(ds.y, trials=ds.trials)
        except LosslabError as exc:
            misfits[lab] = str(exc)
    if len(misfits) == 1:
        raise LosslabError(next(iter(misfits.values())))
    if misfits:
        first, *others = misfits
        scope = "no chosen law admits these labels" if len(misfits) == len(law_objs) else f"{len(misfits)} chosen laws refuse these labels"
        raise LosslabError(
            f"{misfits[first]}; {', '.join(others)} too: {scope}; laws whose support fits: {', '.join(report.suggested_laws) or 'none registered'}"
        )
    seed_list = _seed_list(seeds)
    _check_metric(primary_metric)
    _check_comparable(primary_metric, {lab: law.likelihood for lab, law in law_objs.items()})
    # The model actually trained ("auto" resolved), so the store and the report name it.
    model_name = resolve_model(model, ds.X.shape[1:]) if isinstance(model, str) else getattr(model, "__name__", "custom")
    dev = resolve_device(device)
    cfg = CompareConfig(
        laws=specs,
        seeds=seed_list,
        model=model_name,
        primary_metric=primary_metric,
        train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience, optimizer=optimizer),
        split_seed=split_seed,
        val=val,
        test=test,
        device=str(dev),
    )
    data_key = _fingerprint(ds.X, ds.y, ds.trials)
    comp_cfg = {k: v for k, v in cfg.as_dict().items() if k not in ("laws", "seeds", "device")}
    comparison = _key({"data": data_key, "config": comp_cfg, "version": __version__.split(".")[0]})
    if store is not None and not isinstance(store, Store):
        from .preflight import check_store_path

        check_store_path(store)
    st = store if isinstance(store, Store) else Store(store if store is not None else ":memory:")
    trained_with = versions()
    st.put_comparison(
        comparison,
        {
            **cfg.as_dict(),
            "data": {
                "name": ds.name,
                "fingerprint": data_key,
                "n": len(ds),
                "kind": ds.kind,
                "target_names": _jsonable(list(ds.target_names or [])),
                "feature_names": _jsonable(list(ds.feature_names or [])),
                "meta": _jsonable(ds.meta),
            },
            "labels": _jsonable(report.to_dict()),
            "versions": trained_with,
        },
    )
    fixed_split = ds.splits is not None and len(ds.splits) > 1
    batched = _use_replicas(replicas, model, ds.X.shape[1:], dev, cfg.train, fixed_split, len(seed_list))
    total = len(seed_list) * len(labels)
    # Seeds that train one at a time go to the workers one by one (30 jobs balance two workers better than 6);
    # batched seeds go together, a law at a time.
    per_seed = fixed_split or not batched
    cnn_runs = not batched and isinstance(model, str) and _pool.spread_cnn_runs(
        resolve_model(model, ds.X.shape[1:]), ds.X.shape[1:], len(ds), cfg.train.epochs, total
    )
    n_workers = _pool.resolve_workers(workers, n_jobs=total if per_seed else len(labels), device=dev, model=model, cnn_runs=cnn_runs)
    if progress:
        progress({"event": "grid", "total": total, "laws": labels, "seeds": seed_list, "replicas": batched, "workers": n_workers})
    runs: list[dict] = []
    test_cache: dict[str, Any] = {}
    done = 0

    split_cache: dict[int, dict[str, Split]] = {}

    def split_for(seed: int) -> dict[str, Split]:
        if seed not in split_cache:
            split_cache.clear()  # fixed splits are visited seed by seed: keep one on the device
            split_cache[seed] = _make_split(seed)
        return split_cache[seed]

    def _make_split(seed: int) -> dict[str, Split]:
        idx = ds.split(seed if fixed_split else split_seed, val=val, test=test)
        if "val" not in idx or len(idx["val"]) == 0:
            raise LosslabError(f"data {ds.name!r}: the split for seed {seed} has no validation rows")
        if not fixed_split and not test_cache:
            test_cache.update(
                test_y=ds.y[idx["test"]], test_trials=None if ds.trials is None else ds.trials[idx["test"]], train_y=ds.y
            )
        return _split_tensors(ds, idx, dev, cfg.standardize)

    def finished(stored: dict, cached: bool) -> None:
        nonlocal done
        runs.append(stored)
        done += 1
        if progress:
            progress(
                {"event": "run_end", "law": stored["law"], "seed": stored["seed"], "status": stored["status"], "cached": cached, "done": done, "total": total}
            )

    # A shared split (the default): laws outer, and the seeds of one law train together as
    # replicas when that pays. Fixed per-seed splits (UCI): one split per seed, runs one by one.
    shared = None if fixed_split else split_for(split_seed)
    order = [(label, [s]) for s in seed_list for label in labels] if fixed_split else [(label, seed_list) for label in labels]
    jobs = []
    together: list[tuple[str, Law, list[int], dict]] | None = [] if batched == "laws" and shared is not None and n_workers == 1 else None
    for label, group in order:
        name, opts = specs[labels.index(label)]
        law = law_objs[label]
        keys = {s: _key({"comparison": comparison, "law": [name, opts], "seed": s}) for s in group}
        todo = []
        for s in group:
            stored = st.get_run(keys[s])
            if stored is None:
                todo.append(s)
            else:
                finished(stored, True)
        if not todo:
            continue
        if n_workers > 1:
            for part in ([[s] for s in todo] if per_seed else [todo]):
                jobs.append({"label": label, "law": law, "seeds": part, "keys": {s: keys[s] for s in part}, "batched": batched})
            continue
        if together is not None:  # trained below, with the other laws of its head's shape
            together.append((label, law, todo, keys))
            continue
        tensors = shared if shared is not None else split_for(todo[0])
        for stored in _train_law(ds, tensors, law, label, todo, cfg, model, comparison, keys, st, progress, batched, done=done, total=total):
            finished(stored, False)
    for stored in _train_laws_together(ds, shared, together or [], cfg, model, comparison, st, progress, done, total):
        finished(stored, False)
    if jobs:
        context = {"ds": ds, "cfg": cfg, "model": model, "comparison": comparison, "fixed_split": fixed_split}
        for rec in _pool.run_jobs(jobs, context, n_workers, progress):
            _save(st, rec)
            finished(rec, False)
    if jobs or together:  # runs finished out of the grid's order: put them back in it
        place = {(label, s): i for i, (label, group) in enumerate(order) for s in group}
        runs.sort(key=lambda r: (place[(r["law"], r["seed"])], r["seed"]))
    meta = {"name": ds.name, "n": len(ds), "kind": ds.kind, **_jsonable(ds.meta)}
    meta.update({k: _jsonable(list(v)) for k, v in (("target_names", ds.target_names), ("feature_names", ds.feature_names)) if v})
    result = ComparisonResult(runs, cfg, data_meta=meta, labels=report, store=st, versions=trained_with)
    result._test = test_cache
    return result


def _check_comparable(metric: str, kinds: dict[str, str]) -> None:
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


def _seed_list(seeds: Any) -> list[int]:
    """``5`` -> ``[0, 1, 2, 3, 4]``; a list of integer seeds as given."""
    bad = LosslabError(f"seeds={seeds!r}; expected a positive number of seeds or a non-empty list of integers")
    if isinstance(seeds, (bool, np.bool_)):
        raise bad
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise bad
        return list(range(int(seeds)))
    try:
        out = list(seeds)
    except TypeError:
        raise bad from None
    if not out or any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) for s in out):
        raise bad
    if len(set(out)) != len(out):
        raise LosslabError(f"seeds={seeds!r} lists a seed twice")
    return [int(s) for s in out]


def _check_metric(metric: str) -> None:
    """A metric :func:`losslab.metrics.evaluate` computes (or ``val_nll``), ranked one way or the other."""
    from ..metrics.evaluate import EVALUATED_METRICS
    from .._errors import close_matches

    known = (*EVALUATED_METRICS, "val_nll")
    if metric not in known:
        raise LosslabError(f"primary_metric={metric!r} is not a metric losslab computes{close_matches(metric, known)}; expected one of {', '.join(known)}")
    if metric in NOT_RANKED:
        raise LosslabError(f"primary_metric={metric!r} is not ranked (a coverage is good near its nominal level); choose another")


def _use_replicas(replicas: bool | str, model, input_shape, dev: torch.device, train_cfg: TrainConfig, fixed_split: bool, n_seeds: int) -> bool | str:
    """Whether the seeds of a law train as one batched model (``True``), and with other laws' (``"laws"``).

    ``"auto"``: on a GPU always, with the laws of one head shape together (tiny models leave it
    idle: on an H200, 4.5x faster than one model at a time for the digits-inpaint MLPs and 3.7x
    for the retinamnist CNNs, ``benchmarks/modes.py``); on the CPU the seeds of a law for MLPs
    and linear models, where batched matrix products beat one model at a time, but not for CNNs,
    whose batched (grouped) convolutions measured slower than one by one on a CPU; grouping laws
    on the CPU measured no faster (``benchmarks/steps.py --grid``).
    """
    if replicas not in (True, False, "auto", "laws"):
        raise LosslabError(f"replicas={replicas!r}; expected True, False, 'auto' or 'laws'")
    possible = train_cfg.optimizer == "adam" and not fixed_split and n_seeds > 1
    if replicas in (True, "laws") and not possible:
        if train_cfg.optimizer != "adam":
            why = "optimizer='lbfgs' trains one model at a time"
        elif fixed_split:
            why = "each seed has its own split"
        else:
            why = f"there is only {n_seeds} seed to batch"
        raise LosslabError(f"replicas={replicas!r} cannot apply here: {why}; use replicas='auto'")
    if replicas is False or not possible:
        return False
    if replicas is True or replicas == "laws":
        return replicas
    if dev.type != "cpu":
        return "laws"
    return isinstance(model, str) and resolve_model(model, input_shape) in ("mlp", "linear")


def _new_model(ds, tensors, law: Law, seed: int, model, like: LawModel | None = None) -> LawModel:
    """The model for ``seed``, its head's bias set to the law's fit to the training labels.

    That fit depends on the labels alone, so a model built ``like`` an earlier one of the
    same law copies its bias instead of fitting again (a fit per target, which for the 32 targets of
    digits-inpaint took about 0.8 s of its grid under cProfile).
    """
    m = build_model(model, ds.X.shape[1:], law, n_targets=_n_targets(law, ds.y), seed=seed)
    tr = tensors["train"]
    if like is None:
        m.head.init_bias(tr.y.cpu(), None if tr.trials is None else tr.trials.cpu())
    else:
        m.head.copy_bias(like.head)
    return m.to(tr.X.device)


def _new_models(ds, tensors, law: Law, seeds: list[int], model) -> list[LawModel]:
    out: list[LawModel] = []
    for s in seeds:
        out.append(_new_model(ds, tensors, law, s, model, like=out[0] if out else None))
    return out


def _train_law(ds, tensors, law: Law, label: str, seeds: list[int], cfg: CompareConfig, model, comparison: str, keys: dict, st: Store | None,
               progress, batched: bool, models: list[LawModel] | None = None, **event: Any) -> Iterator[dict]:
    """One law's pending ``seeds``: together as replicas when ``batched``, else one by one; yields each run's record.

    Every progress event names the law (laws may train side by side, in workers); ``event``
    adds fields to the ``run_start`` events. ``models`` (batched only) are the seeds' models, already built.
    """
    tagged = (lambda ev: progress({"law": label, **ev})) if progress else None
    if tagged:
        for s in seeds:
            tagged({"event": "run_start", "seed": s, **event, "replicas": len(seeds) if batched else 1})
    if batched and len(seeds) > 1:
        yield from _run_group(ds, tensors, law, label, seeds, cfg, model, comparison, keys, st, tagged, models)
    else:
        for s in seeds:
            yield _run_one(ds, tensors, law, label, s, cfg, model, comparison, keys[s], st, tagged)


def _run_one(ds, tensors, law: Law, label: str, seed: int, cfg: CompareConfig, model, comparison: str, key: str, st: Store, progress) -> dict:
    m = _new_model(ds, tensors, law, seed, model)
    t0 = time.perf_counter()
    # Epoch events name their seed: two seeds of one law may train at once, in two workers.
    seeded = (lambda ev: progress({**ev, "seed": seed})) if progress else None
    res = train(m, tensors["train"], tensors["val"], cfg.train, seed=seed, progress=seeded)
    return _record(m, res, tensors, law, label, seed, cfg, comparison, key, st, time.perf_counter() - t0)


def _run_group(ds, tensors, law: Law, label: str, seeds: list[int], cfg: CompareConfig, model, comparison: str, keys: dict, st: Store, progress,
               models: list[LawModel] | None = None) -> list[dict]:
    """All ``seeds`` of one law trained as replicas of one batched model; each run is then recorded on its own."""
    models = models if models is not None else _new_models(ds, tensors, law, seeds, model)
    if not can_batch(models):
        return [_run_one(ds, tensors, law, label, s, cfg, model, comparison, keys[s], st, progress) for s in seeds]
    t0 = time.perf_counter()
    results = train_replicas(models, tensors["train"], tensors["val"], cfg.train, seeds=seeds, progress=progress)
    train_seconds = (time.perf_counter() - t0) / len(seeds)
    return [
        _record(m, res, tensors, law, label, s, cfg, comparison, keys[s], st, train_seconds, replicas=len(seeds))
        for m, res, s in zip(models, results, seeds)
    ]


def _train_laws_together(ds, tensors, pending: list[tuple[str, Law, list[int], dict]], cfg: CompareConfig, model, comparison: str, st: Store,
                         progress, done: int, total: int) -> Iterator[dict]:
    """The pending ``(label, law, seeds, keys)``: the laws whose models share one structure (equal head
    shapes) train as replicas of one batched model, each law alone otherwise; yields each run's record."""
    groups: list[list[tuple[str, Law, list[int], dict, list[LawModel]]]] = []
    alone: list[list] = []  # laws whose own seeds cannot batch (a custom model): trained by _train_law, one by one
    for label, law, seeds, keys in pending:
        models = _new_models(ds, tensors, law, seeds, model)
        if len(models) > 1 and not can_batch(models):
            alone.append([(label, law, seeds, keys, models)])
            continue
        home = next((g for g in groups if can_batch([g[0][4][0], models[0]])), None)
        if home is None:
            groups.append([(label, law, seeds, keys, models)])
        else:
            home.append((label, law, seeds, keys, models))
    groups += alone
    for group in groups:
        if len(group) == 1:
            label, law, seeds, keys, models = group[0]
            yield from _train_law(ds, tensors, law, label, seeds, cfg, model, comparison, keys, st, progress, True, done=done, total=total, models=models)
            continue
        replicas = sum(len(g[2]) for g in group)
        if progress:
            for label, _, seeds, _, _ in group:
                for s in seeds:
                    progress({"event": "run_start", "law": label, "seed": s, "done": done, "total": total, "replicas": len(seeds), "group": replicas})
        flat = [(label, law, s, keys[s], m) for label, law, seeds, keys, models in group for s, m in zip(seeds, models)]
        models = [m for *_, m in flat]
        t0 = time.perf_counter()
        results = train_replicas(
            models, tensors["train"], tensors["val"], cfg.train, seeds=[f[2] for f in flat], progress=progress, labels=[f[0] for f in flat]
        )
        train_seconds = (time.perf_counter() - t0) / len(flat)
        for (label, law, s, key, m), res in zip(flat, results):
            yield _record(m, res, tensors, law, label, s, cfg, comparison, key, st, train_seconds, replicas=replicas)


def _record(m, res, tensors, law: Law, label: str, seed: int, cfg: CompareConfig, comparison: str, key: str, st: Store, seconds: float, replicas: int = 1) -> dict:
    """Evaluate a trained model on the test split and write its run to the store at once."""
    t0 = time.perf_counter()
    history = {**res.history, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "diverged_epoch": res.diverged_epoch}
    if res.status == "ok":
        metrics, arrays = evaluate_run(m, law, tensors["test"])
        metrics["val_nll"] = min(res.history["val"]) if res.history["val"] else None
    else:
        metrics, arrays = {"reasons": {"all": f"diverged at epoch {res.diverged_epoch}"}}, {}
    seconds += time.perf_counter() - t0
    run_cfg = {"law": [law.name, law.options()], "label": label, "seed": seed, "model": cfg.model, "train": cfg.train.as_dict(), "replicas": replicas}
    rec = {
        "key": key,
        "comparison": comparison,
        "law": label,
        "seed": seed,
        "status": res.status,
        "config": run_cfg,
        "metrics": metrics,
        "history": history,
        "seconds": seconds,
        "arrays": arrays,
    }
    if st is not None:  # a worker process returns the record to the parent, which writes it
        _save(st, rec)
    return rec


def _save(st: Store, rec: dict) -> None:
    st.put_run(rec["key"], **{k: rec[k] for k in ("comparison", "law", "seed", "status", "config", "metrics", "history", "arrays", "seconds")})


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


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def versions() -> dict[str, str]:
    import numpy
    import scipy

    return {
        "losslab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }
