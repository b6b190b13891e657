"""The runs of one law: build the models, train them (together as replicas or one by one), evaluate, record.

Used by the grid in :func:`losslab.compare` and, unchanged, by the worker processes of
:mod:`.workers`; both pass the comparison's :class:`~.plan.RunPlan`. A run's record is
written to the plan's store the moment it is evaluated (a worker's plan has no store: the
parent writes what the worker returns).
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import numpy as np
import torch

from .._errors import LosslabError
from ..laws import Law
from ..laws.spec import n_targets
from ..models import LawModel, build_model, channels_last
from .plan import RunPlan
from .store import Store
from .trainer import Split, can_batch, train, train_replicas


# ---------------------------------------------------------------------------- splits
def split_tensors(plan: RunPlan, idx: dict[str, np.ndarray]) -> dict[str, Split]:
    """The rows ``idx`` of each part as tensors on the plan's device; table features standardised on the training rows."""
    ds = plan.data
    X = ds.X.astype(np.float32, copy=False)
    if plan.config.standardize and ds.kind == "table":
        mu = X[idx["train"]].mean(axis=0)
        sd = X[idx["train"]].std(axis=0)
        sd = np.where(sd > 1e-8, sd, 1.0)
        X = (X - mu) / sd
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
    return m.to(tr.X.device)


def new_models(plan: RunPlan, tensors: dict[str, Split], law: Law, seeds: list[int]) -> list[LawModel]:
    out: list[LawModel] = []
    for s in seeds:
        out.append(new_model(plan, tensors, law, s, like=out[0] if out else None))
    return out


# ---------------------------------------------------------------------------- training
def train_law(plan: RunPlan, tensors: dict[str, Split], label: str, seeds: list[int], progress, batched: bool,
              models: list[LawModel] | None = None, **event: Any) -> Iterator[dict]:
    """One law's pending ``seeds``: together as replicas when ``batched``, else one by one; yields each run's record.

    Every progress event names the law (laws may train side by side, in workers); ``event``
    adds fields to the ``run_start`` events. ``models`` (batched only) are the seeds' models, already built.
    """
    tagged = (lambda ev: progress({"law": label, **ev})) if progress else None
    if tagged:
        for s in seeds:
            tagged({"event": "run_start", "seed": s, **event, "replicas": len(seeds) if batched else 1})
    if batched and len(seeds) > 1:
        yield from _run_group(plan, tensors, label, seeds, tagged, models)
    else:
        for s in seeds:
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
               models: list[LawModel] | None = None) -> list[dict]:
    """All ``seeds`` of one law trained as replicas of one batched model; each run is then recorded on its own."""
    models = models if models is not None else new_models(plan, tensors, plan.laws[label], seeds)
    if not can_batch(models):
        return [_run_one(plan, tensors, label, s, progress) for s in seeds]
    t0 = time.perf_counter()
    results = train_replicas(models, tensors["train"], tensors["val"], plan.config.train, seeds=seeds, progress=progress)
    train_seconds = (time.perf_counter() - t0) / len(seeds)
    return [record(plan, m, res, tensors, label, s, train_seconds, replicas=len(seeds)) for m, res, s in zip(models, results, seeds)]


def train_laws_together(plan: RunPlan, tensors: dict[str, Split], pending: list[tuple[str, list[int]]], progress,
                        done: int, total: int) -> Iterator[dict]:
    """The pending ``(label, seeds)``: the laws whose models share one structure (equal head
    shapes) train as replicas of one batched model, each law alone otherwise; yields each run's record."""
    groups: list[list[tuple[str, list[int], list[LawModel]]]] = []
    alone: list[list] = []  # laws whose own seeds cannot batch (a custom model): trained by train_law, one by one
    for label, seeds in pending:
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
            yield from train_law(plan, tensors, label, seeds, progress, True, done=done, total=total, models=models)
            continue
        replicas = sum(len(g[1]) for g in group)
        if progress:
            for label, seeds, _ in group:
                for s in seeds:
                    progress({"event": "run_start", "law": label, "seed": s, "done": done, "total": total, "replicas": len(seeds), "group": replicas})
        flat = [(label, s, m) for label, seeds, models in group for s, m in zip(seeds, models)]
        models = [m for *_, m in flat]
        t0 = time.perf_counter()
        results = train_replicas(
            models, tensors["train"], tensors["val"], plan.config.train, seeds=[f[1] for f in flat], progress=progress, labels=[f[0] for f in flat]
        )
        train_seconds = (time.perf_counter() - t0) / len(flat)
        for (label, s, m), res in zip(flat, results):
            yield record(plan, m, res, tensors, label, s, train_seconds, replicas=replicas)


# ---------------------------------------------------------------------------- records
def record(plan: RunPlan, m: LawModel, res, tensors: dict[str, Split], label: str, seed: int, seconds: float, replicas: int = 1) -> dict:
    """Evaluate a trained model on the test split and write its run to the plan's store at once."""
    law = plan.laws[label]
    t0 = time.perf_counter()
    history = {**res.history, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "diverged_epoch": res.diverged_epoch}
    if res.status == "ok":
        metrics, arrays = evaluate_run(m, law, tensors["test"])
        metrics["val_nll"] = min(res.history["val"]) if res.history["val"] else None
    else:
        metrics, arrays = {"reasons": {"all": f"diverged at epoch {res.diverged_epoch}"}}, {}
    seconds += time.perf_counter() - t0
    cfg = plan.config
    run_cfg = {"law": [law.name, law.options()], "label": label, "seed": seed, "model": cfg.model, "train": cfg.train.as_dict(), "replicas": replicas}
    rec = {
        "key": plan.keys[(label, seed)],
        "comparison": plan.comparison,
        "law": label,
        "seed": seed,
        "status": res.status,
        "config": run_cfg,
        "metrics": metrics,
        "history": history,
        "seconds": seconds,
        "arrays": arrays,
    }
    if plan.store is not None:  # a worker process returns the record to the parent, which writes it
        save_run(plan.store, rec)
    return rec


def save_run(st: Store, rec: dict) -> None:
    """Write a run's record to the store (one transaction)."""
    st.put_run(rec["key"], **{k: rec[k] for k in ("comparison", "law", "seed", "status", "config", "metrics", "history", "arrays", "seconds")})
