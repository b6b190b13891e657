"""Grid benchmark: ``losslab.compare`` against the naive one-model-at-a-time loop (``benchmarks.naive``).

Run ``python -m benchmarks.grid`` (``--quick`` for a smoke run on a few rows). For each data
set it times, alternately in one process, the time to the recommendation of

* losslab: ``ll.compare(ds, laws=..., seeds=..., model=..., epochs=E)`` (preloaded tensors,
  early stopping with patience, losslab's kernels and models) followed by ``.recommend()``;
* naive: :func:`benchmarks.naive.naive_compare` (a DataLoader, ``nn.MaxPool2d``, torch's loss ops,
  a fixed budget of E epochs, the winner by mean test MSE);

and prints the medians, their min-max over repetitions, the ratio naive / losslab, and each
side's winner with its mean test mean squared error (the default primary metric) over seeds.
Every repetition trains ``laws x seeds`` models on each side, so repetitions are few
(``--reps``, 5 by default, so each time is a median of 5; 1 in quick mode); the ratio's min-max
is over paired repetitions.

Needs ``LOSSLAB_DATA`` for retinamnist (skipped with a message when absent).
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

#: the laws both data sets accept (labels in [0, 1] with exact zeros and ones)
DEFAULT_LAWS = ("bernoulli", "sigmoid-mse", "gaussian-hetero", "continuous-bernoulli", "zoib", "binned")

#: data set -> (model, epochs): the budget of the naive loop and the cap of losslab's early stopping
DEFAULTS = {"digits-inpaint": ("mlp", 100), "retinamnist": ("cnn-small", 50)}


def _default_patience() -> int:
    return int(inspect.signature(ll.compare).parameters["patience"].default)


def defaults_for(name: str, ds) -> tuple[str, int]:
    """``(model, epochs)`` for a data set: :data:`DEFAULTS`, else the MLP (tables) or cnn-small (images), 50 epochs."""
    return DEFAULTS.get(name, ("mlp" if ds.kind == "table" else "cnn-small", 50))


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
    return (quick_rows(ds) if quick else ds), None


def mse_gap(ours: list[np.ndarray], ref: list[np.ndarray], y: np.ndarray, *, level: float = 0.95) -> dict:
    """Mean test MSE of ``ours`` minus that of ``ref`` (each a list of one prediction per seed), with a Welch interval.

    Each side's MSE is the mean over its seeds of each seed's MSE over the test rows and targets,
    as the grid reports it. Both sides are scored on the same test rows, so the randomness left
    between them is the training's: the interval is Welch's t-interval for the difference of two
    means of independent seeds (unequal variances, Welch-Satterthwaite degrees of freedom). It is
    conditional on the test rows (another test set would add its own spread). Negative means
    ``ours`` has the lower error. A seed whose predictions are not finite (a diverged run) is left out.
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)

    def per_seed(preds: list[np.ndarray]) -> np.ndarray:
        return np.array([float(((np.asarray(p, dtype=np.float64).reshape(y.shape) - y) ** 2).mean()) for p in preds])

    a, b = per_seed(ours), per_seed(ref)
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
    test_y = np.asarray(res._test["test_y"])
    if nv.test_y is None or test_y.shape != nv.test_y.shape or not np.allclose(test_y, nv.test_y):
        raise RuntimeError("losslab and the naive loop were scored on different test rows; the winners cannot be compared row by row")

    def ours(law: str) -> list[np.ndarray]:
        return [r["arrays"]["y_pred"] for r in res.runs if r["law"] == law and r["status"] == "ok"]

    gaps = {law: mse_gap(ours(law), nv.predictions[law], test_y) for law in laws if ours(law) and law in nv.predictions}
    gaps["winners"] = mse_gap(ours(rec.law), nv.predictions[nv.winner], test_y)
    return gaps


def bench_data(
    name: str, ds, *, laws, seeds: int, model: str, epochs: int, naive_epochs: int, patience: int, reps: int, device: str, replicas="auto",
    workers: int = 1,
) -> dict:
    """Alternate losslab and naive ``reps`` times on one data set; return times, ratio and winners."""
    last: dict = {}

    def ours():
        res = ll.compare(
            ds, laws=list(laws), seeds=seeds, model=model, epochs=epochs, patience=patience, device=device, replicas=replicas, workers=workers
        )
        last["ours"] = (res, res.recommend())

    def ref():
        last["naive"] = naive.naive_compare(ds, laws, seeds, model=model, epochs=naive_epochs, device=device)

    # One tiny untimed round of each side first: imports and one-time set-up are not the grid's cost.
    warm_up(ds, laws[0], model, device)
    naive.naive_compare(ds.subset(np.arange(min(len(ds), 64))), laws[:1], 1, model=model, epochs=1, device=device)
    t_ours, t_ref = [], []
    for rep in range(reps):
        # Alternate which side goes first, so that a drift in the machine's load favours neither.
        order = ((ours, t_ours), (ref, t_ref)) if rep % 2 == 0 else ((ref, t_ref), (ours, t_ours))
        for fn, out in order:
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    res, rec = last["ours"]
    nv = last["naive"]
    epochs_run = res.frame()["epochs"].astype(float)
    ratios = [b / a for a, b in zip(t_ours, t_ref)]
    return {
        "data": name,
        "rows": len(ds),
        "model": model,
        "runs": len(laws) * seeds,
        "ours": statistics.median(t_ours),
        "ours_range": (min(t_ours), max(t_ours)),
        "naive": statistics.median(t_ref),
        "naive_range": (min(t_ref), max(t_ref)),
        "speedup": statistics.median(t_ref) / statistics.median(t_ours),
        "speedup_range": (min(ratios), max(ratios)),
        "ours_winner": rec.law,
        "ours_metric": rec.value,
        "ours_epochs": float(epochs_run.mean()),
        "naive_winner": nv.winner,
        "naive_metric": nv.winner_value,
        "naive_epochs": naive_epochs,
        "ours_table": {law: float(v) for law, v in res.table()[rec.metric].items()},
        "naive_table": {law: float(np.nanmean(v)) for law, v in nv.values.items()},
        "gaps": _gaps(res, rec, nv, laws),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits-inpaint,retinamnist", help="comma-separated registry names")
    parser.add_argument("--laws", default=",".join(DEFAULT_LAWS), help="comma-separated law names (from: " + ", ".join(naive.NAIVE_LAWS) + ")")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=None, help="alternating repetitions (default 5; 1 with --quick)")
    parser.add_argument("--model", default=None, help="trunk for every data set (default: mlp for tables, cnn-small for images)")
    parser.add_argument("--epochs", type=int, default=None, help="losslab's epoch cap and the naive budget (default per data set)")
    parser.add_argument("--naive-epochs", type=int, default=None, help="the naive loop's fixed budget (default: --epochs)")
    parser.add_argument("--patience", type=int, default=_default_patience(), help="losslab's early-stopping patience (default: compare's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for both sides")
    parser.add_argument(
        "--replicas", default="auto", choices=["auto", "true", "false", "laws"], help="ll.compare's replica batching ('laws': laws of one head shape together)"
    )
    parser.add_argument("--workers", type=int, default=1, help="ll.compare's worker processes (laws side by side; the naive loop stays one process)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 160 rows, 2 laws, 2 seeds, 2 epochs, 1 repetition")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    laws = [s.strip() for s in args.laws.split(",") if s.strip()]
    unknown = [law for law in laws if law not in naive.NAIVE_LAWS]
    if unknown:
        parser.error(f"--laws: no naive reference for {unknown}; choose from {sorted(naive.NAIVE_LAWS)}")
    seeds, reps = args.seeds, args.reps or 5
    if args.quick:
        laws, seeds, reps = laws[:2], min(seeds, 2), args.reps or 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, device {args.device}; "
        f"{len(laws)} laws x {seeds} seeds, {reps} alternating repetition(s) per side, losslab workers {args.workers}"
    )
    results = []
    for name in [s.strip() for s in args.data.split(",") if s.strip()]:
        ds, why = _load(name, args.quick)
        if ds is None:
            print(why)
            continue
        model, epochs = defaults_for(name, ds)
        model = args.model or model
        epochs = 2 if args.quick else (args.epochs or epochs)
        naive_epochs = 2 if args.quick else (args.naive_epochs or epochs)
        r = bench_data(
            name, ds, laws=laws, seeds=seeds, model=model, epochs=epochs, naive_epochs=naive_epochs,
            patience=args.patience, reps=reps, device=args.device,
            replicas={"auto": "auto", "true": True, "false": False, "laws": "laws"}[args.replicas], workers=args.workers,
        )  # fmt: skip
        results.append(r)
        print(
            f"\n{name} ({r['rows']} rows, model {model}, {r['runs']} runs per side; losslab: cap {epochs} epochs, "
            f"patience {args.patience}, ran {r['ours_epochs']:.1f} on average; naive: {naive_epochs} epochs)"
        )
        print(f"  {'':8s} {'median s':>9s} {'min-max':>15s}   winner (mean test MSE over seeds)")
        print(f"  {'losslab':8s} {r['ours']:9.1f} {r['ours_range'][0]:7.1f}-{r['ours_range'][1]:<7.1f}   {r['ours_winner']} ({r['ours_metric']:.5f})")
        print(f"  {'naive':8s} {r['naive']:9.1f} {r['naive_range'][0]:7.1f}-{r['naive_range'][1]:<7.1f}   {r['naive_winner']} ({r['naive_metric']:.5f})")
        print(f"  speed-up naive/losslab {r['speedup']:.2f}x (paired repetitions {r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f})")
        w = r["gaps"]["winners"]
        print(
            f"  winners' test MSE, losslab - naive: {w['diff']:+.5f} [{w['low']:+.5f}, {w['high']:+.5f}] "
            f"({100 * w['level']:.0f}% Welch interval over seeds, on these test rows; the naive winner is picked on them)"
        )
        print(f"  per-law mean test MSE   losslab    naive   losslab - naive [{100 * w['level']:.0f}% interval]")
        for law in laws:
            a = r["ours_table"].get(law, math.nan)
            g = r["gaps"].get(law)
            gap = f"{g['diff']:+.5f} [{g['low']:+.5f}, {g['high']:+.5f}]" if g else "-"
            print(f"    {law:22s} {a:9.5f} {r['naive_table'].get(law, math.nan):9.5f}   {gap}")
    return results


if __name__ == "__main__":
    main()
