r"""Successive halving across laws: after a few epochs, stop the laws that are significantly behind.

``ll.compare(..., halving=10)`` first trains every law's seeds for 10 epochs (a *rung*),
scores each seed on the validation rows with the comparison's primary metric, and stops every
law that is behind the leader there by a paired test over seeds; the other laws (the
survivors) then train their whole runs, as they would without halving, so the paired design
holds between them. ``halving=(5, 10)`` has two rungs: the survivors of the first meet again
at the second. The laws stopped are recorded in the store as runs with status ``"stopped"``:
their history names the epoch, the leader, the difference and the p-value, and they keep no
test metrics and no weights. A stopped law therefore has no numbers at the full budget; the
recommendation ranks the survivors and names the stopped laws.

The test at a rung, for each law ``L`` other than the leader ``B`` (the lowest mean over seeds
of the validation metric there, or the highest for a metric where higher is better): the
differences ``d_s = m_L(s) - m_B(s)`` over the seeds ``s`` both finished (same split, initial
trunk and minibatch order, so the differences are paired), and the one-sided paired t-test of
"``L`` is worse":

.. math::

    t = \frac{\bar d}{s_d / \sqrt{n}}, \qquad p = P(T_{n-1} \ge t),

``L`` stops when ``p < alpha / (K - 1)``, ``K`` the laws tested at the rung (a Bonferroni
bound: the chance that a rung stops any law equal to the leader there is at most ``alpha``, and
at most ``R alpha`` over ``R`` rungs). The test needs two seeds; with one, nothing is stopped.
What it cannot bound is a law that is behind at a rung and would have overtaken the leader
later: a rung is an extrapolation (on uci-concrete the Gaussian is behind binned at every epoch
up to 20 and ends ahead of it, ``docs/performance.md``), which is why halving is opt-in and the
rungs are the caller's choice.

A rung's values are a deterministic function of the law, the seeds and the configuration. Every
run records the rungs it met in its history (``"rungs"``), so a comparison resumed after a
kill probes only the laws that have a seed left to train, and takes the same decisions.

A rung trains each law's seeds as the grid would (the seeds of a law together as replicas when
the comparison batches them) for that many epochs, early stopping included, and scores the
weights the run holds then (its best epoch by validation NLL so far). The survivors then train
from the start: a run is a deterministic function of its seed, so no training state is kept, and
each rung's epochs are spent again by the laws that pass it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .._errors import LosslabError, check_integer, check_number
from .stats import higher_is_better


@dataclass(frozen=True)
class Halving:
    """When laws are stopped, and how sure each test must be."""

    rungs: tuple[int, ...] = (10,)  # the epochs at which the laws still training are compared, increasing
    alpha: float = 0.01  # at each rung, the chance of stopping any law equal to the leader there, at most (Bonferroni)

    def __post_init__(self) -> None:
        rungs = tuple(check_integer(k, "halving rung", low=1) for k in self.rungs)
        if not rungs or list(rungs) != sorted(set(rungs)):
            raise LosslabError(f"halving rungs {list(self.rungs)!r}; expected one or more epochs in increasing order, e.g. (5, 10)")
        object.__setattr__(self, "rungs", rungs)
        object.__setattr__(self, "alpha", check_number(self.alpha, "halving alpha", low=0.0, high=1.0, low_open=True, high_open=True,
                                                       what="a level in (0, 1)"))

    def as_dict(self) -> dict[str, Any]:
        return {"rungs": list(self.rungs), "alpha": self.alpha}


def resolve_halving(halving: Any) -> Halving | None:
    """``compare``'s ``halving=``: None or False (off), True (the defaults), an epoch, epochs, a dict of options or a :class:`Halving`.

    >>> resolve_halving(8)
    Halving(rungs=(8,), alpha=0.01)
    >>> resolve_halving({"rungs": [5, 10], "alpha": 0.05})
    Halving(rungs=(5, 10), alpha=0.05)
    >>> resolve_halving(None) is None
    True
    """
    if halving is None or halving is False:
        return None
    if halving is True:
        return Halving()
    if isinstance(halving, Halving):
        return halving
    if isinstance(halving, (int, np.integer)):
        return Halving(rungs=(halving,))
    if isinstance(halving, (list, tuple)):
        return Halving(rungs=tuple(halving))
    if isinstance(halving, dict):
        unknown = sorted(set(halving) - {"rungs", "alpha"})
        if unknown:
            raise LosslabError(f"halving={halving!r}: unknown option(s) {unknown}; expected 'rungs' and 'alpha'")
        opts = dict(halving)
        if isinstance(opts.get("rungs"), (int, np.integer)):
            opts["rungs"] = (opts["rungs"],)
        return Halving(**{k: tuple(v) if k == "rungs" else v for k, v in opts.items()})
    raise LosslabError(
        f"halving={halving!r}; expected None, True, an epoch (e.g. 10), epochs (e.g. (5, 10)) or a dict such as {{'rungs': [10], 'alpha': 0.01}}"
    )


@dataclass(frozen=True)
class Stop:
    """Why a law was stopped at the rung."""

    law: str
    epoch: int  # the rung where it stopped
    behind: str  # the leader at the rung
    metric: str  # the validation metric compared
    diff: float  # mean over the paired seeds of the law's value minus the leader's
    p_value: float  # one-sided paired t-test that the law is worse
    n: int  # seeds paired
    threshold: float  # the p-value below which a law stops: alpha / (laws tested - 1)

    def reason(self) -> str:
        """``"stopped early: behind <leader> at epoch <k>, p = <p>"``."""
        return f"stopped early: behind {self.behind} at epoch {self.epoch}, p = {self.p_value:.2g}"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "reason": self.reason()}


def one_sided_p(d: np.ndarray, worse_if_positive: bool = True) -> float:
    """One-sided paired t-test p-value that the differences ``d`` are above 0 (below, when ``worse_if_positive`` is False).

    A constant non-zero difference has no spread left to explain it: p = 0 on its side, 1 on the other.

    >>> round(one_sided_p(np.array([0.3, 0.5, 0.4])), 4)  # scipy.stats.ttest_1samp(..., alternative="greater") gives 0.0101
    0.0101
    """
    from scipy import stats

    d = np.asarray(d, dtype=np.float64) * (1.0 if worse_if_positive else -1.0)
    if d.size < 2:
        return math.nan
    if np.all(d == d[0]):
        return 0.0 if d[0] > 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)


def decide(values: dict[str, dict[int, float]], metric: str, *, alpha: float, epoch: int) -> dict[str, Stop]:
    """The laws to stop, from each law's validation ``metric`` at the rung ``epoch``, ``{law: {seed: value}}``.

    Non-finite values (a seed that diverged before the rung) are left out of the means and the
    pairs. A law with no finite value is not stopped here (its runs diverge and are recorded so).

    >>> v = {"a": {0: 1.0, 1: 1.1, 2: 0.9}, "b": {0: 2.0, 1: 2.2, 2: 1.95}, "c": {0: 1.01, 1: 1.08, 2: 0.93}}
    >>> sorted(decide(v, "mean_squared_error", alpha=0.05, epoch=5))
    ['b']
    """
    finite = {law: {s: float(x) for s, x in vals.items() if x is not None and math.isfinite(x)} for law, vals in values.items()}
    finite = {law: vals for law, vals in finite.items() if vals}
    if len(finite) < 2:
        return {}
    higher = higher_is_better(metric)
    means = {law: float(np.mean(list(vals.values()))) for law, vals in finite.items()}
    leader = (max if higher else min)(means, key=means.get)
    threshold = alpha / (len(finite) - 1)
    stops: dict[str, Stop] = {}
    for law, vals in finite.items():
        if law == leader:
            continue
        seeds = sorted(set(vals) & set(finite[leader]))
        d = np.array([vals[s] - finite[leader][s] for s in seeds])
        p = one_sided_p(d, worse_if_positive=not higher)
        if p < threshold:  # NaN (fewer than two seeds) never stops a law
            stops[law] = Stop(law, epoch, leader, metric, float(d.mean()), p, len(seeds), threshold)
    return stops


# ---------------------------------------------------------------------------- the rungs in a comparison
def rung_values(plan, label: str, seeds: list[int], split_for: Callable[[int], dict], batched: bool, epoch: int) -> tuple[dict[int, dict], float]:
    """Train one law's ``seeds`` for ``epoch`` epochs; each seed's record at that rung, and the seconds per run.

    The record: ``{"epoch", "metric", "value", "status", "epochs_run", "best_epoch", ...}`` and the
    epochs' ``train``/``val`` NLL, ``value`` the validation metric of the weights the run holds at
    the rung (None if it diverged). The seeds train as the grid trains them: as replicas of one
    batched model when ``batched`` (each split from ``split_for(seed)`` is then the same).
    """
    from .runs import new_model, new_models, validation_score
    from .trainer import can_batch, train, train_replicas

    cfg = dataclasses.replace(plan.config.train, epochs=epoch)
    metric = plan.config.primary_metric
    law = plan.laws[label]
    t0 = time.perf_counter()
    if batched:
        tensors = split_for(seeds[0])
        models = new_models(plan, tensors, law, seeds)
        if can_batch(models):
            results = train_replicas(models, tensors["train"], tensors["val"], cfg, seeds=seeds)
            trained = [(s, m, r, tensors) for s, m, r in zip(seeds, models, results)]
        else:
            trained = [(s, m, train(m, tensors["train"], tensors["val"], cfg, seed=s), tensors) for s, m in zip(seeds, models)]
    else:
        trained = []
        for s in seeds:
            tensors = split_for(s)
            m = new_model(plan, tensors, law, s)
            trained.append((s, m, train(m, tensors["train"], tensors["val"], cfg, seed=s), tensors))
    out = {}
    for s, m, res, tensors in trained:
        value = None
        if res.status == "ok" and res.history["val"]:
            value = validation_score(m, law, tensors["val"], metric, min(res.history["val"]))
            value = None if value is None or not math.isfinite(value) else float(value)
        out[s] = {"epoch": epoch, "metric": metric, "value": value, "status": res.status, "epochs_run": res.epochs_run,
                  "best_epoch": res.best_epoch, "diverged_epoch": res.diverged_epoch, "train": list(res.history["train"]),
                  "val": list(res.history["val"]), "initial_val": res.initial_val}
    return out, (time.perf_counter() - t0) / max(len(seeds), 1)


def _entry(rung: dict) -> dict:
    """What a run's history keeps of a rung it met: the epoch, the metric and its value."""
    return {"epoch": rung["epoch"], "metric": rung["metric"], "value": rung["value"]}


def stopped_record(plan, label: str, seed: int, rung: dict, met: list[dict], stop: Stop, seconds: float) -> dict:
    """The store record of a run whose law was stopped at ``rung``: status ``"stopped"``, no test metrics, no weights.

    ``met`` are its entries of the rungs it passed before (and ``rung``'s is added).
    """
    law = plan.laws[label]
    cfg = plan.config
    history = {"train": rung["train"], "val": rung["val"], "best_epoch": rung["best_epoch"], "epochs_run": rung["epochs_run"],
               "diverged_epoch": rung["diverged_epoch"], "initial_val": rung["initial_val"], "rungs": [*met, _entry(rung)],
               "stopped": stop.as_dict()}
    return {
        "key": plan.keys[(label, seed)],
        "comparison": plan.comparison,
        "law": label,
        "seed": seed,
        "status": "stopped",
        "config": {"law": [law.name, law.options()], "label": label, "seed": seed, "model": cfg.model, "train": cfg.train.as_dict(), "replicas": 1},
        "metrics": {"reasons": {"all": stop.reason()}},
        "history": history,
        "seconds": seconds,
        "arrays": {},
    }


def run_rungs(plan, order: Iterable[tuple[str, list[int]]], split_for: Callable[[int], dict], progress=None) -> dict[tuple[str, int], list[dict]]:
    """The rungs of a comparison: at each, probe the laws still in, decide, and store the runs of the laws stopped.

    ``order`` is the grid's ``(law, seeds)``. A law whose seeds are all stored reads its value at
    a rung from their history; the others train to the rung (all their seeds, as the grid would
    batch them). Returns the survivors' rung entries by ``(law, seed)``, which their records keep
    (:func:`losslab.experiment.runs.record` reads them from the plan).
    """
    from .runs import save_run

    st = plan.store
    laws: dict[str, list[int]] = {}
    for label, group in order:
        laws.setdefault(label, []).extend(group)
    stored = {(label, s): st.get_run(plan.keys[(label, s)]) for label, seeds in laws.items() for s in seeds}
    met: dict[tuple[str, int], list[dict]] = {k: [] for k in stored}
    alive = list(laws)
    batched = bool(plan.replicas) and not plan.fixed_split
    for epoch in plan.halving.rungs:
        values: dict[str, dict[int, float | None]] = {}
        probed: dict[str, tuple[dict[int, dict], float]] = {}
        for label in alive:
            seeds = laws[label]
            kept = [_stored_rung(stored[(label, s)], epoch) for s in seeds]
            if all(k is not None for k in kept):  # every seed stored with its value here: nothing to train
                values[label] = {s: k["value"] for s, k in zip(seeds, kept)}
                continue
            probed[label] = rung_values(plan, label, seeds, split_for, batched, epoch)
            values[label] = {s: r["value"] for s, r in probed[label][0].items()}
        stops = decide(values, plan.config.primary_metric, alpha=plan.halving.alpha, epoch=epoch)
        for label in alive:
            for s in laws[label]:
                rung = probed[label][0][s] if label in probed else None
                if label in stops and rung is not None and stored[(label, s)] is None:
                    save_run(st, stopped_record(plan, label, s, rung, met[(label, s)], stops[label], probed[label][1]))
                met[(label, s)].append(_entry(rung) if rung is not None else _stored_rung(stored[(label, s)], epoch))
            if progress and label in probed:
                stop = stops.get(label)
                progress({"event": "halving", "law": label, "epoch": epoch, "stopped": stop is not None, **({"reason": stop.reason()} if stop else {})})
        alive = [label for label in alive if label not in stops]
    return {(label, s): met[(label, s)] for label in alive for s in laws[label]}


def _stored_rung(run: dict | None, epoch: int) -> dict | None:
    """A stored run's entry for the rung at ``epoch``, if it has one."""
    if run is None:
        return None
    return next((e for e in run["history"].get("rungs", []) if e.get("epoch") == epoch), None)


# ---------------------------------------------------------------------------- in results and reports
def stops_of(runs: Iterable[dict]) -> dict[str, dict]:
    """``{law: its stop}`` (a :meth:`Stop.as_dict`, from a stopped run's history) for each law stopped at a rung, in run order.

    >>> stops_of([{"law": "a", "status": "ok", "history": {}},
    ...           {"law": "b", "status": "stopped", "history": {"stopped": {"reason": "stopped early: behind a at epoch 5, p = 0.001"}}}])
    {'b': {'reason': 'stopped early: behind a at epoch 5, p = 0.001'}}
    """
    out: dict[str, dict] = {}
    for r in runs:
        if r.get("status") == "stopped" and r["law"] not in out:
            out[r["law"]] = r["history"].get("stopped", {"reason": "stopped early"})
    return out


def stops_sentence(runs: Iterable[dict]) -> str | None:
    """One sentence naming each law stopped at a rung and why, or None when none was.

    >>> stops_sentence([{"law": "b", "status": "stopped", "history": {"stopped": {"reason": "stopped early: behind a at epoch 5, p = 0.001"}}}])
    'Successive halving stopped 1 law early, so it has no test numbers: b (stopped early: behind a at epoch 5, p = 0.001).'
    """
    stops = stops_of(runs)
    if not stops:
        return None
    n = len(stops)
    return (f"Successive halving stopped {n} law{'s' if n > 1 else ''} early, so {'they have' if n > 1 else 'it has'} no test numbers: "
            + "; ".join(f"{law} ({s['reason']})" for law, s in stops.items()) + ".")
