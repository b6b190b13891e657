"""The common suite: every check runs on every example of every registered law.

A law registered without an example in ``tests/laws/ex_*.py`` fails
``test_every_law_has_an_example``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import losslab as ll
from losslab.laws import Law

from .examples import EXAMPLES, Example

LAWS = ll.list_laws()
CASES = [(name, i) for name in LAWS for i in range(len(EXAMPLES.get(name, [])))]
HYPOTHESIS_EXAMPLES = int(os.environ.get("LOSSLAB_HYPOTHESIS_EXAMPLES", "40"))


def test_every_law_has_an_example():
    missing = [n for n in LAWS if not EXAMPLES.get(n)]
    assert not missing, f"laws without examples in tests/laws/ex_*.py: {missing}"


def test_examples_name_registered_laws():
    unknown = sorted(set(EXAMPLES) - set(LAWS))
    assert not unknown, f"examples for unregistered laws: {unknown}"


@pytest.fixture(params=CASES, ids=[f"{n}-{i}" for n, i in CASES])
def case(request) -> tuple[Law, Example]:
    name, i = request.param
    ex = EXAMPLES[name][i]
    return ll.get_law(name, **ex.opts), ex


def draw(ex: Example, n: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    raw = ex.raw(gen, n)
    y, trials = ex.labels(gen, n)
    return raw, y, trials


def np_params(params):
    return {k: v.detach().numpy() for k, v in params.items()}


def has_excess(law: Law) -> bool:
    return type(law)._infimum is not Law._infimum


def test_nll_matches_reference(case):
    law, ex = case
    raw, y, trials = draw(ex, 64)
    params = law.link(raw)
    got = law.nll(params, y, trials=trials).numpy()
    ref = ex.logpdf(np_params(params), y.numpy(), None if trials is None else trials.numpy())
    assert got.shape == ref.shape == tuple(y.shape[: y.ndim - law.event_dim])
    np.testing.assert_allclose(-got, ref, rtol=1e-6, atol=1e-8, err_msg=ex.source)


def test_predictive_log_prob_is_minus_nll(case):
    law, ex = case
    raw, y, trials = draw(ex, 32, seed=1)
    params = law.link(raw)
    dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
    assert isinstance(dist, torch.distributions.Distribution)
    torch.testing.assert_close(dist.log_prob(y), -law.nll(params, y, trials=trials), rtol=1e-9, atol=1e-9)


def test_gradcheck_float64(case):
    law, ex = case
    raw, y, trials = draw(ex, 5, seed=2)
    raw.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r: law.nll(law.link(r), y, trials=trials), (raw,))
    if not law.stop_gradient:  # beta-NLL's objective stops gradients on purpose
        assert torch.autograd.gradcheck(lambda r: law.loss(r, y, reduction="none", trials=trials), (raw,))


def _extreme_raws(law: Law, dtype: torch.dtype, n_rows: int = 64) -> torch.Tensor:
    """Rows of raw outputs at ±1e4 in every column pattern (all of them when few), plus zeros."""
    gen = torch.Generator().manual_seed(3)
    d = law.raw_dim
    if 2**d <= n_rows:
        signs = torch.tensor([[1.0 if (i >> j) & 1 else -1.0 for j in range(d)] for i in range(2**d)])
    else:
        signs = torch.randint(0, 2, (n_rows, d), generator=gen).to(torch.float64) * 2 - 1
        signs[0], signs[1] = 1.0, -1.0
    return (1e4 * signs).to(dtype)


def _labels_for(law: Law, ex: Example, n: int, dtype: torch.dtype, seed: int = 4):
    gen = torch.Generator().manual_seed(seed)
    y, trials = ex.labels(gen, n)
    return y.to(dtype), None if trials is None else trials.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_extreme_raw_outputs(case, dtype):
    law, ex = case
    raw = _extreme_raws(law, dtype)
    y, trials = _labels_for(law, ex, raw.shape[0], dtype)
    raw.requires_grad_(True)
    loss = law.loss(raw, y, reduction="none", trials=trials)
    assert torch.isfinite(loss).all(), f"non-finite loss at raw rows {torch.nonzero(~torch.isfinite(loss))[:5].tolist()}"
    loss.sum().backward()
    assert torch.isfinite(raw.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_support_edges(case, dtype):
    law, ex = case
    if not ex.edge_labels:
        pytest.skip(f"{law.name}: open support, edge labels are rejected (tested below)")
    raw0, _, _ = draw(ex, 8, seed=5)
    for edge in ex.edge_labels:
        raw = torch.cat([raw0, _extreme_raws(law, torch.float64, 8)]).to(dtype).requires_grad_(True)
        y = torch.full((raw.shape[0],), edge, dtype=dtype)
        trials = torch.full_like(y, 10.0) if law.needs_trials else None
        loss = law.loss(raw, y, reduction="none", trials=trials)
        assert torch.isfinite(loss).all(), f"label {edge}: {loss}"
        loss.sum().backward()
        assert torch.isfinite(raw.grad).all(), f"label {edge}"


def test_labels_outside_support_raise(case):
    law, ex = case
    low, high, lc, hc = law.support_bounds
    raw, y, trials = draw(ex, 6, seed=6)
    params = law.link(raw)
    if math.isinf(low) and math.isinf(high):
        y = y.clone()
        y.view(-1)[0] = float("inf")
        with pytest.raises(ll.LosslabError, match="non-finite"):
            law.nll(params, y, trials=trials)
        return
    bad = y.clone()
    bad.view(-1)[1] = (high + 0.5) if math.isfinite(high) else (low - 0.5)
    with pytest.raises(ll.LosslabError, match=rf"{law.name}: 1 of \d+ labels lie outside the support"):
        law.nll(params, bad, trials=trials)
    if not lc:  # an open edge: the label exactly on it is rejected unless clamp= is given
        edge = y.clone()
        edge.view(-1)[0] = low
        with pytest.raises(ll.LosslabError, match="clamp="):
            law.nll(params, edge, trials=trials)
        clamped = ll.get_law(law.name, **{**ex.opts, "clamp": 1e-6})
        assert torch.isfinite(clamped.nll(params, edge, trials=trials)).all()


def test_shapes_must_match_exactly(case):
    law, ex = case
    raw, y, trials = draw(ex, 6, seed=7)
    params = law.link(raw)
    with pytest.raises(ll.LosslabError, match="shape"):
        law.nll(params, y.unsqueeze(-1), trials=None if trials is None else trials.unsqueeze(-1))
    with pytest.raises(ll.LosslabError, match="raw_dim"):
        law.link(torch.zeros(3, law.raw_dim + 1, dtype=torch.float64))


def test_excess(case):
    law, ex = case
    raw, y, trials = draw(ex, 16, seed=8)
    if not has_excess(law):
        with pytest.raises(NotImplementedError):
            law.excess(law.link(raw), y, trials=trials)
        return
    assert (law.excess(law.link(raw), y, trials=trials) >= 0).all()
    # Fit each element's raw outputs by L-BFGS: at the optimum the excess must vanish.
    fit = raw.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([fit], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = law.loss(fit, y, reduction="sum", trials=trials)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    excess = law.excess(law.link(fit.detach()), y, trials=trials)
    assert excess.max() < 1e-6, excess


def test_mean_minimiser(case):
    law, ex = case
    if not law.mean_minimiser:
        pytest.skip(f"{law.name} does not promise that its minimiser is the label mean")
    _, y, trials = draw(ex, 400, seed=9)
    raw = torch.zeros(1, law.raw_dim, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([raw], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = law.loss(raw.expand(y.shape[0], -1), y, trials=trials)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    mean = law.point(law.link(raw.detach()))
    expected = (y * trials).sum() / trials.sum() if law.needs_trials else y.mean()
    torch.testing.assert_close(mean, expected.reshape(1), rtol=0, atol=1e-6)


def test_point_kinds(case):
    law, ex = case
    raw, y, trials = draw(ex, 10, seed=10)
    params = law.link(raw)
    for kind in law.point_kinds:
        p = law.point(params, kind)
        assert p.shape == y.shape, kind
        assert torch.isfinite(p).all(), kind
    with pytest.raises(ll.LosslabError, match="point kind"):
        law.point(params, "no-such-kind")


def test_head_trains_under_the_law(case):
    law, ex = case
    gen = torch.Generator().manual_seed(11)
    y, trials = ex.labels(gen, 64)
    y, trials = y.float(), None if trials is None else trials.float()
    x = torch.randn(64, 5, generator=gen)
    head = ll.LawHead(5, law)
    out = head(x)
    assert out.shape == (64, law.raw_dim)
    head.init_bias(y, trials)
    with torch.no_grad():
        head.linear.weight.zero_()
        fitted = law.nll(law.link(head(x)), y, trials=trials).mean()
        zero = law.nll(law.link(torch.zeros(64, law.raw_dim)), y, trials=trials).mean()
    assert torch.isfinite(fitted) and fitted <= zero + 1e-4, (float(fitted), float(zero))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    nlls = []
    for _ in range(20):
        opt.zero_grad()
        out = head(x)
        law.loss(out, y, trials=trials).backward()
        opt.step()
        # Progress is judged on the NLL: beta-NLL's objective reweights itself as it trains.
        nlls.append(float(law.nll(law.link(out.detach()), y, trials=trials).mean()))
    assert all(math.isfinite(v) for v in nlls) and nlls[-1] <= nlls[0]


def test_head_with_several_targets(case):
    law, ex = case
    if law.event_dim:
        pytest.skip("vector laws model all outputs jointly")
    gen = torch.Generator().manual_seed(12)
    cols = [ex.labels(gen, 16) for _ in range(3)]
    y = torch.stack([c[0] for c in cols], dim=1).float()
    trials = None if cols[0][1] is None else torch.stack([c[1] for c in cols], dim=1).float()
    head = ll.LawHead(4, law, n_targets=3)
    head.init_bias(y, trials)
    out = head(torch.randn(16, 4, generator=gen))
    assert out.shape == (16, 3, law.raw_dim)
    assert law.loss(out, y, trials=trials, reduction="none").shape == (16, 3)


@st.composite
def extreme_inputs(draw_, law: Law, ex: Example):
    raw = draw_(st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=law.raw_dim, max_size=law.raw_dim))
    gen = torch.Generator().manual_seed(draw_(st.integers(0, 2**31 - 1)))
    y, trials = ex.labels(gen, 1)
    edge = draw_(st.sampled_from((None,) + tuple(ex.edge_labels)))
    if edge is not None:
        y = torch.full_like(y, edge)
    dtype = draw_(st.sampled_from([torch.float32, torch.float64]))
    return torch.tensor([raw], dtype=dtype), y.to(dtype), None if trials is None else trials.to(dtype)


@pytest.mark.parametrize("name_i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_hypothesis_extreme_inputs_stay_finite(name_i):
    name, i = name_i
    ex = EXAMPLES[name][i]
    law = ll.get_law(name, **ex.opts)

    @settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(extreme_inputs(law, ex))
    def check(inputs):
        raw, y, trials = inputs
        raw.requires_grad_(True)
        loss = law.loss(raw, y, trials=trials)
        assert torch.isfinite(loss), (raw, y, loss)
        loss.backward()
        assert torch.isfinite(raw.grad).all(), (raw, y, raw.grad)

    check()


def test_unknown_law_lists_close_matches():
    with pytest.raises(ll.LosslabError, match="did you mean 'gaussian'"):
        ll.get_law("gausian")


def test_unknown_option_is_named():
    with pytest.raises(ll.LosslabError, match="no option 'sigam'.*did you mean 'sigma'"):
        ll.get_law("gaussian", sigam=2.0)


def test_list_laws_pattern():
    assert ll.list_laws() == sorted(ll.list_laws())
    assert all(n.startswith("gaussian") for n in ll.list_laws("gaussian*"))
    assert ll.list_laws("no-such-*") == []


def _probed_spread(law: Law, ex: Example) -> tuple[float | None, str]:
    """The predictive standard deviation when it is the same at 32 random raw outputs, else None; and why.

    An independent reading of :attr:`Law.fixed_spread` (the way it was computed before laws
    declared it): it looks at the predictive, not at the law's options.
    """
    gen = torch.Generator().manual_seed(11)
    raw = 3.0 * ex.raw(gen, 32)
    params = law.link(raw)
    trials = torch.full((32,), 10.0, dtype=torch.float64) if law.needs_trials else None
    try:
        sd = law.predictive(params, trials=trials).stddev.detach().reshape(-1)
    except (NotImplementedError, ll.LosslabError) as exc:
        return None, f"no predictive standard deviation ({type(exc).__name__})"
    if bool(torch.isfinite(sd).all()) and float(sd.max() - sd.min()) <= 1e-12 * max(1.0, float(sd.abs().max())):
        return float(sd[0]), "the same at every raw output"
    return None, f"varies from {float(sd.min()):.3g} to {float(sd.max()):.3g}"


def test_fixed_spread_agrees_with_the_predictive(case):
    # A law whose spread an option fixes must say so (its scores are flagged in reports), and no other law may.
    law, ex = case
    probed, why = _probed_spread(law, ex)
    if probed is None:
        assert law.fixed_spread is None, f"{law.name}: fixed_spread={law.fixed_spread} but the predictive spread {why}"
    else:
        assert law.fixed_spread == pytest.approx(probed, rel=1e-12), f"{law.name}: predictive spread {why}"


@pytest.mark.parametrize(
    "name, opts, reference",
    [
        # scipy.stats standard deviations of the predictive each law promises
        ("gaussian", {"sigma": 2.5}, lambda: stats.norm(scale=2.5).std()),
        ("sigmoid-mse", {"sigma": 0.3}, lambda: stats.norm(scale=0.3).std()),
        ("laplace", {"scale": 0.5}, lambda: stats.laplace(scale=0.5).std()),
    ],
)
def test_fixed_spread_values(name, opts, reference):
    assert ll.get_law(name, **opts).fixed_spread == pytest.approx(reference(), rel=1e-12)
    assert ll.laws.spec.fixed_spread(ll.get_law(name, **opts)) == ll.get_law(name, **opts).fixed_spread
