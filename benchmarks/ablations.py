"""Ablations behind statements in ``docs/performance.md``: small experiments that switch one thing off.

Run ``python -m benchmarks.ablations WHAT`` (``--quick`` for a smoke run):

* ``init-bias``: ``ll.compare`` of one law (gaussian-hetero by default) with its head's bias fitted
  to the training labels (losslab's default), and with the bias left at PyTorch's default
  initialisation (what the naive loop does), each with early-stopping patience 20 and 50. Prints the
  mean test MSE and log score over seeds. It shows that retinamnist's naive gaussian-hetero beats
  losslab's by its starting point, not by early stopping.
* ``cb-clamp``: the naive loop (``benchmarks.naive``) training the continuous Bernoulli three ways:
  with torch's ``ContinuousBernoulli`` (which clamps its probabilities to ``[eps, 1 - eps]``), with
  losslab's exact loss, and with losslab's loss on logits clamped where torch's probabilities are.
  Prints the mean test MSE over seeds. It shows that torch's clamp, not the training loop, makes the
  naive continuous-bernoulli better on digits-inpaint (labels exactly 0 or 1, where the exact NLL has
  no lower bound).
* ``flatten``: one cnn-small training step (forward, loss, backward, Adam; one thread, batch 128)
  flattening the channels-last activation in (C, H, W) order, as losslab does (a copy to NCHW), against
  (H, W, C) order (a free view) with the head's weight columns permuted to match. Both models compute
  the same function (checked first); alternating repetitions, median ms per step.
* ``checkpoint``: ``ll.compare`` of the grid's laws keeping each run's best validation epoch with
  early stopping (losslab's default), against training to the epoch cap and keeping the last epoch
  (what the naive loop does). Prints each law's mean test MSE, log score, epochs and seconds, and
  each way's best law by test MSE. It shows what early stopping on the validation NLL costs or saves
  in the grid's metric.
* ``allocator``: a whole comparison (retinamnist, bernoulli and binned, 5 seeds, cnn-small) in
  fresh one-thread processes, alternating glibc's default allocator with ``_timing.tune_malloc``
  (the allocator is process-wide state, so each run gets its own process). Prints seconds and checks
  that the results are equal.
* ``floor``: the smallest time the grid's ``ll.compare`` could take on the CPU with cnn-small if only its
  convolution and max-pool kernels (forward and backward, NHWC, as losslab runs them) took any time:
  each kernel timed alone per image, times the images the comparison trained and evaluated. Runs
  the comparison and the naive loop once each in the same process and prints the largest speed-up
  over the naive loop that such a floor leaves, next to the speed-up measured.
* ``workers``: the grid's ``ll.compare`` in one process with a torch thread per CPU, alternating with
  the same call in worker processes (``--workers``, default what ``workers="auto"`` picks, at least 2),
  each with its share of the CPUs. Prints seconds, the ratio, and the largest difference between the
  two ways' test MSEs, run by run. It is the measurement behind ``workers="auto"``'s choice.
* ``halving``: one ``ll.compare(..., halving=RUNGS)`` of the grid's laws and where its time goes: each
  law's training to each rung (timed one by one), the survivors' whole runs, the evaluation and the
  recommendation. The rungs' seconds spent on laws that then went on are the price of retraining the
  survivors from the start (what keeping their training state would save).
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import losslab as ll
from losslab.experiment import replicas, trainer
from losslab.heads import LawHead
from losslab.laws import validation
from losslab.models import build_model, build_trunk, channels_last, relu_max_pool2d

from . import _timing, naive
from .grid import DEFAULT_LAWS, laws_for, load_as_grid, warm_up


def _means(res) -> dict:
    """Mean test MSE, log score and epochs run over a comparison's runs."""
    f = res.frame()
    return {k: float(f[c].astype(float).mean()) for k, c in (("mse", "mean_squared_error"), ("log_score", "log_score"), ("epochs", "epochs"))}


# ---------------------------------------------------------------------------- init-bias
def init_bias(data: str, law: str, seeds: int, epochs: int | None, patiences: list[int], quick: bool = False) -> list[dict]:
    """Mean test MSE and log score of ``law`` with and without the head's fitted initial bias (``epochs``: the cap,
    ``None`` for the data set's default)."""
    ds, model, epochs = load_as_grid(data, epochs, quick)
    rows = []
    for fitted in (True, False):
        for patience in patiences:
            with ExitStack() as stack:
                if not fitted:  # every seed keeps the bias PyTorch's nn.Linear drew for it
                    stack.enter_context(mock.patch.object(LawHead, "init_bias", lambda self, *a, **k: None))
                    stack.enter_context(mock.patch.object(LawHead, "copy_bias", lambda self, other: None))
                res = ll.compare(ds, laws=[law], seeds=seeds, model=model, epochs=epochs, patience=patience)
            rows.append({"bias": "fitted to the labels" if fitted else "PyTorch default", "patience": patience, **_means(res), "cap": epochs})
    return rows


# ---------------------------------------------------------------------------- checkpoint
def checkpoint(data: str, laws: list[str], seeds: int, epochs: int | None, patience: int, quick: bool = False) -> list[dict]:
    """Each law's mean test MSE and log score: best validation epoch with early stopping, against the last epoch of the cap."""
    ds, model, epochs = load_as_grid(data, epochs, quick)
    warm_up(ds, laws[0], model)
    rows = []
    for law in laws:
        for keep in ("best", "last"):
            with ExitStack() as stack:
                if keep == "last":  # every epoch "improves": no early stop, and the last epoch's weights are kept
                    for loop in (trainer, replicas):  # the loop of one model and the loop of several trained as one
                        stack.enter_context(mock.patch.object(loop, "improved", lambda val, best, rtol: True))
                t0 = time.perf_counter()
                res = ll.compare(ds, laws=[law], seeds=seeds, model=model, epochs=epochs, patience=patience)
                seconds = time.perf_counter() - t0
            rows.append({"law": law, "keep": keep, **_means(res), "seconds": seconds, "cap": epochs})
    return rows


# ---------------------------------------------------------------------------- cb-clamp
def cb_clamp(data: str, seeds: int, epochs: int | None, quick: bool = False) -> dict:
    """Mean test MSE of the naive loop's continuous Bernoulli with torch's loss, losslab's, and losslab's on clamped logits."""
    ds, model, epochs = load_as_grid(data, epochs, quick)
    law = ll.get_law("continuous-bernoulli")
    torch_law = naive.NAIVE_LAWS["continuous-bernoulli"]
    # torch clamps probs to [eps, 1 - eps] of the dtype: in logits, +-15.94 in float32
    bound = -float(torch.logit(torch.tensor(torch.finfo(torch.float32).eps)))

    def ours(clamp: bool):
        def make() -> naive.NaiveLaw:
            def loss(out, y):
                with validation(False):
                    return law.loss(out.clamp(-bound, bound) if clamp else out, y)

            base = torch_law()  # the naive law's layout and mean; only the loss is swapped
            return naive.NaiveLaw(base.raw_dim, loss, base.mean)

        return make

    y = np.asarray(ds.y)
    out = {"bound": bound, "epochs": epochs, "seeds": seeds, "at_0": float((y == 0).mean()), "at_1": float((y == 1).mean())}
    for key, make in (("torch", torch_law), ("losslab", ours(False)), ("losslab, clamped logits", ours(True))):
        with mock.patch.dict(naive.NAIVE_LAWS, {"continuous-bernoulli": make}):
            res = naive.naive_compare(ds, ["continuous-bernoulli"], seeds, model=model, epochs=epochs)
        out[key] = float(statistics.fmean(res.values["continuous-bernoulli"]))
    return out


# ---------------------------------------------------------------------------- flatten
class _HWCFlatten(torch.nn.Module):
    """cnn-small's trunk flattening its channels-last activation in (H, W, C) order: a view, no copy."""

    def __init__(self, trunk: torch.nn.Module) -> None:
        super().__init__()
        self.inner = trunk
        self.out_features = trunk.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = relu_max_pool2d(self.inner.conv(channels_last(x)))  # as SmallCNN.forward, up to the flatten
        return h.permute(0, 2, 3, 1).flatten(1)


def _hwc_model(law, shape, seed: int):
    """cnn-small with the (H, W, C) flatten and its head's weight columns permuted to (H, W, C) order."""
    m = build_model("cnn-small", shape, law, seed=seed)
    c = m.trunk.conv.out_channels
    h, w = shape[1] // 2, shape[2] // 2
    with torch.no_grad():  # column j of the new weight is the old column of the same (c, h, w) feature
        weight = m.head.linear.weight
        weight.copy_(weight.reshape(-1, c, h, w).permute(0, 2, 3, 1).reshape(weight.shape[0], -1))
    m.trunk = _HWCFlatten(m.trunk)
    return m


def flatten(reps: int, batch: int = 128, steps: int = 5) -> dict:
    """Step time of cnn-small with the (C, H, W) flatten (losslab) against the (H, W, C) flatten."""
    law = ll.get_law("bernoulli")
    shape = (3, 28, 28)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *shape, generator=gen).contiguous(memory_format=torch.channels_last)
    y = torch.rand(batch, generator=gen)
    chw, hwc = build_model("cnn-small", shape, law, seed=0), _hwc_model(law, shape, seed=0)
    with torch.no_grad():
        gap = float((chw(x) - hwc(x)).abs().max())

    def stepper(m):
        opt = torch.optim.Adam(m.parameters(), lr=3e-3, fused=True)

        def run():
            for _ in range(steps):
                with validation(False):
                    loss = law.loss(m(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()

        return run

    t = _timing.time_pair(stepper(chw), stepper(hwc), reps=reps)
    return {**t, "a": t["a"] / steps, "b": t["b"] / steps, "a_range": tuple(v / steps for v in t["a_range"]),
            "b_range": tuple(v / steps for v in t["b_range"]), "output_gap": gap}  # fmt: skip


# ---------------------------------------------------------------------------- floor
def image_kernels(shape=(3, 28, 28), channels: int = 16, batch: int = 128) -> dict:
    """cnn-small's four image kernels as a training step calls them, each a callable on fixed inputs.

    ``conv forward`` (``conv2d``), ``conv backward`` (weight and bias gradients only: the input needs
    none), ``pool forward`` (``max_pool2d_with_indices``, as autograd calls it for a tensor that needs
    a gradient) and ``pool backward``, all on channels-last tensors of ``batch`` images. Each returns
    what the kernel returns; ``inputs`` holds the tensors they read.
    """
    aten = torch.ops.aten
    gen = torch.Generator().manual_seed(0)
    x = channels_last(torch.rand(batch, *shape, generator=gen))
    conv = torch.nn.Conv2d(shape[0], channels, 3, padding=1)
    w, b = conv.weight.detach(), conv.bias.detach()
    h = torch.nn.functional.conv2d(x, w, b, padding=1)
    grad_h = torch.randn(h.shape, generator=gen).contiguous(memory_format=torch.channels_last)
    k, s, p, d = [2, 2], [2, 2], [0, 0], [1, 1]
    pooled, idx = aten.max_pool2d_with_indices(h, k, s, p, d, False)
    grad_p = torch.randn(pooled.shape, generator=gen).contiguous(memory_format=torch.channels_last)
    return {
        "conv forward": lambda: torch.nn.functional.conv2d(x, w, b, padding=1),
        "conv backward": lambda: aten.convolution_backward(grad_h, x, w, [channels], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, True]),
        "pool forward": lambda: aten.max_pool2d_with_indices(h, k, s, p, d, False),
        "pool backward": lambda: aten.max_pool2d_with_indices_backward(grad_p, h, k, s, p, d, False, idx),
        "inputs": {"x": x, "weight": w, "bias": b, "h": h, "grad_h": grad_h, "grad_pooled": grad_p},
    }  # fmt: skip


def conv_pool_kernels(shape=(3, 28, 28), channels: int = 16, batch: int = 128, reps: int = 21) -> dict:
    """Median seconds per image of each of :func:`image_kernels`, each timed alone."""
    kernels = image_kernels(shape, channels, batch)
    kernels.pop("inputs")
    return {name: _timing.time_one(fn, reps=reps, warmup=3) / batch for name, fn in kernels.items()}


def floor(data: str, laws: list[str], seeds: int, epochs: int | None, quick: bool = False, reps: int = 21) -> dict:
    """The grid's ``ll.compare`` and naive loop, timed once each, and the time the four image kernels alone would take.

    The floor counts each training epoch's full minibatches (forward and backward kernels) and one
    forward pass over the validation rows per epoch run, plus one over the test rows per run. It
    leaves out everything else (the head, the loss, relu, Adam, Python), so the speed-up it allows is
    an upper bound: no change outside these kernels can take losslab's comparison beyond it.
    """
    ds, model, epochs = load_as_grid(data, epochs, quick)
    if model != "cnn-small":
        raise SystemExit(f"floor times cnn-small's kernels; the grid runs {data} with {model}")
    warm_up(ds, laws[0], model)
    t0 = time.perf_counter()
    res = ll.compare(ds, laws=laws, seeds=seeds, model=model, epochs=epochs)
    res.recommend()
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive.naive_compare(ds, laws, seeds, model=model, epochs=epochs)
    theirs = time.perf_counter() - t0
    defaults = inspect.signature(ll.compare).parameters  # the split and minibatch compare used, with its defaults
    idx = ds.split(defaults["split_seed"].default, val=defaults["val"].default, test=defaults["test"].default)
    n_train, n_val, n_test = (len(idx[k]) for k in ("train", "val", "test"))
    bs = min(int(defaults["batch_size"].default), n_train)
    shape = tuple(ds.X.shape[1:])
    channels = build_trunk("cnn-small", shape, seed=0).conv.out_channels
    kernels = conv_pool_kernels(shape, channels=channels, batch=bs, reps=reps)
    epochs_run = res.frame()["epochs"].astype(float)
    trained = float(epochs_run.sum()) * (n_train // bs) * bs
    evaluated = float(epochs_run.sum()) * n_val + len(epochs_run) * n_test
    seconds = trained * sum(kernels.values()) + evaluated * (kernels["conv forward"] + kernels["pool forward"])
    return {
        "kernels": kernels, "images_trained": trained, "images_evaluated": evaluated, "floor": seconds,
        "losslab": ours, "naive": theirs, "ratio": theirs / ours, "max_ratio": theirs / seconds,
        "epochs_mean": float(epochs_run.mean()), "cap": epochs, "runs": len(epochs_run), "batch": bs,
    }  # fmt: skip


# ---------------------------------------------------------------------------- workers
def workers(data: str, laws: list[str], seeds: int, epochs: int | None, n_workers: int | None, reps: int, quick: bool = False) -> dict:
    """``ll.compare`` in one process (a thread per CPU) against ``n_workers`` processes, alternating ``reps`` times.

    ``n_workers=None``: what ``workers="auto"`` resolves to for this grid, but at least 2. The
    runs of both ways must agree (the largest difference of a run's test MSE is returned).
    """
    from losslab.experiment import workers as pool

    ds, model, epochs = load_as_grid(data, epochs, quick)
    if n_workers is None:
        cnn_runs = model in ("cnn", "cnn-small")  # on the CPU compare trains CNN seeds one at a time
        n_workers = max(2, pool.resolve_workers("auto", n_jobs=len(laws) * seeds, device=torch.device("cpu"), model=model, cnn_runs=cnn_runs))
    threads = pool.cpu_count()
    warm_up(ds, laws[0], model)
    kw = dict(laws=laws, seeds=seeds, model=model, epochs=epochs)
    times: dict[str, list[float]] = {"one": [], "many": []}
    last: dict = {}
    for rep in range(reps):
        for way in (("one", "many") if rep % 2 == 0 else ("many", "one")):
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            res = ll.compare(ds, workers=1 if way == "one" else n_workers, **kw)
            res.recommend()
            times[way].append(time.perf_counter() - t0)
            last[way] = res
    mse = {way: {(r["law"], r["seed"]): r["metrics"]["mean_squared_error"] for r in res.runs} for way, res in last.items()}
    if mse["one"].keys() != mse["many"].keys():
        raise RuntimeError("the two ways trained different runs")
    ratios = [a / b for a, b in zip(times["one"], times["many"])]
    return {
        "one": statistics.median(times["one"]), "one_range": (min(times["one"]), max(times["one"])),
        "many": statistics.median(times["many"]), "many_range": (min(times["many"]), max(times["many"])),
        "ratio": statistics.median(times["one"]) / statistics.median(times["many"]), "ratio_range": (min(ratios), max(ratios)),
        "workers": n_workers, "threads": threads, "model": model, "cap": epochs, "runs": len(mse["one"]),
        "max_mse_gap": max(abs(mse["one"][k] - mse["many"][k]) for k in mse["one"]),
        "winners": (last["one"].recommend().law, last["many"].recommend().law),
    }  # fmt: skip


# ---------------------------------------------------------------------------- allocator
def _allocator_child(tuned: bool, data: str, quick: bool) -> None:
    if tuned and not _timing.tune_malloc():
        raise SystemExit("glibc's mallopt is not available here")
    torch.set_num_threads(1)
    ds, model, epochs = load_as_grid(data, quick=quick)
    kw = dict(laws=["bernoulli", "binned"], seeds=5, model=model, epochs=epochs)
    if quick:
        kw = dict(kw, seeds=2, epochs=2)
    warm_up(ds, "bernoulli", model)
    t0 = time.perf_counter()
    res = ll.compare(ds, **kw)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "mse": res.table()["mean_squared_error"].to_dict()}))


def allocator(data: str, reps: int, quick: bool = False) -> dict:
    """Whole-comparison seconds with the default and the tuned allocator, each run in a fresh process."""
    root = Path(__file__).resolve().parents[1]
    times: dict[str, list[float]] = {"plain": [], "tuned": []}
    results = {}
    for rep in range(reps):
        order = ("plain", "tuned") if rep % 2 == 0 else ("tuned", "plain")
        for kind in order:
            cmd = [sys.executable, "-m", "benchmarks.ablations", "allocator", "--child", kind, "--data", data] + (["--quick"] if quick else [])
            out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            got = json.loads(out)
            times[kind].append(got["seconds"])
            results[kind] = got["mse"]
    return {
        "plain": times["plain"],
        "tuned": times["tuned"],
        "ratio": statistics.median(times["plain"]) / statistics.median(times["tuned"]),
        "same_results": results["plain"] == results["tuned"],
    }


def halving_cost(data: str, laws: list[str], seeds: int, epochs: int | None, rungs: list[int], alpha: float, workers: int = 1,
                 quick: bool = False) -> dict:
    """One ``ll.compare`` with successive halving: its seconds, each rung's training by law, and the stops."""
    from losslab.experiment import halving as halving_mod

    ds, model, epochs = load_as_grid(data, epochs, quick)
    warm_up(ds, laws[0], model)
    probes: list[dict] = []
    real = halving_mod.rung_values

    def timed(plan, label, group, split_for, batched, epoch):
        t0 = time.perf_counter()
        out = real(plan, label, group, split_for, batched, epoch)
        probes.append({"law": label, "epoch": epoch, "seconds": time.perf_counter() - t0})
        return out

    with mock.patch.object(halving_mod, "rung_values", timed):
        t0 = time.perf_counter()
        res = ll.compare(ds, laws=laws, seeds=seeds, model=model, epochs=epochs, halving={"rungs": rungs, "alpha": alpha}, workers=workers)
        t1 = time.perf_counter()
        rec = res.recommend()
        t2 = time.perf_counter()
    stops = halving_mod.stops_of(res.runs)
    for p in probes:  # a law that went on past this rung trains these epochs again in its whole run
        p["went_on"] = p["law"] not in stops or stops[p["law"]]["epoch"] > p["epoch"]
    frame = res.frame()
    ok = frame[frame["status"] == "ok"]
    return {
        "data": data, "model": model, "cap": epochs, "rungs": rungs, "alpha": alpha, "laws": laws, "seeds": seeds,
        "compare": t1 - t0, "recommend": t2 - t1, "probes": probes,
        "rung_seconds": sum(p["seconds"] for p in probes), "retrained_seconds": sum(p["seconds"] for p in probes if p["went_on"]),
        "survivor_seconds": float(ok["seconds"].sum()), "survivor_epochs": float(ok["epochs"].mean()) if len(ok) else 0.0,
        "stops": {law: s["reason"] for law, s in stops.items()}, "winner": rec.law, "winner_value": rec.value,
    }  # fmt: skip


def _laws(arg: str | None, quick: bool) -> list[str]:
    """``--law`` as a list (comma-separated), else the grid's laws (its first two in quick mode)."""
    return [x.strip() for x in (arg or ",".join(DEFAULT_LAWS[:2] if quick else DEFAULT_LAWS)).split(",") if x.strip()]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablations", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["init-bias", "checkpoint", "cb-clamp", "flatten", "allocator", "floor", "workers", "halving"])
    parser.add_argument("--data", default="retinamnist", help="registry name (init-bias, checkpoint, cb-clamp, allocator, floor, workers)")
    parser.add_argument("--law", default=None, help="init-bias: the law (default gaussian-hetero); checkpoint, floor, workers: comma-separated laws (default the grid's)")
    parser.add_argument("--seeds", type=int, default=5, help="init-bias, checkpoint, cb-clamp, floor, workers: seeds")
    parser.add_argument("--epochs", type=int, default=None, help="init-bias, checkpoint, cb-clamp, floor, workers: epoch cap (default: the grid's, 50 for retinamnist, 100 for digits-inpaint)")
    parser.add_argument("--patience", default=None, help="init-bias: comma-separated patiences (default 20,50); checkpoint: one (default 20)")
    parser.add_argument("--reps", type=int, default=None, help="alternating repetitions (flatten: 15; allocator, workers: 2); floor: timings of each kernel (21)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (flatten, init-bias, checkpoint, cb-clamp, floor)")
    parser.add_argument("--workers", type=int, default=None, help="workers: the worker processes (default what workers='auto' picks, at least 2)")
    parser.add_argument("--rungs", default="5,10", help="halving: comma-separated rungs (epochs)")
    parser.add_argument("--alpha", type=float, default=0.01, help="halving: the level of each rung's test")
    parser.add_argument("--child", choices=["plain", "tuned"], help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few rows, seeds, epochs and repetitions")
    args = parser.parse_args(argv)
    if args.child:
        _allocator_child(args.child == "tuned", args.data, args.quick)
        return {}
    _timing.setup_process(args.threads, False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    seeds, epochs = (2, 2) if args.quick else (args.seeds, args.epochs)
    if args.what == "init-bias":
        patiences = [int(p) for p in (args.patience or "20,50").split(",")]
        law = args.law or "gaussian-hetero"
        rows = init_bias(args.data, law, seeds, epochs, patiences, quick=args.quick)
        print(f"{law} on {args.data}, {seeds} seeds, cap {rows[0]['cap']} epochs: means over seeds")
        print(f"  {'initial bias':22s} {'patience':>8s} {'test MSE':>9s} {'log score':>10s} {'epochs':>7s}")
        for r in rows:
            print(f"  {r['bias']:22s} {r['patience']:8d} {r['mse']:9.5f} {r['log_score']:10.4f} {r['epochs']:7.1f}")
        return {"rows": rows}
    if args.what == "checkpoint":
        laws = _laws(args.law, args.quick)
        patience = int(args.patience or 20)
        rows = checkpoint(args.data, laws, seeds, epochs, patience, quick=args.quick)
        print(f"{args.data}, {seeds} seeds, cap {rows[0]['cap']} epochs; best: patience {patience}, the best validation epoch kept; last: no early stop")
        print(f"  {'law':22s} {'kept':>5s} {'test MSE':>9s} {'log score':>10s} {'epochs':>7s} {'seconds':>8s}")
        for r in rows:
            print(f"  {r['law']:22s} {r['keep']:>5s} {r['mse']:9.5f} {r['log_score']:10.4f} {r['epochs']:7.1f} {r['seconds']:8.1f}")
        for keep in ("best", "last"):
            mine = [r for r in rows if r["keep"] == keep]
            top = min(mine, key=lambda r: r["mse"])
            print(f"  lowest test MSE keeping the {keep} epoch: {top['law']} ({top['mse']:.5f}); {sum(r['seconds'] for r in mine):.1f} s in all")
        return {"rows": rows}
    if args.what == "cb-clamp":
        out = cb_clamp(args.data, seeds, epochs, quick=args.quick)
        print(f"{args.data}: {100 * out['at_0']:.1f}% of the labels are exactly 0 and {100 * out['at_1']:.1f}% exactly 1")
        print(f"naive loop, continuous-bernoulli on {args.data}, {seeds} seeds, {out['epochs']} epochs: mean test MSE")
        for key in ("torch", "losslab", "losslab, clamped logits"):
            print(f"  {key + ' loss':30s} {out[key]:.5f}")
        print(f"  (clamped: logits limited to +-{out['bound']:.2f}, where torch's float32 probabilities stop)")
        return out
    if args.what == "flatten":
        reps = 2 if args.quick else (args.reps or 15)
        t = flatten(reps, batch=16 if args.quick else 128, steps=1 if args.quick else 5)
        print(f"cnn-small step, batch {16 if args.quick else 128}: outputs of the two models differ by {t['output_gap']:.1e}")
        print(f"  flatten (C, H, W) {1e3 * t['a']:.2f} ms [{1e3 * t['a_range'][0]:.2f}-{1e3 * t['a_range'][1]:.2f}]")
        print(f"  flatten (H, W, C) {1e3 * t['b']:.2f} ms [{1e3 * t['b_range'][0]:.2f}-{1e3 * t['b_range'][1]:.2f}]")
        print(f"  ratio {t['ratio']:.2f} (paired {t['ratio_range'][0]:.2f}-{t['ratio_range'][1]:.2f})")
        return t
    if args.what == "floor":
        laws = _laws(args.law, args.quick)
        out = floor(args.data, laws, seeds, epochs, quick=args.quick, reps=3 if args.quick else (args.reps or 21))
        print(f"{args.data}, cnn-small, {len(laws)} laws x {seeds} seeds, cap {out['cap']} epochs ({out['epochs_mean']:.1f} run on average)")
        print(f"  kernel time per image, each kernel alone (channels-last, batch {out['batch']}, as compare trains):")
        for name, sec in out["kernels"].items():
            print(f"    {name:14s} {1e6 * sec:7.2f} us")
        print(f"  images trained {out['images_trained']:.0f}, evaluated {out['images_evaluated']:.0f}")
        print(f"  these kernels alone: {out['floor']:.1f} s; losslab {out['losslab']:.1f} s; naive {out['naive']:.1f} s")
        print(f"  speed-up now {out['ratio']:.2f}x; at most {out['max_ratio']:.2f}x if nothing but these kernels took time")
        return out
    if args.what == "workers":
        laws = _laws(args.law, args.quick)
        out = workers(args.data, laws, seeds, epochs, args.workers, 1 if args.quick else (args.reps or 2), quick=args.quick)
        print(f"{args.data}, {out['model']}, {len(laws)} laws x {seeds} seeds, cap {out['cap']} epochs; alternating:")
        print(f"  one process, {out['threads']} threads   {out['one']:7.1f} s [{out['one_range'][0]:.1f}-{out['one_range'][1]:.1f}]")
        print(f"  {out['workers']} worker processes    {out['many']:7.1f} s [{out['many_range'][0]:.1f}-{out['many_range'][1]:.1f}]")
        print(f"  ratio one / workers {out['ratio']:.2f} (paired {out['ratio_range'][0]:.2f}-{out['ratio_range'][1]:.2f})")
        print(f"  runs' test MSE differ by at most {out['max_mse_gap']:.1e}; winners {out['winners'][0]} / {out['winners'][1]}")
        return out
    if args.what == "halving":
        laws = [x.strip() for x in args.law.split(",")] if args.law else list(laws_for(args.data))[: 2 if args.quick else None]
        rungs = [1] if args.quick else [int(k) for k in args.rungs.split(",")]
        out = halving_cost(args.data, laws, seeds, epochs, rungs, args.alpha, args.workers or 1, quick=args.quick)
        print(f"{args.data}, {out['model']}, {len(laws)} laws x {seeds} seeds, cap {out['cap']} epochs, halving at {rungs} (alpha {args.alpha:g}):")
        print(f"  ll.compare {out['compare']:.2f} s, recommend {out['recommend']:.2f} s")
        for p in out["probes"]:
            print(f"    rung {p['epoch']:3d} {p['law']:22s} {p['seconds']:6.2f} s{'  (went on: trained again)' if p['went_on'] else ''}")
        print(f"  rungs {out['rung_seconds']:.2f} s, of which {out['retrained_seconds']:.2f} s on laws that went on")
        print(f"  survivors' runs {out['survivor_seconds']:.2f} s of run time ({out['survivor_epochs']:.1f} epochs on average)")
        for law, why in out["stops"].items():
            print(f"  {law}: {why}")
        print(f"  recommended {out['winner']} ({out['winner_value']:.5f})")
        return out
    reps = 1 if args.quick else (args.reps or 2)
    out = allocator(args.data, reps, quick=args.quick)
    print(f"ll.compare({args.data!r}, bernoulli and binned, fresh one-thread processes, alternating):")
    print(f"  default allocator {', '.join(f'{s:.1f}' for s in out['plain'])} s; tuned {', '.join(f'{s:.1f}' for s in out['tuned'])} s")
    print(f"  ratio of medians default / tuned {out['ratio']:.2f}; results equal: {out['same_results']}")
    return out


if __name__ == "__main__":
    main()
