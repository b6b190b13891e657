"""The comparison grid: the same model trained under each law and several seeds, evaluated on held-out data.

Paired design: for one seed, every law gets the same split, the same initial
trunk weights and the same minibatch order, so differences between laws are
paired. By default the split is fixed across seeds (``split_seed``), so seeds
measure training randomness and the runs of one law form a deep ensemble;
data sets that come with fixed splits (the UCI sets) use split ``seed``.

Each finished run is written to the store at once; running the same
comparison again skips every stored run. The grid decides what to run
(a :class:`~.plan.RunPlan`); :mod:`.runs` trains and records, :mod:`.workers`
spreads runs over processes and :mod:`.result` turns the runs into tables.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .._errors import LosslabError, check_integer, check_number
from .._version import __version__
from ..laws import Law
from ..laws.spec import LawSpec, law_for_data, law_label, parse_law_spec
from ..data.registry import check_options
from ..data.streaming import is_torch_dataset
from ..models import resolve_model
from . import workers as workers_mod
from .plan import CompareConfig, RunPlan, data_meta, data_record, fingerprint, jsonable, key, versions
from .result import ComparisonResult, Recommendation, check_comparable, load_result
from .runs import evaluate_run, make_split, save_run, split_indices, train_law, train_laws_together
from .stats import NOT_RANKED
from .store import Store
from .streamed import check_options as check_streamed
from .trainer import Progress, Split, TrainConfig, resolve_device

__all__ = [
    "CompareConfig",
    "ComparisonResult",
    "LawSpec",
    "Recommendation",
    "compare",
    "evaluate_run",
    "law_label",
    "load_result",
    "parse_law_spec",
    "versions",
]


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
    halving: Any = None,
    optimizer: str = "adam",
    device: str = "auto",
    replicas: bool | str = "auto",
    workers: int | str = 1,
    split_seed: int = 0,
    val: float = 0.15,
    test: float = 0.2,
    cv: int | None = None,
    progress: Progress | None = None,
    **read_kwargs: Any,
) -> ComparisonResult:
    """Train ``model`` under each law and seed on ``data``; evaluate on held-out data; keep every run.

    Args:
        data: a :class:`losslab.data.Dataset`, a registry name (``"digits-inpaint"``), a path
            (CSV, Parquet, npz, image folder; ``target=`` etc. go through ``read_kwargs``) or ``(X, y[, trials])``.
            Streamed data, whose features are read in batches as training needs them (a map-style
            ``torch.utils.data.Dataset`` of ``(x, y[, trials])`` items, ``loader_workers=`` optional; an image
            folder with ``stream=True``; a :class:`losslab.data.StreamingDataset`), train one model at a
            time in this process and give the numbers of the same data in memory with ``replicas=False``
            (``losslab.experiment.streamed``).
        laws: law names, ``"name:opt=value,..."`` strings, ``(name, options)`` pairs or Law objects;
            by default the laws suggested by :func:`losslab.inspect` for these labels.
        model: ``"auto"``, ``"mlp"``, ``"cnn"``, ``"cnn-small"``, ``"linear"`` or a factory ``f(input_shape) -> nn.Module``.
        seeds: a number of seeds (0..n-1) or the seeds themselves.
        primary_metric: the metric the recommendation ranks by.
        store: a SQLite path (finished runs are written at once and skipped when re-run) or a :class:`Store`.
        halving: successive halving across laws, off by default (``losslab.experiment.halving``): ``10``
            (or ``{"rungs": [10], "alpha": 0.01}``, or ``True`` for those) first trains every law's seeds for
            10 epochs and stops each law whose validation ``primary_metric`` there is behind the leader's
            by a one-sided paired t-test over seeds (Bonferroni over the laws at ``alpha``); the other
            laws then train their whole runs as without halving. ``(5, 10)``: the laws left after
            epoch 5 are compared again at epoch 10. A stopped law's runs are stored with
            status ``"stopped"``, the epoch, the leader and the p-value, and no test numbers: it has no
            full-budget results, and the recommendation ranks the laws that ran. It changes what the
            comparison computes, so it is a comparison of its own in the store. Nothing is stopped
            with one law or one seed (the rung is then skipped).
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
            the workers' start, ``workers.MIN_CNN_WORK``; else one per two logical CPUs). A worker takes
            a law's batched seeds together, and seeds that train one at a time one by one. Each run's
            numbers equal those of one process up to the
            floating-point order of its matrix products; the parent writes every run to the
            store as its job finishes. Processes are spawned, so a script using ``workers > 1``
            needs an ``if __name__ == "__main__":`` guard; the ``losslab`` command has one.
            ``"ray"`` (or ``"ray:N"``, N CPUs per task; default 1) sends the same jobs to a Ray
            cluster as tasks (``pip install "losslab[ray]"``; ``ray.init()`` is called unless the
            script has called it, and honours ``RAY_ADDRESS``), puts the data in Ray's object
            store once, and writes every run to the store here, as its task returns; it trains on
            the CPU (``device="auto"`` means the CPU here), and a factory ``model`` is shipped by
            cloudpickle (``docs/scaling.md``).
        cv: k-fold cross-validation instead of one shared test split: the rows fall into ``cv`` folds
            (seeded by ``split_seed``) and run ``seed`` tests on fold ``seed % cv``, training on the others
            (its validation rows carved out of them, ``val``); ``test`` is then unused. The seeds must
            test every fold equally often (``seeds=cv`` or a multiple). Each run's test set is then its
            fold, so the metrics, intervals and paired tests cover every row once per pass over the folds.
        progress: a callable receiving event dicts (``grid``, ``run_start``, ``epoch``, ``run_end``).
    """
    from .. import data as lldata
    from .halving import resolve_halving

    halving = resolve_halving(halving)
    _check_arguments(primary_metric=primary_metric, split_seed=split_seed, val=val, test=test, store=store, progress=progress)
    ds = _as_dataset(data, **read_kwargs)
    if len(ds) < 3:
        raise LosslabError(f"data {ds.name!r} has {len(ds)} row(s); a comparison needs at least 3 (train, validation, test)")
    streamed = isinstance(ds, lldata.StreamingDataset)
    if streamed:  # features read on demand: one model at a time, in this process (experiment/streamed.py)
        check_streamed(replicas=replicas, workers=workers, optimizer=optimizer)
        replicas, workers = False, 1
    seed_list = _seed_list(seeds)
    if cv is not None:
        ds = _with_folds(ds, cv, seed_list, split_seed)
    report = lldata.inspect(ds.y, trials=ds.trials)
    if laws is None:
        laws = lldata.default_laws(report)
    specs = _law_specs(laws)
    if not specs:
        raise LosslabError("laws is empty; name at least one law")
    labels = [law_label(n, o) for n, o in specs]
    if len(set(labels)) != len(labels):
        raise LosslabError(f"laws lists a law twice: {labels}")
    # Build each law once up front: bad names, options and label supports fail before any training.
    law_objs = {lab: law_for_data(n, o, ds.y) for lab, (n, o) in zip(labels, specs)}
    _check_labels(ds, law_objs, report)
    _check_metric(primary_metric)
    check_comparable(primary_metric, {lab: law.likelihood for lab, law in law_objs.items()})
    input_shape = ds.sample_shape if streamed else tuple(int(d) for d in ds.X.shape[1:])
    # The model actually trained ("auto" resolved), so the store and the report name it.
    resolved = resolve_model(model, input_shape) if isinstance(model, str) else model
    # Ray tasks train on the cluster's CPUs, whatever this machine has.
    dev = resolve_device("cpu" if device == "auto" and workers_mod.ray_cpus(workers) else device)
    cfg = CompareConfig(
        laws=specs,
        seeds=seed_list,
        model=resolved if isinstance(resolved, str) else getattr(model, "__name__", "custom"),
        primary_metric=primary_metric,
        train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience, optimizer=optimizer),
        split_seed=split_seed,
        val=val,
        test=test,
        device=str(dev),
        cv=None if cv is None else int(cv),
        halving=None if halving is None else halving.as_dict(),
    )
    if halving is not None and halving.rungs[-1] >= cfg.train.epochs:
        raise LosslabError(
            f"halving rung {halving.rungs[-1]} is not before the epoch cap epochs={cfg.train.epochs}: the rung would train every run "
            "to the end; choose rungs of a few epochs (e.g. halving=10) or leave halving out"
        )
    fixed_split = ds.splits is not None and len(ds.splits) > 1
    batched = _use_replicas(replicas, resolved, dev, cfg.train, fixed_split, len(seed_list))
    data_key = ds.fingerprint if streamed else fingerprint(ds.X, ds.y, ds.trials)
    comp_cfg = {k: v for k, v in cfg.as_dict().items() if k not in ("laws", "seeds", "device")}
    # Seeds trained as a batch round differently from seeds trained one at a time (not in the numbers'
    # meaning, in their last bits): the two ways are two comparisons, so that neither reuses the other's runs.
    # Streamed data may split a forward pass that memory makes in one (experiment/streamed.py): their own comparison too.
    comparison = key({"data": data_key, "config": comp_cfg, "version": __version__.split(".")[0], "batched": bool(batched),
                      **({"streamed": True} if streamed else {})})
    if store is not None and not isinstance(store, Store):
        from .preflight import check_store_path

        check_store_path(store)
    st = store if isinstance(store, Store) else Store(store if store is not None else ":memory:")
    trained_with = versions()
    stored_data = data_record(ds, data_key)
    st.put_comparison(comparison, {**cfg.as_dict(), "data": stored_data, "labels": jsonable(report.to_dict()), "versions": trained_with})
    plan = RunPlan(
        data=ds,
        config=cfg,
        comparison=comparison,
        model=resolved,
        input_shape=input_shape,
        laws=law_objs,
        specs=dict(zip(labels, specs)),
        keys={(lab, s): key({"comparison": comparison, "law": [n, o], "seed": s}) for lab, (n, o) in zip(labels, specs) for s in seed_list},
        device=dev,
        fixed_split=fixed_split,
        replicas=batched,
        store=st,
        halving=halving if len(labels) > 1 and len(seed_list) > 1 else None,  # one law or one seed: nothing can be stopped
    )
    runs = _run_grid(plan, workers, progress)
    result = ComparisonResult(runs, cfg, data_meta=data_meta(stored_data), labels=report, store=st, versions=trained_with)
    result.model_factory = None if isinstance(resolved, str) else resolved  # best_model() rebuilds a custom model with it
    if not fixed_split:  # one test split shared by all seeds: the ensembles of ComparisonResult.ensemble score on it
        idx = split_indices(plan, seed_list[0])
        result._test = {"test_y": ds.y[idx["test"]], "test_trials": None if ds.trials is None else ds.trials[idx["test"]], "train_y": ds.y}
    return result


def _run_grid(plan: RunPlan, workers: int | str, progress: Progress | None) -> list[dict]:
    """Every run of the plan, from the store where finished before, else trained here or in workers; in grid order.

    A shared split (the default): laws outer, and the seeds of one law train together as
    replicas when that pays. Fixed per-seed splits (UCI): one split per seed, runs one by one.
    """
    labels, seed_list, batched = list(plan.laws), plan.config.seeds, plan.replicas
    st = plan.store
    total = len(seed_list) * len(labels)
    # Seeds that train one at a time go to the workers one by one (30 jobs balance two workers better than 6);
    # batched seeds go together, a law at a time.
    per_seed = plan.fixed_split or not batched
    cnn_runs = not batched and isinstance(plan.model, str) and workers_mod.spread_cnn_runs(
        plan.model, plan.input_shape, len(plan.data), plan.config.train.epochs, total
    )
    n_workers = workers_mod.resolve_workers(workers, n_jobs=total if per_seed else len(labels), device=plan.device, model=plan.model, cnn_runs=cnn_runs)
    if progress:
        progress({"event": "grid", "total": total, "laws": labels, "seeds": seed_list, "replicas": batched, "workers": n_workers})
    runs: list[dict] = []
    done = 0
    split_cache: dict[int, dict[str, Split]] = {}

    def split_for(seed: int) -> dict[str, Split]:
        if plan.split_seed(seed) not in split_cache:
            split_cache.clear()  # fixed splits are visited seed by seed: keep one on the device
            split_cache[plan.split_seed(seed)] = make_split(plan, seed)
        return split_cache[plan.split_seed(seed)]

    def finished(stored: dict, cached: bool) -> None:
        nonlocal done
        runs.append(stored)
        done += 1
        if progress:
            progress(
                {"event": "run_end", "law": stored["law"], "seed": stored["seed"], "status": stored["status"], "cached": cached, "done": done, "total": total}
            )

    shared = None if plan.fixed_split else split_for(plan.config.split_seed)
    order = [(label, [s]) for s in seed_list for label in labels] if plan.fixed_split else [(label, seed_list) for label in labels]
    if plan.halving is not None:  # the rung: laws behind there are stored as stopped, which the loop below reads back
        from .halving import run_rungs

        plan.rungs.update(run_rungs(plan, order, split_for, progress))
    jobs = []
    spread = n_workers != 1  # jobs leave this process: for worker processes, or for Ray tasks ("ray:N")
    together: list[tuple[str, list[int], list[int]]] | None = [] if batched == "laws" and shared is not None and not spread else None
    for label, group in order:
        todo = []
        for s in group:
            stored = st.get_run(plan.keys[(label, s)])
            if stored is None:
                todo.append(s)
            else:
                finished(stored, True)
        if not todo:
            continue
        # A batched law trains its whole batch, stored seeds included, and records the others: the same batch
        # gives the pending seeds the numbers they would have had without the kill (see runs.train_law).
        batch = group if batched else todo
        if spread:
            for part in ([[s] for s in todo] if per_seed else [batch]):
                jobs.append({"label": label, "seeds": part, "keep": [s for s in part if s in todo], "batched": batched})
            continue
        if together is not None:  # trained below, with the other laws of its head's shape
            together.append((label, batch, todo))
            continue
        tensors = shared if shared is not None else split_for(todo[0])
        for stored in train_law(plan, tensors, label, batch, progress, batched, keep=todo, done=done, total=total):
            finished(stored, False)
    for stored in train_laws_together(plan, shared, together or [], progress, done, total):
        finished(stored, False)
    if jobs:
        if isinstance(n_workers, str):
            from .ray_executor import run_jobs
        else:
            run_jobs = workers_mod.run_jobs
        for rec in run_jobs(jobs, plan, n_workers, progress):
            save_run(st, rec)
            finished(rec, False)
    # Runs come stored, trained here, or back from workers as they finish (a law's stored seeds before its
    # retrained ones, after a kill): put them in the grid's order.
    place = {(label, s): i for i, (label, group) in enumerate(order) for s in group}
    rank = {s: i for i, s in enumerate(seed_list)}
    runs.sort(key=lambda r: (place[(r["law"], r["seed"])], rank[r["seed"]]))
    return runs


def _check_labels(ds, law_objs: dict[str, Law], report) -> None:
    """Every chosen law must admit the labels (and have the trials it needs): one line naming each law that does not."""
    misfits: dict[str, LosslabError] = {}
    for lab, law in law_objs.items():
        if law.needs_trials and ds.trials is None:
            why = f"law {lab!r} needs trials (counts n of k/n labels), and data {ds.name!r} has none; "
            raise LosslabError(why + "pass trials=", cli=why + "name their column with --trials COLUMN")
        try:
            law.check_labels(ds.y, trials=ds.trials)
        except LosslabError as exc:
            misfits[lab] = exc
    if len(misfits) == 1:
        raise next(iter(misfits.values()))
    if misfits:
        first, *others = misfits
        scope = "no chosen law admits these labels" if len(misfits) == len(law_objs) else f"{len(misfits)} chosen laws refuse these labels"
        raise misfits[first].wrap(
            f"{{}}; {', '.join(others)} too: {scope}; laws whose support fits: {', '.join(report.suggested_laws) or 'none registered'}"
        )


def _with_folds(ds, cv: Any, seeds: list[int], split_seed: int):
    """``ds`` with ``cv`` k-fold splits (seeded by ``split_seed``): run ``seed`` tests on fold ``seed % cv``.

    Every fold must be tested equally often, so the seeds must fall on the folds evenly
    (``seeds=5`` with ``cv=5``: each seed one fold; ``seeds=10``: each fold twice, with two initialisations).
    """
    from ..data.dataset import kfold_splits

    k = check_integer(cv, "cv", low=2, high=len(ds))
    if ds.splits:
        raise LosslabError(
            f"cv={k}, but data {ds.name!r} comes with {len(ds.splits)} fixed split(s), which the comparison uses "
            "(run seed s on split s); leave cv out"
        )
    counts = np.bincount([s % k for s in seeds], minlength=k)
    if counts.min() != counts.max():
        raise LosslabError(
            f"cv={k} with seeds {seeds}: seed s tests on fold s % {k}, so these seeds test the folds {counts.tolist()} "
            f"times each; pass seeds={k} (or a multiple of {k}) so that every fold is tested equally often"
        )
    if len(ds) - -(-len(ds) // k) < 2:
        raise LosslabError(f"cv={k} leaves fewer than 2 training rows beside each fold of {len(ds)} rows; use a smaller cv")
    return dataclasses.replace(ds, splits=kfold_splits(len(ds), k, seed=split_seed))


def _as_dataset(data: Any, **read_kwargs: Any):
    from .. import data as lldata

    if isinstance(data, (lldata.Dataset, lldata.StreamingDataset)):
        return data
    if is_torch_dataset(data):  # streamed: labels read now, features in batches as training reads them
        check_options(lldata.from_torch, read_kwargs, "a torch Dataset")
        return lldata.from_torch(data, **read_kwargs)
    if isinstance(data, tuple) and len(data) in (2, 3):
        return lldata.from_arrays(*data[:2], trials=data[2] if len(data) == 3 else None)
    return lldata.load(data, **read_kwargs)


#: seeds (and the split seed) lie in [0, MAX_SEED]: numpy's generators refuse negative seeds, and torch's
#: 64-bit seeds must hold the seed plus the head's offset (models.build_model)
MAX_SEED = 2**32 - 1


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
    far = [s for s in out if not 0 <= s <= MAX_SEED]
    if far:
        raise LosslabError(f"seeds={seeds!r}: seed {far[0]} is out of range; expected whole numbers from 0 to {MAX_SEED}")
    if len(set(out)) != len(out):
        raise LosslabError(f"seeds={seeds!r} lists a seed twice")
    return [int(s) for s in out]


def _law_specs(laws: Any) -> list[tuple[str, dict[str, Any]]]:
    """``laws`` as ``(name, options)`` pairs: a list of specs, one spec (a string or a Law), or ``{name: options}``.

    A single string is one law (``"gaussian"``, ``"binned:kind=twohot,n_bins=21"``), never its letters.
    """
    if isinstance(laws, (str, Law)):
        laws = [laws]
    elif isinstance(laws, dict):
        laws = list(laws.items())
    try:
        items = list(laws)
    except TypeError:
        raise LosslabError(f"laws={laws!r}; expected a list of law names (e.g. ['bernoulli', 'beta'])") from None
    for i, spec in enumerate(items):
        ok = isinstance(spec, (str, Law)) or (
            isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict)
        )
        if not ok:
            raise LosslabError(
                f"laws[{i}]={spec!r}; expected a law name ('beta'), a spec ('beta:clamp=1e-6'), a (name, options) pair or a Law"
            )
    return [parse_law_spec(s) for s in items]


def _check_arguments(*, primary_metric: Any, split_seed: Any, val: Any, test: Any, store: Any, progress: Any) -> None:
    """One-line errors for compare's arguments that are checked nowhere downstream before use."""
    if not isinstance(primary_metric, str):
        raise LosslabError(f"primary_metric={primary_metric!r}; expected a metric name such as 'mean_squared_error'")
    check_integer(split_seed, "split_seed", low=0, high=MAX_SEED)
    check_number(val, "val", low=0.0, high=1.0, high_open=True, what="a fraction in [0, 1)")
    check_number(test, "test", low=0.0, high=1.0, high_open=True, what="a fraction in [0, 1)")
    if store is not None and not isinstance(store, (str, os.PathLike, Store)):
        raise LosslabError(f"store={store!r}; expected a path to an SQLite file, a Store or None")
    if progress is not None and not callable(progress):
        raise LosslabError(f"progress={progress!r}; expected a callable receiving event dicts, or None")


def _check_metric(metric: str) -> None:
    """A metric :func:`losslab.metrics.evaluate` computes (or ``val_nll``), ranked one way or the other."""
    from ..metrics.evaluate import EVALUATED_METRICS
    from .._errors import close_matches

    known = (*EVALUATED_METRICS, "val_nll")
    if metric not in known:
        raise LosslabError(f"primary_metric={metric!r} is not a metric losslab computes{close_matches(metric, known)}; expected one of {', '.join(known)}")
    if metric in NOT_RANKED:
        raise LosslabError(f"primary_metric={metric!r} is not ranked (a coverage is good near its nominal level); choose another")


def _use_replicas(replicas: bool | str, model: str | Callable, dev: torch.device, train_cfg: TrainConfig, fixed_split: bool, n_seeds: int) -> bool | str:
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
    return isinstance(model, str) and model in ("mlp", "linear")
