"""Law-specific tests for the laws on [0, 1]: beta, mixture-beta, zoib, continuous-bernoulli, logit-normal.

References are independent of the laws' code: scipy.stats, scipy.integrate.quad,
mpmath at 50 digits, torch's own ContinuousBernoulli, and closed forms from the
papers, each named where it is used.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

import losslab as ll
from losslab.distributions import ZeroOneInflatedBeta
from losslab.laws.beta import beta_mode
from losslab.laws.continuous_bernoulli import (
    StableContinuousBernoulli,
    _taylor_max,
    cb_log_norm,
    cb_logits_for_mean,
    cb_mean,
    cb_median,
    cb_nll,
    cb_variance,
)
from losslab.laws.logit_normal import logit_normal_mean

D = torch.float64


def t(*v, dtype=D):
    """A float64 tensor: 0-dimensional from one number, 1-dimensional from several."""
    return torch.tensor(v[0] if len(v) == 1 else v, dtype=dtype)


# ----------------------------------------------------------------------------- beta


def test_beta_rejects_edge_labels_and_suggests_alternatives():
    law = ll.get_law("beta")
    params = law.link(torch.zeros(2, 2, dtype=D))
    with pytest.raises(ll.LosslabError, match=r"clamp=1e-6.*'zoib'.*'bernoulli'.*'continuous-bernoulli'"):
        law.nll(params, t(0.5, 1.0))
    with pytest.raises(ll.LosslabError, match="outside the support") as info:
        law.nll(params, t(0.5, 1.5))
    assert "clamp" not in str(info.value)  # a label beyond the edge is not fixed by clamping


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_beta_with_clamp_handles_edge_labels(dtype):
    eps = 1e-6
    law = ll.get_law("beta", clamp=eps)
    raw = torch.tensor([[0.3, 1.0], [-2.0, 0.5], [1e4, 1e4], [-1e4, -1e4]], dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    loss = law.loss(raw, y, reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(raw.grad).all()
    # Reference: scipy's beta log-density at the clamped labels eps and 1 - eps.
    p = {k: v.detach().double().numpy() for k, v in law.link(raw.detach().double()).items()}
    yc = np.array([eps, 1 - eps, eps, 1 - eps])
    ref = -stats.beta.logpdf(yc, p["mean"] * p["precision"], (1 - p["mean"]) * p["precision"])
    rtol = 1e-9 if dtype == torch.float64 else 1e-3
    np.testing.assert_allclose(loss[:2].detach().double().numpy(), ref[:2], rtol=rtol)


def test_beta_link_keeps_concentration0_positive_in_float32():
    law = ll.get_law("beta")
    p = law.link(torch.tensor([[25.0, 0.0]]))  # mean rounds to 1 in float32
    assert float(p["mean"]) == 1.0
    # sigmoid(-25) = 1.39e-11 (closed form e^-25 / (1 + e^-25)); 1 - mean would be 0.
    assert math.isclose(float(p["concentration0"]), math.exp(-25) / (1 + math.exp(-25)), rel_tol=1e-5)


def test_beta_mode_matches_numerical_argmax():
    a = t(3.0, 1.5, 20.0, 0.5, 2.0, 0.7, 0.4, 1.0)
    b = t(2.0, 8.0, 3.0, 2.0, 0.9, 0.3, 0.4, 1.0)
    got = beta_mode(a, b).numpy()
    grid = np.linspace(1e-9, 1 - 1e-9, 200001)
    for i in range(3):  # interior modes: argmax of scipy's density on a fine grid
        assert abs(got[i] - grid[np.argmax(stats.beta.pdf(grid, a[i], b[i]))]) < 1e-5
    # Edges: density unbounded at 0 (a < 1 < b), at 1 (b < 1 < a), at the smaller concentration's edge (U-shape).
    assert got[3:].tolist() == [0.0, 1.0, 1.0, 0.5, 0.5]


def test_beta_init_is_method_of_moments():
    torch.manual_seed(0)
    y = torch.distributions.Beta(torch.tensor(2.0), torch.tensor(5.0)).sample((20000,))
    init = ll.get_law("beta").init_params(y)
    # Beta(2, 5): mean 2/7, precision a + b = 7 (moments of the law itself).
    assert abs(float(init["mean"]) - 2 / 7) < 0.01
    assert abs(float(init["precision"]) - 7) < 0.3


def test_beta_predictive_is_torch_beta_with_moments():
    law = ll.get_law("beta")
    p = law.link(t(0.4, 1.2).reshape(1, 2))
    d = law.predictive(p)
    a, b = float(p["concentration1"]), float(p["concentration0"])
    assert isinstance(d, torch.distributions.Beta)
    assert math.isclose(float(d.variance), stats.beta.var(a, b), rel_tol=1e-12)
    assert math.isclose(float(law.point(p, "mean")), stats.beta.mean(a, b), rel_tol=1e-12)


# ------------------------------------------------------------------------ mixture-beta


def test_mixture_beta_with_one_component_is_beta():
    gen = torch.Generator().manual_seed(1)
    raw = torch.randn(50, 2, generator=gen, dtype=D)
    y = torch.rand(50, generator=gen, dtype=D)
    beta, mix = ll.get_law("beta"), ll.get_law("mixture-beta", n_components=1)
    raw_mix = torch.cat([torch.randn(50, 1, generator=gen, dtype=D), raw], 1)  # any weight logit: one component
    pb, pm = beta.link(raw), mix.link(raw_mix)
    torch.testing.assert_close(mix.nll(pm, y), beta.nll(pb, y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mix.predictive(pm).log_prob(y), beta.predictive(pb).log_prob(y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mix.point(pm), beta.point(pb), rtol=1e-12, atol=1e-12)


def test_mixture_beta_options_and_shapes():
    with pytest.raises(ll.LosslabError, match="n_components"):
        ll.get_law("mixture-beta", n_components=0)
    law = ll.get_law("mixture-beta", n_components=4)
    assert law.raw_layout == {"logits": 4, "mean": 4, "precision": 4} and law.raw_dim == 12
    assert law.options() == {"n_components": 4, "clamp": None}
    p = law.link(torch.zeros(5, 3, 12))
    assert p["mean"].shape == (5, 3, 4)
    assert law.nll(p, torch.full((5, 3), 0.3)).shape == (5, 3)
    head = ll.LawHead(2, law, constant=("precision",))
    assert head(torch.zeros(7, 2)).shape == (7, 12)


def test_mixture_beta_init_separates_two_camps():
    # Labels from two well separated betas: the quantile-split moments find both.
    torch.manual_seed(2)
    lo = torch.distributions.Beta(torch.tensor(2.0), torch.tensor(20.0)).sample((500,))
    hi = torch.distributions.Beta(torch.tensor(20.0), torch.tensor(2.0)).sample((500,))
    law = ll.get_law("mixture-beta", n_components=2)
    init = law.init_params(torch.cat([lo, hi]))
    means = sorted(float(m) for m in init["mean"])
    assert abs(means[0] - 2 / 22) < 0.03 and abs(means[1] - 20 / 22) < 0.03


# --------------------------------------------------------------------------------- zoib


def _fit_intercept(law, y, steps=400, lr=0.1):
    raw = torch.zeros(1, law.raw_dim, dtype=D, requires_grad=True)
    opt = torch.optim.Adam([raw], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        law.loss(raw.expand(y.shape[0], -1), y).backward()
        opt.step()
    return law.link(raw.detach())


def test_zoib_without_atoms_learns_no_atom_mass():
    gen = torch.Generator().manual_seed(3)
    y = torch.rand(200, generator=gen, dtype=D) * 0.98 + 0.01
    law = ll.get_law("zoib")
    d = law.predictive(_fit_intercept(law, y))
    # From 1/3 each at raw zero; the gradient in the atom logits is pi0 itself, so the decay slows as it goes.
    assert float(d.p0) < 5e-3 and float(d.p1) < 5e-3


def test_zoib_atom_masses_fit_label_frequencies():
    # The likelihood factorises: the MLE of (pi0, pi1) is the fraction of exact 0s and 1s.
    gen = torch.Generator().manual_seed(4)
    y = torch.rand(300, generator=gen, dtype=D)
    y[:45], y[45:120] = 0.0, 1.0
    law = ll.get_law("zoib")
    d = law.predictive(_fit_intercept(law, y, steps=1500, lr=0.05))
    assert abs(float(d.p0) - 45 / 300) < 2e-3 and abs(float(d.p1) - 75 / 300) < 2e-3


def test_zoib_init_fits_frequencies():
    y = torch.tensor([0.0, 0.0, 1.0, 0.2, 0.4, 0.6, 0.3, 0.5])
    law = ll.get_law("zoib")
    d = law.predictive(law.link(law.inverse_link(law.init_params(y)).unsqueeze(0)))
    assert abs(float(d.p0) - 2 / 8) < 1e-6 and abs(float(d.p1) - 1 / 8) < 1e-6


def test_zoib_distribution_moments_sample_and_cdf():
    r0, r1, a, b = t(-0.5), t(0.3), t(2.5), t(4.0)  # batch shape ()
    d = ZeroOneInflatedBeta(r0, r1, a, b)
    pi = special.softmax([-0.5, 0.3, 0.0])
    # Reference: E y = pi1 + pi_c a / (a + b); E y^2 = pi1 + pi_c E_beta y^2 (scipy.stats.beta moments).
    m2 = pi[1] + pi[2] * stats.beta.moment(2, 2.5, 4.0)
    mean = pi[1] + pi[2] * stats.beta.mean(2.5, 4.0)
    assert math.isclose(float(d.p0), pi[0], rel_tol=1e-12) and math.isclose(float(d.p1), pi[1], rel_tol=1e-12)
    assert math.isclose(float(d.mean), mean, rel_tol=1e-12)
    assert math.isclose(float(d.variance), m2 - mean**2, rel_tol=1e-10)
    assert isinstance(d.beta, torch.distributions.Beta)
    torch.manual_seed(0)
    s = d.sample((40000,))
    assert s.shape == (40000,) and bool(((s >= 0) & (s <= 1)).all())
    assert abs(float((s == 0).double().mean()) - pi[0]) < 0.01 and abs(float((s == 1).double().mean()) - pi[1]) < 0.01
    assert abs(float(s.mean()) - mean) < 0.01
    # cdf: pi0 + pi_c I_y(a, b) inside, jumps at the atoms; icdf inverts it (scipy.stats.beta inside)
    assert math.isclose(float(d.cdf(t(0.5))), pi[0] + pi[2] * stats.beta.cdf(0.5, 2.5, 4.0), rel_tol=1e-12)
    assert float(d.cdf(t(0.0))) == pytest.approx(pi[0], rel=1e-12) and float(d.cdf(t(1.0))) == 1.0
    q = pi[0] + pi[2] * 0.3
    assert math.isclose(float(d.icdf(t(q))), stats.beta.ppf(0.3, 2.5, 4.0), rel_tol=1e-10)
    assert float(d.icdf(t(pi[0] / 2))) == 0.0 and float(d.icdf(t(1 - pi[1] / 2))) == 1.0
    assert d.expand((3,)).log_prob(t(0.0, 0.5, 1.0)).shape == (3,)


def test_zoib_log_prob_integrates_to_one():
    # Mass at the atoms plus the integral of the density inside (scipy.integrate.quad) is 1.
    d = ZeroOneInflatedBeta(t(0.2), t(-1.0), t(3.0), t(1.5))
    inside = integrate.quad(lambda v: math.exp(float(d.log_prob(t(v)))), 0, 1, epsabs=1e-12)[0]
    total = inside + float(d.log_prob(t(0.0)).exp()) + float(d.log_prob(t(1.0)).exp())
    assert abs(total - 1) < 1e-9


# -------------------------------------------------------------------- continuous-bernoulli

mpmath.mp.dps = 50


def _mp_cb(x: float):
    """(NLL at y = 0.3, log C, mean, variance) at 50 digits from the paper's formulas in lambda = expit(x).

    Loaiza-Ganem & Cunningham (2019): C = 2 atanh(1 - 2 lambda) / (1 - 2 lambda),
    mean = lambda / (2 lambda - 1) + 1 / (2 atanh(1 - 2 lambda)),
    variance = lambda (lambda - 1) / (1 - 2 lambda)^2 + 1 / (2 atanh(1 - 2 lambda))^2; at lambda = 1/2: 2, 1/2, 1/12.
    Beyond |x| = 100, where 50 digits cannot hold 1 - 2 lambda, the limits with e^-|x| dropped (< 1e-43).
    """
    if abs(x) >= 100:
        a, h = abs(x), (1.0 if x > 0 else 0.0)
        log_c = math.log(a)  # + log1p(e^-a) - log1p(-e^-a), both below 1e-43
        log_lam, log_1mlam = (0.0, -a) if x > 0 else (-a, 0.0)
        return -(log_c + 0.3 * log_lam + 0.7 * log_1mlam), log_c, h - 1 / x, 1 / x**2
    x = mpmath.mpf(x)
    lam = 1 / (1 + mpmath.exp(-x))
    if x == 0:
        log_c, mean, var = mpmath.log(2), mpmath.mpf(0.5), mpmath.mpf(1) / 12
    else:
        at = mpmath.atanh(1 - 2 * lam)
        log_c = mpmath.log(2 * at / (1 - 2 * lam))
        mean = lam / (2 * lam - 1) + 1 / (2 * at)
        var = lam * (lam - 1) / (1 - 2 * lam) ** 2 + 1 / (2 * at) ** 2
    nll = -(log_c + mpmath.mpf("0.3") * mpmath.log(lam) + mpmath.mpf("0.7") * mpmath.log(1 - lam))
    return tuple(float(v) for v in (nll, log_c, mean, var))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cb_taylor_and_closed_branches_agree_at_the_threshold(dtype):
    thr = _taylor_max(dtype)
    tol = 1e-13 if dtype == torch.float64 else 3e-7
    # Both sides of the switch, in float64 arithmetic against 50-digit references.
    for x in (thr * (1 - 1e-9), thr * (1 + 1e-9), -thr * (1 - 1e-9), -thr * (1 + 1e-9)):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        nll_ref, log_c, mean, var = _mp_cb(float(xt.detach()))
        nll = cb_nll(xt, torch.tensor(0.3, dtype=dtype))
        (g,) = torch.autograd.grad(nll, xt)
        assert abs(float(nll.detach()) - nll_ref) < tol
        assert abs(float(g) - (mean - 0.3)) < tol
        xd = xt.detach()
        assert abs(float(cb_log_norm(xd)) - log_c) < tol
        assert abs(float(cb_mean(xd)) - mean) < tol
        assert abs(float(cb_variance(xd)) - var) < tol


def test_cb_against_mpmath_over_many_scales():
    xs = [-1e4, -300.0, -40.0, -5.0, -1.0, -0.3, -1e-3, -1e-9, 0.0, 1e-9, 1e-3, 0.3, 1.0, 5.0, 40.0, 300.0, 1e4]
    for x in xs:
        nll, log_c, mean, var = _mp_cb(x)
        xt = t(x)
        assert math.isclose(float(cb_nll(xt, t(0.3))), nll, rel_tol=1e-13, abs_tol=1e-14), x
        assert math.isclose(float(cb_log_norm(xt)), log_c, rel_tol=1e-13), x
        assert math.isclose(float(cb_mean(xt)), mean, rel_tol=1e-13), x  # relative: tiny means stay exact
        assert math.isclose(float(cb_variance(xt)), var, rel_tol=1e-10), x


def test_cb_log_norm_matches_torch_in_float64():
    # torch.distributions.ContinuousBernoulli._cont_bern_log_norm works from probs = sigmoid(logits), whose
    # rounding costs it ~eps e^|x| relatively: compare where that stays below 1e-11.
    x = torch.linspace(-10, 10, 4001, dtype=D)
    ref = torch.distributions.ContinuousBernoulli(logits=x)._cont_bern_log_norm()
    torch.testing.assert_close(cb_log_norm(x), ref, rtol=1e-10, atol=1e-10)


def test_cb_predictive_matches_torch_and_has_cdf():
    gen = torch.Generator().manual_seed(5)
    x = 6 * torch.randn(200, generator=gen, dtype=D)
    y = torch.rand(200, generator=gen, dtype=D)
    law = ll.get_law("continuous-bernoulli")
    d = law.predictive(law.link(x.unsqueeze(-1)))
    ref = torch.distributions.ContinuousBernoulli(logits=x)
    assert isinstance(d, torch.distributions.ContinuousBernoulli)
    torch.testing.assert_close(d.log_prob(y), ref.log_prob(y), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(d.mean, ref.mean, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(d.variance, ref.variance, rtol=1e-8, atol=1e-9)
    # The median is where torch's cdf is 1/2.
    torch.testing.assert_close(ref.cdf(cb_median(x)), torch.full_like(x, 0.5), rtol=0, atol=1e-9)
    torch.testing.assert_close(d.icdf(d.cdf(y)), y, rtol=0, atol=1e-9)


def test_cb_median_far_from_zero():
    # log((1 + e^x)/2)/x evaluated with mpmath: the closed form of cdf(m) = 1/2.
    for x in (-1e4, -50.0, -1.5, -0.05, 0.0, 0.05, 1.5, 50.0, 1e4):
        ref = 0.5 if x == 0 else float(mpmath.log((1 + mpmath.exp(x)) / 2) / x)
        assert math.isclose(float(cb_median(t(x))), ref, rel_tol=1e-13), x


def test_cb_excess_is_zero_at_the_solved_logits():
    y = t(1e-200, 1e-155, 1e-12, 1e-5, 0.01, 0.3, 0.5, 0.5 + 1e-9, 0.77, 0.999, 1 - 1e-12)
    x = cb_logits_for_mean(y)
    law = ll.get_law("continuous-bernoulli")
    params = law.link(x.unsqueeze(-1))
    torch.testing.assert_close(cb_mean(x), y, rtol=1e-12, atol=1e-15)
    assert float(law.excess(params, y).max()) < 1e-12
    # Moving away from the solution costs about Var(x) dx^2 / 2 (a second-order Taylor expansion).
    off = law.excess(law.link((x + 0.01).unsqueeze(-1)), y)
    torch.testing.assert_close(off, 0.5 * cb_variance(x) * 1e-4, rtol=0.05, atol=1e-12)


def test_cb_excess_is_infinite_at_edge_labels():
    law = ll.get_law("continuous-bernoulli")
    params = law.link(t(-3.0, 4.0).unsqueeze(-1))
    exc = law.excess(params, t(0.0, 1.0))
    assert torch.isinf(exc).all() and (exc > 0).all()
    # ... because the density at y = 1 grows without bound: NLL(x, 1) = -log x + o(1), x -> inf.
    assert float(cb_nll(t(1e6), t(1.0))) < float(cb_nll(t(1e3), t(1.0))) < 0


def test_cb_init_is_the_marginal_mle():
    gen = torch.Generator().manual_seed(6)
    y = torch.rand(100, generator=gen) ** 2
    law = ll.get_law("continuous-bernoulli")
    x0 = float(law.init_params(y)["logits"])
    # The MLE minimises mean NLL: compare with scipy's scalar minimiser on the closed form A(x) - x mean(y).
    from scipy.optimize import minimize_scalar

    m = float(y.double().mean())
    ref = minimize_scalar(lambda v: math.log(math.expm1(v) / v) - v * m if v != 0 else 0.0, bracket=(-5, 0.1),
                          tol=1e-12).x
    assert abs(x0 - ref) < 1e-5


def test_cb_float32_stays_accurate_where_torch_saturates():
    # torch clamps probs to [eps, 1 - eps]: its log-density is wrong once |logits| > ~17 in float32.
    x = torch.tensor([-1e4, -50.0, 50.0, 1e4])
    y = torch.tensor([0.0, 1e-3, 0.999, 1.0])
    ref = [-(max(v, 0.0) - math.log(abs(v)) - v * float(w)) for v, w in zip(x.tolist(), y.tolist())]  # -A(x) + x y
    got = (-cb_nll(x, y)).tolist()
    for g, r in zip(got, ref):
        assert math.isclose(g, r, rel_tol=1e-5, abs_tol=1e-4)


# ----------------------------------------------------------------------------- logit-normal


def test_logit_normal_mean_by_quadrature_matches_scipy_quad():
    locs = [-8.0, -2.0, -0.3, 0.0, 1.0, 5.0]
    scales = [1e-3, 0.2, 1.0, 1.4, 1.41, 2.0, 5.0, 30.0, 300.0]
    loc = torch.tensor([m for m in locs for _ in scales], dtype=D)
    scale = torch.tensor([s for _ in locs for s in scales], dtype=D)
    got = logit_normal_mean(loc, scale).numpy()
    for g, m, s in zip(got, loc.tolist(), scale.tolist()):
        # E sigmoid(X), X ~ N(m, s^2), by adaptive quadrature over +-40 s with breakpoints where the integrand bends.
        pts = [p for p in (m, 0.0, -10.0, 10.0) if m - 40 * s < p < m + 40 * s]
        ref = integrate.quad(lambda v: special.expit(v) * stats.norm.pdf(v, m, s), m - 40 * s, m + 40 * s,
                             points=pts or None, epsabs=1e-15, epsrel=1e-13, limit=2000)[0]
        assert abs(g - ref) < 1e-11, (m, s, g, ref)


def test_logit_normal_mean_is_differentiable_and_finite_at_extremes():
    law = ll.get_law("logit-normal")
    raw = torch.tensor([[1e4, 1e4], [-1e4, -1e4], [0.0, 1e4], [3.0, -1e4]], requires_grad=True)
    m = law.point(law.link(raw))
    m.sum().backward()
    assert torch.isfinite(m).all() and torch.isfinite(raw.grad).all()
    # loc = scale = 1e4: P(X > 0) = Phi(1) (scipy.stats.norm.cdf), the sigmoid being a step at that scale.
    assert abs(m.tolist()[0] - stats.norm.cdf(1.0)) < 1e-6
    assert m.tolist()[1] == 0.0 and abs(m.tolist()[2] - 0.5) < 1e-6


def test_logit_normal_predictive_cdf_and_median():
    law = ll.get_law("logit-normal")
    p = law.link(t(0.7, 0.2).reshape(1, 2))
    d = law.predictive(p)
    median = law.point(p, "median")
    torch.testing.assert_close(d.cdf(median), torch.full_like(median, 0.5), rtol=0, atol=1e-12)
    loc, scale = float(p["loc"]), float(p["scale"])
    # cdf(y) = Phi((logit y - loc) / scale), scipy.stats.norm.cdf.
    assert math.isclose(float(d.cdf(t(0.3))), stats.norm.cdf((special.logit(0.3) - loc) / scale), rel_tol=1e-12)


def test_logit_normal_init_is_the_mle():
    gen = torch.Generator().manual_seed(7)
    y = torch.sigmoid(0.5 + 1.3 * torch.randn(500, generator=gen, dtype=D))
    init = ll.get_law("logit-normal").init_params(y)
    loc, scale = stats.norm.fit(special.logit(y.numpy()))  # scipy's maximum-likelihood fit
    assert abs(float(init["loc"]) - loc) < 1e-5 and abs(float(init["scale"]) - scale) < 1e-5


def test_logit_normal_options():
    with pytest.raises(ll.LosslabError, match="min_scale"):
        ll.get_law("logit-normal", min_scale=0.0)
    law = ll.get_law("logit-normal", min_scale=0.1)
    assert law.options() == {"min_scale": 0.1, "clamp": None}
    assert float(law.link(torch.tensor([[0.0, -1e4]]))["scale"]) == pytest.approx(0.1)
    with pytest.raises(ll.LosslabError, match="clamp=1e-6"):
        law.nll(law.link(torch.zeros(1, 2)), torch.tensor([0.0]))
