"""Grid benchmark: ``losslab.compare`` against the naive one-model-at-a-time loop (``benchmarks.naive``).

Run ``python -m benchmarks.grid`` (``--quick`` for a smoke run on a few rows). For each data
set it runs, alternately in one process,

* losslab: ``ll.compare(ds, laws=..., seeds=..., model=..., epochs=E)`` (preloaded tensors,
  early stopping with patience, losslab's kernels and models) followed by ``.recommend()``,
  timed from the call to the recommendation;
* naive: :func:`benchmarks.naive.naive_compare` (a DataLoader, ``nn.MaxPool2d``, torch's loss ops,
  a fixed budget of E epochs, the winner by mean test MSE), timed by its own clock (set-up and
  training; the test evaluations below are left out);

and prints two ratios, each as the median over repetitions with the min-max of the
per-repetition ratios (repetitions alternate which side goes first; ``--reps``, 5 by default,
1 in quick mode):

**Time to quality** (the headline; as MLPerf times training: a fixed epoch budget flatters
whichever side stops earlier). Let ``q`` be the mean over seeds of the test MSE of losslab's
recommended law, the quality losslab delivers when its time ``T_losslab`` ends. The naive loop
trains its laws one after another in the grid's order, a law's seeds side by side (an epoch each
in turn; each seed's weights are those of the one-after-the-other loop), and after every
``--eval-every``-th epoch of a law (default 1: every epoch) it scores every seed on the test rows
with its clock stopped. With ``v(L, e)`` law ``L``'s mean test MSE over seeds after epoch ``e`` and
``t(L, e)`` the naive clock then, the naive loop's **time to quality** is ``t`` at the first
evaluation, in the order they happen, at which the best ``v`` so far (the naive loop's best law
so far) is ``<= q`` (:func:`time_to_quality`). The ratio is that time over ``T_losslab``. The naive
side is given an oracle: it knows the test metric at every evaluation, which no real run
would, and stops the clock at the first epoch that reaches ``q`` (on a law it would not
otherwise have picked, too). If no evaluation within the naive budget reaches ``q``, the time is
unknown and the ratio is a lower bound: the naive loop's whole clock over ``T_losslab`` (">").

**Fixed budget** (the second line): the naive loop's whole clock (every law and seed trained
for E epochs) over ``T_losslab``.

It also prints each side's winner with its mean test MSE over seeds and the difference of the
two winners with a Welch interval over seeds (:func:`mse_gap`). Every repetition trains
``laws x seeds`` models on each side, so repetitions are few.

Needs ``LOSSLAB_DATA`` for retinamnist and uci-concrete (skipped with a message when absent).
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import statistics
import time

import numpy as np
import torch
from scipy import stats

import losslab as ll

from . import naive

#: the laws both image-like data sets accept (labels in [0, 1] with exact zeros and ones)
DEFAULT_LAWS = ("bernoulli", "sigmoid-mse", "gaussian-hetero", "continuous-bernoulli", "zoib", "binned")

#: the laws for unbounded real labels (uci-concrete): losslab's suggestions that the naive loop has code for
REAL_LAWS = ("gaussian", "gaussian-hetero", "laplace-hetero", "student-t", "binned")

#: data set -> (model, epochs): the budget of the naive loop and the cap of losslab's early stopping
DEFAULTS = {"digits-inpaint": ("mlp", 100), "retinamnist": ("cnn-small", 50), "uci-concrete": ("mlp", 200)}

#: data set -> the laws compared when ``--laws`` is not given (others: :data:`DEFAULT_LAWS`)
DATA_LAWS = {"uci-concrete": REAL_LAWS}

#: the data sets the grid runs when ``--data`` is not given
DEFAULT_DATA = ("digits-inpaint", "retinamnist", "uci-concrete")


def _default_patience() -> int:
    return int(inspect.signature(ll.compare).parameters["patience"].default)


def defaults_for(name: str, ds) -> tuple[str, int]:
    """``(model, epochs)`` for a data set: :data:`DEFAULTS`, else the MLP (tables) or cnn-small (images), 50 epochs."""
    return DEFAULTS.get(name, ("mlp" if ds.kind == "table" else "cnn-small", 50))


def laws_for(name: str) -> tuple[str, ...]:
    """The laws the grid compares on ``name`` by default: :data:`DATA_LAWS`, else :data:`DEFAULT_LAWS`."""
    return DATA_LAWS.get(name, DEFAULT_LAWS)


def quick_rows(ds, n: int = 160):
    """``n`` rows drawn at random (seed 0), for the benchmarks' smoke modes: a fixed split's proportions are not kept."""
    return ds.subset(np.sort(np.random.default_rng(0).permutation(len(ds))[:n]))


def load_as_grid(name: str, epochs: int | None = None, quick: bool = False):
    """``(data set, model, epoch cap)`` as the grid runs ``name`` (``epochs=None``: its default cap); :func:`quick_rows` when ``quick``."""
    ds = ll.data.load(name)
    model, default_epochs = defaults_for(name, ds)
    return (quick_rows(ds) if quick else ds), model, epochs or default_epochs


def warm_up(ds, law: str, model: str, device: str = "cpu") -> None:
    """One tiny untimed ``ll.compare`` (imports, first calls), so that timings leave one-time set-up out."""
    ll.compare(ds.subset(np.arange(min(len(ds), 64))), laws=[law], seeds=1, model=model, epochs=1, device=device)


def _load(name: str, quick: bool):
    try:
        ds = ll.data.load(name)
    except Exception as e:  # noqa: BLE001 - a missing file or no network: say so and go on
        return None, f"{name}: skipped ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
    # A data set with fixed splits is small (the UCI sets) and keeps them in quick mode, so that the
    # per-seed splits are smoke-tested too (a subset has no fixed splits).
    return (quick_rows(ds) if quick and not ds.splits else ds), None


def time_to_quality(trace: list[dict], target: float) -> dict | None:
    """The first evaluation of ``trace`` at which the best value so far is ``<= target``; None if none is.

    ``trace`` holds the naive loop's evaluations in the order they happened (``{"seconds", "law",
    "epoch", "value"}``, :attr:`benchmarks.naive.NaiveResult.trace`), ``value`` a law's mean test MSE
    over seeds (lower is better). The best value so far first reaches the target exactly at the first
    evaluation whose own value does, so that is the one returned. A NaN value (a diverged seed) never
    reaches it.

    >>> trace = [{"seconds": 1.0, "value": 0.5}, {"seconds": 2.0, "value": 0.3}, {"seconds": 3.0, "value": 0.2}]
    >>> time_to_quality(trace, 0.3)["seconds"], time_to_quality(trace, 0.1)
    (2.0, None)
    """
    return next((ev for ev in trace if ev["value"] <= target), None)


def mse_gap(
    ours: list[np.ndarray], ref: list[np.ndarray], y: np.ndarray | list[np.ndarray], *, level: float = 0.95, ref_y: list[np.ndarray] | None = None
) -> dict:
    """Mean test MSE of ``ours`` minus that of ``ref`` (each a list of one prediction per seed), with a Welch interval.

    ``y`` is the test labels shared by every seed, or a list of each prediction's own in ``ours``
    (fixed splits: a seed tests on its own split); ``ref_y`` then lists those of ``ref`` (default ``y``).

    Each side's MSE is the mean over its seeds of each seed's MSE over the test rows and targets,
    as the grid reports it. Both sides are scored on the same test rows, so the randomness left
    between them is the training's: the interval is Welch's t-interval for the difference of two
    means of independent seeds (unequal variances, Welch-Satterthwaite degrees of freedom). It is
    conditional on the test rows (another test set would add its own spread). Negative means
    ``ours`` has the lower error. A seed whose predictions are not finite (a diverged run) is left out.
    """

    def mse(p: np.ndarray, t: np.ndarray) -> float:
        t = np.asarray(t, dtype=np.float64)
        t = t.reshape(len(t), -1)
        return float(((np.asarray(p, dtype=np.float64).reshape(t.shape) - t) ** 2).mean())

    def per_seed(preds: list[np.ndarray], labels) -> np.ndarray:
        return np.array([mse(p, labels[i] if isinstance(labels, list) else labels) for i, p in enumerate(preds)])

    a, b = per_seed(ours, y), per_seed(ref, y if ref_y is None else ref_y)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]  # a diverged run is left out, as the sides' own tables leave it out
    if not len(a) or not len(b):
        return {"ours": math.nan, "ref": math.nan, "diff": math.nan, "low": math.nan, "high": math.nan, "df": math.nan, "level": level}
    diff = float(a.mean() - b.mean())
    va, vb = (a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)) if min(len(a), len(b)) > 1 else (math.nan, math.nan)
    se = math.sqrt(va + vb)
    if se > 0:
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    else:  # identical runs on each side (or one seed): no spread to go on
        df, half = math.nan, (0.0 if se == 0 else math.nan)
    return {"ours": float(a.mean()), "ref": float(b.mean()), "diff": diff, "low": diff - half, "high": diff + half, "df": df, "level": level}


def _gaps(res, rec, nv, laws) -> dict:
    """:func:`mse_gap` for each law (losslab's against the naive loop's) and for the two winners."""
    different = RuntimeError("losslab and the naive loop were scored on different test rows; the winners cannot be compared row by row")
    if res._test:  # one test split shared by every seed
        test_y = np.asarray(res._test["test_y"])
        if nv.test_y is None or test_y.shape != nv.test_y.shape or not np.allclose(test_y, nv.test_y):
            raise different
    else:  # fixed splits: seed s tests on split s on both sides; each run kept its test labels
        test_y = list(nv.test_ys)
        for r in res.runs:
            if r["status"] == "ok" and not np.allclose(np.asarray(r["arrays"]["y_true"]).reshape(test_y[r["seed"]].shape), test_y[r["seed"]]):
                raise different

    def ours(law: str) -> list[np.ndarray]:
        return [r["arrays"]["y_pred"] for r in res.runs if r["law"] == law and r["status"] == "ok"]

    def labels(law: str):  # each finished run's own labels when the seeds' splits differ (a diverged seed left out)
        return test_y if not isinstance(test_y, list) else [test_y[r["seed"]] for r in res.runs if r["law"] == law and r["status"] == "ok"]

    def gap(law: str, ref: str) -> dict:
        return mse_gap(ours(law), nv.predictions[ref], labels(law), ref_y=test_y if isinstance(test_y, list) else None)

    gaps = {law: gap(law, law) for law in laws if ours(law) and law in nv.predictions}
    gaps["winners"] = gap(rec.law, nv.winner)
    return gaps


def bench_data(
    name: str, ds, *, laws, seeds: int, model: str, epochs: int, naive_epochs: int, patience: int, reps: int, device: str, replicas="auto",
    workers: int = 1, eval_every: int = 1, compare_kwargs: dict | None = None,
) -> dict:
    """Alternate losslab and naive ``reps`` times on one data set; return times, both ratios and winners.

    ``compare_kwargs`` go to ``ll.compare`` as well (options of losslab's side that the naive loop has no counterpart for).
    """
    last: dict = {}
    t_ours: list[float] = []
    t_ref: list[float] = []  # the naive loop's own clock: set-up and training, its test evaluations left out
    traces: list[list[dict]] = []

    def ours():
        t0 = time.perf_counter()
        res = ll.compare(
            ds, laws=list(laws), seeds=seeds, model=model, epochs=epochs, patience=patience, device=device, replicas=replicas, workers=workers,
            **(compare_kwargs or {}),
        )  # fmt: skip
        rec = res.recommend()
        t_ours.append(time.perf_counter() - t0)
        last["ours"] = (res, rec)

    def ref():
        nv = naive.naive_compare(ds, laws, seeds, model=model, epochs=naive_epochs, device=device, eval_every=eval_every)
        t_ref.append(nv.seconds)
        traces.append(nv.trace)
        last["naive"] = nv

    # One tiny untimed round of each side first: imports and one-time set-up are not the grid's cost.
    warm_up(ds, laws[0], model, device)
    naive.naive_compare(ds.subset(np.arange(min(len(ds), 64))), laws[:1], 1, model=model, epochs=1, device=device)
    for rep in range(reps):
        # Alternate which side goes first, so that a drift in the machine's load favours neither.
        for fn in ((ours, ref) if rep % 2 == 0 else (ref, ours)):
            fn()
    res, rec = last["ours"]
    nv = last["naive"]
    epochs_run = res.frame()["epochs"].astype(float)
    ratios = [b / a for a, b in zip(t_ours, t_ref)]
    # Time to quality: the same target every repetition (the trained numbers repeat on the CPU), each repetition's own clock.
    hits = [time_to_quality(trace, rec.value) for trace in traces]
    reached = all(h is not None for h in hits)
    ttq = [h["seconds"] if h is not None else total for h, total in zip(hits, t_ref)]
    ttq_ratios = [b / a for a, b in zip(t_ours, ttq)]
    return {
        "data": name,
        "rows": len(ds),
        "model": model,
        "laws": list(laws),
        "runs": len(laws) * seeds,
        "reps": reps,
        "ours": statistics.median(t_ours),
        "ours_range": (min(t_ours), max(t_ours)),
        "naive": statistics.median(t_ref),
        "naive_range": (min(t_ref), max(t_ref)),
        "speedup": statistics.median(ratios),
        "speedup_range": (min(ratios), max(ratios)),
        # time to quality: the naive loop's time to reach losslab's winner's test MSE (a lower bound where not reached)
        "target": rec.value,
        "ttq_reached": reached,
        "ttq_hit": hits[-1],
        "naive_ttq": statistics.median(ttq),
        "naive_ttq_range": (min(ttq), max(ttq)),
        "ttq_speedup": statistics.median(ttq_ratios),
        "ttq_speedup_range": (min(ttq_ratios), max(ttq_ratios)),
        "naive_best": min(nv.trace, key=lambda ev: ev["value"]) if nv.trace else None,
        "ours_winner": rec.law,
        "ours_metric": rec.value,
        "ours_epochs": float(epochs_run.mean()),
        "ours_status": {str(k): int(v) for k, v in res.frame()["status"].value_counts().items()},
        # successive halving: each stopped law and why (its runs' reason; one per law)
        "ours_stops": {r["law"]: r["history"]["stopped"]["reason"] for r in res.runs if r["status"] == "stopped"},
        "naive_winner": nv.winner,
        "naive_metric": nv.winner_value,
        "naive_epochs": naive_epochs,
        "ours_table": {law: float(v) for law, v in res.table()[rec.metric].items()},
        "naive_table": {law: float(np.nanmean(v)) for law, v in nv.values.items()},
        "gaps": _gaps(res, rec, nv, laws),
    }


def _print(r: dict, args, epochs: int, naive_epochs: int) -> None:
    print(
        f"\n{r['data']} ({r['rows']} rows, model {r['model']}, {r['runs']} runs per side; losslab: cap {epochs} epochs, "
        f"patience {args.patience}, ran {r['ours_epochs']:.1f} on average; naive: {naive_epochs} epochs, test MSE every {args.eval_every})"
    )
    if set(r["ours_status"]) != {"ok"}:
        print(f"  losslab runs by status: {r['ours_status']}")
    for law, why in r["ours_stops"].items():
        print(f"  losslab {law}: {why}")
    print(f"  {'':8s} {'median s':>9s} {'min-max':>15s}   winner (mean test MSE over seeds)")
    print(f"  {'losslab':8s} {r['ours']:9.1f} {r['ours_range'][0]:7.1f}-{r['ours_range'][1]:<7.1f}   {r['ours_winner']} ({r['ours_metric']:.5f})")
    print(f"  {'naive':8s} {r['naive']:9.1f} {r['naive_range'][0]:7.1f}-{r['naive_range'][1]:<7.1f}   {r['naive_winner']} ({r['naive_metric']:.5f})")
    hit, best = r["ttq_hit"], r["naive_best"]
    if r["ttq_reached"]:
        print(
            f"  time to quality (test MSE <= {r['target']:.5f}, losslab's winner): naive {r['naive_ttq']:.1f} s "
            f"[{r['naive_ttq_range'][0]:.1f}-{r['naive_ttq_range'][1]:.1f}] ({hit['law']} at epoch {hit['epoch']}: {hit['value']:.5f}); "
            f"speed-up {r['ttq_speedup']:.2f}x (paired repetitions {r['ttq_speedup_range'][0]:.2f}-{r['ttq_speedup_range'][1]:.2f})"
        )
    else:
        where = f"; its best: {best['law']} at epoch {best['epoch']}, {best['value']:.5f}" if best else ""
        print(
            f"  time to quality (test MSE <= {r['target']:.5f}, losslab's winner): the naive loop never reached it in "
            f"{naive_epochs} epochs of any law{where}; speed-up > {r['ttq_speedup']:.2f}x "
            f"(a lower bound; paired repetitions > {r['ttq_speedup_range'][0]:.2f}-{r['ttq_speedup_range'][1]:.2f})"
        )
    print(f"  fixed budget: speed-up naive/losslab {r['speedup']:.2f}x (paired repetitions {r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f})")
    w = r["gaps"]["winners"]
    print(
        f"  winners' test MSE, losslab - naive: {w['diff']:+.5f} [{w['low']:+.5f}, {w['high']:+.5f}] "
        f"({100 * w['level']:.0f}% Welch interval over seeds, on these test rows; the naive winner is picked on them)"
    )
    print(f"  per-law mean test MSE   losslab    naive   losslab - naive [{100 * w['level']:.0f}% interval]")
    for law in r["laws"]:
        a = r["ours_table"].get(law, math.nan)
        g = r["gaps"].get(law)
        gap = f"{g['diff']:+.5f} [{g['low']:+.5f}, {g['high']:+.5f}]" if g else "-"
        print(f"    {law:22s} {a:9.5f} {r['naive_table'].get(law, math.nan):9.5f}   {gap}")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=",".join(DEFAULT_DATA), help="comma-separated registry names")
    parser.add_argument(
        "--laws", default=None, help="comma-separated law names (default: per data set, DEFAULT_LAWS or DATA_LAWS; from: " + ", ".join(naive.NAIVE_LAWS) + ")"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=None, help="alternating repetitions (default 5; 1 with --quick)")
    parser.add_argument("--model", default=None, help="trunk for every data set (default: mlp for tables, cnn-small for images)")
    parser.add_argument("--epochs", type=int, default=None, help="losslab's epoch cap and the naive budget (default per data set)")
    parser.add_argument("--naive-epochs", type=int, default=None, help="the naive loop's fixed budget (default: --epochs)")
    parser.add_argument("--patience", type=int, default=_default_patience(), help="losslab's early-stopping patience (default: compare's)")
    parser.add_argument("--eval-every", type=int, default=1, help="the naive loop scores its seeds on the test rows every this many epochs (untimed)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for both sides")
    parser.add_argument(
        "--replicas", default="auto", choices=["auto", "true", "false", "laws"], help="ll.compare's replica batching ('laws': laws of one head shape together)"
    )
    parser.add_argument("--workers", type=int, default=1, help="ll.compare's worker processes (laws side by side; the naive loop stays one process)")
    parser.add_argument(
        "--halving", default=None, metavar="EPOCHS",
        help="ll.compare's successive halving across laws: laws significantly behind at these epochs (comma-separated rungs) stop (default: off)",
    )  # fmt: skip
    parser.add_argument("--halving-alpha", type=float, default=0.01, help="the level of --halving's test (Bonferroni over the laws)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 160 rows (all of a data set with fixed splits), 2 laws, 2 seeds, 2 epochs, 1 repetition")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = None if args.laws is None else [s.strip() for s in args.laws.split(",") if s.strip()]
    unknown = [law for law in chosen or [] if law not in naive.NAIVE_LAWS]
    if unknown:
        parser.error(f"--laws: no naive reference for {unknown}; choose from {sorted(naive.NAIVE_LAWS)}")
    try:
        rungs = None if args.halving is None else [int(k) for k in args.halving.split(",")]
    except ValueError:
        parser.error(f"--halving {args.halving}: expected whole numbers of epochs separated by commas, e.g. 5 or 5,10")
    if args.eval_every < 1:
        parser.error(f"--eval-every {args.eval_every}: expected a whole number of epochs >= 1")
    seeds, reps = args.seeds, args.reps or 5
    if args.quick:
        seeds, reps = min(seeds, 2), args.reps or 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, device {args.device}; "
        f"{seeds} seeds, {reps} alternating repetition(s) per side, losslab workers {args.workers}"
        + ("" if rungs is None else f", losslab halving at epoch(s) {args.halving} (alpha {args.halving_alpha:g})")
    )
    results = []
    for name in [s.strip() for s in args.data.split(",") if s.strip()]:
        ds, why = _load(name, args.quick)
        if ds is None:
            print(why)
            continue
        laws = list(chosen or laws_for(name))
        if args.quick:
            laws = laws[:2]
        model, epochs = defaults_for(name, ds)
        model = args.model or model
        epochs = 2 if args.quick else (args.epochs or epochs)
        naive_epochs = 2 if args.quick else (args.naive_epochs or epochs)
        r = bench_data(
            name, ds, laws=laws, seeds=seeds, model=model, epochs=epochs, naive_epochs=naive_epochs,
            patience=args.patience, reps=reps, device=args.device,
            replicas={"auto": "auto", "true": True, "false": False, "laws": "laws"}[args.replicas], workers=args.workers,
            eval_every=args.eval_every,
            compare_kwargs=None if rungs is None else {"halving": {"rungs": [1] if args.quick else rungs, "alpha": args.halving_alpha}},
        )  # fmt: skip
        results.append(r)
        _print(r, args, epochs, naive_epochs)
    return results


if __name__ == "__main__":
    main()
