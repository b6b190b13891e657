"""Kernel benchmark: each law's ``loss`` forward+backward against the equivalent torch computation.

Run ``python -m benchmarks.kernels`` (``--quick`` for a smoke run, ``--sizes 1e5,1e6,1e7``).
For every law with default options it prints, per size (the number of labels), the median
and min-max time of ``law.loss(raw, y).backward()`` (labels validated once up front and the
per-call check switched off, as the trainer does), the same for the equivalent
torch.nn.functional / torch.distributions computation on the same raw outputs (where torch
has one), their ratio (alternating repetitions, median and min-max of the per-repetition
ratios), the ratio to the memory-bandwidth bound (time / (bytes a fused kernel must touch /
measured copy bandwidth); 1.0 would be a perfect fused kernel), and the time with the
per-call label check on. ``--compile`` adds ``torch.compile(law.loss)`` (eager fallback when
compilation fails); it costs tens of seconds per law and size. ``--device cuda`` puts the tensors
on a GPU; each timed call then waits for the GPU (``_timing.synced``), so small sizes measure
launch overhead, and the bound uses the GPU's own copy bandwidth.

Targets (issue 6): ratio <= 1.1, and x bound <= 2 (>= 0.5 of the bound) at 1e7 for the
elementwise laws (event_dim 0 and at most 4 raw outputs per label).
Sizes >= 1e7 use ``--reps-large`` repetitions; laws whose raw outputs would exceed
``--max-raw-gb`` at a size are skipped (binned: 51 logits per label).

``--primitives`` asks instead how close to the bound any implementation built on torch's own
elementwise kernels could come. It times each kernel the laws are built from (``exp``, ``log``,
``log1p``, ``sigmoid``, ``lgamma``, ``digamma``, and a copy), per element, on a tensor that stays in
cache (pure compute) and on 1e7 elements, then adds up, for some laws, the evaluations that their
loss and its gradient cannot do without (:data:`FLOOR_FUNCTIONS`). That sum, set against the law's
bound per label, is the least any kernel calling torch's functions could take, even one that
fuses everything and does no other arithmetic.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import distributions as D

import losslab as ll
from losslab.laws import validation

from ._timing import copy_bandwidth, setup_process, synced, time_one, time_pair, time_stats


def _c(raw, i):
    """Column ``i`` of the raw outputs, contiguous: torch's softplus and sigmoid are many times slower on
    strided columns, and the references should show torch's ops at their best (losslab's laws copy too)."""
    return raw[..., i].contiguous()


def _sp(r, floor=1e-3):
    return F.softplus(r) + floor


def _beta_conc(raw):
    mean_r, log_prec = _c(raw, 0).clamp(-30, 30), _c(raw, 1).clamp(-15, 15)
    prec = torch.exp(log_prec)
    return prec * torch.sigmoid(mean_r), prec * torch.sigmoid(-mean_r)


# name -> f(raw, y, trials) giving the same mean NLL with torch's own ops
REFERENCES = {
    "bernoulli": lambda raw, y, n: F.binary_cross_entropy_with_logits(raw[..., 0], y),
    "binomial": lambda raw, y, n: -D.Binomial(n, logits=raw[..., 0], validate_args=False).log_prob(y * n).mean(),
    "sigmoid-mse": lambda raw, y, n: 0.5 * F.mse_loss(torch.sigmoid(raw[..., 0]), y) + 0.5 * math.log(2 * math.pi),
    "gaussian": lambda raw, y, n: 0.5 * F.mse_loss(raw[..., 0], y) + 0.5 * math.log(2 * math.pi),
    "gaussian-hetero": lambda raw, y, n: F.gaussian_nll_loss(_c(raw, 0), y, _sp(_c(raw, 1)) ** 2, full=True),
    "laplace": lambda raw, y, n: F.l1_loss(raw[..., 0], y) + math.log(2.0),
    "laplace-hetero": lambda raw, y, n: -D.Laplace(_c(raw, 0), _sp(_c(raw, 1)), validate_args=False).log_prob(y).mean(),
    "student-t": lambda raw, y, n: -D.StudentT(2 + F.softplus(_c(raw, 2)), _c(raw, 0), _sp(_c(raw, 1)), validate_args=False)
    .log_prob(y)
    .mean(),
    "exponential": lambda raw, y, n: -D.Exponential(F.softplus(raw[..., 0]) + 1e-30, validate_args=False).log_prob(y).mean(),
    "beta": lambda raw, y, n: -D.Beta(*_beta_conc(raw), validate_args=False).log_prob(y).mean(),
    "continuous-bernoulli": lambda raw, y, n: -D.ContinuousBernoulli(logits=raw[..., 0], validate_args=False)
    .log_prob(y)
    .mean(),
}


def _hl_gauss_dense(law):
    """The HL-Gauss loss written plainly: dense targets from erf at every call, then torch's cross-entropy."""
    edges = torch.linspace(law.low, law.high, law.n_bins + 1, dtype=torch.float64)

    def ref(raw, y, n):
        e = edges.to(raw.device, raw.dtype)
        cdf = 0.5 * (1 + torch.erf((e - y.unsqueeze(-1)) / (law.sigma * math.sqrt(2))))
        target = cdf[..., 1:] - cdf[..., :-1]
        return F.cross_entropy(raw, target / target.sum(-1, keepdim=True)) + math.log(law.width)

    return ref


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


def is_elementwise(law) -> bool:
    """A loss computed label by label from a few raw outputs (the laws the bandwidth target is for)."""
    return law.event_dim == 0 and law.raw_dim <= 4


def _compiled(law):
    """``torch.compile`` of the law's loss, or None when this machine cannot compile."""
    try:
        fn = torch.compile(lambda raw, y, trials: law.loss(raw, y, trials=trials), dynamic=False)
    except Exception:  # noqa: BLE001 - no compiler backend: the eager path stands
        return None
    return fn


def bound_bytes(raw_numel: int, y_numel: int, element_size: int = 4) -> int:
    """Bytes a fused loss kernel must touch: read raw and y (forward), read them again and write grad (backward)."""
    return element_size * (2 * raw_numel + 2 * y_numel + raw_numel)


def bench_law(name: str, n: int, bandwidth: float, reps: int, compile_: bool = False, device: str = "cpu") -> dict:
    law = ll.get_law(name.split(" ")[0])
    gen = torch.Generator().manual_seed(0)
    y, trials = labels_for(law, n, gen)
    rows = y.shape[0]
    raw = (0.5 * torch.randn(rows, law.raw_dim, generator=gen)).to(device).requires_grad_(True)
    y = y.to(device)
    trials = None if trials is None else trials.to(device)

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
        ref_fn = lambda r, yy, nn_: F.cross_entropy(r, target)  # noqa: E731 - targets given: torch's kernel alone
    if name == "binned (vs erf targets)":
        law = ll.get_law("binned")
        ref_fn = _hl_gauss_dense(law)

    def ref():
        raw.grad = None
        ref_fn(raw, y, trials).backward()

    ours, ours_checked, ref = synced(ours, device), synced(ours_checked, device), synced(ref, device)
    out = {"law": law.name, "label": name, "n": n, "elementwise": is_elementwise(law)}
    if ref_fn is not None:
        t = time_pair(ours, ref, reps=reps)
        out.update(ours=t["a"], ours_range=t["a_range"], ref=t["b"], ref_range=t["b_range"], ratio=t["ratio"], ratio_range=t["ratio_range"])
    else:
        t = time_stats(ours, reps=reps)
        out.update(ours=t["median"], ours_range=t["range"], ref=None, ref_range=None, ratio=None, ratio_range=None)
    out["checked"] = time_one(ours_checked, reps=max(3, reps // 2), warmup=1)
    out["bound"] = bound_bytes(raw.numel(), y.numel(), raw.element_size()) / bandwidth
    out["bound_ratio"] = out["ours"] / out["bound"]
    out["compiled"] = None
    if compile_:
        fn = _compiled(law)
        if fn is not None:

            def comp():
                raw.grad = None
                with validation(False):
                    fn(raw, y, trials).backward()

            comp = synced(comp, device)

            try:
                with validation(False):
                    eager_value = law.loss(raw, y, trials=trials)
                    compiled_value = fn(raw, y, trials)
                torch.testing.assert_close(compiled_value, eager_value, rtol=1e-5, atol=1e-6)
                tc = time_pair(comp, ours, reps=reps, warmup=1)
                out["compiled"] = tc["a"]
                out["compiled_ratio"] = tc["ratio"]
            except Exception as e:  # noqa: BLE001 - report and go on with the eager numbers
                out["compiled_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
    return out


# ---------------------------------------------------------------------------- special functions
#: torch's CPU elementwise kernels that the laws' losses are built from, each written into a preallocated output
PRIMITIVES = {
    "copy": lambda x, out: out.copy_(x),
    "exp": lambda x, out: torch.exp(x, out=out),
    "log": lambda x, out: torch.log(x, out=out),
    "log1p": lambda x, out: torch.log1p(x, out=out),
    "sigmoid": lambda x, out: torch.sigmoid(x, out=out),
    "lgamma": lambda x, out: torch.lgamma(x, out=out),
    "digamma": lambda x, out: torch.digamma(x, out=out),
}

#: Per label, the special-function evaluations that a law's loss and its gradient cannot do without (default
#: options), counted as low as one fused kernel could: forward and backward share what both use.
FLOOR_FUNCTIONS = {
    "gaussian": {},  # squares and sums only
    "laplace": {},  # |y - loc| and its sign
    # softplus(x) = max(x, 0) + log1p(exp(-|x|)); the gradient sigmoid(x) follows from the same exp(-|x|)
    "bernoulli": {"exp": 1, "log1p": 1},
    "sigmoid-mse": {"sigmoid": 1},  # the mean sigmoid(x); its gradient s (1 - s) reuses it
    "exponential": {"exp": 1, "log1p": 1, "log": 1},  # rate = softplus(r), as bernoulli's; then -log(rate)
    "gaussian-hetero": {"exp": 1, "log1p": 1, "log": 1},  # scale = softplus(r) + floor, as above; then log(scale)
    # mean sigmoid(r0) (one exp) and precision exp(r1); log y and log(1 - y); log B(a, b) is three lgamma, and
    # its gradient three digamma (of a, b and a + b)
    "beta": {"exp": 2, "log": 1, "log1p": 1, "lgamma": 3, "digamma": 3},
}


def primitive_costs(n: int, *, reps: int = 7, min_elements: int = 2 * 10**6) -> dict[str, float]:
    """Seconds per element of each of :data:`PRIMITIVES`, median of ``reps`` timings, on ``n`` float32 inputs.

    The inputs are uniform on [0.5, 5.5] (positive, as the concentrations that ``lgamma`` and ``digamma``
    get; torch's CPU ``digamma`` steps its argument up to 10 before its series, so its cost depends on
    the range). A small ``n`` stays in cache and measures the arithmetic alone; each timing then calls the
    kernel often enough to cover ``min_elements``.
    """
    gen = torch.Generator().manual_seed(0)
    x = 0.5 + 5 * torch.rand(n, generator=gen)
    out = torch.empty_like(x)
    calls = max(1, -(-min_elements // n))

    def timed(fn):
        def run():
            for _ in range(calls):
                fn(x, out)

        return time_one(run, reps=reps, warmup=1) / (calls * n)

    return {name: timed(fn) for name, fn in PRIMITIVES.items()}


def special_floor(costs: dict[str, float], bandwidth: float) -> list[dict]:
    """For each law of :data:`FLOOR_FUNCTIONS`: its bandwidth bound per label, the time per label of the
    special functions it needs (``costs``: seconds per element), and the ratio of the two (``x_bound``).

    An ``x_bound`` above 2 means that the target (>= 0.5 of the bound) is out of reach for any kernel that
    calls torch's implementations of these functions.
    """
    rows = []
    for name, needs in FLOOR_FUNCTIONS.items():
        law = ll.get_law(name)
        bound = bound_bytes(law.raw_dim, 1) / bandwidth
        floor = sum(count * costs[fn] for fn, count in needs.items())
        rows.append({"law": name, "needs": dict(needs), "bound": bound, "floor": floor, "x_bound": floor / bound})
    return rows


def _primitives(quick: bool, bandwidth: float) -> dict:
    sizes = {"in cache": 2**12 if quick else 2**15, "large": 2**16 if quick else 10**7}
    reps = 3 if quick else 7
    costs = {where: primitive_costs(n, reps=reps, min_elements=2**16 if quick else 2 * 10**6) for where, n in sizes.items()}
    print(f"torch's CPU kernels, ns per float32 element, inputs in [0.5, 5.5] (median of {reps}):")
    print(f"  {'kernel':8s} " + " ".join(f"{f'{where} (n={n:.0e})':>18s}" for where, n in sizes.items()))
    for name in PRIMITIVES:
        print(f"  {name:8s} " + " ".join(f"{1e9 * costs[where][name]:18.2f}" for where in sizes))
    rows = special_floor(costs["in cache"], bandwidth)
    print("\nthe special functions each law needs, in cache, against its bandwidth bound (ns per label):")
    print(f"  {'law':16s} {'bound':>6s} {'functions':>9s} {'x bound':>8s}  needs")
    for r in rows:
        needs = ", ".join(f"{c} {fn}" for fn, c in r["needs"].items()) or "none"
        print(f"  {r['law']:16s} {1e9 * r['bound']:6.2f} {1e9 * r['floor']:9.2f} {r['x_bound']:8.2f}  {needs}")
    out_of_reach = [r["law"] for r in rows if r["x_bound"] > 2]
    print(f"above 2x the bound from torch's special functions alone: {', '.join(out_of_reach) or 'none'}")
    return {"sizes": sizes, "costs": costs, "floor": rows, "bandwidth": bandwidth}


def _ms(t: float | None, rng: tuple | None = None) -> str:
    if t is None:
        return f"{'-':>8s}".ljust(23)
    return f"{1e3 * t:8.2f} [{1e3 * rng[0]:.3g}-{1e3 * rng[1]:.3g}]".ljust(23)


def main(argv: list[str] | None = None) -> list[dict] | dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated label counts")
    parser.add_argument("--laws", default="*", help="law name pattern")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--reps-large", type=int, default=5, help="repetitions at sizes >= 1e7")
    parser.add_argument("--max-raw-gb", type=float, default=1.0, help="skip a law at a size whose raw outputs exceed this")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(law.loss)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2e3 elements, 3 repetitions")
    parser.add_argument("--tune-malloc", action="store_true", help="keep freed memory mapped (glibc; see _timing.tune_malloc)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the tensors live and the kernels run")
    parser.add_argument("--primitives", action="store_true", help="time torch's special functions per element and each law's floor from them (CPU)")
    args = parser.parse_args(argv)
    setup_process(args.threads, args.tune_malloc)
    sizes = [2000] if args.quick else [int(float(s)) for s in args.sizes.split(",")]
    device = str(torch.device(args.device))
    bandwidth = copy_bandwidth(8 * 2**20 if args.quick else (2**30 if device.startswith("cuda") else 256 * 2**20), device)
    where = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    if args.primitives:
        if device != "cpu":
            raise SystemExit("--primitives times the CPU kernels; leave --device at cpu")
        return _primitives(args.quick, bandwidth)
    print("times: median [min-max] in ms; ratio = ours / torch (median [min-max] of paired repetitions);")
    print("x bound = ours / (bytes moved / copy bandwidth): 1 is a perfect fused kernel, the target is <= 2 at 1e7")
    header = (
        f"{'law':21s} {'n':>9s} {'ours ms':>8s} {'[min-max]':14s} {'torch ms':>8s} {'[min-max]':14s} {'ratio':>6s} {'min-max':>11s} {'x bound':>8s} {'checked':>8s}"
        + (f" {'compiled':>9s} {'c/eager':>7s}" if args.compile else "")
    )
    print(header)
    results = []
    for n in sizes:
        reps = 3 if args.quick else (args.reps_large if n >= 10**7 else args.reps)
        names = ll.list_laws(args.laws)
        if "binned" in names:  # the HL-Gauss loss against the plain code that builds its targets too
            names.insert(names.index("binned") + 1, "binned (vs erf targets)")
        for name in names:
            law = ll.get_law(name.split(" ")[0])
            raw_gb = 4 * n * law.raw_dim / 1e9
            if raw_gb > args.max_raw_gb:
                print(f"{name:21s} {n:9d} skipped: raw outputs would take {raw_gb:.1f} GB (--max-raw-gb {args.max_raw_gb:g})")
                continue
            r = bench_law(name, n, bandwidth, reps, args.compile, device)
            results.append(r)
            ratio = f"{r['ratio']:6.2f}" if r["ratio"] is not None else f"{'-':>6s}"
            rng = f"{r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}" if r["ratio_range"] else "-"
            line = (
                f"{name:21s} {n:9d} {_ms(r['ours'], r['ours_range'])} {_ms(r['ref'], r['ref_range'])} {ratio} {rng:>11s} "
                f"{r['bound_ratio']:8.1f} {1e3 * r['checked']:8.2f}"
            )
            if args.compile:
                if r.get("compiled") is not None:
                    line += f" {1e3 * r['compiled']:9.2f} {r['compiled_ratio']:7.2f}"
                else:
                    line += f" {'-':>9s} {'-':>7s} {r.get('compiled_error', 'compile unavailable')}"
            print(line, flush=True)
    _summary(results)
    return results


def _summary(results: list[dict]) -> None:
    """Which laws miss the targets: ratio <= 1.1 against torch, x bound <= 2 at the largest size (elementwise laws)."""
    if not results:
        return
    largest = max(r["n"] for r in results)
    slow = sorted({r["label"] for r in results if r["ratio"] is not None and r["ratio"] > 1.1})  # by the median
    far = sorted({r["label"] for r in results if r["n"] == largest and r["elementwise"] and r["bound_ratio"] > 2})
    print(f"\nratio > 1.1 at some size: {', '.join(slow) or 'none'}")
    print(f"elementwise laws above 2x the bandwidth bound at n={largest}: {', '.join(far) or 'none'}")


if __name__ == "__main__":
    main()
