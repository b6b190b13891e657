"""Successive halving across laws: after a few epochs, stop the laws that are significantly behind.

``ll.compare(..., halving=10)`` first trains every law's seeds for 10 epochs (the *rung*),
scores each seed on the validation rows with the comparison's primary metric, and stops every
law that is behind the leader there by a paired test over seeds; the other laws (the
survivors) then train their whole runs, as they would without halving, so the paired design
holds between them. The laws stopped are recorded in the store as runs with status
``"stopped"``: their history names the epoch, the leader, the difference and the p-value, and
they keep no test metrics and no weights. A stopped law therefore has no numbers at the full
budget; the recommendation ranks the survivors and names the stopped laws.

The test, for each law ``L`` other than the leader ``B`` (the lowest mean over seeds of the
validation metric at the rung, or the highest for a metric where higher is better): the
differences ``d_s = m_L(s) - m_B(s)`` over the seeds ``s`` both finished (same split, initial
trunk and minibatch order, so the differences are paired), and the one-sided paired t-test of
"``L`` is worse":

.. math::

    t = \\frac{\\bar d}{s_d / \\sqrt{n}}, \\qquad p = P(T_{n-1} \\ge t),

``L`` stops when ``p < alpha / (K - 1)``, ``K`` the laws tested at the rung (a Bonferroni
bound: the chance that any law equal to the leader at the rung is stopped is at most
``alpha``). The test needs two seeds; with one, nothing is stopped. What it cannot bound is a
law that is behind at the rung and would have overtaken the leader later: the rung is an
extrapolation, which is why halving is opt-in and the rung is the caller's choice.

A rung's values are a deterministic function of the law, the seeds and the configuration. The
survivors record theirs in their history (``"rung"``), so a comparison resumed after a kill
probes only the laws that have a seed left to train, and takes the same decisions.

The rung trains each law's seeds as the grid would (the seeds of a law together as replicas
when the comparison batches them) for ``epoch`` epochs, early stopping included, and scores the
weights the run holds then (its best epoch by validation NLL so far). The survivors then train
from the start: a run is a deterministic function of its seed, so the rung's epochs are spent
twice for the survivors (about ``epoch`` of their epochs), and no training state is kept.
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
    """When laws are stopped, and how sure the test must be."""

    epoch: int = 10  # the rung: every law trains this many epochs before any is stopped
    alpha: float = 0.01  # the chance of stopping any law equal to the leader at the rung, at most (Bonferroni)

    def __post_init__(self) -> None:
        object.__setattr__(self, "epoch", check_integer(self.epoch, "halving epoch", low=1))
        object.__setattr__(self, "alpha", check_number(self.alpha, "halving alpha", low=0.0, high=1.0, low_open=True, high_open=True,
                                                       what="a level in (0, 1)"))

    def as_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "alpha": self.alpha}


def resolve_halving(halving: Any) -> Halving | None:
    """``compare``'s ``halving=``: None or False (off), True (the defaults), an epoch, a dict of options or a :class:`Halving`.

    >>> resolve_halving(8)
    Halving(epoch=8, alpha=0.01)
    >>> resolve_halving({"epoch": 5, "alpha": 0.05})
    Halving(epoch=5, alpha=0.05)
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
        return Halving(epoch=int(halving))
    if isinstance(halving, dict):
        unknown = sorted(set(halving) - {"epoch", "alpha"})
        if unknown:
            raise LosslabError(f"halving={halving!r}: unknown option(s) {unknown}; expected 'epoch' and 'alpha'")
        return Halving(**halving)
    raise LosslabError(f"halving={halving!r}; expected None, True, an epoch (e.g. 10) or a dict such as {{'epoch': 10, 'alpha': 0.01}}")


@dataclass(frozen=True)
class Stop:
    """Why a law was stopped at the rung."""

    law: str
    epoch: int  # the rung
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


def decide(values: dict[str, dict[int, float]], metric: str, halving: Halving) -> dict[str, Stop]:
    """The laws to stop, from each law's validation ``metric`` at the rung, ``{law: {seed: value}}``.

    Non-finite values (a seed that diverged before the rung) are left out of the means and the
    pairs. A law with no finite value is not stopped here (its runs diverge and are recorded so).

    >>> v = {"a": {0: 1.0, 1: 1.1, 2: 0.9}, "b": {0: 2.0, 1: 2.2, 2: 1.95}, "c": {0: 1.01, 1: 1.08, 2: 0.93}}
    >>> sorted(decide(v, "mean_squared_error", Halving(epoch=5, alpha=0.05)))
    ['b']
    """
    finite = {law: {s: float(x) for s, x in vals.items() if x is not None and math.isfinite(x)} for law, vals in values.items()}
    finite = {law: vals for law, vals in finite.items() if vals}
    if len(finite) < 2:
        return {}
    higher = higher_is_better(metric)
    means = {law: float(np.mean(list(vals.values()))) for law, vals in finite.items()}
    leader = (max if higher else min)(means, key=means.get)
    threshold = halving.alpha / (len(finite) - 1)
    stops: dict[str, Stop] = {}
    for law, vals in finite.items():
        if law == leader:
            continue
        seeds = sorted(set(vals) & set(finite[leader]))
        d = np.array([vals[s] - finite[leader][s] for s in seeds])
        p = one_sided_p(d, worse_if_positive=not higher)
        if p < threshold:  # NaN (fewer than two seeds) never stops a law
            stops[law] = Stop(law, halving.epoch, leader, metric, float(d.mean()), p, len(seeds), threshold)
    return stops


# ---------------------------------------------------------------------------- the rung in a comparison
def rung_values(plan, label: str, seeds: list[int], split_for: Callable[[int], dict], batched: bool) -> tuple[dict[int, dict], float]:
    """Train one law's ``seeds`` for the rung's epochs; each seed's record at the rung, and the seconds per run.

    The record: ``{"epoch", "metric", "value", "epochs_run", "best_epoch", "status"}`` and the
    epochs' ``train``/``val`` NLL, ``value`` the validation metric of the weights the run holds at
    the rung (None if it diverged). The seeds train as the grid trains them: as replicas of one
    batched model when ``batched`` (each split from ``split_for(seed)`` is then the same).
    """
    from .runs import new_model, new_models, validation_score
    from .trainer import can_batch, train, train_replicas

    halving: Halving = plan.halving
    cfg = dataclasses.replace(plan.config.train, epochs=min(halving.epoch, plan.config.train.epochs))
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
        out[s] = {"epoch": halving.epoch, "metric": metric, "value": value, "status": res.status, "epochs_run": res.epochs_run,
                  "best_epoch": res.best_epoch, "diverged_epoch": res.diverged_epoch, "train": list(res.history["train"]),
                  "val": list(res.history["val"]), "initial_val": res.initial_val}
    return out, (time.perf_counter() - t0) / max(len(seeds), 1)


def stopped_record(plan, label: str, seed: int, rung: dict, stop: Stop, seconds: float) -> dict:
    """The store record of a run whose law was stopped at the rung: status ``"stopped"``, no test metrics, no weights."""
    law = plan.laws[label]
    cfg = plan.config
    history = {"train": rung["train"], "val": rung["val"], "best_epoch": rung["best_epoch"], "epochs_run": rung["epochs_run"],
               "diverged_epoch": rung["diverged_epoch"], "initial_val": rung["initial_val"], "rung": _rung_entry(rung),
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


def _rung_entry(rung: dict) -> dict:
    """What a run's history keeps of its rung: the epoch, the metric and its value."""
    return {"epoch": rung["epoch"], "metric": rung["metric"], "value": rung["value"]}


def run_rung(plan, order: Iterable[tuple[str, list[int]]], split_for: Callable[[int], dict], progress=None) -> dict[tuple[str, int], dict]:
    """The rung of a comparison: probe the laws with a seed still to train, decide, and store the stopped laws' runs.

    ``order`` is the grid's ``(law, seeds)``. A law all of whose seeds are stored keeps its
    rung from their history; the others train the rung (all their seeds, as the grid would
    batch them). Returns the survivors' rung entries by ``(law, seed)``, which their records keep
    (:func:`losslab.experiment.runs.record` reads them from the plan).
    """
    from .runs import save_run

    st = plan.store
    laws: dict[str, list[int]] = {}
    for label, group in order:
        laws.setdefault(label, []).extend(group)
    values: dict[str, dict[int, float | None]] = {}
    rungs: dict[str, dict[int, dict]] = {}
    seconds: dict[str, float] = {}
    for label, seeds in laws.items():
        stored = [st.get_run(plan.keys[(label, s)]) for s in seeds]
        kept = [r["history"].get("rung") if r is not None else None for r in stored]
        if all(k is not None for k in kept):  # every seed stored with its rung: nothing to train
            values[label] = {s: k["value"] for s, k in zip(seeds, kept)}
            continue
        if plan.fixed_split or not plan.replicas:
            probed, seconds[label] = rung_values(plan, label, seeds, split_for, batched=False)
        else:
            probed, seconds[label] = rung_values(plan, label, seeds, split_for, batched=True)
        rungs[label] = probed
        values[label] = {s: r["value"] for s, r in probed.items()}
    stops = decide(values, plan.config.primary_metric, plan.halving)
    entries: dict[tuple[str, int], dict] = {}
    for label, probed in rungs.items():
        stop = stops.get(label)
        for s, rung in probed.items():
            if stop is None:
                entries[(label, s)] = _rung_entry(rung)
            elif st.get_run(plan.keys[(label, s)]) is None:
                save_run(st, stopped_record(plan, label, s, rung, stop, seconds[label]))
        if progress:
            progress({"event": "halving", "law": label, "epoch": plan.halving.epoch, "stopped": stop is not None,
                      **({"reason": stop.reason()} if stop else {})})
    return entries
