"""CRPS closed forms against numerical integration of (F(x) - 1{x >= y})^2 and, where installed, scoringrules.

References: the CDFs come from scipy.stats (or are written out here, e.g. the histogram's
piecewise-linear CDF with numpy.interp); the integral is scipy.integrate.quad, cut at the
label and at kinks (see _refs.crps_by_quad). scoringrules (frazane/scoringrules) is a
test-only dependency; those comparisons are skipped when it is not importable.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from losslab.metrics import CRPS_CLOSED_FORMS
from losslab.metrics import scoring as S

from ._refs import crps_by_quad

try:
    import scoringrules as sr
except ImportError:  # pragma: no cover - depends on the environment
    sr = None

T = torch.float64
INF = np.inf


def _hist_cdf(probs, edges):
    cum = np.r_[0.0, np.cumsum(probs)]
    return lambda x: float(np.interp(x, edges, cum))


def _cb_cdf(eta):
    if eta == 0:
        return lambda x: min(max(x, 0.0), 1.0)
    return lambda x: 0.0 if x < 0 else 1.0 if x >= 1 else float(np.expm1(eta * x) / np.expm1(eta))


def _discrete_cdf(atoms, probs):
    return lambda x: float(np.sum(np.asarray(probs)[np.asarray(atoms) <= x]))


def _zoib_cdf(p0, p1, a, b):
    return lambda x: 0.0 if x < 0 else 1.0 if x >= 1 else p0 + (1 - p0 - p1) * stats.beta.cdf(x, a, b)


_HP = np.array([0.1, 0.0, 0.35, 0.25, 0.3])
_HE = np.linspace(-1.0, 2.0, 6)
_BIN_ATOMS = np.arange(8) / 7
_BIN_P = stats.binom.pmf(np.arange(8), 7, 0.35)
_BB_P = stats.betabinom.pmf(np.arange(8), 7, 0.7, 1.9)

#: family -> list of (kwargs for the closed form, reference CDF, support low, support high, breakpoints, labels)
CASES = {
    "normal": [
        (dict(loc=0.3, scale=1.7), stats.norm(0.3, 1.7).cdf, -INF, INF, (), [-4.0, 0.3, 1.1, 9.0]),
        (dict(loc=-2.0, scale=0.05), stats.norm(-2.0, 0.05).cdf, -INF, INF, (-2.0,), [-2.0, -1.93]),
    ],
    "laplace": [(dict(loc=0.5, scale=0.4), stats.laplace(0.5, 0.4).cdf, -INF, INF, (0.5,), [-1.0, 0.5, 0.62, 3.0])],
    "logistic": [(dict(loc=-0.2, scale=0.7), stats.logistic(-0.2, 0.7).cdf, -INF, INF, (), [-3.0, -0.2, 0.4, 2.5])],
    "exponential": [(dict(rate=2.5), stats.expon(scale=1 / 2.5).cdf, 0.0, INF, (), [-0.5, 0.0, 0.1, 0.4, 3.0])],
    "uniform": [(dict(low=0.2, high=0.9), stats.uniform(0.2, 0.7).cdf, 0.2, 0.9, (), [0.0, 0.2, 0.5, 0.9, 1.3])],
    "beta": [
        (dict(concentration1=2.5, concentration0=4.0), stats.beta(2.5, 4.0).cdf, 0.0, 1.0, (), [0.0, 0.05, 0.3, 0.77, 1.0]),
        (dict(concentration1=0.4, concentration0=0.7), stats.beta(0.4, 0.7).cdf, 0.0, 1.0, (), [0.0, 0.01, 0.5, 0.999, 1.0]),
        (dict(concentration1=300.0, concentration0=120.0), stats.beta(300, 120).cdf, 0.0, 1.0, (0.6, 0.8), [0.5, 0.71, 0.9]),
    ],
    "t": [
        (dict(df=3.5, loc=0.2, scale=0.8), stats.t(3.5, 0.2, 0.8).cdf, -INF, INF, (), [-5.0, 0.2, 0.9, 12.0]),
        (dict(df=1.2, loc=0.0, scale=1.0), stats.t(1.2).cdf, -INF, INF, (), [-2.0, 0.0, 3.0]),
    ],
    "mixnorm": [
        (
            dict(loc=[-1.0, 0.5, 2.0], scale=[0.3, 1.0, 0.6], weights=[0.2, 0.5, 0.3]),
            lambda x: 0.2 * stats.norm.cdf(x, -1, 0.3) + 0.5 * stats.norm.cdf(x, 0.5, 1.0) + 0.3 * stats.norm.cdf(x, 2, 0.6),
            -INF, INF, (-1.0, 2.0), [-3.0, -1.0, 0.7, 2.2, 6.0],
        )
    ],
    "histogram": [
        (dict(probs=_HP, edges=_HE), _hist_cdf(_HP, _HE), -1.0, 2.0, tuple(_HE), [-1.5, -1.0, -0.3, 0.2, 0.8, 2.0, 2.4]),
    ],
    "discrete": [
        (dict(atoms=_BIN_ATOMS, probs=_BIN_P), _discrete_cdf(_BIN_ATOMS, _BIN_P), 0.0, 1.0, tuple(_BIN_ATOMS), [0.0, 2 / 7, 0.5, 1.0]),
        (dict(atoms=_BIN_ATOMS, probs=_BB_P), _discrete_cdf(_BIN_ATOMS, _BB_P), 0.0, 1.0, tuple(_BIN_ATOMS), [0.0, 3 / 7, 1.0]),
    ],
    "continuous_bernoulli": [
        # scipy has no continuous Bernoulli: its CDF is written out, F(x) = expm1(eta x) / expm1(eta) (uniform at eta = 0)
        (dict(logits=eta), _cb_cdf(eta), 0.0, 1.0, (), [0.0, 1e-6, 0.1, 0.37, 0.5, 0.9, 1.0])
        for eta in (-200.0, -30.0, -1.0, -0.0201, -0.0199, -1e-3, 0.0, 1e-7, 0.0199, 0.0201, 0.7, 10.0, 300.0)
    ],
    "zoib": [
        (
            dict(p0=0.15, p1=0.05, concentration1=2.0, concentration0=3.0),
            _zoib_cdf(0.15, 0.05, 2.0, 3.0), 0.0, 1.0, (), [0.0, 0.2, 0.64, 1.0],
        ),
        (
            dict(p0=0.0, p1=0.4, concentration1=0.8, concentration0=0.6),
            _zoib_cdf(0.0, 0.4, 0.8, 0.6), 0.0, 1.0, (), [0.0, 0.5, 1.0],
        ),
    ],
}


def _call(family, kwargs, y):
    fn = CRPS_CLOSED_FORMS[family]
    args = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in kwargs.items()}
    return fn(torch.tensor(y, dtype=T), **args)


def test_every_closed_form_has_reference_cases():
    assert set(CASES) == set(CRPS_CLOSED_FORMS)


@pytest.mark.parametrize("family", sorted(CASES))
def test_closed_form_matches_numerical_integration(family):
    for kwargs, cdf, low, high, points, labels in CASES[family]:
        for y in labels:
            got = float(_call(family, kwargs, y))
            want = crps_by_quad(cdf, y, low, high, points)
            assert got == pytest.approx(want, abs=1e-6, rel=1e-6), (family, kwargs, y)


def test_continuous_bernoulli_closed_form_is_tight_across_its_series_switch():
    """Stricter than the shared 1e-6: the closed form cancels near eta = 0, so a series takes over below 0.02."""
    for kwargs, cdf, low, high, points, labels in CASES["continuous_bernoulli"]:
        for y in labels:
            got = float(_call("continuous_bernoulli", kwargs, y))
            assert got == pytest.approx(crps_by_quad(cdf, y, low, high, points), abs=1e-10), (kwargs, y)


def _sr_reference(family, kw, y):
    """The same CRPS from scoringrules, or None where it has no such family."""
    if family == "normal":
        return sr.crps_normal(y, kw["loc"], kw["scale"])
    if family == "laplace":
        return sr.crps_laplace(y, kw["loc"], kw["scale"])
    if family == "logistic":
        return sr.crps_logistic(y, kw["loc"], kw["scale"])
    if family == "exponential":
        return sr.crps_exponential(y, kw["rate"])
    if family == "uniform":
        return sr.crps_uniform(y, kw["low"], kw["high"])
    if family == "beta":
        return sr.crps_beta(y, kw["concentration1"], kw["concentration0"])
    if family == "t":
        return sr.crps_t(y, kw["df"], kw["loc"], kw["scale"])
    if family == "mixnorm":
        return sr.crps_mixnorm(y, np.asarray(kw["loc"]), np.asarray(kw["scale"]), np.asarray(kw["weights"]))
    return None


@pytest.mark.skipif(sr is None, reason="scoringrules is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("family", ["normal", "laplace", "logistic", "exponential", "uniform", "beta", "t", "mixnorm"])
def test_closed_form_matches_scoringrules(family):
    for kwargs, *_, labels in CASES[family]:
        for y in labels:
            want = float(_sr_reference(family, kwargs, y))
            assert float(_call(family, kwargs, y)) == pytest.approx(want, abs=1e-6, rel=1e-6), (family, kwargs, y)


@pytest.mark.skipif(sr is None, reason="scoringrules is not installed (pip install -e '.[test]')")
def test_scaled_binomial_matches_scoringrules_in_count_units():
    # CRPS is in the units of the label: for y = k/n it is the count CRPS divided by n.
    for k in [0, 2, 7]:
        want = float(sr.crps_binomial(k, 7, 0.35)) / 7
        got = float(S.crps_discrete(torch.tensor(k / 7, dtype=T), torch.tensor(_BIN_ATOMS), torch.tensor(_BIN_P)))
        assert got == pytest.approx(want, abs=1e-9)


def test_student_t_with_df_at_most_one_uses_the_quantile_rule():
    # Cauchy: the closed form needs a finite mean; the quantile rule must still match the integral.
    for y in [-2.0, 0.0, 0.5]:
        got = float(S.crps_t(torch.tensor(y, dtype=T), 1.0, 0.0, 1.0))
        assert got == pytest.approx(crps_by_quad(stats.cauchy.cdf, y, -INF, INF), abs=2e-4)


def test_properscoring_agrees_on_the_sample_estimator():
    ps = pytest.importorskip("properscoring", reason="properscoring is not installed (pip install -e '.[test]')")
    rng = np.random.default_rng(0)
    ens = rng.normal(size=(5, 40))
    y = rng.normal(size=5)
    # properscoring's crps_ensemble is the CRPS of the empirical law: our fair=False.
    want = ps.crps_ensemble(y, ens)
    got = S.crps_sample(torch.tensor(y), torch.tensor(ens), fair=False).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
