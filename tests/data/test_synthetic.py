"""Synthetic data: the labels follow the named law (checked against scipy / torch), and true_mean is E[y | x]."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from losslab._errors import LosslabError
from losslab.data import list_synthetic, synthetic
from losslab.data.inspect import ALL_LAWS

N = 20000
GENERATORS = sorted(list_synthetic())


@pytest.mark.parametrize("law", GENERATORS)
def test_sample_mean_tracks_true_mean(law):
    ds = synthetic(law, N, seed=3)
    y, m = ds.y.astype(np.float64), ds.meta["true_mean"]
    assert m.shape == (N,) and np.isfinite(m).all()
    r = y - m
    # In each decile of the true mean, the residuals average to 0 within 4.5 standard errors.
    edges = np.quantile(m, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, 9)
    for b in range(10):
        rb = r[bins == b]
        assert abs(rb.mean()) < 4.5 * rb.std() / np.sqrt(rb.size) + 1e-6, (law, b, rb.mean())
    # and the true mean explains the labels better than their grand mean
    assert np.mean(r**2) < np.var(y)


def _ks(u: np.ndarray) -> float:
    """p-value of a KS test of PIT values against U(0, 1)."""
    return float(stats.kstest(u, "uniform").pvalue)


# PIT references: scipy.stats (or torch.distributions) with the parameters in meta["params"].
PIT = {
    "gaussian": lambda y, p: stats.norm.cdf(y, p["loc"], p["scale"]),
    "gaussian-hetero": lambda y, p: stats.norm.cdf(y, p["loc"], p["scale"]),
    "laplace": lambda y, p: stats.laplace.cdf(y, p["loc"], p["scale"]),
    "student-t": lambda y, p: stats.t.cdf(y, p["df"], p["loc"], p["scale"]),
    "beta": lambda y, p: stats.beta.cdf(y, p["concentration1"], p["concentration0"]),
    "exponential": lambda y, p: stats.expon.cdf(y, scale=1 / p["rate"]),
    "logit-normal": lambda y, p: stats.norm.cdf(np.log(y) - np.log1p(-y), p["loc"], p["scale"]),
    "mixture-gaussian": lambda y, p: (1 - p["probs"]) * stats.norm.cdf(y, p["loc0"], p["scale"])
    + p["probs"] * stats.norm.cdf(y, p["loc1"], p["scale"]),
    "continuous-bernoulli": lambda y, p: torch.distributions.ContinuousBernoulli(
        logits=torch.from_numpy(p["logits"])
    ).cdf(torch.from_numpy(y)).numpy(),
}


@pytest.mark.parametrize("law", sorted(PIT))
def test_continuous_laws_have_uniform_pit(law):
    ds = synthetic(law, 5000, seed=4)
    u = PIT[law](ds.y.astype(np.float64), ds.meta["params"])
    assert _ks(u) > 1e-3, law


def test_zoib_masses_and_interior():
    ds = synthetic("zoib", N, seed=5)
    p, y = ds.meta["params"], ds.y.astype(np.float64)
    for frac, prob in ((np.mean(y == 0), p["p0"]), (np.mean(y == 1), p["p1"])):
        se = np.sqrt(np.sum(prob * (1 - prob))) / N
        assert abs(frac - prob.mean()) < 4.5 * se
    inner = (y > 0) & (y < 1)
    u = stats.beta.cdf(y[inner], p["concentration1"][inner], p["concentration0"][inner])
    assert _ks(u) > 1e-3


def test_bernoulli_fraction_is_binomial_with_trials():
    ds = synthetic("bernoulli-fraction", N, seed=6, trials=10)
    assert ds.meta["law"] == "binomial" and np.all(ds.trials == 10)
    k = ds.y.astype(np.float64) * 10
    np.testing.assert_allclose(k, np.round(k), atol=1e-5)
    p = ds.meta["params"]["probs"]
    # Binomial variance n p (1 - p): the mean standardised squared deviation is 1.
    z2 = (k - 10 * p) ** 2 / (10 * p * (1 - p))
    assert abs(z2.mean() - 1) < 0.05
    b = synthetic("bernoulli", 1000, seed=6)
    assert set(np.unique(b.y).tolist()) <= {0.0, 1.0} and b.trials is None


def test_mixture_gaussian_is_bimodal_given_x():
    ds = synthetic("mixture-gaussian", 4000, seed=7)
    p = ds.meta["params"]
    d0 = np.abs(ds.y - p["loc0"]) < 4 * p["scale"]
    d1 = np.abs(ds.y - p["loc1"]) < 4 * p["scale"]
    assert np.mean(d0 | d1) > 0.999 and 0.2 < np.mean(d1) < 0.8  # every label sits at one of two modes


def test_unit_laws_stay_inside_their_support_in_float32():
    for law in ("beta", "logit-normal"):
        y = synthetic(law, N, seed=8, **({"concentration": 0.5} if law == "beta" else {"scale": 4.0})).y
        assert y.dtype == np.float32 and y.min() > 0 and y.max() < 1, law


def test_determinism_and_meta():
    a, b, c = synthetic("beta", 50, seed=1), synthetic("beta", 50, seed=1), synthetic("beta", 50, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.y, c.y)
    assert a.X.shape == (50, 5) and a.meta["law"] == "beta" and a.feature_names[0] == "x0"
    assert set(list_synthetic().values()) <= set(ALL_LAWS)
    sub = a.subset([3, 1])
    assert sub.meta["true_mean"].tolist() == a.meta["true_mean"][[3, 1]].tolist()


def test_bad_arguments():
    with pytest.raises(LosslabError, match=r"synthetic law 'gausian' \(did you mean 'gaussian'"):
        synthetic("gausian")
    with pytest.raises(LosslabError, match=r"has no option 'trails' \(did you mean 'trials'"):
        synthetic("bernoulli-fraction", trails=4)
    with pytest.raises(LosslabError, match="n=0"):
        synthetic("beta", 0)
