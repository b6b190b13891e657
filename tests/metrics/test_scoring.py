"""The distributional scores on whole distributions: dispatch, estimators, gradients, PIT, intervals, energy score.

References: scipy.stats (CDFs, pdfs, intervals, KS test), numerical integration of the CRPS
(_refs.crps_by_quad), closed forms written out in the test where named.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    ContinuousBernoulli,
    Gumbel,
    Exponential,
    Laplace,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    SigmoidTransform,
    StudentT,
    TransformedDistribution,
)

from losslab import LosslabError
from losslab.distributions import Histogram, ScaledBetaBinomial, ScaledBinomial, ZeroOneInflatedBeta
from losslab.metrics import (
    crps,
    crps_normal,
    energy_score,
    interval_coverage,
    interval_width,
    log_score,
    pit,
    pit_calibration_error,
)
from losslab.metrics.registry import register_crps, register_pit, registered_crps, registered_pit
from losslab.metrics.scoring import _crps_values, beta_cdf, studentt_cdf

from ._refs import ZeroOneInflatedBetaStandIn, crps_by_quad, ks_pvalue

# The stand-in is not a losslab class: like a law outside losslab, it registers the formulas it shares with
# losslab's ZeroOneInflatedBeta (the same functions each time, so registering from two test modules is silent).
register_crps(ZeroOneInflatedBetaStandIn)(registered_crps()[ZeroOneInflatedBeta])
register_pit(ZeroOneInflatedBetaStandIn)(registered_pit()[ZeroOneInflatedBeta])

T = torch.float64


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


# ----------------------------------------------------------------------------- dispatch
def _cb_cdf(lam):
    # Continuous Bernoulli CDF (Loaiza-Ganem & Cunningham 2019, eq. in sec. 3), written out here.
    return lambda x: 0.0 if x < 0 else 1.0 if x > 1 else (lam**x * (1 - lam) ** (1 - x) - (1 - lam)) / (2 * lam - 1)


def _dispatch_cases():
    """(name, distribution, labels, reference CDF per element, support, breakpoints per element, tolerance)."""
    hist = Histogram(torch.log(_t([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])), 0.0, 1.0)
    hcdf = [lambda x, p=p: float(np.interp(x, [0, 1 / 3, 2 / 3, 1], np.r_[0, np.cumsum(p)])) for p in ([0.1, 0.5, 0.4], [0.6, 0.3, 0.1])]
    n = _t([3.0, 7.0])
    sb = ScaledBinomial(n, _t([0.4, -1.1]))
    sbcdf = [lambda x, n=nn, p=pp: float(stats.binom.cdf(np.floor(x * n + 1e-9), n, p)) for nn, pp in [(3, special.expit(0.4)), (7, special.expit(-1.1))]]
    bb = ScaledBetaBinomial(n, _t([0.7, 2.0]), _t([1.9, 0.5]))
    bbcdf = [lambda x, n=nn, a=aa, b=bb_: float(stats.betabinom.cdf(np.floor(x * n + 1e-9), n, a, b)) for nn, aa, bb_ in [(3, 0.7, 1.9), (7, 2.0, 0.5)]]
    atoms = [tuple(np.arange(4) / 3), tuple(np.arange(8) / 7)]
    mix = MixtureSameFamily(Categorical(probs=_t([[0.3, 0.7]])), Normal(_t([[-1.0, 1.0]]), _t([[0.5, 0.8]])))
    mixcdf = [lambda x: 0.3 * stats.norm.cdf(x, -1, 0.5) + 0.7 * stats.norm.cdf(x, 1, 0.8)]
    zo = ZeroOneInflatedBetaStandIn(_t([0.1, 0.0]), _t([0.2, 0.3]), _t([2.0, 0.5]), _t([3.0, 0.9]))
    zocdf = [lambda x, p0=p0, p1=p1, a=a, b=b: 0.0 if x < 0 else 1.0 if x >= 1 else p0 + (1 - p0 - p1) * stats.beta.cdf(x, a, b) for p0, p1, a, b in [(0.1, 0.2, 2, 3), (0, 0.3, 0.5, 0.9)]]
    ln = TransformedDistribution(Normal(_t([0.3, -2.0]), _t([1.5, 0.2])), SigmoidTransform())
    lncdf = [lambda x, m=m, s=s: 0.0 if x <= 0 else 1.0 if x >= 1 else stats.norm.cdf(special.logit(x), m, s) for m, s in [(0.3, 1.5), (-2.0, 0.2)]]
    cb = ContinuousBernoulli(probs=_t([0.3, 0.93]))
    cbcdf = [_cb_cdf(0.3), _cb_cdf(0.93)]
    st = StudentT(_t([4.0]), _t([0.5]), _t([2.0]))
    stcdf = [stats.t(4.0, 0.5, 2.0).cdf]
    return [
        ("histogram", hist, [0.5, 0.9], hcdf, (0, 1), [(1 / 3, 2 / 3)] * 2, 1e-9),
        ("scaled-binomial", sb, [1 / 3, 5 / 7], sbcdf, (0, 1), atoms, 1e-9),
        ("scaled-beta-binomial", bb, [0.0, 1.0], bbcdf, (0, 1), atoms, 1e-9),
        ("mixture-normal", mix, [0.2], mixcdf, (-np.inf, np.inf), [(-1.0, 1.0)], 1e-9),
        ("zoib", zo, [0.0, 0.45], zocdf, (0, 1), [()] * 2, 1e-9),
        ("student-t", st, [1.5], stcdf, (-np.inf, np.inf), [()], 1e-8),
        # quantile-grid estimator with 1000 levels: error ~1e-7 (measured), tolerance 1e-5
        ("logit-normal", ln, [0.4, 0.1], lncdf, (0, 1), [()] * 2, 1e-5),
        ("continuous-bernoulli", cb, [0.1, 0.8], cbcdf, (0, 1), [()] * 2, 1e-5),
    ]


@pytest.mark.parametrize("case", _dispatch_cases(), ids=lambda c: c[0])
def test_crps_dispatch_matches_numerical_integration(case):
    name, dist, y, cdfs, (lo, hi), points, tol = case
    got = crps(dist, torch.tensor(y, dtype=T), reduction="none")
    for i, yi in enumerate(y):
        want = crps_by_quad(cdfs[i], yi, lo, hi, points[i])
        assert float(got[i]) == pytest.approx(want, abs=tol), (name, i)


def test_crps_of_a_mixture_of_betas_uses_samples_within_their_noise():
    d = MixtureSameFamily(Categorical(probs=_t([[0.3, 0.7]] * 400)), Beta(_t([[2.0, 8.0]] * 400), _t([[5.0, 2.0]] * 400)))
    y = torch.full((400,), 0.6, dtype=T)
    values, method = _crps_values(d, y, 1000, 0)
    assert method == "samples"
    want = crps_by_quad(lambda x: 0.3 * stats.beta.cdf(x, 2, 5) + 0.7 * stats.beta.cdf(x, 8, 2), 0.6, 0, 1)
    # per-element sd measured ~0.0026 at 1000 draws; the mean of 400 independent estimates has sd ~1.3e-4
    assert float(values.mean()) == pytest.approx(want, abs=6e-4)


def test_crps_methods_reported():
    assert _crps_values(Normal(_t([0.0]), _t([1.0])), _t([0.0]), 10, 0)[1] == "closed form"
    assert _crps_values(ContinuousBernoulli(probs=_t([0.2])), _t([0.5]), 10, 0)[1] == "closed form"
    assert _crps_values(Gumbel(_t([0.0]), _t([1.0])), _t([0.5]), 10, 0)[1] == "quantile grid"


def test_crps_refuses_bernoulli_and_multivariate_laws_with_a_reason():
    with pytest.raises(LosslabError, match="no density over \\[0, 1\\]"):
        crps(Bernoulli(logits=_t([0.0])), _t([0.3]))
    mvn = MultivariateNormal(torch.zeros(3, 2, dtype=T), torch.eye(2, dtype=T))
    with pytest.raises(LosslabError, match="energy_score"):
        crps(mvn, torch.zeros(3, 2, dtype=T))


def test_return_types_follow_the_labels():
    d = Normal(_t([0.0, 1.0]), _t([1.0, 2.0]))
    assert isinstance(crps(d, np.array([0.1, 0.2])), float)
    assert isinstance(crps(d, np.array([0.1, 0.2]), reduction="none"), np.ndarray)
    assert torch.is_tensor(crps(d, _t([0.1, 0.2]))) and crps(d, _t([0.1, 0.2])).ndim == 0
    assert crps(d, _t([0.1, 0.2]), reduction="none").shape == (2,)
    assert float(crps(d, _t([0.1, 0.2]), reduction="sum")) == pytest.approx(2 * float(crps(d, _t([0.1, 0.2]))))


# ------------------------------------------------------------------------- properties
def _point_masses():
    """Laws concentrated at the label 0.3 (or at an edge), with an upper bound on their CRPS."""
    y = 0.3
    eps = 1e-7
    return [
        ("normal", Normal(_t([y]), _t([eps])), y, eps),
        ("laplace", Laplace(_t([y]), _t([eps])), y, eps),
        ("student-t", StudentT(_t([5.0]), _t([y]), _t([eps])), y, eps),
        ("exponential", Exponential(_t([1e7])), 0.0, eps),
        ("beta", Beta(_t([3e9]), _t([7e9])), y, 1e-5),
        ("mixture", MixtureSameFamily(Categorical(probs=_t([[0.5, 0.5]])), Normal(_t([[y, y]]), _t([[eps, eps]]))), y, eps),
        ("histogram", Histogram(torch.where(torch.arange(1000) == 300, 0.0, -1e4).to(T)[None], 0.0, 1.0), 0.3005, 1e-3),
        ("scaled-binomial", ScaledBinomial(_t([5.0]), _t([40.0])), 1.0, 1e-12),
        ("zoib", ZeroOneInflatedBetaStandIn(_t([1.0]), _t([0.0]), _t([2.0]), _t([2.0])), 0.0, 1e-12),
    ]


@pytest.mark.parametrize("case", _point_masses(), ids=lambda c: c[0])
def test_crps_of_a_point_mass_at_the_label_is_near_zero(case):
    _, d, y, bound = case
    v = float(crps(d, _t([y])))
    assert 0.0 <= v <= bound


def test_crps_is_non_negative_over_random_laws():
    g = torch.Generator().manual_seed(1)
    n = 200
    y01 = torch.rand(n, generator=g, dtype=T)
    yr = 3 * torch.randn(n, generator=g, dtype=T)
    pos = lambda: torch.exp(2 * torch.randn(n, generator=g, dtype=T))  # noqa: E731
    laws = [
        (Normal(torch.randn(n, generator=g, dtype=T), pos()), yr),
        (Laplace(torch.randn(n, generator=g, dtype=T), pos()), yr),
        (StudentT(1.01 + pos(), torch.randn(n, generator=g, dtype=T), pos()), yr),
        (Exponential(pos()), yr.abs()),
        (Beta(pos(), pos()), y01),
        (Histogram(4 * torch.randn(n, 7, generator=g, dtype=T), 0.0, 1.0), y01),
        (ScaledBinomial(torch.full((n,), 6.0, dtype=T), 5 * torch.randn(n, generator=g, dtype=T)), torch.round(6 * y01) / 6),
        (ZeroOneInflatedBetaStandIn(0.3 * y01.flip(0), 0.3 * y01.roll(7), pos(), pos()), y01),
    ]
    for d, y in laws:
        v = crps(d, y, reduction="none")
        assert bool(torch.isfinite(v).all()) and float(v.min()) >= 0.0, type(d).__name__


# ------------------------------------------------------------------------- gradients
def _trainable():
    """name -> (make(theta) -> distribution, initial theta, labels): a gradient step on theta must lower the CRPS."""
    y01 = _t([0.2, 0.55, 0.9, 0.35])
    yr = _t([-1.0, 0.3, 2.0, 0.8])
    return {
        "normal": (lambda th: Normal(th[0], torch.exp(th[1])), torch.zeros(2, 4, dtype=T), yr),
        "laplace": (lambda th: Laplace(th[0], torch.exp(th[1])), torch.zeros(2, 4, dtype=T), yr),
        "student-t": (lambda th: StudentT(2 + torch.exp(th[2]), th[0], torch.exp(th[1])), torch.zeros(3, 4, dtype=T), yr),
        "exponential": (lambda th: Exponential(torch.exp(th[0])), torch.zeros(1, 4, dtype=T), yr.abs()),
        "beta": (lambda th: Beta(torch.exp(th[0]), torch.exp(th[1])), torch.zeros(2, 4, dtype=T), y01),
        "mixture-normal": (
            lambda th: MixtureSameFamily(Categorical(logits=th[:, :2]), Normal(th[:, 2:4], torch.exp(th[:, 4:6]))),
            torch.linspace(-0.5, 0.5, 24, dtype=T).reshape(4, 6),
            yr,
        ),
        "histogram": (lambda th: Histogram(th.T, 0.0, 1.0), torch.zeros(5, 4, dtype=T), y01),
        "scaled-binomial": (lambda th: ScaledBinomial(torch.full((4,), 4.0, dtype=T), th[0]), torch.zeros(1, 4, dtype=T), _t([0.25, 0.5, 1.0, 0.0])),
        "zoib": (
            lambda th: ZeroOneInflatedBetaStandIn(0.3 * torch.sigmoid(th[0]), 0.3 * torch.sigmoid(th[1]), torch.exp(th[2]), torch.exp(th[3])),
            torch.zeros(4, 4, dtype=T),
            _t([0.0, 0.4, 1.0, 0.7]),
        ),
        "logit-normal": (lambda th: TransformedDistribution(Normal(th[0], torch.exp(th[1])), SigmoidTransform()), torch.zeros(2, 4, dtype=T), y01),
        "continuous-bernoulli": (lambda th: ContinuousBernoulli(logits=th[0]), torch.zeros(1, 4, dtype=T), y01),
    }


@pytest.mark.parametrize("name", sorted(_trainable()))
def test_one_gradient_step_lowers_the_crps(name):
    make, theta0, y = _trainable()[name]
    theta = theta0.clone().requires_grad_(True)
    loss = crps(make(theta), y)
    loss.backward()
    assert theta.grad is not None and bool(torch.isfinite(theta.grad).all()) and float(theta.grad.abs().sum()) > 0
    with torch.no_grad():
        after = crps(make(theta - 0.05 * theta.grad), y)
    assert float(after) < float(loss.detach())


def test_scipy_backed_cdfs_pass_gradcheck():
    # Backward: exact density in x, central differences in the shape parameters; gradcheck perturbs the inputs itself.
    x = _t([0.1, 0.5, 0.93]).requires_grad_(True)
    a = _t([0.7, 2.0, 5.0]).requires_grad_(True)
    b = _t([1.5, 3.0, 0.8]).requires_grad_(True)
    assert torch.autograd.gradcheck(beta_cdf, (x, a, b), eps=1e-6, atol=1e-6)
    z = _t([-2.0, 0.0, 1.3]).requires_grad_(True)
    df = _t([1.5, 4.0, 30.0]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z, df: studentt_cdf(z, df), (z, df), eps=1e-6, atol=1e-6)
    assert float(beta_cdf(_t(0.3), 2.0, 3.0)) == pytest.approx(stats.beta.cdf(0.3, 2, 3), abs=1e-14)


def test_crps_normal_gradient_matches_its_derivative():
    # d CRPS / d mu = -(2 Phi(z) - 1) (differentiate the closed form by hand).
    mu = _t(0.4).requires_grad_(True)
    crps_normal(_t(1.0), mu, _t(0.7)).backward()
    assert float(mu.grad) == pytest.approx(-(2 * stats.norm.cdf(0.6 / 0.7) - 1), abs=1e-12)


# ----------------------------------------------------------------------------- PIT
def _pit_laws(n):
    """name -> (true law, misspecified law), both with batch (n,) and parameters varying per element."""
    g = torch.Generator().manual_seed(3)
    r = lambda: torch.rand(n, generator=g, dtype=T)  # noqa: E731
    mu, s = torch.randn(n, generator=g, dtype=T), 0.5 + r()
    a, b = 0.5 + 3 * r(), 0.5 + 3 * r()
    logits = 2 * torch.randn(n, 6, generator=g, dtype=T)
    tc = torch.randint(1, 9, (n,), generator=g).to(T)
    lg = torch.randn(n, generator=g, dtype=T)
    p0, p1 = 0.3 * r(), 0.2 * r()
    w = torch.stack([r(), r()], -1)
    w = w / w.sum(-1, keepdim=True)
    return {
        "normal": (Normal(mu, s), Normal(mu, 1.6 * s)),
        "student-t": (StudentT(3.0, mu, s), Normal(mu, s)),
        "beta": (Beta(a, b), Beta(1.3 * a, b)),
        "histogram": (Histogram(logits, 0.0, 1.0), Histogram(logits.roll(1, -1), 0.0, 1.0)),
        "scaled-binomial": (ScaledBinomial(tc, lg), ScaledBinomial(tc, lg + 0.7)),
        "scaled-beta-binomial": (ScaledBetaBinomial(tc, a, b), ScaledBinomial(tc, torch.log(a / b))),
        "zoib": (ZeroOneInflatedBetaStandIn(p0, p1, a, b), ZeroOneInflatedBetaStandIn(p1, p0, a, b)),
        "logit-normal": (
            TransformedDistribution(Normal(mu, s), SigmoidTransform()),
            TransformedDistribution(Normal(mu + 0.3, s), SigmoidTransform()),
        ),
        "continuous-bernoulli": (ContinuousBernoulli(logits=3 * mu), ContinuousBernoulli(logits=-3 * mu)),
        "mixture-beta": (
            MixtureSameFamily(Categorical(probs=w), Beta(torch.stack([a, b], -1), torch.stack([b, a], -1))),
            MixtureSameFamily(Categorical(probs=w.flip(-1)), Beta(torch.stack([a, b], -1), torch.stack([b, a], -1))),
        ),
        "mixture-normal": (
            MixtureSameFamily(Categorical(probs=w), Normal(torch.stack([mu, -mu], -1), torch.stack([s, s], -1))),
            Normal(mu * (w[:, 0] - w[:, 1]), s),
        ),
    }


@pytest.mark.parametrize("name", sorted(_pit_laws(2)))
def test_pit_is_uniform_for_the_true_law_and_not_for_a_wrong_one(name):
    n = 10_000
    true, wrong = _pit_laws(n)[name]
    torch.manual_seed(11)
    y = true.sample()
    u_true, u_wrong = pit(true, y), pit(wrong, y)
    assert float(u_true.min()) >= 0.0 and float(u_true.max()) <= 1.0
    assert ks_pvalue(u_true.numpy()) > 1e-3, name
    assert ks_pvalue(u_wrong.numpy()) < 1e-6, name
    assert pit_calibration_error(true, y) < pit_calibration_error(wrong, y)


def test_pit_values_of_continuous_laws_match_scipy():
    y = np.array([-1.0, 0.2, 2.5])
    np.testing.assert_allclose(pit(Normal(_t([0.0, 0.0, 1.0]), _t([1.0, 2.0, 0.5])), y), stats.norm.cdf(y, [0, 0, 1], [1, 2, 0.5]), atol=1e-12)
    yb = np.array([0.1, 0.6])
    np.testing.assert_allclose(pit(Beta(_t([2.0, 0.5]), _t([3.0, 0.7])), yb), stats.beta.cdf(yb, [2, 0.5], [3, 0.7]), atol=1e-12)
    np.testing.assert_allclose(pit(StudentT(_t([3.0]), _t([0.5]), _t([2.0])), y[:1]), stats.t.cdf(-1.0, 3, 0.5, 2.0), atol=1e-12)


def test_randomised_pit_of_an_atom_spans_its_mass():
    # y = 2/4 under Binomial(4, 1/2): F(y-) = 5/16, P(y) = 6/16, so the PIT lies in [5/16, 11/16].
    d = ScaledBinomial(torch.full((2000,), 4.0, dtype=T), torch.zeros(2000, dtype=T))
    u = pit(d, torch.full((2000,), 0.5, dtype=T))
    assert float(u.min()) >= 5 / 16 and float(u.max()) <= 11 / 16
    assert float(u.mean()) == pytest.approx(0.5, abs=0.01)
    assert torch.equal(u, pit(d, torch.full((2000,), 0.5, dtype=T)))  # seeded: reproducible


def test_pit_calibration_error_norms_match_references():
    u = np.random.default_rng(4).beta(0.8, 1.2, size=300)
    d = torch.distributions.Uniform(torch.zeros(300, dtype=T), torch.ones(300, dtype=T))
    # max: the Kolmogorov-Smirnov statistic (scipy.stats.kstest)
    assert pit_calibration_error(d, u, norm="max") == pytest.approx(stats.kstest(u, "uniform").statistic, abs=1e-12)
    # l1 / l2: the integrals of |G - u| and (G - u)^2, here on a fine grid (midpoint rule)
    grid = (np.arange(200_000) + 0.5) / 200_000
    ecdf = np.searchsorted(np.sort(u), grid, side="right") / len(u)
    assert pit_calibration_error(d, u, norm="l1") == pytest.approx(np.mean(np.abs(ecdf - grid)), abs=1e-5)
    assert pit_calibration_error(d, u, norm="l2") == pytest.approx(np.sqrt(np.mean((ecdf - grid) ** 2)), abs=1e-5)
    # l1 is the Wasserstein-1 distance to U(0, 1): scipy on the sample against a dense uniform grid
    assert pit_calibration_error(d, u, norm="l1") == pytest.approx(stats.wasserstein_distance(u, grid), abs=1e-5)


# ----------------------------------------------------------------------- intervals
def test_interval_width_matches_scipy_intervals():
    assert interval_width(Normal(_t([0.0, 1.0]), _t([1.0, 2.0])), level=0.9) == pytest.approx(
        np.mean(np.diff(np.array(stats.norm.interval(0.9, [0, 1], [1, 2])), axis=0)), abs=1e-9
    )
    assert interval_width(Beta(_t([2.0]), _t([5.0])), level=0.8) == pytest.approx(
        np.diff(stats.beta.interval(0.8, 2, 5))[0], abs=1e-9
    )
    assert interval_width(StudentT(_t([3.0]), _t([0.0]), _t([2.0])), level=0.5) == pytest.approx(
        np.diff(stats.t.interval(0.5, 3, 0, 2))[0], abs=1e-9
    )
    mix = MixtureSameFamily(Categorical(probs=_t([[0.3, 0.7]])), Normal(_t([[-1.0, 1.0]]), _t([[0.5, 0.8]])))
    grid = np.linspace(-6, 6, 2_000_001)
    cdf = 0.3 * stats.norm.cdf(grid, -1, 0.5) + 0.7 * stats.norm.cdf(grid, 1, 0.8)
    want = np.interp(0.95, cdf, grid) - np.interp(0.05, cdf, grid)  # inverse of the mixture CDF on a fine grid
    assert interval_width(mix, level=0.9) == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("name", ["normal", "beta", "histogram", "logit-normal", "mixture-beta", "zoib", "scaled-binomial"])
def test_interval_coverage_of_the_true_law_is_near_the_level(name):
    n = 10_000
    true, _ = _pit_laws(n)[name]
    torch.manual_seed(5)
    y = true.sample()
    cov = interval_coverage(true, y, level=0.8)
    if name in ("zoib", "scaled-binomial"):
        # closed intervals of a law with atoms cover at least the level
        assert cov >= 0.8 - 0.012
    else:
        assert cov == pytest.approx(0.8, abs=0.012)  # 3 sd of a binomial proportion at n = 10^4 is 0.012


def test_log_score_matches_scipy_and_soft_bce():
    y = np.array([0.2, -1.0])
    assert log_score(Normal(_t([0.0, 1.0]), _t([1.0, 2.0])), y) == pytest.approx(-np.mean(stats.norm.logpdf(y, [0, 1], [1, 2])), abs=1e-12)
    # soft BCE written out: -(y log p + (1 - y) log(1 - p))
    p, ys = special.expit(0.3), 0.7
    assert log_score(Bernoulli(logits=_t([0.3]), validate_args=False), np.array([ys])) == pytest.approx(-(ys * np.log(p) + (1 - ys) * np.log(1 - p)), abs=1e-12)


def test_energy_score_reduces_to_the_crps_for_one_dimension():
    d = MultivariateNormal(_t([[0.3], [-1.0]]), torch.eye(1, dtype=T) * 0.49)
    y = np.array([[1.0], [0.0]])
    es = energy_score(d, y, reduction="none", n_samples=100_000)
    # CRPS of N(mu, 0.7^2) in closed form (Gneiting et al. 2005) as written out in crps_normal's docstring
    want = [crps_by_quad(stats.norm(0.3, 0.7).cdf, 1.0, -np.inf, np.inf), crps_by_quad(stats.norm(-1.0, 0.7).cdf, 0.0, -np.inf, np.inf)]
    np.testing.assert_allclose(es, want, atol=0.01)


def test_energy_score_is_differentiable():
    loc = torch.zeros(3, 2, dtype=T, requires_grad=True)
    y = torch.ones(3, 2, dtype=T)
    es = energy_score(MultivariateNormal(loc, torch.eye(2, dtype=T)), y)
    es.backward()
    assert float(loc.grad.sum()) < 0  # moving the mean towards the labels lowers the score
