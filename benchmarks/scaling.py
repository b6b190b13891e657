"""Scaling benchmark: time of ``ll.compare`` against the number of rows and the number of replicas (seeds).

Run ``python -m benchmarks.scaling`` (``--quick`` for a smoke run). The data are
digits-inpaint-sized (1797 rows, 32 inputs, 32 targets in [0, 1]); ``--rows`` copies them
x1, x2, x4, x8 (the row count is what is timed, not what is learnt). Every run trains a
fixed number of epochs (patience = epochs, so early stopping never ends a run sooner), so
the work per run is proportional to the rows and the timings measure the engine, not luck.

* rows: one law, one seed, rows x1 .. x8: the time should grow linearly (ratio ~ the factor);
* replicas: one law, ``seeds = 1, 2, 4, 8`` on the x1 data: linear when seeds train one after
  another, sub-linear where the engine batches replicas. When ``ll.compare`` offers a switch
  between batched and one-at-a-time training (see ``_replica_switch``), ``--one-at-a-time``
  times both, alternating.

Sizes are timed in alternation (x1, x2, x4, x8, x1, ...), ``--reps`` rounds, medians and min-max.

* ``--ray``: past one process. One grid (``--data``, default retinamnist's CNN grid where
  ``LOSSLAB_DATA`` has it, else digits-inpaint's MLPs; ``--laws``, ``--seeds``, ``--epochs``
  with no early stop) timed with ``workers="ray"`` (tasks of one CPU each on a local cluster of
  ``--ray-cpus`` CPUs, started once, untimed, and printed) and with ``workers=1`` (this
  process) at torch's default threads and at one thread, the three alternating, ``--reps``
  rounds after one untimed round of each.
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time

import numpy as np
import torch

import losslab as ll

#: keyword arguments of ll.compare that could switch replica batching, most likely first
_SWITCH_NAMES = ("batch_replicas", "replicas", "batched", "vmap")


def _replica_switch() -> str | None:
    """The name of ``ll.compare``'s replica-batching switch, if it has one."""
    params = inspect.signature(ll.compare).parameters
    return next((n for n in _SWITCH_NAMES if n in params), None)


def _data(factor: int, base_rows: int | None):
    ds = ll.data.load("digits-inpaint")
    rows = np.arange(len(ds) if base_rows is None else min(base_rows, len(ds)))
    return ds.subset(np.tile(rows, factor))


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _table(title: str, keys: list, times: dict, unit: str) -> list[dict]:
    base = statistics.median(times[keys[0]])
    print(f"\n{title}")
    print(f"  {unit:>9s} {'median s':>9s} {'min-max':>15s} {'ratio to x1':>12s} {'ideal (linear)':>15s}")
    out = []
    for k in keys:
        t = statistics.median(times[k])
        out.append({"x": k, "seconds": t, "range": (min(times[k]), max(times[k])), "ratio": t / base})
        print(f"  {k:>9} {t:9.2f} {min(times[k]):7.2f}-{max(times[k]):<7.2f} {t / base:12.2f} {k / keys[0]:15.0f}")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--law", default="bernoulli")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--rows", default="1,2,4,8", help="row multiples")
    parser.add_argument("--replicas", default="1,2,4,8", help="numbers of seeds")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--one-at-a-time", action="store_true", help="also time replicas trained one after another (needs a switch in ll.compare)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode: 200 rows, x1/x2, 1 and 2 seeds, 1 epoch, 1 repetition")
    parser.add_argument("--ray", action="store_true", help="instead: one grid with workers=1 against workers='ray' on a local cluster")
    parser.add_argument("--ray-cpus", type=int, default=2, help="--ray: CPUs of the local Ray cluster")
    parser.add_argument("--data", default=None, help="--ray: the data set (default retinamnist if present, else digits-inpaint)")
    parser.add_argument("--laws", default="bernoulli,sigmoid-mse,zoib,gaussian-hetero", help="--ray: the grid's laws")
    parser.add_argument("--seeds", type=int, default=2, help="--ray: seeds per law")
    args = parser.parse_args(argv)
    if args.ray:
        return ray_main(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    factors = [int(s) for s in args.rows.split(",")]
    replicas = [int(s) for s in args.replicas.split(",")]
    epochs, reps, base_rows = args.epochs, args.reps, None
    if args.quick:
        factors, replicas, epochs, reps, base_rows = factors[:2], replicas[:2], 1, 1, 200
    switch = _replica_switch()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, device {args.device}; "
        f"law {args.law}, model {args.model}, {epochs} epochs per run (no early stop), {reps} alternating round(s); "
        f"replica switch in ll.compare: {switch or 'none'}"
    )
    common = dict(laws=[args.law], model=args.model, epochs=epochs, patience=epochs, device=args.device)
    data = {k: _data(k, base_rows) for k in factors}
    ll.compare(data[factors[0]], seeds=1, **{**common, "epochs": 1})  # untimed: imports and one-time set-up

    row_times: dict[int, list[float]] = {k: [] for k in factors}
    for _ in range(reps):
        for k in factors:
            row_times[k].append(_timed(lambda: ll.compare(data[k], seeds=1, **common)))
    out = {"rows": _table(f"rows ({len(data[factors[0]])} x factor), 1 seed", factors, row_times, "rows x")}

    variants: dict[str, dict] = {"engine default": {}}
    if args.one_at_a_time:
        if switch is None:
            print("  (--one-at-a-time: ll.compare has no replica switch; only its default is timed)")
        else:
            variants = {"batched": {switch: True}, "one at a time": {switch: False}}
    times = {label: {k: [] for k in replicas} for label in variants}
    for _ in range(reps):
        for label, extra in variants.items():  # variants alternate too, so a load drift hits both alike
            for k in replicas:
                opts = extra if k > 1 else {}  # one seed is one model either way (compare refuses to batch it)
                times[label][k].append(_timed(lambda: ll.compare(data[factors[0]], seeds=k, **common, **opts)))
    for label in variants:
        out[f"replicas ({label})"] = _table(f"replicas: seeds of one law ({label})", replicas, times[label], "seeds")
    return out


def _ray_data(name: str | None, quick: bool):
    """``(data set, model)`` for ``--ray``: retinamnist's images and cnn-small where the data are present, else digits-inpaint's MLP."""
    from .grid import defaults_for, quick_rows

    if name is None:
        try:
            ds, name = ll.data.load("retinamnist"), "retinamnist"
        except ll.LosslabError:
            ds, name = ll.data.load("digits-inpaint"), "digits-inpaint"
    else:
        ds = ll.data.load(name)
    model = defaults_for(name, ds)[0]
    return (quick_rows(ds) if quick else ds), model


def ray_main(args) -> dict:
    """One grid: ``workers="ray"`` on a local cluster of ``args.ray_cpus`` CPUs against ``workers=1`` with torch's
    default threads and with one thread, the three alternating; each run's metrics compared."""
    import platform

    import ray

    ds, model = _ray_data(args.data, args.quick)
    epochs, reps = (1, 1) if args.quick else (args.epochs, args.reps)
    kw = dict(laws=args.laws.split(","), seeds=args.seeds, model=model, epochs=epochs, patience=epochs, device="cpu")
    default_threads = torch.get_num_threads()
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=args.ray_cpus, include_dashboard=False)
    started = time.perf_counter() - t0
    # workers=1 with one thread as well: a task of one CPU runs one thread, and on a loaded machine a process of
    # two threads can lose more to waiting for its second thread than it gains (so the ratio to it alone misleads).
    variants = {f"workers=1, {default_threads} threads": (1, default_threads), "workers=1, 1 thread": (1, 1), "workers='ray'": ("ray", default_threads)}
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"torch {torch.__version__}, ray {ray.__version__}\n"
        f"grid: {ds.name} ({len(ds)} rows), {model}, laws {kw['laws']}, {args.seeds} seeds, {epochs} epochs per run (no early stop)\n"
        f"workers='ray': a local cluster of {args.ray_cpus} CPUs, tasks of 1 CPU (1 torch thread); cluster start {started:.1f} s "
        f"(untimed below)\n{reps} alternating round(s) of the three after 1 untimed round of each"
    )
    times: dict[str, list[float]] = {name: [] for name in variants}
    results = {}
    for rnd in range(reps + 1):
        for name, (workers, threads) in variants.items():
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            results[name] = ll.compare(ds, workers=workers, **kw)
            if rnd:  # round 0 warms up: imports, the Ray workers' first torch import, caches
                times[name].append(time.perf_counter() - t0)
    torch.set_num_threads(default_threads)
    ray.shutdown()
    on_ray = results["workers='ray'"]
    ray_median = statistics.median(times["workers='ray'"])

    def out_ratio(med: float) -> float:
        return med / ray_median

    out = {"cluster_start": started, "load_after": os.getloadavg()[0]}
    for name, ts in times.items():
        med = statistics.median(ts)
        line = f"  {name:<22s} median {med:7.2f} s  (min-max {min(ts):.2f}-{max(ts):.2f})"
        if name != "workers='ray'":
            ratios = [a / b for a, b in zip(ts, times["workers='ray'"])]
            ref = results[name]
            same = all(a["metrics"] == b["metrics"] for a, b in zip(ref.runs, on_ray.runs))
            # CNN kernels round differently with another thread count: how far apart, where not identical
            gaps = [abs(a["metrics"][m] - b["metrics"][m]) / max(abs(a["metrics"][m]), 1e-12)
                    for a, b in zip(ref.runs, on_ray.runs) for m in ("mean_squared_error", "log_score")
                    if isinstance(a["metrics"].get(m), float) and isinstance(b["metrics"].get(m), float)]
            line += (f"; workers='ray' {out_ratio(med):.2f}x as fast "
                     f"(paired rounds {min(ratios):.2f}-{max(ratios):.2f}); metrics identical to the bit: {same}")
            if not same:
                line += f" (largest relative difference of a run's test MSE or log score: {max(gaps, default=0.0):.2g})"
            out[name] = {"median": med, "ratio": out_ratio(med), "identical": same}
        else:
            out[name] = {"median": med}
        print(line)
    print(f"  load average now {out['load_after']:.1f}")
    return out


if __name__ == "__main__":
    main()
