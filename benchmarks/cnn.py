"""CNN step benchmark: losslab's image trunks against the usual NCHW ``nn.MaxPool2d`` code, and pooling variants.

Run ``python -m benchmarks.cnn`` (``--quick`` for a smoke run, ``--compile`` to add a
``torch.compile``-d pooling variant, which costs about a minute to compile on a small CPU).

* steps: one training step (forward, loss, backward, Adam) on a minibatch of 3x28x28 images,
  for ``cnn`` (two conv blocks) and ``cnn-small`` (one conv): losslab's model (channels-last on
  the CPU, pool before relu) against the same net written the usual way (NCHW, ``ReLU`` then
  ``nn.MaxPool2d``, from ``benchmarks.naive``) with the same weights; the two outputs are
  checked equal first.
* threads: losslab's step with ``torch.set_num_threads(1)`` against all cores (``os.cpu_count()``),
  alternating in one process (the ratio is 1-thread time / all-cores time).
* pool: forward+backward of relu + 2x2 max-pooling on a ``(N, 32, 28, 28)`` activation:
  ``F.max_pool2d`` in NCHW (the reference) against channels-last ``F.max_pool2d`` and the
  "max of the four stride-2 slices" formulation, eager (and compiled with ``--compile``).

Alternating repetitions, medians, min-max of the per-repetition ratios.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

import losslab as ll
from losslab.models import build_model

from . import naive
from ._timing import setup_process, time_pair


def _four_slices(x: torch.Tensor) -> torch.Tensor:
    a = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
    b = torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2])
    return torch.relu(torch.maximum(a, b))


def _reference_pool(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(F.max_pool2d(x, 2))


def _copy_into_naive(model, net) -> None:
    """Copy losslab's trunk + head weights into the naive ``nn.Sequential`` (same layer order)."""
    ours = [p for p in model.parameters()]
    theirs = [p for p in net.parameters()]
    assert [p.shape for p in ours] == [p.shape for p in theirs], "layer layouts differ"
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.copy_(a)


def bench_step(kind: str, batch: int, reps: int) -> dict:
    law = ll.get_law("bernoulli")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 28, 28, generator=gen)
    y = torch.rand(batch, generator=gen)
    ours = build_model(kind, (3, 28, 28), law, seed=0)
    ref = naive.naive_model(kind, (3, 28, 28), law.raw_dim)
    _copy_into_naive(ours, ref)
    with torch.no_grad():
        diff = float((ours(x).reshape(-1) - ref(x).reshape(-1)).abs().max())
    opt_a = torch.optim.Adam(ours.parameters(), lr=1e-4)
    opt_b = torch.optim.Adam(ref.parameters(), lr=1e-4)

    def step(model, opt):
        def run():
            loss = law.loss(model(x).reshape(batch, 1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    t = time_pair(step(ours, opt_a), step(ref, opt_b), reps=reps, warmup=2)
    return {"what": f"{kind} step, batch {batch}", "a": t["a"], "b": t["b"], "ratio": t["ratio"], "range": t["ratio_range"], "max_diff": diff}


def bench_pool(batch: int, reps: int, compiled: bool) -> list[dict]:
    x = torch.randn(batch, 32, 28, 28, generator=torch.Generator().manual_seed(0))
    xcl = x.contiguous(memory_format=torch.channels_last)

    def fb(fn, inp):
        def run():
            xi = inp.detach().requires_grad_(True)
            fn(xi).sum().backward()

        return run

    variants = [
        ("max_pool2d channels-last", _reference_pool, xcl),
        ("four slices NCHW", _four_slices, x),
        ("four slices channels-last", _four_slices, xcl),
    ]
    if compiled:
        try:
            fast = torch.compile(_four_slices, dynamic=False)
            fb(fast, x)()
            fb(fast, xcl)()
            variants += [("four slices compiled NCHW", fast, x), ("four slices compiled channels-last", fast, xcl)]
        except Exception as e:  # noqa: BLE001 - no compiler on this machine: say so, time the eager ones
            print(f"torch.compile unavailable: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
    out = []
    for name, fn, inp in variants:
        t = time_pair(fb(fn, inp), fb(_reference_pool, x), reps=reps, warmup=2)
        out.append({"what": f"pool: {name}", "a": t["a"], "b": t["b"], "ratio": t["ratio"], "range": t["ratio_range"], "max_diff": None})
    return out


def bench_threads(kind: str, batch: int, reps: int, many: int) -> dict:
    """One training step of losslab's model with 1 thread against ``many`` threads (alternating in one process)."""
    law = ll.get_law("bernoulli")
    gen = torch.Generator().manual_seed(0)
    shape = (3, 28, 28) if kind.startswith("cnn") else (32,)
    x = torch.randn(batch, *shape, generator=gen)
    y = torch.rand(batch, generator=gen)
    model = build_model(kind, shape, law, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(threads):
        def run():
            torch.set_num_threads(threads)
            loss = law.loss(model(x).reshape(batch, 1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    before = torch.get_num_threads()
    try:
        t = time_pair(step(1), step(many), reps=reps, warmup=2)
    finally:
        torch.set_num_threads(before)
    return {"what": f"{kind} step, 1 vs {many} threads", "a": t["a"], "b": t["b"], "ratio": t["ratio"], "range": t["ratio_range"], "max_diff": None}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--compile", action="store_true", help="add torch.compile-d four-slice pooling")
    parser.add_argument("--quick", action="store_true", help="smoke mode: batch 8, 2 repetitions")
    parser.add_argument("--tune-malloc", action="store_true", help="keep freed memory mapped (glibc; see _timing.tune_malloc)")
    args = parser.parse_args(argv)
    setup_process(args.threads, args.tune_malloc)
    batch, reps = (8, 2) if args.quick else (args.batch, args.reps)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    print(f"{'':42s} {'ours ms':>8s} {'ref ms':>8s} {'ratio':>6s} {'min-max':>11s}")
    results = [bench_step("cnn", batch, reps), bench_step("cnn-small", batch, reps)] + bench_pool(batch, reps, args.compile)
    many = os.cpu_count() or 1
    if many > 1:
        results += [bench_threads(kind, batch, reps, many) for kind in ("cnn", "cnn-small", "mlp")]
    for r in results:
        note = f"  (outputs differ by {r['max_diff']:.1e})" if r["max_diff"] is not None else ""
        print(f"{r['what']:42s} {1e3 * r['a']:8.2f} {1e3 * r['b']:8.2f} {r['ratio']:6.2f} {r['range'][0]:5.2f}-{r['range'][1]:<5.2f}{note}")
    return results


if __name__ == "__main__":
    main()
