"""Kernel benchmark: each law's ``loss`` forward+backward against the equivalent torch computation.

Run ``python -m benchmarks.kernels`` (``--quick`` for a smoke run, ``--sizes 1e5,1e6,1e7``).
For every law with default options it prints, per size, the median time of
``law.loss(raw, y).backward()`` (labels validated once up front and the per-call
check switched off, as the trainer does), the same with the per-call validation
on, the equivalent torch.nn.functional / torch.distributions computation on the
same raw outputs (where torch has one), their ratio (alternating repetitions,
median of 7, min–max), and the ratio to the memory-bandwidth bound (bytes the
kernel must touch / measured copy bandwidth).
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import distributions as D

import losslab as ll
from losslab.laws import validation

from ._timing import copy_bandwidth, time_one, time_pair


def _sp(r, floor=1e-3):
    return F.softplus(r) + floor


def _beta_conc(raw):
    mean_r, log_prec = raw[..., 0].clamp(-30, 30), raw[..., 1].clamp(-15, 15)
    prec = torch.exp(log_prec)
    return prec * torch.sigmoid(mean_r), prec * torch.sigmoid(-mean_r)


# name -> f(raw, y, trials) giving the same mean NLL with torch's own ops
REFERENCES = {
    "bernoulli": lambda raw, y, n: F.binary_cross_entropy_with_logits(raw[..., 0], y),
    "binomial": lambda raw, y, n: -D.Binomial(n, logits=raw[..., 0], validate_args=False).log_prob(y * n).mean(),
    "sigmoid-mse": lambda raw, y, n: 0.5 * F.mse_loss(torch.sigmoid(raw[..., 0]), y) + 0.5 * math.log(2 * math.pi),
    "gaussian": lambda raw, y, n: 0.5 * F.mse_loss(raw[..., 0], y) + 0.5 * math.log(2 * math.pi),
    "gaussian-hetero": lambda raw, y, n: F.gaussian_nll_loss(raw[..., 0], y, _sp(raw[..., 1]) ** 2, full=True),
    "laplace": lambda raw, y, n: F.l1_loss(raw[..., 0], y) + math.log(2.0),
    "laplace-hetero": lambda raw, y, n: -D.Laplace(raw[..., 0], _sp(raw[..., 1]), validate_args=False).log_prob(y).mean(),
    "student-t": lambda raw, y, n: -D.StudentT(2 + F.softplus(raw[..., 2]), raw[..., 0], _sp(raw[..., 1]), validate_args=False)
    .log_prob(y)
    .mean(),
    "exponential": lambda raw, y, n: -D.Exponential(F.softplus(raw[..., 0]) + 1e-30, validate_args=False).log_prob(y).mean(),
    "beta": lambda raw, y, n: -D.Beta(*_beta_conc(raw), validate_args=False).log_prob(y).mean(),
    "continuous-bernoulli": lambda raw, y, n: -D.ContinuousBernoulli(logits=raw[..., 0], validate_args=False)
    .log_prob(y)
    .mean(),
}


def labels_for(law, n: int, gen: torch.Generator):
    """Labels inside the law's support (and trials where needed) for ``n`` elements."""
    low, high, lc, hc = law.support_bounds
    if law.event_dim:
        y = torch.randn(n // law.options().get("dim", 2), law.options().get("dim", 2), generator=gen)
        return y, None
    if math.isfinite(low) and math.isfinite(high):
        y = low + (high - low) * (0.01 + 0.98 * torch.rand(n, generator=gen))
    elif math.isfinite(low):
        y = low + torch.rand(n, generator=gen).exponential_()
    else:
        y = torch.randn(n, generator=gen)
    trials = None
    if law.needs_trials:
        trials = torch.full((n,), 16.0)
        y = torch.round(y * 16) / 16
    return y, trials


def bench_law(name: str, n: int, bandwidth: float, reps: int) -> dict:
    law = ll.get_law(name)
    gen = torch.Generator().manual_seed(0)
    y, trials = labels_for(law, n, gen)
    rows = y.shape[0]
    raw = (0.5 * torch.randn(rows, law.raw_dim, generator=gen)).requires_grad_(True)

    def ours():
        raw.grad = None
        with validation(False):
            law.loss(raw, y, trials=trials).backward()

    def ours_checked():
        raw.grad = None
        law.loss(raw, y, trials=trials).backward()

    ref_fn = REFERENCES.get(name)
    if name == "binned":
        target = law.to_probs(y)
        ref_fn = lambda r, yy, nn_: F.cross_entropy(r, target)  # noqa: E731 - same targets, torch's kernel

    def ref():
        raw.grad = None
        ref_fn(raw, y, trials).backward()

    out = {"law": name, "n": n}
    if ref_fn is not None:
        t = time_pair(ours, ref, reps=reps)
        out.update(ours=t["a"], ref=t["b"], ratio=t["ratio"], ratio_range=t["ratio_range"])
    else:
        out.update(ours=time_one(ours, reps=reps), ref=None, ratio=None, ratio_range=None)
    out["checked"] = time_one(ours_checked, reps=reps)
    # Bytes a fused kernel must touch: read raw and y (forward), read them again and write grad (backward).
    bytes_moved = 4 * (2 * raw.numel() + 2 * y.numel() + raw.numel())
    out["bound_ratio"] = out["ours"] / (bytes_moved / bandwidth)
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated element counts")
    parser.add_argument("--laws", default="*", help="law name pattern")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2e3 elements, 3 repetitions")
    args = parser.parse_args(argv)
    sizes = [2000] if args.quick else [int(float(s)) for s in args.sizes.split(",")]
    reps = 3 if args.quick else args.reps
    bandwidth = copy_bandwidth(8 * 2**20 if args.quick else 256 * 2**20)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    header = f"{'law':22s} {'n':>9s} {'ours ms':>9s} {'checked':>9s} {'torch ms':>9s} {'ratio':>6s} {'min-max':>11s} {'x bound':>8s}"
    print(header)
    results = []
    for n in sizes:
        for name in ll.list_laws(args.laws):
            r = bench_law(name, n, bandwidth, reps)
            results.append(r)
            ref = f"{1e3 * r['ref']:9.2f}" if r["ref"] is not None else f"{'-':>9s}"
            ratio = f"{r['ratio']:6.2f}" if r["ratio"] is not None else f"{'-':>6s}"
            rng = f"{r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}" if r["ratio_range"] else "-"
            print(
                f"{name:22s} {n:9d} {1e3 * r['ours']:9.2f} {1e3 * r['checked']:9.2f} {ref} {ratio} {rng:>11s} {r['bound_ratio']:8.1f}"
            )
    return results


if __name__ == "__main__":
    main()
