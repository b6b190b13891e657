"""The numerics suite: every registered law, hypothesis-drawn extreme inputs, zero NaN or inf where none is due.

What is promised (and what this suite checks), for every law in the registry:

* **Raw outputs up to ±1e4, labels in the support with |y| <= 1e4** (edges included where
  the support includes them, and labels a hair inside open edges: 1e-30, subnormals,
  ``1 - 1e-7``, the float just below 1): loss, NLL and their gradients are finite, in
  float32 and float64. Nothing is excused here.
* **Raw outputs up to float32's limit (±3.4e38) and labels up to ±1e30**: in float64,
  always finite. In float32, finite whenever the exact loss, NLL and gradient (computed
  in float64 from the same float32 inputs) are at most 1e30 in magnitude: a margin of
  1e8 below float32's limit for the intermediates of the chain rule (``d loss / d scale =
  2 loss / scale`` with scales down to 1e-3). Beyond that, a non-finite float32 result
  is the rounding of a number float32 cannot hold, not a bug (a Gaussian NLL of
  ``(1e30)^2``); such cases are counted as "excused". Two laws stop short in float32
  (see :data:`FLOAT32_RAW_BOUND`): ``mvn`` is promised to ±1e4, ``binned`` to ±1.7e38.
* **A label outside the support** (1.0000001 for a [0, 1] law, -1e-30 for a non-negative
  one, 0 for an open (0, 1) law without ``clamp=``, NaN, ±inf) has no finite NLL: it
  raises :class:`losslab.LosslabError`, never returns inf or NaN. With ``clamp=`` (the
  boundary policy of laws with open edges) the edges themselves are accepted and finite.

A case is one row: raw outputs of one law (from one of its examples in ``tests/laws/ex_*.py``,
so every option set is drawn, with and without ``clamp=``) and its label (and trials, from 1
to 1e6, for count laws). Hypothesis draws each row's raw recipe and label on its own, in
batches of 1 to 8 rows that share a dtype (float32 or float64) and a reduction ("none", or
"mean" for the fused kernels). The default run draws ``LOSSLAB_NUMERICS_CASES`` (300) cases
per law; the slow lane (``pytest -m slow``) draws ``LOSSLAB_NUMERICS_SLOW_CASES`` (10,000).

This extends ``test_hypothesis_extreme_inputs_stay_finite`` in ``test_laws_common.py``
(one row, raw within ±1e4, the examples' edge labels) to float32's limits, labels next to
every edge, out-of-support labels, trials up to 1e6 and both reductions.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losslab as ll
from losslab.laws import Law

from .examples import EXAMPLES

LAWS = ll.list_laws()
#: cases (rows) drawn per law: in the default run, and in the slow lane (``pytest -m slow``)
DEFAULT_CASES = int(os.environ.get("LOSSLAB_NUMERICS_CASES", "300"))
SLOW_CASES = int(os.environ.get("LOSSLAB_NUMERICS_SLOW_CASES", "10000"))

#: float32's largest finite value: raw outputs are drawn up to it, in both dtypes
F32_MAX = float(torch.finfo(torch.float32).max)
#: a float32 result must be finite when the exact values (float64 on the same inputs) stay below this
REPRESENTABLE = 1e30
#: within these bounds nothing is excused, whatever the dtype (the house rule: raw ±1e4)
HOUSE_RAW, HOUSE_LABEL = 1e4, 1e4

#: laws whose float32 promise stops short of float32's limit, with the bound and why (float64 is tested to ±3.4e38)
FLOAT32_RAW_BOUND = {
    # The Cholesky factor's off-diagonal entries are raw outputs (identity link): forward substitution
    # multiplies two of them, which overflows float32 from ~1.8e19 even where the NLL is moderate. Its
    # docstring promises ±1e4 (for dim <= 2); a factor with entries of 1e20 is a covariance of 1e40.
    "mvn": 1e4,
    # A log-softmax of logits that differ by more than float32's largest number is itself beyond float32
    # (-inf), and the HL-Gauss/two-hot objective multiplies it by a target weight that may be 1e-33: the
    # product is finite in exact arithmetic but not in float32. Half the limit keeps every difference finite.
    "binned": F32_MAX / 2,
}

RAW_SPECIALS = (
    0.0, -0.0, 1.0, -1.0, 15.0, -15.0, 30.0, -30.0, 36.0, -36.0, 88.0, -88.0, 89.0, -89.0, 104.0, -104.0,
    710.0, -710.0, 1e4, -1e4, 1e-45, -1e-45, 1e-30, 1e20, -1e20, 1e30, -1e30, F32_MAX, -F32_MAX,
)
TRIALS = (1.0, 2.0, 3.0, 10.0, 50.0, 1000.0, 1e6)


def _next(x: float, toward: float, dtype: torch.dtype) -> float:
    """The float of ``dtype`` next to ``x`` in the direction of ``toward``."""
    return float(torch.nextafter(torch.tensor(x, dtype=dtype), torch.tensor(toward, dtype=dtype)))


def _subnormal(dtype: torch.dtype) -> float:
    return _next(0.0, 1.0, dtype)


@dataclass(frozen=True)
class Variant:
    """One law instance to test: an example's options, optionally with the ``clamp=`` boundary policy."""

    law: Law
    example: int


def _variants(name: str) -> list[Variant]:
    out = []
    for i, ex in enumerate(EXAMPLES[name]):
        law = ll.get_law(name, **ex.opts)
        out.append(Variant(law, i))
        low, high, lc, hc = law.support_bounds
        if (math.isfinite(low) and not lc) or (math.isfinite(high) and not hc):
            out.append(Variant(ll.get_law(name, **{**ex.opts, "clamp": 1e-6}), i))
    return out


def label_specials(law: Law, dtype: torch.dtype) -> tuple[list[float], list[float]]:
    """``(inside, outside)``: labels on and next to the support's edges, and labels just outside it.

    "Inside" here means inside the support as the law states it; an open edge itself is
    listed under "outside" (it has no density) unless the law has ``clamp=``.
    """
    low, high, lc, hc = law.support_bounds
    sub, tiny = _subnormal(dtype), float(torch.finfo(dtype).tiny)
    inside: list[float] = []
    outside: list[float] = [math.nan, math.inf, -math.inf]
    if math.isinf(low) and math.isinf(high):
        mags = (0.0, sub, tiny, 1e-30, 1e-7, 0.5, 1.0, 3.0, 1e4, 1e8, 1e15, 1e30)
        return [s * m for m in mags for s in (1.0, -1.0)], outside
    if math.isfinite(low):
        span = (high - low) if math.isfinite(high) else 1.0
        near = [low + d * max(1.0, abs(low)) for d in (1e-30, 1e-7, 1e-3)] + [_next(low, math.inf, dtype)]
        if low == 0.0:
            near += [sub, tiny]
        inside += near + [low + 0.5 * span]
        (inside if lc or law.clamp is not None else outside).append(low)
        outside += [_next(low, -math.inf, dtype), low - 1e-7 * max(1.0, abs(low)), low - 1.0]
        if low == 0.0:
            outside += [-sub, -1e-30]
            (inside if lc or law.clamp is not None else outside).append(-0.0)
    if math.isfinite(high):
        inside += [high - d * max(1.0, abs(high)) for d in (1e-7, 1e-3)] + [_next(high, -math.inf, dtype)]
        (inside if hc or law.clamp is not None else outside).append(high)
        outside += [_next(high, math.inf, dtype), high + 1e-7 * max(1.0, abs(high)), high + 1.0]
    else:
        inside += [1.0, 1e4, 1e8, 1e30]
    return inside, outside


def expected_inside(law: Law, y: torch.Tensor) -> torch.Tensor:
    """Which labels lie in the support, from ``support_bounds`` and the documented ``clamp=`` policy."""
    low, high, lc, hc = law.support_bounds
    if law.clamp is not None:  # the boundary policy: edge labels are accepted (and moved inside)
        lc = hc = True
    above = (y >= low) if lc else (y > low)
    below = (y <= high) if hc else (y < high)
    return torch.isfinite(y) & above & below


#: raw-output recipes, one drawn per row: (shape, magnitude). "example" is the law's own moderate draw.
RAW_RECIPES = st.sampled_from([("example", 1.0)] + [
    (style, mag) for style in ("normal", "log-uniform", "signs") for mag in (1.0, 3.0, 20.0, 100.0, 1e4, 1e20, F32_MAX)
])
RAW_VALUES = st.one_of(
    st.sampled_from(RAW_SPECIALS), st.floats(-1e4, 1e4, width=32), st.floats(-F32_MAX, F32_MAX, width=32)
)
#: a few raw entries set one by one (position taken modulo the batch's size), where shrinking finds the culprit
OVERRIDES = st.lists(st.tuples(st.integers(0, 2**16), RAW_VALUES), max_size=3)
ROWS = st.integers(1, 8)
SEEDS = st.integers(0, 2**32 - 1)
DTYPES = st.sampled_from([torch.float32, torch.float64])
REDUCTIONS = st.sampled_from(["none", "mean"])
TRIAL_COUNTS = st.sampled_from(TRIALS)
OUTSIDE_RATE = st.integers(0, 7)  # 0: one label of this batch lies outside the support (1 batch in 8)


class Plan:
    """Per law: its variants and, per variant and dtype, the label choices (built once: strategies are slow to make)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.variants = _variants(name)
        self.variant = st.integers(0, len(self.variants) - 1)
        self.labels: dict[tuple[int, torch.dtype], tuple[st.SearchStrategy, st.SearchStrategy]] = {}
        for i, var in enumerate(self.variants):
            for dtype in (torch.float32, torch.float64):
                inside, outside = label_specials(var.law, dtype)
                # The example's own label twice as often as any one special value.
                choices = [("example", None), ("example", None)] + [("value", v) for v in inside]
                if var.law.needs_trials:  # k/n at one count from either end
                    choices += [("first", None), ("last", None)]
                self.labels[i, dtype] = (st.sampled_from(choices), st.sampled_from(outside))


@st.composite
def cases(draw, plan: Plan):
    """A small batch of cases of one law: (variant, raw (n, raw_dim), labels, trials or None, reduction).

    Every row is one case, its raw recipe and label drawn on its own; the batch shares a dtype
    and a reduction.
    """
    vi = draw(plan.variant)
    var = plan.variants[vi]
    law, ex = var.law, EXAMPLES[plan.name][var.example]
    dtype = draw(DTYPES)
    n = draw(ROWS)
    gen = torch.Generator().manual_seed(draw(SEEDS))
    d = law.raw_dim

    base = ex.raw(gen, n)  # (n, d) float64
    rows = []
    for i in range(n):
        style, mag = draw(RAW_RECIPES)
        if style == "example":
            rows.append(base[i])
        elif style == "normal":
            rows.append(mag * torch.randn(d, generator=gen, dtype=torch.float64))
        elif style == "log-uniform":  # magnitudes spread from 1e-3 to mag, random signs
            expo = torch.rand(d, generator=gen, dtype=torch.float64) * (math.log10(mag) + 3) - 3
            rows.append(torch.sign(torch.randn(d, generator=gen, dtype=torch.float64)) * 10.0**expo)
        else:
            rows.append(mag * (torch.randint(0, 2, (d,), generator=gen) * 2 - 1).to(torch.float64))
    raw = torch.stack(rows)
    flat = raw.view(-1)
    for pos, value in draw(OVERRIDES):
        flat[pos % flat.numel()] = value
    bound = FLOAT32_RAW_BOUND.get(plan.name, F32_MAX) if dtype == torch.float32 else F32_MAX
    raw = raw.clamp(-bound, bound).to(dtype)

    y, trials = ex.labels(gen, n)
    y = y.clone()
    if trials is not None:
        trials = torch.tensor([draw(TRIAL_COUNTS) for _ in range(n)], dtype=torch.float64)
    pick, outside = plan.labels[vi, dtype]
    flat_y = y.view(-1)
    per_row = flat_y.numel() // n
    for j in range(flat_y.numel()):
        kind, value = draw(pick)
        if kind == "value":
            flat_y[j] = value
        elif kind in ("first", "last"):
            t = float(trials[j // per_row])
            flat_y[j] = 1 / t if kind == "first" else 1 - 1 / t
    if draw(OUTSIDE_RATE) == 0:
        flat_y[draw(st.integers(0, flat_y.numel() - 1))] = draw(outside)
    return var, raw, y.to(dtype), None if trials is None else trials.to(dtype), draw(REDUCTIONS)


def evaluate(law: Law, raw: torch.Tensor, y: torch.Tensor, trials, reduction: str):
    """``(objective, nll (n,), d(objective + sum nll)/d raw)``: what training and scoring compute."""
    raw = raw.detach().clone().requires_grad_(True)
    obj = law.loss(raw, y, reduction=reduction, trials=trials)
    nll = law.nll(law.link(raw), y, trials=trials)
    (obj.sum() + nll.sum()).backward()
    return obj.detach(), nll.detach(), raw.grad


def _rows(t: torch.Tensor, n: int) -> torch.Tensor:
    """Per-row maximum of |t| (a 0-d objective counts for every row)."""
    if t.ndim == 0:
        return t.abs().expand(n)
    return t.detach().abs().reshape(n, -1).amax(-1)


def check_case(var: Variant, raw: torch.Tensor, y: torch.Tensor, trials, reduction: str, tally: dict) -> None:
    law = var.law
    tally["examples"] = tally.get("examples", 0) + 1
    tally["cases"] += raw.shape[0]

    def where() -> str:  # built only for a failure message: printing 200 numbers per case costs more than the case
        return f"{law!r}, dtype={raw.dtype}, reduction={reduction}\nraw={raw.tolist()}\ny={y.tolist()}\ntrials={trials}"

    if not bool(expected_inside(law, y).all()):
        tally["outside"] += 1
        with pytest.raises(ll.LosslabError, match="outside the support|non-finite"):
            evaluate(law, raw, y, trials, reduction)
        return
    obj, nll, grad = evaluate(law, raw, y, trials, reduction)
    n = raw.shape[0]
    bad = ~torch.isfinite(_rows(obj, n)) | ~torch.isfinite(nll.reshape(n)) | ~torch.isfinite(_rows(grad, n))
    if not bool(bad.any()):
        return
    assert raw.dtype == torch.float32, f"non-finite float64 result at rows {bad.nonzero().flatten().tolist()}: {where()}\n{obj=}\n{nll=}\n{grad=}"
    # Float32 may overflow only where the exact (float64) value is beyond what float32 holds.
    robj, rnll, rgrad = evaluate(law, raw.double(), y.double(), None if trials is None else trials.double(), "none")
    assert torch.isfinite(robj).all() and torch.isfinite(rnll).all() and torch.isfinite(rgrad).all(), (
        f"float64 reference is non-finite: {where()}"
    )
    loss_ok = (_rows(robj, n) <= REPRESENTABLE) & (rnll.abs().reshape(n) <= REPRESENTABLE)
    if reduction == "mean":
        loss_ok = loss_ok.all().expand(n) if obj.ndim == 0 else loss_ok
        obj_bad = ~torch.isfinite(obj).expand(n) if obj.ndim == 0 else ~torch.isfinite(_rows(obj, n))
    else:
        obj_bad = ~torch.isfinite(_rows(obj, n))
    grad_ok = loss_ok & (_rows(rgrad, n) <= REPRESENTABLE)
    loss_bad = obj_bad | ~torch.isfinite(nll.reshape(n))
    grad_bad = ~torch.isfinite(_rows(grad, n))
    wrong = (loss_bad & loss_ok) | (grad_bad & grad_ok)
    assert not bool(wrong.any()), (
        f"float32 non-finite where the exact value is representable, rows {wrong.nonzero().flatten().tolist()}: "
        f"{where()}\nfloat32: {obj=} {nll=} {grad=}\nfloat64: {robj=} {rnll=} {rgrad=}"
    )
    house = bool((raw.abs() <= HOUSE_RAW).all()) and bool((y.abs() <= HOUSE_LABEL).all())
    assert not house, f"non-finite float32 result within raw ±1e4 and labels ±1e4 (never excused): {where()}"
    tally["excused"] += 1


def run_law(name: str, n_cases: int) -> dict:
    """Draw at least ``n_cases`` cases (rows) of one law; return the tally.

    Hypothesis counts examples, each a batch of 1 to 8 cases, so it runs in rounds until
    enough cases were drawn (about ``n_cases / 4.5`` examples in all).
    """
    plan = Plan(name)
    tally = {"examples": 0, "cases": 0, "outside": 0, "excused": 0}
    while tally["cases"] < n_cases:

        @settings(max_examples=max(1, math.ceil((n_cases - tally["cases"]) / 4)), deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(cases(plan))
        def check(case):
            check_case(*case, tally)

        check()
    return tally


@pytest.mark.parametrize("name", LAWS)
def test_numerics(name):
    tally = run_law(name, DEFAULT_CASES)
    assert tally["cases"] >= DEFAULT_CASES, tally


@pytest.mark.slow
@pytest.mark.parametrize("name", LAWS)
def test_numerics_slow_lane(name):
    tally = run_law(name, SLOW_CASES)
    if os.environ.get("LOSSLAB_NUMERICS_TALLY"):  # a JSON line per law, for the closing note's counts
        with open(os.environ["LOSSLAB_NUMERICS_TALLY"], "a") as f:
            f.write(json.dumps({"law": name, **tally}) + "\n")
    assert tally["cases"] >= SLOW_CASES, tally
    # Both branches are exercised: labels outside the support (errors) and inside (finite values).
    assert 0 < tally["outside"] < tally["examples"], tally


# ------------------------------------------------------------------ the rules themselves


def test_every_law_is_covered():
    assert set(LAWS) <= set(EXAMPLES), sorted(set(LAWS) - set(EXAMPLES))


@pytest.mark.parametrize("name", LAWS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_edge_label_is_finite_and_every_outside_label_raises(name, dtype):
    """Each listed special label, alone, on moderate raw outputs: the deterministic core of the suite."""
    for var in _variants(name):
        law, ex = var.law, EXAMPLES[name][var.example]
        inside, outside = label_specials(law, dtype)
        gen = torch.Generator().manual_seed(0)
        raw = ex.raw(gen, 1).to(dtype)
        _, trials = ex.labels(gen, 1)
        trials = None if trials is None else torch.full((1,), 10.0, dtype=dtype)
        shape = (1, law.dim) if law.event_dim else (1,)
        for value in inside + outside:
            y = torch.full(shape, value, dtype=dtype)
            check_case(var, raw, y, trials, "none", {"cases": 0, "outside": 0, "excused": 0})
