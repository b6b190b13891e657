"""Quantiles and central intervals of every law, and the cdf/icdf of the predictive distributions behind them.

Every registered law is tested through its examples in ``tests/laws/ex_*.py``; a law with
neither a reference quantile function in :data:`REFERENCES` nor a place in
:data:`NO_QUANTILES` fails ``test_every_law_has_a_quantile_reference``.

References: ``scipy.stats`` quantile functions (norm, laplace, t, expon, beta, binom,
betabinom), ``scipy.optimize.brentq`` on mixture CDFs written with ``scipy.stats``,
closed forms written out here (continuous Bernoulli, histogram, logit-normal, zoib), and
mpmath's regularised incomplete beta function (50 digits) for the Beta CDF.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import optimize, special, stats

import losslab as ll
from losslab import distributions as D
from losslab.laws import Law

from .examples import EXAMPLES, Example

LAWS = ll.list_laws()
CASES = [(name, i) for name in LAWS for i in range(len(EXAMPLES.get(name, [])))]
#: levels checked against the references: both tails, the median, and values between
LEVELS = (1e-4, 0.025, 0.3, 0.5, 0.77, 0.975, 1 - 1e-4)


# ----------------------------------------------------------------------- references
def _brentq_mixture(cdf_rows, q, lo, hi):
    """The q-quantile of each row's mixture by brentq on its scipy cdf (the bracket holds every component's mass)."""
    out = []
    for cdf, qi, a, b in zip(cdf_rows, q, lo, hi):
        out.append(optimize.brentq(lambda x: cdf(x) - qi, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=1000))
    return np.array(out)


def _mixture_gaussian(law, p, q, n):
    w = special.softmax(p["logits"], axis=-1)
    rows = [lambda x, w=w[i], m=p["loc"][i], s=p["scale"][i]: float(np.sum(w * stats.norm.cdf(x, m, s))) for i in range(len(q))]
    return _brentq_mixture(rows, q, (p["loc"] - 60 * p["scale"]).min(-1), (p["loc"] + 60 * p["scale"]).max(-1))


def _mixture_beta(law, p, q, n):
    w = special.softmax(p["logits"], axis=-1)
    a, b = p["concentration1"], p["concentration0"]
    rows = [lambda x, i=i: float(np.sum(w[i] * stats.beta.cdf(x, a[i], b[i]))) for i in range(len(q))]
    return _brentq_mixture(rows, q, np.zeros(len(q)), np.ones(len(q)))


def _histogram(law, p, q, n):
    # The piecewise-linear CDF through (edge_k, cumulative mass up to edge_k), inverted by np.interp.
    probs = special.softmax(p["logits"], axis=-1)
    edges = np.linspace(law.low, law.high, law.n_bins + 1)
    return np.array([np.interp(qi, np.r_[0.0, np.cumsum(pi)], edges) for qi, pi in zip(q, probs)])


def _continuous_bernoulli(law, p, q, n):
    # F(x) = (e^{eta x} - 1)/(e^eta - 1) solved for x: log(1 + q (e^eta - 1)) / eta; the uniform law at eta = 0.
    eta = p["logits"]
    safe = np.where(eta == 0, 1.0, eta)
    return np.where(eta == 0, q, np.log1p(q * np.expm1(safe)) / safe)


def _zoib(law, p, q, n):
    # Masses (pi0, pi1, pi_c) = softmax(r0, r1, 0); 0 up to pi0, 1 from 1 - pi1, the Beta part's quantile between.
    pi = special.softmax(np.stack([p["zero_logits"], p["one_logits"], np.zeros_like(q)], -1), axis=-1)
    inner = stats.beta.ppf(np.clip((q - pi[:, 0]) / pi[:, 2], 0, 1), p["concentration1"], p["concentration0"])
    return np.where(q <= pi[:, 0], 0.0, np.where(q >= 1 - pi[:, 1], 1.0, inner))


def _mvn(law, p, q, n):
    sd = np.sqrt(np.einsum("nij,nij->ni", p["scale_tril"], p["scale_tril"]))  # sqrt(diag(L L^T))
    return stats.norm.ppf(q[:, None], p["loc"], sd)


#: law name -> ``ref(law, params as numpy, q (N,), trials (N,) or None) -> quantiles of the labels' shape``
REFERENCES = {
    "beta": lambda law, p, q, n: stats.beta.ppf(q, p["concentration1"], p["concentration0"]),
    "beta-binomial": lambda law, p, q, n: stats.betabinom.ppf(q, n, p["concentration1"], p["concentration0"]) / n,
    "binned": _histogram,
    "binomial": lambda law, p, q, n: stats.binom.ppf(q, n, special.expit(p["logits"])) / n,
    "continuous-bernoulli": _continuous_bernoulli,
    "exponential": lambda law, p, q, n: stats.expon.ppf(q, scale=1 / p["rate"]),
    "gaussian": lambda law, p, q, n: stats.norm.ppf(q, p["loc"], law.sigma),
    "gaussian-hetero": lambda law, p, q, n: stats.norm.ppf(q, p["loc"], p["scale"]),
    "laplace": lambda law, p, q, n: stats.laplace.ppf(q, p["loc"], law.scale),
    "laplace-hetero": lambda law, p, q, n: stats.laplace.ppf(q, p["loc"], p["scale"]),
    "logit-normal": lambda law, p, q, n: special.expit(stats.norm.ppf(q, p["loc"], p["scale"])),
    "mixture-beta": _mixture_beta,
    "mixture-gaussian": _mixture_gaussian,
    "mvn": _mvn,
    "sigmoid-mse": lambda law, p, q, n: stats.norm.ppf(q, p["loc"], law.sigma),
    "student-t": lambda law, p, q, n: stats.t.ppf(q, law.df if law.df is not None else p["df"], p["loc"], p["scale"]),
    "zoib": _zoib,
}
#: laws whose quantile and interval raise, with the words their error must contain
NO_QUANTILES = {"bernoulli": ["Bernoulli(p) on {0, 1}", "'beta'", "'zoib'", "'continuous-bernoulli'", "'binned'", "'logit-normal'"]}


def test_every_law_has_a_quantile_reference():
    missing = sorted(set(LAWS) - set(REFERENCES) - set(NO_QUANTILES))
    assert not missing, f"laws with neither a reference quantile function nor a place in NO_QUANTILES: {missing}"
    assert not set(REFERENCES) & set(NO_QUANTILES)
    assert not (set(REFERENCES) | set(NO_QUANTILES)) - set(LAWS), "references for unregistered laws"


# ----------------------------------------------------------------------- helpers
@pytest.fixture(params=CASES, ids=[f"{n}-{i}" for n, i in CASES])
def case(request) -> tuple[Law, Example]:
    name, i = request.param
    ex = EXAMPLES[name][i]
    return ll.get_law(name, **ex.opts), ex


def draw(ex: Example, n: int, seed: int = 0, scale: float = 1.0):
    """Raw outputs (times ``scale``, to reach extreme parameters) and trials of ``n`` rows, float64."""
    gen = torch.Generator().manual_seed(seed)
    raw = scale * ex.raw(gen, n)
    _, trials = ex.labels(gen, n)
    return raw, trials


def np_params(params):
    return {k: v.detach().numpy() for k, v in params.items()}


def below(x: torch.Tensor) -> torch.Tensor:
    """The next float below each ``x``."""
    return torch.nextafter(x, torch.full_like(x, -math.inf))


def jump(dist, x: torch.Tensor) -> torch.Tensor:
    """``F(x) - F(x-)`` between ``x`` and the float below it: the finest resolution a quantile can have there.

    About 1e-16 usually; up to 1e-2 where a Beta with a concentration near 0.04 piles its mass within
    1e-16 of an edge, whose quantiles then lie between two floats.
    """
    return dist.cdf(x) - dist.cdf(below(x))


def is_continuous(law: Law) -> bool:
    """A density over the labels (no atoms): its central interval holds exactly ``level``."""
    return law.likelihood == "density"


def skip_no_quantiles(law: Law) -> None:
    if law.name in NO_QUANTILES:
        pytest.skip(f"{law.name} has no quantiles (tested in test_laws_without_quantiles_raise_the_explanation)")


# ----------------------------------------------------------------------- agreement with the references
@pytest.mark.parametrize("scale", [1.0, 4.0], ids=["moderate", "extreme"])
def test_quantile_matches_reference(case, scale):
    """At moderate raw outputs and at 4x them (concentrations near e^-15, logits near ±30, tiny scales)."""
    law, ex = case
    skip_no_quantiles(law)
    raw, trials = draw(ex, 8, seed=3, scale=scale)
    params = law.link(raw)
    p, n = np_params(params), None if trials is None else trials.numpy()
    for level in LEVELS:
        q = np.full(8, level)
        got = law.quantile(params, level, trials=trials).numpy()
        want = REFERENCES[law.name](law, p, q, n)
        assert got.shape == want.shape == tuple(raw.shape[:-1]) + ((law.dim,) if law.event_dim else ())
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{law.name} q={level}")


def test_quantile_takes_one_level_per_label(case):
    law, ex = case
    skip_no_quantiles(law)
    raw, trials = draw(ex, 5, seed=4)
    params = law.link(raw)
    q = torch.tensor([0.01, 0.2, 0.5, 0.8, 0.99], dtype=torch.float64)
    got = law.quantile(params, q, trials=trials)
    for i, level in enumerate(q.tolist()):
        torch.testing.assert_close(got[i], law.quantile(params, level, trials=trials)[i], rtol=0, atol=0)


def test_interval_is_the_pair_of_central_quantiles(case):
    law, ex = case
    skip_no_quantiles(law)
    raw, trials = draw(ex, 6, seed=5)
    params = law.link(raw)
    for level in (0.5, 0.9):
        low, high = law.interval(params, level, trials=trials)
        p, n = np_params(params), None if trials is None else trials.numpy()
        np.testing.assert_allclose(low.numpy(), REFERENCES[law.name](law, p, np.full(6, (1 - level) / 2), n), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(high.numpy(), REFERENCES[law.name](law, p, np.full(6, (1 + level) / 2), n), rtol=1e-6, atol=1e-6)
        assert bool((low <= high).all())


def test_quantile_at_0_and_1_are_the_ends_of_the_support(case):
    law, ex = case
    skip_no_quantiles(law)
    raw, trials = draw(ex, 4, seed=6)
    params = law.link(raw)
    low, high, _, _ = law.support_bounds
    eps = torch.finfo(torch.float64).eps
    # The logit-normal's sigmoid is clipped by torch to [tiny, 1 - eps]: the ends to within one float spacing.
    assert law.quantile(params, 0.0, trials=trials).numpy() == pytest.approx(low, abs=4 * eps)
    assert law.quantile(params, 1.0, trials=trials).numpy() == pytest.approx(high, abs=4 * eps)


def test_quantile_in_float32_matches_float64(case):
    law, ex = case
    skip_no_quantiles(law)
    raw, trials = draw(ex, 6, seed=7)
    p64, p32 = law.link(raw), law.link(raw.float())
    t32 = None if trials is None else trials.float()
    for level in (0.05, 0.5, 0.95):
        got = law.quantile(p32, level, trials=t32)
        assert got.dtype == torch.float32
        want = law.quantile(p64, level, trials=trials)
        # float32 parameters are rounded by ~6e-8 relative; quantiles move by at most a few times that
        # (2e-4 absolute where the laws on [0, 1] pile their mass near an edge)
        np.testing.assert_allclose(got.double().numpy(), want.numpy(), rtol=1e-4, atol=2e-4)


# ----------------------------------------------------------------------- cdf and icdf of the predictive
def test_cdf_of_the_quantile_gives_back_the_level(case):
    """``F(F^-1(q)) = q`` for continuous laws; for laws with atoms the quantile is the smallest atom reaching q."""
    law, ex = case
    skip_no_quantiles(law)
    if law.event_dim:
        pytest.skip("mvn: a vector law has no scalar cdf (its marginal quantiles are checked against scipy)")
    raw, trials = draw(ex, 8, seed=8)
    params = law.link(raw)
    dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
    for level in LEVELS:
        q = torch.full((8,), level, dtype=torch.float64)
        x = law.quantile(params, q, trials=trials)
        torch.testing.assert_close(dist.icdf(q), x, rtol=0, atol=0)  # law.quantile is the predictive's icdf
        f = dist.cdf(x)
        assert bool(((f >= 0) & (f <= 1)).all())
        if is_continuous(law):
            # x is the smallest float whose cdf reaches q: F(x-) <= q <= F(x), to 1e-8 (scipy's betaincinv
            # inverts to about 2e-9); below the smallest normal float scipy returns that float (tiny)
            assert bool((f >= q - 1e-8).all()), f"{law.name}: F(Q({level})) = {f.tolist()}"
            tiny = x.abs() <= torch.finfo(x.dtype).tiny
            assert bool((tiny | (dist.cdf(below(x)) <= q + 1e-8)).all()), f"{law.name}: Q({level}) = {x.tolist()} is too large"
            fine = (jump(dist, x) < 1e-10) & ~tiny  # where neighbouring floats resolve the cdf, F(Q(q)) = q
            np.testing.assert_allclose(f[fine].numpy(), level, atol=1e-8, err_msg=law.name)
        elif law.needs_trials:  # atoms k/n: F(x) >= q > F(x - 1/n)
            assert bool((f >= q - 1e-12).all()) and bool((dist.cdf(x - 1 / trials) < q).all())
        else:  # zoib: inside (0, 1) the cdf is continuous; at an atom it jumps past q
            inside = (x > 0) & (x < 1)
            np.testing.assert_allclose(f[inside].numpy(), level, atol=1e-9)
            assert bool((f[~inside] >= q[~inside] - 1e-12).all())


def test_beta_cdf_and_icdf_against_mpmath_and_scipy():
    """Parameters from 1e-3 to 1e6, in both tails; mpmath.betainc (50 digits) is the independent reference."""
    mpmath.mp.dps = 50
    a = torch.tensor([1e-3, 0.02, 0.5, 1.0, 2.5, 40.0, 3e3, 1e6], dtype=torch.float64)
    b = torch.tensor([0.7, 1e-3, 0.5, 3.0, 2.5, 1e6, 2e3, 30.0], dtype=torch.float64)
    d = D.Beta(a, b)

    def mp_cdf(x):
        return np.array([float(mpmath.betainc(ai, bi, 0, mpmath.mpf(max(xi, 0.0)), regularized=True))
                         for ai, bi, xi in zip(a.tolist(), b.tolist(), x.tolist())])

    for q in (1e-8, 0.01, 0.37, 0.5, 0.9, 1 - 1e-8):
        x = d.icdf(torch.full((8,), q, dtype=torch.float64))
        np.testing.assert_allclose(x.numpy(), stats.beta.ppf(q, a.numpy(), b.numpy()), rtol=1e-6, atol=1e-300)
        want = mp_cdf(x)
        np.testing.assert_allclose(d.cdf(x).numpy(), want, rtol=1e-9, atol=1e-15)
        # x is the smallest float whose cdf reaches q, to scipy's ~2e-9 relative; at a = 1e-3 the 1e-8-quantile
        # lies below the smallest normal float, and scipy returns that float (tiny)
        tiny = x.numpy() <= np.finfo(float).tiny
        assert bool((want >= q * (1 - 1e-8)).all()), (q, x)
        assert bool((tiny | (mp_cdf(below(x)) <= q * (1 + 1e-8))).all()), (q, x)


def test_student_t_laplace_exponential_normal_icdf_against_scipy():
    q = torch.tensor([1e-8, 1e-3, 0.2, 0.5, 0.8, 1 - 1e-3, 1 - 1e-8], dtype=torch.float64)
    qn = q.numpy()
    for df in (1.0, 2.0, 3.7, 1e3):
        got = D.StudentT(torch.tensor(df, dtype=torch.float64), 0.5, 2.0).icdf(q).numpy()
        np.testing.assert_allclose(got, stats.t.ppf(qn, df, 0.5, 2.0), rtol=1e-8)
        got = D.StudentT(torch.tensor(df, dtype=torch.float64), 0.5, 2.0).cdf(torch.as_tensor(got)).numpy()
        np.testing.assert_allclose(got, qn, rtol=1e-8)
    for rate in (1e-6, 0.3, 1e4):
        d = D.Exponential(torch.tensor(rate, dtype=torch.float64))
        np.testing.assert_allclose(d.icdf(q).numpy(), stats.expon.ppf(qn, scale=1 / rate), rtol=1e-8)
        np.testing.assert_allclose(d.cdf(d.icdf(q)).numpy(), qn, rtol=1e-8)
    law = ll.get_law("laplace-hetero")
    p = {"loc": torch.full((7,), -1.5, dtype=torch.float64), "scale": torch.full((7,), 0.2, dtype=torch.float64)}
    np.testing.assert_allclose(law.quantile(p, q).numpy(), stats.laplace.ppf(qn, -1.5, 0.2), rtol=1e-7)
    law = ll.get_law("gaussian-hetero")
    np.testing.assert_allclose(law.quantile(p, q).numpy(), stats.norm.ppf(qn, -1.5, 0.2), rtol=1e-7)


def test_exponential_cdf_is_zero_below_zero():
    # torch's 1 - exp(-rate y) is negative there
    d = ll.get_law("exponential").predictive({"rate": torch.tensor([2.0]), "log_rate": torch.log(torch.tensor([2.0]))})
    assert float(d.cdf(torch.tensor([-1.0]))) == 0.0


def test_count_laws_cdf_and_icdf_against_scipy():
    n = torch.tensor([1.0, 7.0, 30.0, 200.0], dtype=torch.float64)
    logits = torch.tensor([-3.0, 0.4, 2.0, -0.1], dtype=torch.float64)
    a = torch.tensor([0.3, 2.0, 50.0, 0.9], dtype=torch.float64)
    b = torch.tensor([0.3, 0.5, 20.0, 4.0], dtype=torch.float64)
    binom = D.ScaledBinomial(n, logits)
    bb = D.ScaledBetaBinomial(n, a, b)
    nn, p, an, bn = n.numpy(), special.expit(logits.numpy()), a.numpy(), b.numpy()
    rng = np.random.default_rng(0)
    for q in rng.uniform(size=20):  # random levels: none sits on a jump of the cdf
        qt = torch.full((4,), q, dtype=torch.float64)
        np.testing.assert_array_equal(np.round(binom.icdf(qt).numpy() * nn), stats.binom.ppf(q, nn, p))
        np.testing.assert_array_equal(np.round(bb.icdf(qt).numpy() * nn), stats.betabinom.ppf(q, nn, an, bn))
    y = torch.tensor([0.0, 3 / 7, 0.5, 1.0], dtype=torch.float64)
    k = np.floor(y.numpy() * nn + 1e-9)
    np.testing.assert_allclose(binom.cdf(y).numpy(), stats.binom.cdf(k, nn, p), rtol=1e-12)
    np.testing.assert_allclose(bb.cdf(y).numpy(), stats.betabinom.cdf(k, nn, an, bn), rtol=1e-10)
    # a label a rounding error below its atom counts as on it (as the PIT reads labels)
    y_low = torch.tensor([0.0, 3 / 7 - 1e-13, 0.5, 1.0], dtype=torch.float64)
    assert float(binom.cdf(y_low)[1]) == pytest.approx(stats.binom.cdf(3, 7, p[1]), rel=1e-12)


def test_count_laws_icdf_works_in_blocks_of_rows():
    # 3000 rows of n = 1000: the atom grid is built in blocks; the result equals scipy row by row
    n = torch.full((3000,), 1000.0, dtype=torch.float64)
    logits = torch.linspace(-4, 4, 3000, dtype=torch.float64)
    got = D.ScaledBinomial(n, logits).icdf(torch.tensor(0.3, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(np.round(got * 1000), stats.binom.ppf(0.3, 1000, special.expit(logits.numpy())))


def test_continuous_bernoulli_cdf_and_icdf_are_the_closed_forms_at_extreme_logits():
    logits = torch.tensor([-1e4, -30.0, -1e-5, 0.0, 1e-5, 2.0, 30.0, 1e4], dtype=torch.float64)
    d = ll.get_law("continuous-bernoulli").predictive({"logits": logits})
    for q in (1e-6, 0.3, 0.5, 0.9):
        x = d.icdf(torch.full((8,), q, dtype=torch.float64))
        assert bool(torch.isfinite(x).all()) and bool(((x >= 0) & (x <= 1)).all())
        f = d.cdf(x)
        np.testing.assert_allclose(f.numpy()[1:-1], q, rtol=1e-7)
        # moderate logits: the closed form log(1 + q (e^eta - 1)) / eta in numpy
        eta = logits.numpy()[[1, 5, 6]]
        np.testing.assert_allclose(x.numpy()[[1, 5, 6]], np.log1p(q * np.expm1(eta)) / eta, rtol=1e-10)


# ----------------------------------------------------------------------- mixtures: bisection and cdf bounds
def test_mixture_bisection_reaches_the_quantile_to_float_resolution():
    # Components 1e3 apart with scales 1e-3 to 50: brentq on scipy's cdf is the reference.
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    loc = torch.tensor([-1e3, 0.0, 1e3], dtype=torch.float64)
    scale = torch.tensor([1e-3, 1.0, 50.0], dtype=torch.float64)
    law = ll.get_law("mixture-gaussian")
    params = {"logits": torch.log(w).expand(7, 3), "loc": loc.expand(7, 3), "scale": scale.expand(7, 3)}
    q = torch.tensor([1e-9, 0.1, 0.19, 0.2 + 1e-9, 0.5, 0.75, 1 - 1e-9], dtype=torch.float64)
    got = law.quantile(params, q).numpy()

    def cdf(x):
        return float(np.sum(w.numpy() * stats.norm.cdf(x, loc.numpy(), scale.numpy())))

    want = [optimize.brentq(lambda x: cdf(x) - qi, -2e3, 2e3, xtol=1e-13, rtol=1e-15, maxiter=500) for qi in q.tolist()]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose([cdf(x) for x in got], q.numpy(), rtol=1e-9, atol=1e-12)


def test_mixture_bisection_keeps_relative_precision_near_zero():
    # Beta(0.05, 1) has cdf x^0.05; with weight 1/2 beside Beta(5, 5) (cdf ~ 126 x^5 near 0, negligible),
    # the mixture's 0.05-quantile is (0.05 / 0.5)^(1 / 0.05) = 1e-20 exactly.
    d = D.MixtureSameFamily(
        torch.distributions.Categorical(probs=torch.tensor([0.5, 0.5], dtype=torch.float64)),
        D.Beta(torch.tensor([0.05, 5.0], dtype=torch.float64), torch.tensor([1.0, 5.0], dtype=torch.float64)),
    )
    assert float(d.icdf(torch.tensor(0.05, dtype=torch.float64))) == pytest.approx(1e-20, rel=1e-9)


def _weights_summing_above_one(dtype):
    """Mixture logits whose softmax weights sum to more than 1 in ``dtype`` (found by a seeded search)."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(10000):
        logits = torch.randn(3, generator=gen, dtype=dtype)
        cat = torch.distributions.Categorical(logits=logits)
        if float(cat.probs.sum()) > 1:
            return logits
    raise AssertionError("no weights summing above 1 found")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mixture_cdf_stays_in_the_unit_interval_far_out(dtype):
    logits = _weights_summing_above_one(dtype)
    for name, params in [
        ("mixture-gaussian", {"logits": logits, "loc": torch.tensor([-1.0, 0.0, 2.0], dtype=dtype), "scale": torch.ones(3, dtype=dtype)}),
        ("mixture-beta", {"logits": logits, "concentration1": torch.tensor([0.5, 2.0, 9.0], dtype=dtype),
                          "concentration0": torch.tensor([3.0, 2.0, 0.5], dtype=dtype)}),
    ]:
        d = ll.get_law(name).predictive({k: v.unsqueeze(0) for k, v in params.items()})
        assert float(d.mixture_distribution.probs.sum()) > 1  # so that an unclamped sum would exceed 1
        f = d.cdf(torch.tensor([-1e4, 1e4], dtype=dtype).unsqueeze(-1))
        assert float(f[0]) == 0.0 and float(f[1]) == 1.0, name


# ----------------------------------------------------------------------- coverage of draws from the law
@pytest.mark.parametrize("level", [0.5, 0.9])
def test_interval_covers_draws_from_the_law(case, level):
    """10,000 labels drawn from the predictive at each of 4 parameter settings: the central interval holds
    ``level`` of them to within 0.02 (at least ``level - 0.02`` for laws with atoms, whose closed interval holds more).
    The binomial standard error is at most 0.005, so 0.02 is four of them. Where an end's quantile falls between
    two floats (a Beta piling mass within 1e-16 of an edge), the interval can hold the whole gap, :func:`jump`."""
    law, ex = case
    skip_no_quantiles(law)
    raw, trials = draw(ex, 4, seed=11)
    params = law.link(raw)
    dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
    with torch.random.fork_rng():
        torch.manual_seed(12)
        y = dist.sample((10_000,))
    low, high = law.interval(params, level, trials=trials)
    covered = ((y >= low) & (y <= high)).double().mean(0)  # one coverage per row (and coordinate, for mvn)
    assert bool((covered >= level - 0.02).all()), f"{law.name}: coverage {covered.tolist()} at level {level}"
    if is_continuous(law):
        gap = 0.0 if law.event_dim else jump(dist, low) + jump(dist, high)
        assert bool((covered <= level + 0.02 + gap).all()), f"{law.name}: coverage {covered.tolist()} at level {level}"


# ----------------------------------------------------------------------- point kinds and gradients
@pytest.mark.parametrize("name", ["beta", "mixture-beta", "zoib", "mixture-gaussian", "student-t", "binned"])
def test_median_point_is_the_quantile_at_one_half(name):
    law = ll.get_law(name)
    assert "median" in law.point_kinds
    ex = EXAMPLES[name][0]
    raw, _ = draw(ex, 6, seed=13)
    params = law.link(raw)
    p = np_params(params)
    np.testing.assert_allclose(law.point(params, "median").numpy(), REFERENCES[name](law, p, np.full(6, 0.5), None), rtol=1e-6, atol=1e-6)


def test_beta_median_matches_scipy():
    law = ll.get_law("beta")
    raw = torch.tensor([[0.0, math.log(4.0)], [1.2, 0.3], [-2.0, 5.0]], dtype=torch.float64)
    params = law.link(raw)
    want = stats.beta.median(params["concentration1"].numpy(), params["concentration0"].numpy())
    np.testing.assert_allclose(law.point(params, "median").numpy(), want, rtol=1e-10)


def test_closed_form_quantiles_keep_the_gradient():
    # d/d scale of loc + scale * Phi^-1(q) is Phi^-1(q) (scipy.stats.norm.ppf)
    law = ll.get_law("gaussian-hetero")
    scale = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    law.quantile({"loc": torch.zeros(1, dtype=torch.float64), "scale": scale}, 0.9).sum().backward()
    assert float(scale.grad) == pytest.approx(stats.norm.ppf(0.9), rel=1e-10)


# ----------------------------------------------------------------------- bad input
def _params(name: str):
    law = ll.get_law(name)
    raw, trials = draw(EXAMPLES[name][0], 3, seed=14)
    return law, law.link(raw), trials


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("name", [n for n in LAWS if n not in NO_QUANTILES])
@pytest.mark.parametrize("q", [1.5, -0.1, float("nan"), "0.5", True, None, [0.5, 2.0, 0.1]], ids=repr)
def test_bad_q_raises_one_line_error(name, q):
    law, params, trials = _params(name)
    with pytest.raises(ll.LosslabError) as exc:
        law.quantile(params, q, trials=trials)
    msg = _one_line(exc)
    assert f"{name}: q" in msg and "[0, 1]" in msg


def test_q_that_would_broadcast_past_the_batch_is_rejected():
    law, params, _ = _params("beta")
    with pytest.raises(ll.LosslabError) as exc:
        law.quantile(params, torch.full((2, 3), 0.5))
    assert "q has shape (2, 3)" in _one_line(exc) and "(3,)" in str(exc.value)


@pytest.mark.parametrize("name", ["beta", "binomial", "mvn", "mixture-gaussian", "bernoulli"])
@pytest.mark.parametrize("level", [1.5, 0, 1, -0.5, float("nan"), "0.9", True, None], ids=repr)
def test_bad_level_raises_one_line_error(name, level):
    law, params, trials = _params(name)
    with pytest.raises(ll.LosslabError) as exc:
        law.interval(params, level, trials=trials)
    assert f"{name}: level=" in _one_line(exc) and "(0, 1)" in str(exc.value)


@pytest.mark.parametrize("name", sorted(NO_QUANTILES))
def test_laws_without_quantiles_raise_the_explanation(name):
    law, params, trials = _params(name)
    for call in (lambda: law.interval(params, 0.9), lambda: law.quantile(params, 0.5)):
        with pytest.raises(ll.LosslabError) as exc:
            call()
        msg = _one_line(exc)
        assert all(w in msg for w in NO_QUANTILES[name]), msg
    assert "median" not in law.point_kinds


@pytest.mark.parametrize("trials, words", [(None, "need trials="), (2.5, "integer counts >= 1"), (0.0, "integer counts >= 1"),
                                           (torch.ones(4), "trials has shape (4,)")])
def test_count_laws_need_integer_trials(trials, words):
    law, params, _ = _params("binomial")
    with pytest.raises(ll.LosslabError) as exc:
        law.interval(params, 0.9, trials=trials)
    assert words in _one_line(exc)
