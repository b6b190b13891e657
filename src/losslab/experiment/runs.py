"""The runs of one law: build the models, train them (together as replicas or one by one), evaluate, record.

Used by the grid in :func:`losslab.compare` and, unchanged, by the worker processes of
:mod:`.workers`; both pass the comparison's :class:`~.plan.RunPlan`. A run's record is
written to the plan's store the moment it is evaluated (a worker's plan has no store: the
parent writes what the worker returns).
"""

from __future__ import annotations

import math
import time
from typing import Any, Collection, Iterator

import numpy as np
import torch

from .._errors import LosslabError
from ..laws import Law
from ..laws.spec import n_targets
from ..models import LawModel, build_model, channels_last
from ..data.features import feature_scale, standardize
from ..data.streaming import StreamingDataset
from .plan import RunPlan
from .model_file import run_arrays, run_spec
from .store import Store
from .streamed import stream_splits
from .trainer import Split, can_batch, train, train_replicas


# ---------------------------------------------------------------------------- splits
def split_tensors(plan: RunPlan, idx: dict[str, np.ndarray]) -> dict[str, Split]:
    """The rows ``idx`` of each part as tensors on the plan's device; table features standardised on the training rows."""
    ds = plan.data
    if isinstance(ds, StreamingDataset):  # features read on demand, one batch at a time
        return stream_splits(plan, idx)
    X = ds.X.astype(np.float32, copy=False)
    scaling = feature_scaling(plan, X, idx["train"])
    if scaling is not None:
        X = standardize(X, *scaling)
    out = {}
    for part, rows in idx.items():
        out[part] = Split(
            # Images are kept channels-last, the order the CNN trunks convert a batch to on the CPU:
            # a minibatch gathered from them keeps that order, so there is no conversion per step.
            channels_last(torch.as_tensor(X[rows], device=plan.device)),
            torch.as_tensor(ds.y[rows], dtype=torch.float32, device=plan.device),
            None if ds.trials is None else torch.as_tensor(ds.trials[rows], dtype=torch.float32, device=plan.device),
        )
    return out


def feature_scaling(plan: RunPlan, X: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The training rows' mean and standard deviation of each table feature (1 for a constant one); None for images.

    :func:`losslab.data.features.feature_scale`, the Regressor's standardiser and floor.

    One function for training (:func:`split_tensors`) and for the predictor a run keeps
    (:func:`record`), so new inputs are mapped exactly as the training rows were.
    """
    if not (plan.config.standardize and plan.data.kind == "table"):
        return None
    return feature_scale(X[train_rows])


def split_indices(plan: RunPlan, seed: int) -> dict[str, np.ndarray]:
    """Row indices of the split run ``seed`` trains on; it must have validation rows (early stopping)."""
    cfg = plan.config
    idx = plan.data.split(plan.split_seed(seed), val=cfg.val, test=cfg.test)
    if "val" not in idx or len(idx["val"]) == 0:
        raise LosslabError(f"data {plan.data.name!r}: the split for seed {seed} has no validation rows")
    return idx


def make_split(plan: RunPlan, seed: int) -> dict[str, Split]:
    """The tensors of the split run ``seed`` trains on."""
    return split_tensors(plan, split_indices(plan, seed))


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_run(model, law: Law, test: Split) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics of a trained model on the test split, and the arrays kept for reports and ensembles."""
    from .. import metrics as llmetrics

    model.eval()
    raw = test.outputs(model)
    params = law.link(raw)
    point = llmetrics.point_kind(law)
    _check_predictions(law, raw, params, point)
    res = llmetrics.evaluate(law, params, test.y, trials=test.trials, point=point, per_row=True)
    reasons = res.pop("reasons", {}) if isinstance(res, dict) else {}
    point = res.pop("point", point)
    metrics = {k: (float(v) if v is not None and _is_number(v) else None) for k, v in res.items() if not isinstance(v, dict)}
    metrics["reasons"] = reasons
    metrics["point"] = point  # the point prediction the point metrics scored: the mean, or the median of a law without one
    if "per_output" in res:  # multi-output labels: each metric per output, besides their mean above
        metrics["per_output"] = res["per_output"]
    arrays = {
        "y_true": test.y.float().cpu().numpy(),
        "y_pred": law.point(params, point).float().cpu().numpy(),
        "raw": raw.float().cpu().numpy(),
    }
    try:
        pit = llmetrics.pit(law.predictive(params, trials=test.trials) if law.needs_trials else law.predictive(params), test.y)
        arrays["pit"] = np.asarray(pit.cpu().numpy() if torch.is_tensor(pit) else pit, dtype=np.float32)
    except Exception:  # noqa: BLE001 - PIT does not apply to every law (no cdf, no density); the metrics say why
        pass
    # Each row's term of the metrics that are a mean over rows: the bootstrap over test rows resamples them.
    arrays.update({f"row_{k}": v for k, v in res.get("per_row", {}).items()})
    return metrics, arrays


class NonFinitePredictions(LosslabError):
    """A trained model's raw outputs, parameters or point predictions on the test rows are not all finite."""


def _check_predictions(law: Law, raw: torch.Tensor, params: dict[str, torch.Tensor], point: str) -> None:
    """Raise :class:`NonFinitePredictions` naming what is not finite; the run is then recorded as diverged."""
    parts = {"raw outputs": raw, **{f"parameter {k!r}": v for k, v in params.items()}, f"{point} prediction": law.point(params, point)}
    for what, v in parts.items():
        bad = ~torch.isfinite(v)
        if bool(bad.any()):
            raise NonFinitePredictions(
                f"{int(bad.sum())} of the {v.numel()} values of its {what} on the test rows are not finite "
                f"(the weights it kept gave a finite validation loss, but these overflow)"
            )


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------- models
def new_model(plan: RunPlan, tensors: dict[str, Split], law: Law, seed: int, like: LawModel | None = None) -> LawModel:
    """The model for ``seed``, its head's bias set to the law's fit to the training labels.

    That fit depends on the labels alone, so a model built ``like`` an earlier one of the
    same law copies its bias instead of fitting again (a fit per target, which for the 32 targets of
    digits-inpaint took about 0.8 s of its grid under cProfile).
    """
    m = build_model(plan.model, plan.input_shape, law, n_targets=n_targets(law, plan.data.y), seed=seed)
    tr = tensors["train"]
    if like is None:
        m.head.init_bias(tr.y.cpu(), None if tr.trials is None else tr.trials.cpu())
    else:
        m.head.copy_bias(like.head)
    return m.to(tr.device)


def new_models(plan: RunPlan, tensors: dict[str, Split], law: Law, seeds: list[int]) -> list[LawModel]:
    out: list[LawModel] = []
    for s in seeds:
        out.append(new_model(plan, tensors, law, s, like=out[0] if out else None))
    return out


# ---------------------------------------------------------------------------- training
def train_law(plan: RunPlan, tensors: dict[str, Split], label: str, seeds: list[int], progress, batched: bool,
              models: list[LawModel] | None = None, keep: Collection[int] | None = None, **event: Any) -> Iterator[dict]:
    """One law's ``seeds``: together as replicas when ``batched``, else one by one; yields the record of each seed in ``keep``.

    ``keep`` (default: all ``seeds``) are the seeds still to record. A batched law trains its whole
    batch even when some seeds are stored already (a resume after a kill): a replica's numbers are
    its own, but the batched kernels may round differently for another batch size (vmapped
    convolutions do), so only the same batch reproduces the stored seeds' companions bit for bit.
    Every progress event names the law (laws may train side by side, in workers); ``event``
    adds fields to the ``run_start`` events. ``models`` (batched only) are the seeds' models, already built.
    """
    keep = list(seeds) if keep is None else [s for s in seeds if s in set(keep)]
    tagged = (lambda ev: progress({"law": label, **ev})) if progress else None
    if tagged:
        for s in keep:
            tagged({"event": "run_start", "seed": s, **event, "replicas": len(seeds) if batched else 1})
    if batched:
        yield from _run_group(plan, tensors, label, seeds, tagged, models, keep)
    else:
        for s in keep:
            yield _run_one(plan, tensors, label, s, tagged)


def _run_one(plan: RunPlan, tensors: dict[str, Split], label: str, seed: int, progress) -> dict:
    law = plan.laws[label]
    m = new_model(plan, tensors, law, seed)
    t0 = time.perf_counter()
    # Epoch events name their seed: two seeds of one law may train at once, in two workers.
    seeded = (lambda ev: progress({**ev, "seed": seed})) if progress else None
    res = train(m, tensors["train"], tensors["val"], plan.config.train, seed=seed, progress=seeded)
    return record(plan, m, res, tensors, label, seed, time.perf_counter() - t0)


def _run_group(plan: RunPlan, tensors: dict[str, Split], label: str, seeds: list[int], progress,
               models: list[LawModel] | None = None, keep: Collection[int] | None = None) -> list[dict]:
    """All ``seeds`` of one law trained as replicas of one batched model; each seed of ``keep`` is then recorded on its own."""
    keep = set(seeds if keep is None else keep)
    models = models if models is not None else new_models(plan, tensors, plan.laws[label], seeds)
    if not can_batch(models):
        return [_run_one(plan, tensors, label, s, progress) for s in seeds if s in keep]
    t0 = time.perf_counter()
    results = train_replicas(models, tensors["train"], tensors["val"], plan.config.train, seeds=seeds, progress=progress)
    train_seconds = (time.perf_counter() - t0) / len(seeds)
    return [record(plan, m, res, tensors, label, s, train_seconds, replicas=len(seeds))
            for m, res, s in zip(models, results, seeds) if s in keep]


def train_laws_together(plan: RunPlan, tensors: dict[str, Split], pending: list[tuple[str, list[int], list[int]]], progress,
                        done: int, total: int) -> Iterator[dict]:
    """The pending ``(label, seeds, keep)``: the laws whose models share one structure (equal head
    shapes) train as replicas of one batched model, each law alone otherwise; yields the record of each
    seed in its law's ``keep`` (see :func:`train_law`)."""
    groups: list[list[tuple[str, list[int], list[LawModel]]]] = []
    alone: list[list] = []  # laws whose own seeds cannot batch (a custom model): trained by train_law, one by one
    keeps = {label: set(keep) for label, _, keep in pending}
    for label, seeds, _ in pending:
        models = new_models(plan, tensors, plan.laws[label], seeds)
        if len(models) > 1 and not can_batch(models):
            alone.append([(label, seeds, models)])
            continue
        home = next((g for g in groups if can_batch([g[0][2][0], models[0]])), None)
        if home is None:
            groups.append([(label, seeds, models)])
        else:
            home.append((label, seeds, models))
    groups += alone
    for group in groups:
        if len(group) == 1:
            label, seeds, models = group[0]
            yield from train_law(plan, tensors, label, seeds, progress, True, done=done, total=total, models=models, keep=keeps[label])
            continue
        replicas = sum(len(g[1]) for g in group)
        if progress:
            for label, seeds, _ in group:
                for s in seeds:
                    if s in keeps[label]:
                        progress({"event": "run_start", "law": label, "seed": s, "done": done, "total": total, "replicas": len(seeds), "group": replicas})
        flat = [(label, s, m) for label, seeds, models in group for s, m in zip(seeds, models)]
        models = [m for *_, m in flat]
        t0 = time.perf_counter()
        results = train_replicas(
            models, tensors["train"], tensors["val"], plan.config.train, seeds=[f[1] for f in flat], progress=progress, labels=[f[0] for f in flat]
        )
        train_seconds = (time.perf_counter() - t0) / len(flat)
        for (label, s, m), res in zip(flat, results):
            if s in keeps[label]:
                yield record(plan, m, res, tensors, label, s, train_seconds, replicas=replicas)


# ---------------------------------------------------------------------------- records
def record(plan: RunPlan, m: LawModel, res, tensors: dict[str, Split], label: str, seed: int, seconds: float, replicas: int = 1) -> dict:
    """Evaluate a trained model on the test split and write its run to the plan's store at once."""
    law = plan.laws[label]
    t0 = time.perf_counter()
    history = {**res.history, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "diverged_epoch": res.diverged_epoch}
    history["initial_val"] = res.initial_val
    if (label, seed) in plan.rungs:  # successive halving: the values at the rungs this law passed (experiment/halving.py)
        history["rungs"] = plan.rungs[(label, seed)]
    status = res.status
    if status == "ok":
        try:
            metrics, arrays = evaluate_run(m, law, tensors["test"])
        except NonFinitePredictions as exc:
            status, metrics, arrays = "diverged", {"reasons": {"all": f"diverged: {exc}"}}, {}
        else:
            metrics["val_nll"] = min(res.history["val"]) if res.history["val"] else None
            history["unstable"] = unstable(res.initial_val, metrics["val_nll"])
            # What ComparisonResult.best_model picks a law's seed by: the primary metric on the validation rows, never the test rows.
            history["val_metric"] = {"metric": plan.config.primary_metric, "value": validation_score(m, law, tensors["val"], plan.config.primary_metric, metrics["val_nll"])}
            arrays.update(kept_model(plan, m, tensors, seed))
    else:
        metrics, arrays = {"reasons": {"all": f"diverged at epoch {res.diverged_epoch}"}}, {}
    seconds += time.perf_counter() - t0
    cfg = plan.config
    run_cfg = {"law": [law.name, law.options()], "label": label, "seed": seed, "model": cfg.model, "train": cfg.train.as_dict(), "replicas": replicas}
    run_cfg["predictor"] = run_spec(plan, law, label)  # with the weights in its arrays, what Predictor.from_runs rebuilds the model from
    rec = {
        "key": plan.keys[(label, seed)],
        "comparison": plan.comparison,
        "law": label,
        "seed": seed,
        "status": status,
        "config": run_cfg,
        "metrics": metrics,
        "history": history,
        "seconds": seconds,
        "arrays": arrays,
    }
    if plan.store is not None:  # a worker process returns the record to the parent, which writes it
        save_run(plan.store, rec)
    return rec


#: nats per label by which a run's best validation NLL may exceed its NLL before training before it is flagged unstable
UNSTABLE_NATS = 1.0


def unstable(initial_val: float | None, best_val: float | None) -> bool:
    """Whether training made the model much worse than it started: the best validation NLL of the run exceeds the
    untrained model's by more than :data:`UNSTABLE_NATS` per label.

    The untrained model predicts about the law's fit to the training labels (its head's bias is that
    fit), so a run that never got back to it learned nothing usable: typically a learning rate too
    large, whose weights blew up to a finite but huge loss that no epoch undid.

    >>> unstable(1.4, 1.2), unstable(1.4, 2.9), unstable(None, 2.9)
    (False, True, False)
    """
    if initial_val is None or best_val is None or not math.isfinite(initial_val):
        return False
    return not best_val <= initial_val + UNSTABLE_NATS


def kept_model(plan: RunPlan, m: LawModel, tensors: dict[str, Split], seed: int) -> dict[str, np.ndarray]:
    """A finished run's arrays for its predictor: its best-epoch weights (``state/<name>``) and feature standardisation."""
    train = tensors["train"]
    if hasattr(train, "scale"):  # streamed data: the split holds the standardisation it applied
        return run_arrays(m, train.scale)
    X = plan.data.X.astype(np.float32, copy=False)
    return run_arrays(m, feature_scaling(plan, X, split_indices(plan, seed)["train"]))


@torch.no_grad()
def validation_score(m: LawModel, law: Law, val: Split, metric: str, val_nll: float | None) -> float | None:
    """``metric`` of a trained model on the validation rows (None where it does not apply to the law)."""
    from .. import metrics as llmetrics

    if metric == "val_nll":
        return val_nll
    m.eval()
    params = law.link(val.outputs(m) if hasattr(val, "outputs") else m(val.X))  # streamed data reads its rows in passes
    point = llmetrics.point_kind(law)
    if metric in ("mean_squared_error", "mean_absolute_error"):  # the defaults, without the rest of evaluate's metrics
        err = law.point(params, point).double() - val.y.double()
        return float(err.pow(2).mean() if metric == "mean_squared_error" else err.abs().mean())
    try:
        value = llmetrics.evaluate(law, params, val.y, trials=val.trials, point=point).get(metric)
    except LosslabError:  # a metric that does not apply here: best_model falls back to the validation NLL
        return None
    return float(value) if value is not None and _is_number(value) else None


def save_run(st: Store, rec: dict) -> None:
    """Write a run's record to the store (one transaction)."""
    st.put_run(rec["key"], **{k: rec[k] for k in ("comparison", "law", "seed", "status", "config", "metrics", "history", "arrays", "seconds")})
