"""Replica-mode benchmark: one comparison with its seeds trained one at a time, per law as one batched model, and laws together.

Run ``python -m benchmarks.modes`` (``--device cuda`` on a GPU; ``--quick`` for a smoke run). For one
data set it runs ``ll.compare`` with the grid benchmark's six laws and five seeds three ways,
alternating in each repetition:

* ``replicas=False``: every (law, seed) trains alone, one model after the other;
* ``replicas=True``: the seeds of each law train as one batched model;
* ``replicas="laws"``: laws of one head shape train together as one batched model.

It prints each mode's median and min-max seconds, the ratio to ``replicas=False``, and how far each
batched mode's results are from the one-at-a-time ones: the largest difference of a run's test
mean squared error and of a law's mean over seeds, and how many runs stopped after another number
of epochs. Batching changes only the order of floating-point sums, so on the CPU the results agree
to rounding; on a GPU the batched matrix products round differently, and a run whose validation
loss was nearly tied between two epochs may keep another epoch's weights.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import pandas as pd
import torch

import losslab as ll

from . import _timing
from .grid import DEFAULT_LAWS, load_as_grid, warm_up

MODES = {"false": False, "true": True, "laws": "laws"}


def _runs(res) -> dict:
    """(law, seed) -> (test MSE, epochs run); the MSE of a run that diverged is nan."""
    f = res.frame()
    mse = pd.to_numeric(f["mean_squared_error"], errors="coerce")
    return {(law, int(seed)): (float(v), int(e)) for law, seed, v, e in zip(f["law"], f["seed"], mse, f["epochs"])}


def _largest_gap(a: dict, b: dict) -> float:
    """The largest |difference| of the test MSE over runs where both are finite; nan where one side diverged alone."""
    gaps = [abs(a[k][0] - b[k][0]) for k in b]
    if any(math.isnan(g) and not (math.isnan(a[k][0]) and math.isnan(b[k][0])) for g, k in zip(gaps, b)):
        return math.nan
    finite = [g for g in gaps if not math.isnan(g)]
    return max(finite, default=0.0)


def compare_modes(ds, *, model: str, epochs: int, device: str, reps: int, laws=DEFAULT_LAWS, seeds: int = 5, modes=tuple(MODES)) -> dict:
    """Time ``ll.compare`` under each replica mode, alternating; compare every mode's runs with the first mode's."""
    kw = dict(laws=list(laws), seeds=seeds, model=model, epochs=epochs, device=device)
    warm_up(ds, laws[0], model, device)
    times: dict[str, list[float]] = {m: [] for m in modes}
    last: dict = {}
    for rep in range(reps):
        order = list(modes) if rep % 2 == 0 else list(reversed(modes))  # a drift in load favours no mode
        for m in order:
            t0 = time.perf_counter()
            res = ll.compare(ds, replicas=MODES[m], **kw)
            res.recommend()
            times[m].append(time.perf_counter() - t0)
            last[m] = res
    base_mode = modes[0]
    base = _runs(last[base_mode])
    base_table = last[base_mode].table()["mean_squared_error"]
    out: dict = {"modes": {}, "base": base_mode, "recommended": {}}
    for m in modes:
        runs = _runs(last[m])
        diff = _largest_gap(runs, base)
        law_diff = float((last[m].table()["mean_squared_error"] - base_table).abs().max())
        other_epochs = sum(runs[k][1] != base[k][1] for k in base)
        ratios = [b / a for a, b in zip(times[m], times[base_mode])]
        out["modes"][m] = {
            "median": statistics.median(times[m]),
            "range": (min(times[m]), max(times[m])),
            "speedup": statistics.median(times[base_mode]) / statistics.median(times[m]),
            "speedup_range": (min(ratios), max(ratios)),
            "max_run_diff": diff,
            "max_law_diff": law_diff,
            "other_epochs": other_epochs,
            "runs": len(base),
        }
        out["recommended"][m] = last[m].recommend().law
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.modes", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="digits-inpaint", help="registry name")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions")
    parser.add_argument("--modes", default="false,true,laws", help="replica modes, the first the baseline: " + ", ".join(MODES))
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 160 rows, 2 laws, 2 seeds, 2 epochs, 1 repetition")
    args = parser.parse_args(argv)
    _timing.setup_process(args.threads, False)
    modes = tuple(s.strip() for s in args.modes.split(",") if s.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"--modes: unknown {unknown}; choose from {list(MODES)}")
    ds, model, epochs = load_as_grid(args.data, quick=args.quick)
    laws, seeds, reps = DEFAULT_LAWS, 5, args.reps
    if args.quick:
        laws, seeds, epochs, reps = DEFAULT_LAWS[:2], 2, 2, 1
    dev = torch.device(args.device)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; {args.data} ({len(ds)} rows, model {model}, cap {epochs} epochs), {len(laws)} laws x {seeds} seeds")
    out = compare_modes(ds, model=model, epochs=epochs, device=args.device, reps=reps, laws=laws, seeds=seeds, modes=modes)
    print(f"  {'replicas':9s} {'median s':>9s} {'min-max':>13s} {'vs ' + out['base']:>9s} {'min-max':>11s}  largest |diff| of test MSE: run / law mean; runs stopped elsewhere; recommended")
    for m, st in out["modes"].items():
        print(
            f"  {m:9s} {st['median']:9.2f} {st['range'][0]:6.2f}-{st['range'][1]:<6.2f} {st['speedup']:8.2f}x "
            f"{st['speedup_range'][0]:5.2f}-{st['speedup_range'][1]:<5.2f}  {st['max_run_diff']:.1e} / {st['max_law_diff']:.1e}; "
            f"{st['other_epochs']} of {st['runs']}; {out['recommended'][m]}"
        )
    return out


if __name__ == "__main__":
    main()
