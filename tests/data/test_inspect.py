"""Label diagnostics on crafted labels: statistics, support, modality, suggestions, exclusions, messages."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import losslab as ll
from losslab._errors import LosslabError
from losslab.data import binned_bounds, default_laws, inspect, synthetic
from losslab.data.inspect import ALL_LAWS


def _unit_with_edges(n: int = 1000, frac_edges: float = 0.31, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.05, 0.95, n)
    k = int(round(frac_edges * n))
    y[:k] = np.r_[np.zeros(k // 2), np.ones(k - k // 2)]
    return rng.permutation(y)


def test_statistics_match_numpy():
    y = _unit_with_edges()
    r = inspect(y)
    assert (r.n, r.n_targets) == (1000, 1)
    assert r.mean == pytest.approx(y.mean()) and r.std == pytest.approx(y.std())
    assert (r.min, r.max) == (0.0, 1.0)
    assert r.frac_zero == pytest.approx(np.mean(y == 0)) and r.frac_one == pytest.approx(np.mean(y == 1))
    assert r.frac_interior == pytest.approx(0.69)
    assert r.dispersion == pytest.approx(y.var() / (y.mean() * (1 - y.mean())))
    assert r.in_unit_interval and not r.has_counts and not r.integer_like


def test_exact_edges_exclude_beta_and_say_so():
    r = inspect(_unit_with_edges())
    assert r.support_kind == "unit_interval_closed"
    assert "31% of labels are exactly 0 or 1: beta is not defined there" in r.messages[0]
    assert "use zoib, bernoulli or continuous-bernoulli" in r.messages[0]
    for law in ("beta", "logit-normal", "mixture-beta"):
        assert law in r.excluded and law not in r.suggested_laws
    assert r.suggested_laws[:3] == ["bernoulli", "zoib", "continuous-bernoulli"]
    assert "binomial" in r.excluded and "trials=" in r.excluded["binomial"]
    assert default_laws(r) == ["bernoulli", "sigmoid-mse", "zoib", "continuous-bernoulli", "binned", "gaussian-hetero"]


def test_interior_labels_suggest_beta():
    y = np.random.default_rng(1).beta(2.0, 5.0, 2000)
    r = inspect(y)
    assert r.support_kind == "unit_interval" and r.modality == "unimodal"
    assert r.suggested_laws[0] == "beta" and "beta" not in r.excluded
    assert any("no label is exactly 0 or 1" in m for m in r.messages)
    d = default_laws(r)
    assert "beta" in d and "zoib" not in d


def test_counts_put_binomial_first_and_grid_is_detected():
    rng = np.random.default_rng(2)
    k = rng.binomial(16, rng.uniform(0, 1, 3000))
    r = inspect(k / 16, trials=16)
    assert r.has_counts and r.trials_range == (16.0, 16.0)
    assert r.suggested_laws[:2] == ["binomial", "beta-binomial"] and default_laws(r)[0] == "binomial"
    assert any("labels come with counts (n = 16 trials)" in m for m in r.messages)
    r2 = inspect(k / 16)
    assert r2.grid == 16
    assert any("grid of step 1/16" in m and "trials=16" in m for m in r2.messages)


def test_real_labels():
    y = np.random.default_rng(3).normal(1.0, 2.0, 2000)
    r = inspect(y)
    assert r.support_kind == "real" and r.modality == "unimodal" and not r.in_unit_interval
    assert r.suggested_laws[:2] == ["gaussian", "gaussian-hetero"]
    assert "negative" in r.excluded["exponential"]
    assert "outside [0, 1]" in r.excluded["bernoulli"] and "sigmoid-mse" in r.excluded
    assert default_laws(r) == ["gaussian", "gaussian-hetero", "laplace-hetero", "student-t", "binned", "mixture-gaussian"]
    lo, hi = binned_bounds(r)
    span = y.max() - y.min()
    assert lo == pytest.approx(y.min() - 0.05 * span) and hi == pytest.approx(y.max() + 0.05 * span)


def test_positive_skewed_labels_suggest_exponential_and_heavy_tails_student_t():
    r = inspect(np.random.default_rng(4).exponential(3.0, 3000))
    assert r.support_kind == "positive" and "exponential" in r.suggested_laws
    assert r.dispersion == pytest.approx(1.0, abs=0.15)  # var / mean^2 = 1 for an exponential law
    t = inspect(np.random.default_rng(5).standard_t(3, 3000))
    assert t.excess_kurtosis > 1 and any("heavy tails" in m for m in t.messages)
    assert t.suggested_laws.index("student-t") < t.suggested_laws.index("laplace-hetero")


def test_modality():
    rng = np.random.default_rng(6)
    two = np.r_[rng.normal(-3, 0.6, 1500), rng.normal(3, 0.6, 1500)]
    r = inspect(two)
    assert r.modality == "bimodal" and r.n_modes == 2
    assert r.modes[0] == pytest.approx(-3, abs=0.4) and r.modes[1] == pytest.approx(3, abs=0.4)
    assert r.suggested_laws[1] == "mixture-gaussian"
    u = inspect(rng.beta(0.2, 0.2, 3000))
    assert u.modality == "bimodal at the edges"
    three = np.r_[rng.normal(0, 0.3, 1000), rng.normal(4, 0.3, 1000), rng.normal(8, 0.3, 1000)]
    assert inspect(three).modality == "multimodal (3 modes)"
    assert inspect(rng.integers(0, 2, 500).astype(float)).modality == "binary (0/1)"


def test_hard_labels():
    r = inspect(np.array([0.0, 1.0, 1.0, 0.0, 1.0]))
    assert r.frac_interior == 0 and r.suggested_laws[0] == "bernoulli"
    assert any("hard labels" in m for m in r.messages)


def test_constant_labels_are_reported_not_raised():
    r = inspect(np.full(50, 0.3))
    assert r.modality == "constant" and r.std == 0
    assert any("all 50 labels equal 0.3" in m and "constant" in m for m in r.messages)


def test_multi_target_real_labels_suggest_mvn():
    y = np.random.default_rng(7).normal(size=(300, 3))
    r = inspect(y)
    assert r.n == 300 and r.n_targets == 3 and "mvn" in r.suggested_laws and "mvn" in default_laws(r)
    assert "mvn" in inspect(y[:, 0]).excluded


def test_torch_input_and_bad_input():
    assert inspect(torch.tensor([0.2, 0.4])).support_kind == "unit_interval"
    with pytest.raises(LosslabError, match=r"1 non-finite value\(s\).*\[1\]"):
        inspect(np.array([0.1, np.nan, 0.3]))
    with pytest.raises(LosslabError, match="dtype"):
        inspect(np.array(["a", "b"]))
    with pytest.raises(LosslabError, match="trials"):
        inspect(np.array([0.1, 0.3]), trials=np.array([1, 0]))


def test_law_names_are_registry_names():
    r1, r2 = inspect(_unit_with_edges()), inspect(np.random.default_rng(0).normal(size=100))
    names = set(r1.suggested_laws) | set(r1.excluded) | set(r2.suggested_laws) | set(r2.excluded)
    assert names <= set(ALL_LAWS)
    assert ll.inspect is inspect


@pytest.mark.parametrize("law", ["bernoulli-fraction", "beta", "zoib", "gaussian-hetero", "mixture-gaussian", "exponential"])
def test_the_generating_law_is_suggested_for_synthetic_labels(law):
    ds = synthetic(law, 3000, seed=1)
    r = inspect(ds.y, trials=ds.trials)
    assert ds.meta["law"] in r.suggested_laws, (law, r.suggested_laws)


def test_a_law_with_a_new_support_is_judged_without_editing_inspect(monkeypatch):
    # inspect reads each registered law's Support: a law on (1, inf), registered here, is excluded by it alone
    from losslab.laws import _registry
    from losslab.laws.gaussian import Gaussian

    monkeypatch.setattr(_registry, "_LAWS", dict(_registry._LAWS))

    @ll.register_law("above-one")
    class AboveOne(Gaussian):
        support = ll.laws.Support("above_one", 1.0, np.inf, False, False)

    assert "above-one" in importlib.import_module("losslab.data.inspect").ALL_LAWS  # read when asked
    assert inspect([0.5, 2.0, 3.0]).excluded["above-one"] == "33% of labels are below 1; above-one needs y > 1"
    assert inspect([1.0, 2.0, 3.0, 4.0]).excluded["above-one"] == (
        "25% of labels are exactly 1, where its density is 0 or infinite"
    )
    assert "above-one" not in inspect([2.0, 3.0, 4.0]).excluded
    # the laws on (0, 1) are found the same way, and named in the message about exact 0s and 1s
    r = inspect([0.0, 0.3, 0.6, 1.0])
    assert {law for law, why in r.excluded.items() if "exactly 0 or 1" in why} == {"beta", "logit-normal", "mixture-beta"}
