"""Step benchmark: one training step of a law's replicas (the seeds of a comparison, batched as one model).

Run ``python -m benchmarks.steps`` (``--quick`` for a smoke run). For each law, ``--replicas``
copies of the digits-inpaint MLP (32 inputs, two hidden layers of 64, 32 targets; different
weights per replica) take one step on their own 128-row minibatches: forward pass, the law's
loss, backward pass and Adam. Four variants are timed in alternation, ``--reps`` rounds of
``--steps`` steps each (median ms per step, min-max over rounds):

* ``vmap``: the forward pass through ``torch.func.vmap`` over ``functional_call``, plain Adam
  (how losslab batched MLP replicas before);
* ``vmap+fused``: the same with torch's fused Adam;
* ``direct``: batched matrix products over the stacked weights, plain Adam;
* ``direct+fused``: both (what ``ll.compare`` does for MLPs now).

``--together`` also times three one-output laws (bernoulli, sigmoid-mse, continuous-bernoulli)
as one model of 3 x R replicas (``ll.compare(replicas="laws")``) against three models of R
replicas stepped one after another (``replicas=True``); ``--grid`` times whole comparisons the two
ways, alternating: ``ll.compare("digits-inpaint")`` with the grid benchmark's six laws, 5 seeds, the
MLP and a cap of 100 epochs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

import losslab as ll
from losslab.experiment.replicas import Replicas as _Replicas, law_segments as _segments, per_replica as _per_replica
from losslab.laws import validation
from losslab.models import build_model

from . import _timing

DEFAULT_LAWS = ("bernoulli", "sigmoid-mse", "gaussian-hetero", "continuous-bernoulli", "zoib", "binned")
ONE_OUTPUT = ("bernoulli", "sigmoid-mse", "continuous-bernoulli")
D, T, N = 32, 32, 128  # digits-inpaint: 32 inputs, 32 targets; the default minibatch


def _models(law, seeds: list[int]):
    return [build_model("mlp", (D,), law, n_targets=T, seed=s) for s in seeds]


def make_step(models, *, direct: bool, fused: bool, seed: int = 0) -> tuple[Callable[[], None], _Replicas]:
    """One Adam step of ``models`` as replicas, on fixed random rows and k/16 labels (as digits' ink fractions).

    Returns the step and the replicas, whose ``params`` the steps update.
    """
    rep = _Replicas(models, direct=direct)
    laws = [m.law for m in models]
    R = len(models)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(R, N, D, generator=g)
    y = torch.randint(0, 17, (R, N, T), generator=g).float() / 16
    opt = torch.optim.Adam(rep.params, lr=1e-3, fused=fused or None)
    segments = _segments(laws)

    def loss(law, raw, yy, trials):
        return law.loss(raw, yy, reduction="none")

    def step() -> None:
        with validation(False):
            per = _per_replica(segments, rep.forward(X, shared=False), y, None, loss).mean(1)
        opt.zero_grad(set_to_none=True)
        per.sum().backward()
        opt.step()

    return step, rep


def _diff(a: _Replicas, b: _Replicas) -> float:
    return max(float((p - q).detach().abs().max()) for p, q in zip(a.params, b.params))


def time_variants(variants: dict[str, Callable[[], None]], reps: int, steps: int) -> dict[str, dict]:
    """Alternate the variants ``reps`` rounds of ``steps`` steps; ms per step, median and min-max."""
    for fn in variants.values():  # warm-up
        for _ in range(2):
            fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - t0) / steps * 1e3)
    return {k: {"median": statistics.median(v), "range": (min(v), max(v))} for k, v in times.items()}


def _cell(st: dict) -> str:
    return f"{st['median']:7.2f} [{st['range'][0]:.2f}-{st['range'][1]:.2f}]"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steps", description=__doc__.split("\n")[0])
    parser.add_argument("--laws", default=",".join(DEFAULT_LAWS), help="comma-separated law names")
    parser.add_argument("--replicas", type=int, default=5, help="replicas (seeds) per law")
    parser.add_argument("--reps", type=int, default=7, help="alternating rounds")
    parser.add_argument("--steps", type=int, default=20, help="steps per round")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--together", action="store_true", help="also time the one-output laws as one model")
    parser.add_argument("--grid", action="store_true", help="also time ll.compare with replicas='laws' against replicas=True")
    parser.add_argument("--grid-reps", type=int, default=3, help="alternating repetitions of --grid")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 laws, 2 replicas, 2 rounds of 2 steps")
    args = parser.parse_args(argv)
    _timing.setup_process(args.threads, False)
    laws = args.laws.split(",")
    R, reps, steps = args.replicas, args.reps, args.steps
    if args.quick:
        laws, R, reps, steps = laws[:2], 2, 2, 2
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {R} replicas of the digits MLP, {N} rows each; ms per step")
    out: dict = {"laws": {}}
    names = ("vmap", "vmap+fused", "direct", "direct+fused")
    print(f"  {'law':22s}" + "".join(f"{n:>22s}" for n in names) + "   vmap / direct+fused")
    for name in laws:
        law = ll.get_law(name)
        seeds = list(range(R))
        made = {v: make_step(_models(law, seeds), direct=v.startswith("direct"), fused=v.endswith("fused")) for v in names}
        st = time_variants({v: m[0] for v, m in made.items()}, reps, steps)
        # Every variant took the same steps from the same weights. With one optimiser, the two forward paths
        # must give the same weights (bit for bit here); the fused and plain Adam round differently, and
        # repeated steps on one minibatch amplify that (the plain-vs-fused difference is shown, not checked).
        st["max_diff"] = max(_diff(made["vmap"][1], made["direct"][1]), _diff(made["vmap+fused"][1], made["direct+fused"][1]))
        st["adam_diff"] = _diff(made["direct"][1], made["direct+fused"][1])
        out["laws"][name] = st
        ratio = st["vmap"]["median"] / st["direct+fused"]["median"]
        print(
            f"  {name:22s}" + "".join(f"{_cell(st[n]):>22s}" for n in names)
            + f"   {ratio:.2f}x   (weights: vmap - direct {st['max_diff']:.1e}, plain - fused Adam {st['adam_diff']:.1e})"
        )
    if args.together or args.quick:
        group = ONE_OUTPUT[:2] if args.quick else ONE_OUTPUT
        laws_ = [ll.get_law(n) for n in group]
        seeds = list(range(R))
        one, _ = make_step([m for law in laws_ for m in _models(law, seeds)], direct=True, fused=True)
        apart = [make_step(_models(law, seeds), direct=True, fused=True)[0] for law in laws_]

        def separately() -> None:
            for step in apart:
                step()

        st = time_variants({"together": one, "apart": separately}, reps, steps)
        out["together"] = st
        print(
            f"  {' + '.join(group)}: {len(group) * R} replicas as one model {_cell(st['together'])} ms, "
            f"as {len(group)} models of {R} {_cell(st['apart'])} ms; apart / together "
            f"{st['apart']['median'] / st['together']['median']:.2f}x"
        )
    if args.grid or args.quick:
        out["grid"] = time_grid(args.grid_reps if not args.quick else 1, quick=args.quick)
        g = out["grid"]
        print(
            f"  ll.compare(digits-inpaint): replicas='laws' {g['a']:.1f} s [{g['a_range'][0]:.1f}-{g['a_range'][1]:.1f}], "
            f"replicas=True {g['b']:.1f} s [{g['b_range'][0]:.1f}-{g['b_range'][1]:.1f}]; ratio {g['ratio']:.2f} "
            f"({g['ratio_range'][0]:.2f}-{g['ratio_range'][1]:.2f}); largest difference of a law's mean test MSE {g['max_diff']:.1e}"
        )
    return out


def time_grid(reps: int, quick: bool = False) -> dict:
    """``ll.compare`` on digits-inpaint with ``replicas="laws"`` against ``replicas=True``, alternating
    (:func:`benchmarks.modes.compare_modes` with those two modes); ``a`` is ``"laws"``, ``b`` is ``True``."""
    from .grid import DEFAULT_LAWS, load_as_grid
    from .modes import compare_modes

    ds, model, epochs = load_as_grid("digits-inpaint", quick=quick)  # the MLP, cap 100 epochs
    laws, seeds = DEFAULT_LAWS, 5
    if quick:
        laws, seeds, epochs = ONE_OUTPUT[:2], 2, 2
    out = compare_modes(ds, model=model, epochs=epochs, device="cpu", reps=reps, laws=laws, seeds=seeds, modes=("true", "laws"))
    a, b = out["modes"]["laws"], out["modes"]["true"]
    lo, hi = a["speedup_range"]  # True / "laws" per repetition
    return {
        "a": a["median"], "a_range": a["range"], "b": b["median"], "b_range": b["range"],
        "ratio": a["median"] / b["median"], "ratio_range": (1 / hi, 1 / lo), "max_diff": a["max_law_diff"],
    }  # fmt: skip


if __name__ == "__main__":
    main()
