"""Fuzz: every law x {float32, float64, float16, bfloat16} x extreme raw outputs and labels, everything a user reads.

``test_numerics.py`` checks loss, NLL and gradient in float32 and float64; this suite adds the half
dtypes and what a trained network is read through: each point kind, the predictive's ``mean`` and
its ``log_prob``. For one batch of raw outputs and in-support labels (drawn by hypothesis, cast to
the dtype under test) it computes

* ``loss(reduction="none")``, ``loss(reduction="mean")`` (the fused kernels) and ``nll``;
* the gradient of the summed loss with respect to the raw outputs;
* ``point(params, kind)`` for every kind, ``predictive(params).mean`` (laws with a mean) and
  ``predictive(params).log_prob(y)``;

and counts a result that is NaN or infinite as a **failure** unless the exact value is beyond what
its dtype holds. "Exact" is the same computation in float64 on the same inputs (the half or float32
raw outputs and labels, widened); "beyond" means above :data:`LIMIT` of the result's dtype (for a
gradient, also where the row's loss is beyond it: the chain rule passes through ``d loss / d scale``,
about ``loss / scale``, as in ``test_numerics``). Loss,
NLL, points and predictive values of half inputs are float32 (laws compute them in float32, as
torch's autocast does for losses); gradients reach the raw outputs in their own dtype, so a float16
gradient above 65504 is beyond float16. A NaN is always a failure: it is the rounding of nothing.
Where the law refuses the input (a label that rounds onto an open edge in float16, trials beyond
float16's range) it must do so with one :class:`losslab.LosslabError` line.

Raw outputs are drawn from specials (0, ±3e-39, ±1e-45, ±1, ±15, ±30, ±88, ±104, ±710, ±1e4,
±1e6, ±1e15, ±1e20, ±1e30, ±3.4e38), uniformly from [-1e4, 1e4] and log-uniformly up to float32's
limit (cut to each dtype's largest number; ``mvn`` to ±1e4 in float32, whose forward substitution
multiplies raw outputs, and ``binned`` to half float32's limit, as in ``test_numerics``). Labels are
the support's edges (where it includes them, or with ``clamp=``), the floats next to them,
subnormals, 1e-30, the middle, the example's own draws, and for real supports ±1e4, ±1e8, ±1e15,
±1e30. Within ±1e4 for both ("the house range") only float16 gradients and the exponential law's
mean (``e^{-r}``, beyond float64 at ``r = -1e4``) may overflow, and do so only by that rule.

Budget: ``FUZZ_EXAMPLES`` hypothesis examples per law in the default lane (derandomised, so every
run draws the same cases), ``FUZZ_SLOW_EXAMPLES`` in the slow lane. ``docs/_make_errors_table.py``
runs :func:`run_law` for every law and writes the counts into ``docs/errors.md``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losslab as ll
from losslab.laws import Law

from .examples import EXAMPLES

LAWS = ll.list_laws()
#: hypothesis examples (batches of 1 to 4 rows) per law: default lane and slow lane
FUZZ_EXAMPLES = int(os.environ.get("LOSSLAB_FUZZ_EXAMPLES", "12"))
FUZZ_SLOW_EXAMPLES = int(os.environ.get("LOSSLAB_FUZZ_SLOW_EXAMPLES", "400"))

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
HALF = (torch.float16, torch.bfloat16)
F32_MAX = float(torch.finfo(torch.float32).max)
#: a result must be finite where the exact value is at most this in magnitude, per result dtype: float32 and
#: bfloat16 keep 1e8 of margin below their limit for the chain rule's intermediates (as test_numerics does);
#: float16 values are only gradients here, computed in float32 and rounded once
LIMIT = {torch.float64: math.inf, torch.float32: 1e30, torch.bfloat16: 1e30, torch.float16: 6e4}
HOUSE = 1e4

RAW_SPECIALS = (
    0.0, -0.0, 3e-39, -3e-39, 1e-45, -1e-45, 1.0, -1.0, 15.0, -15.0, 30.0, -30.0, 88.0, -88.0, 104.0, -104.0,
    710.0, -710.0, 1e4, -1e4, 1e6, -1e6, 1e15, -1e15, 1e20, -1e20, 1e30, -1e30, F32_MAX, -F32_MAX,
)
RAW_BOUND = {"mvn": 1e4, "binned": F32_MAX / 2}  # float32 bounds, as in test_numerics.FLOAT32_RAW_BOUND
TRIALS = (1.0, 2.0, 10.0, 1000.0, 1e6)


@dataclass(frozen=True)
class Variant:
    law: Law
    example: int


def variants(name: str) -> list[Variant]:
    """Each example's options, again with ``clamp=1e-6`` for laws with an open edge; mvn also at dim 3."""
    out = []
    for i, ex in enumerate(EXAMPLES[name]):
        law = ll.get_law(name, **ex.opts)
        out.append(Variant(law, i))
        low, high, lc, hc = law.support_bounds
        if (math.isfinite(low) and not lc) or (math.isfinite(high) and not hc):
            out.append(Variant(ll.get_law(name, **{**ex.opts, "clamp": 1e-6}), i))
    if name == "mvn":
        out.append(Variant(ll.get_law("mvn", dim=3), -1))
    return out


def label_values(law: Law) -> list[float]:
    """In-support labels on and next to the edges, tiny and huge ones (in float64; the dtype may round them)."""
    low, high, lc, hc = law.support_bounds
    if math.isinf(low) and math.isinf(high):
        mags = (0.0, 3e-39, 1e-30, 1e-7, 0.5, 1.0, 3.0, 1e4, 1e8, 1e15, 1e30)
        return [s * m for m in mags for s in (1.0, -1.0)]
    out: list[float] = []
    span = (high - low) if math.isfinite(high) else 1.0
    edge_ok = law.clamp is not None
    for d in (1e-45, 3e-39, 1e-30, 1e-7, 1e-3, 0.5):
        out.append(low + d * span)
    if lc or edge_ok:
        out.append(low)
    if math.isfinite(high):
        for d in (6e-8, 1e-7, 1e-3):
            out.append(high - d * span)
        out.append(float(torch.nextafter(torch.tensor(high, dtype=torch.float64), torch.tensor(low, dtype=torch.float64))))
        if hc or edge_ok:
            out.append(high)
    else:
        out += [1.0, 1e4, 1e8, 1e15, 1e30]
    return out


@dataclass
class Tally:
    examples: int = 0
    rows: int = 0
    rejected: int = 0  # inputs the law refused with one LosslabError line (labels rounded onto an open edge, ...)
    values: int = 0  # results checked (each a tensor)
    unrepresentable: int = 0  # non-finite results whose exact value is beyond their dtype
    failures: list[str] = field(default_factory=list)  # non-finite where the exact value fits: must stay empty

    def as_dict(self) -> dict:
        return {"examples": self.examples, "rows": self.rows, "rejected": self.rejected, "values": self.values,
                "unrepresentable": self.unrepresentable, "failures": len(self.failures)}


class Plan:
    """Per law: its variants and label choices (strategies are slow to build, so once per law)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.variants = variants(name)
        self.labels = [st.sampled_from([None, None] + label_values(v.law)) for v in self.variants]


raw_values = st.one_of(
    st.sampled_from(RAW_SPECIALS),
    st.floats(-HOUSE, HOUSE, allow_nan=False),
    st.builds(lambda e, s: s * 10.0**e, st.floats(-45, 38.5), st.sampled_from([1.0, -1.0])),
)


@st.composite
def cases(draw, plan: Plan):
    vi = draw(st.integers(0, len(plan.variants) - 1))
    var = plan.variants[vi]
    law = var.law
    ex = EXAMPLES[plan.name][var.example] if var.example >= 0 else None
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.integers(1, 4))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    raw = torch.tensor([[draw(raw_values) for _ in range(law.raw_dim)] for _ in range(n)], dtype=torch.float64)
    bound = min(float(torch.finfo(dtype).max), RAW_BOUND.get(plan.name, math.inf) if dtype == torch.float32 else math.inf)
    raw = raw.clamp(-bound, bound)
    if ex is not None:
        y, trials = ex.labels(gen, n)
    else:  # mvn dim 3
        y, trials = torch.randn(n, law.dim, generator=gen, dtype=torch.float64), None
    y = y.clone()
    flat = y.view(-1)
    for j in range(flat.numel()):
        value = draw(plan.labels[vi])
        if value is not None:
            flat[j] = value
    if trials is not None:
        trials = torch.tensor([draw(st.sampled_from(TRIALS)) for _ in range(n)], dtype=torch.float64)
        if draw(st.booleans()):  # counts k/n exactly, as count data are
            y = torch.floor(y * trials) / trials
    return var, raw.to(dtype), y.to(dtype), None if trials is None else trials.to(dtype)


def results(law: Law, raw: torch.Tensor, y: torch.Tensor, trials) -> dict[str, torch.Tensor]:
    """Everything a user reads from one batch, by name."""
    raw = raw.detach().clone().requires_grad_(True)
    out: dict[str, torch.Tensor] = {}
    loss = law.loss(raw, y, reduction="none", trials=trials)
    out["loss"] = loss.detach()
    out["grad"] = torch.autograd.grad(loss.sum(), raw)[0]
    out["loss(mean)"] = law.loss(raw.detach(), y, trials=trials).detach()
    with torch.no_grad():
        params = law.link(raw.detach())
        out["nll"] = law.nll(params, y, trials=trials)
        for kind in law.point_kinds:
            out[f"point:{kind}"] = law.point(params, kind)
        dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
        if "mean" in law.point_kinds:
            try:
                out["predictive.mean"] = dist.mean
            except NotImplementedError:  # logit-normal: a transformed distribution (point() has its mean)
                pass
        ref = next(iter(params.values()))
        y_ref = y.to(ref.dtype)
        # clamp= is the NLL's boundary policy; the predictive is read where the NLL reads it (an open edge
        # itself has an infinite or zero density)
        out["predictive.log_prob"] = dist.log_prob(law._clamp_labels(y_ref) if law.clamp is not None else y_ref)
    return out


def beyond_float64(law: Law, key: str, raw: torch.Tensor) -> torch.Tensor:
    """Where a float64 result's exact value is known to exceed float64 (no wider reference exists).

    Only the exponential's mean and median: ``e^{-log softplus(r)}``, beyond float64 for ``r < -709.8``.
    """
    if law.name == "exponential" and key in ("point:mean", "point:median", "predictive.mean"):
        log_mean = -ll.links.log_softplus(raw[..., 0].double()) + (math.log(math.log(2.0)) if key == "point:median" else 0.0)
        return log_mean > math.log(torch.finfo(torch.float64).max)
    return torch.zeros(raw.shape[:-1], dtype=torch.bool)


def _house(raw: torch.Tensor, y: torch.Tensor) -> bool:
    return bool((raw.double().abs() <= HOUSE).all()) and bool((y.double().abs() <= HOUSE).all())


def check(var: Variant, raw: torch.Tensor, y: torch.Tensor, trials, tally: Tally) -> None:
    law = var.law
    tally.examples += 1
    tally.rows += raw.shape[0]
    try:
        got = results(law, raw, y, trials)
    except ll.LosslabError as e:
        msg = str(e)
        assert msg and "\n" not in msg, f"not one line: {msg!r}"
        # Only inputs the dtype itself moved out of the law's reach may be refused.
        low, high, lc, hc = law.support_bounds
        assert raw.dtype != torch.float64 or "trials" in msg, f"float64 input refused: {msg}\n{law!r} {raw.tolist()} {y.tolist()}"
        tally.rejected += 1
        return
    bad = {k: v for k, v in got.items() if not bool(torch.isfinite(v).all())}
    tally.values += len(got)
    if not bad:
        return
    where = f"{law!r} dtype={raw.dtype}\nraw={raw.tolist()}\ny={y.tolist()}\ntrials={None if trials is None else trials.tolist()}"
    if raw.dtype == torch.float64:
        for key, value in bad.items():
            if bool(torch.isnan(value).any()) or not bool(beyond_float64(law, key, raw)[~torch.isfinite(value)].all()):
                tally.failures.append(f"non-finite float64 {key}: {where}\ngot {value.tolist()}")
            else:
                tally.unrepresentable += 1
        return
    exact = results(law, raw.double(), y.double(), None if trials is None else trials.double())
    n = raw.shape[0]
    # The gradient passes through d loss / d parameter (about loss / scale), so a row's gradient is held to
    # finiteness only where its loss fits too, as in test_numerics (a slope of e^-88 cannot rescue an inf).
    loss_fits = exact["loss"].abs().reshape(n, -1).amax(-1) <= LIMIT[torch.float32]
    for key, value in bad.items():
        ref = exact[key].to(torch.float64)
        nan = torch.isnan(value)
        over = ~torch.isfinite(value) & ~nan
        limit = LIMIT[value.dtype]
        fits = torch.isfinite(ref) & (ref.abs() <= limit)
        if key == "grad":
            fits = fits & loss_fits.reshape(n, *([1] * (ref.ndim - 1)))
        if bool(nan.any()) or bool((over & fits.expand_as(over)).any()):
            tally.failures.append(f"{key} non-finite where the exact value fits {value.dtype}: {where}\ngot {value.tolist()}\nexact {ref.tolist()}")
        else:
            tally.unrepresentable += 1
            if _house(raw, y):
                # Inside the house range only a float16 gradient or the exponential's mean may overflow.
                allowed = (key == "grad" and raw.dtype == torch.float16) or (
                    law.name == "exponential" and key in ("point:mean", "point:median", "predictive.mean"))
                if not allowed:
                    tally.failures.append(f"{key} overflows inside the house range: {where}\ngot {value.tolist()}")


def run_law(name: str, n_examples: int) -> Tally:
    """Draw ``n_examples`` hypothesis examples of law ``name`` (all dtypes, all variants) and tally them."""
    plan = Plan(name)
    tally = Tally()

    @settings(max_examples=n_examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(plan))
    def run(case):
        check(*case, tally)

    run()
    return tally


def _assert_clean(name: str, tally: Tally) -> None:
    assert not tally.failures, f"{len(tally.failures)} failure(s) in {name}; first:\n{tally.failures[0]}"


@pytest.mark.parametrize("name", LAWS)
def test_fuzz_every_law_every_dtype(name):
    tally = run_law(name, FUZZ_EXAMPLES)
    assert tally.examples >= FUZZ_EXAMPLES
    _assert_clean(name, tally)


@pytest.mark.slow
@pytest.mark.parametrize("name", LAWS)
def test_fuzz_every_law_every_dtype_slow_lane(name):
    tally = run_law(name, FUZZ_SLOW_EXAMPLES)
    _assert_clean(name, tally)


def test_every_law_has_fuzz_labels():
    # A law whose support this suite cannot draw labels for would be fuzzed on its example's labels only.
    for name in LAWS:
        for var in variants(name):
            assert label_values(var.law), name


def test_fuzz_flags_a_nan(monkeypatch):
    # The harness itself: a law whose NLL turns NaN on huge labels must be reported, not excused.
    law = ll.get_law("gaussian")
    monkeypatch.setattr(type(law), "_nll", lambda self, p, y, t: (p["loc"] - y) * torch.where(y.abs() > 1e3, math.nan, 1.0))
    tally = Tally()
    check(Variant(law, 0), torch.zeros(1, 1), torch.tensor([1e4]), None, tally)
    assert any(f.startswith("nll non-finite") for f in tally.failures), tally.failures
