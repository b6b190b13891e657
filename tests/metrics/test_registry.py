"""The registry of closed-form CRPS and randomised PIT by distribution class (losslab.metrics.registry).

Every class registered by losslab must have an example here (the completeness tests fail otherwise), and
each example is checked twice: ``crps(dist, y)`` equals, bit for bit, the family's formula called on the
law's parameters (the dispatch picks the right formula with the right arguments), and it matches numerical
integration of :math:`(F(x) - 1\\{x \\ge y\\})^2` with the CDF from scipy.stats (an independent reference).
When the formulas moved out of scoring.py (issue 22), every law's CRPS, PIT, interval, CRPS gradient and
``evaluate`` output was compared bit for bit against the previous if-chain before it was deleted.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import (
    Beta,
    Categorical,
    ContinuousBernoulli,
    Exponential,
    Gumbel,
    Laplace,
    MixtureSameFamily,
    Normal,
    StudentT,
    Uniform,
)

import losslab.distributions as D
from losslab import LosslabError
from losslab.metrics import crps, pit, register_crps, register_pit
from losslab.metrics import crps as crps_score
from losslab.metrics.crps import (
    crps_beta,
    crps_continuous_bernoulli,
    crps_discrete,
    crps_exponential,
    crps_histogram,
    crps_laplace,
    crps_mixnorm,
    crps_normal,
    crps_t,
    crps_uniform,
    crps_zoib,
)
from losslab.metrics.registry import crps_formula, pit_formula, registered_crps, registered_pit
from losslab.metrics.scoring import crps_values

from ._refs import crps_by_quad

T = torch.float64
INF = np.inf


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _hist_cdf(probs, edges):
    cum = np.r_[0.0, np.cumsum(probs)]
    return lambda x: float(np.interp(x, edges, cum))


def _atoms_cdf(atoms, pmf):
    return lambda x: float(np.sum(pmf[atoms <= x]))


def _examples():
    """class -> (distribution, labels, the family's formula on its parameters, [reference CDF per element], low, high, [breakpoints])."""
    hist = D.Histogram(_t([[0.3, -1.0, 0.8, 0.0], [2.0, 0.0, -2.0, 0.5]]), 0.0, 2.0)
    hp = hist.probs.numpy()
    sb = D.ScaledBinomial(_t([5.0, 8.0]), _t([0.4, -1.1]))
    bb = D.ScaledBetaBinomial(_t([6.0, 3.0]), _t([0.7, 2.5]), _t([1.9, 0.8]))
    zo = D.ZeroOneInflatedBeta(_t([0.3, -1.0]), _t([-0.5, 0.2]), _t([2.0, 0.7]), _t([1.5, 3.0]))
    p0, p1 = zo.p0.numpy(), zo.p1.numpy()
    mix = MixtureSameFamily(Categorical(probs=_t([[0.3, 0.7]])), Normal(_t([[-1.0, 1.0]]), _t([[0.5, 0.8]])))
    eta = [1.7, -0.4]
    return {
        Normal: (Normal(_t([0.3, -2.0]), _t([1.7, 0.05])), [1.1, -1.93], lambda d, y: crps_normal(y, d.loc, d.scale),
                 [stats.norm(0.3, 1.7).cdf, stats.norm(-2.0, 0.05).cdf], -INF, INF, [(), (-2.0,)]),
        Laplace: (Laplace(_t([0.5]), _t([0.4])), [0.62], lambda d, y: crps_laplace(y, d.loc, d.scale),
                  [stats.laplace(0.5, 0.4).cdf], -INF, INF, [(0.5,)]),
        Exponential: (Exponential(_t([2.5, 0.5])), [0.1, 3.0], lambda d, y: crps_exponential(y, d.rate),
                      [stats.expon(scale=0.4).cdf, stats.expon(scale=2.0).cdf], 0.0, INF, [(), ()]),
        Uniform: (Uniform(_t([0.2]), _t([0.9])), [0.5], lambda d, y: crps_uniform(y, d.low, d.high),
                  [stats.uniform(0.2, 0.7).cdf], 0.2, 0.9, [()]),
        Beta: (Beta(_t([2.5, 0.4]), _t([4.0, 0.7])), [0.3, 0.01], lambda d, y: crps_beta(y, d.concentration1, d.concentration0),
               [stats.beta(2.5, 4.0).cdf, stats.beta(0.4, 0.7).cdf], 0.0, 1.0, [(), ()]),
        StudentT: (StudentT(_t([3.5, 1.2]), _t([0.2, 0.0]), _t([0.8, 1.0])), [0.9, 3.0], lambda d, y: crps_t(y, d.df, d.loc, d.scale),
                   [stats.t(3.5, 0.2, 0.8).cdf, stats.t(1.2).cdf], -INF, INF, [(), ()]),
        MixtureSameFamily: (mix, [0.2], lambda d, y: crps_mixnorm(y, d.component_distribution.loc, d.component_distribution.scale, d.mixture_distribution.probs),
                            [lambda x: 0.3 * stats.norm.cdf(x, -1, 0.5) + 0.7 * stats.norm.cdf(x, 1, 0.8)], -INF, INF, [(-1.0, 1.0)]),
        D.Histogram: (hist, [0.7, 1.95], lambda d, y: crps_histogram(y, d.probs, d.edges),
                      [_hist_cdf(hp[0], np.linspace(0, 2, 5)), _hist_cdf(hp[1], np.linspace(0, 2, 5))], 0.0, 2.0, [(0.5, 1.0, 1.5)] * 2),
        D.ScaledBinomial: (sb, [0.4, 1.0], lambda d, y: crps_discrete(y, *d.atoms()),
                           [_atoms_cdf(np.arange(6) / 5, stats.binom.pmf(np.arange(6), 5, 1 / (1 + np.exp(-0.4)))),
                            _atoms_cdf(np.arange(9) / 8, stats.binom.pmf(np.arange(9), 8, 1 / (1 + np.exp(1.1))))],
                           0.0, 1.0, [tuple(np.arange(6) / 5), tuple(np.arange(9) / 8)]),
        D.ScaledBetaBinomial: (bb, [0.5, 0.0], lambda d, y: crps_discrete(y, *d.atoms()),
                               [_atoms_cdf(np.arange(7) / 6, stats.betabinom.pmf(np.arange(7), 6, 0.7, 1.9)),
                                _atoms_cdf(np.arange(4) / 3, stats.betabinom.pmf(np.arange(4), 3, 2.5, 0.8))],
                               0.0, 1.0, [tuple(np.arange(7) / 6), tuple(np.arange(4) / 3)]),
        D.ZeroOneInflatedBeta: (zo, [0.0, 0.45], lambda d, y: crps_zoib(y, d.p0, d.p1, d.beta.concentration1, d.beta.concentration0),
                                [lambda x, i=i, a=a, b=b: 0.0 if x < 0 else 1.0 if x >= 1 else p0[i] + (1 - p0[i] - p1[i]) * stats.beta.cdf(x, a, b)
                                 for i, (a, b) in enumerate([(2.0, 1.5), (0.7, 3.0)])], 0.0, 1.0, [(), ()]),
        # continuous Bernoulli CDF (Loaiza-Ganem & Cunningham 2019), written out: (e^{eta x} - 1) / (e^eta - 1)
        ContinuousBernoulli: (ContinuousBernoulli(logits=_t(eta)), [0.1, 0.8], lambda d, y: crps_continuous_bernoulli(y, d.logits),
                              [lambda x, e=e: min(max(float(np.expm1(e * x) / np.expm1(e)), 0.0), 1.0) for e in eta], 0.0, 1.0, [(), ()]),
    }


def _ours(table):
    """The classes losslab and torch registered (not the test-only classes other test modules register)."""
    return {c for c in table if c.__module__.split(".")[0] in ("torch", "losslab")}


def test_every_registered_crps_class_has_an_example():
    assert _ours(registered_crps()) == set(_examples())


@pytest.mark.parametrize("cls", list(_examples()), ids=lambda c: c.__name__)
def test_dispatch_is_the_family_formula_bit_for_bit(cls):
    d, y, direct, *_ = _examples()[cls]
    values, method = crps_values(d, _t(y), 1000, 0)
    assert method == "closed form"
    assert torch.equal(values, direct(d, _t(y)))
    assert torch.equal(crps_score(d, _t(y), reduction="none"), values)


@pytest.mark.parametrize("cls", list(_examples()), ids=lambda c: c.__name__)
def test_dispatch_matches_numerical_integration(cls):
    d, y, _, cdfs, low, high, points = _examples()[cls]
    got = crps(d, _t(y), reduction="none")
    for i, yi in enumerate(y):
        want = crps_by_quad(cdfs[i], yi, low, high, points[i])
        assert float(got[i]) == pytest.approx(want, abs=1e-8), (cls.__name__, i)


def _pit_examples():
    """class -> (distribution, labels, [(F(y-), F(y)) per element] from scipy or written out)."""
    hist = D.Histogram(_t([[0.3, -1.0, 0.8, 0.0]]), 0.0, 2.0)
    hp = np.r_[0.0, np.cumsum(hist.probs.numpy()[0])]
    zo = D.ZeroOneInflatedBeta(_t([0.3, -1.0, 0.1]), _t([-0.5, 0.2, 0.0]), _t([2.0, 0.7, 1.3]), _t([1.5, 3.0, 1.1]))
    p0, p1 = zo.p0.numpy(), zo.p1.numpy()
    inside = p0[2] + (1 - p0[2] - p1[2]) * stats.beta.cdf(0.35, 1.3, 1.1)
    binom = stats.binom(5, 1 / (1 + np.exp(-0.4)))
    bbin = stats.betabinom(6, 0.7, 1.9)
    return {
        # the label's bin [0.5, 1.0) is bin 1: the PIT lies between the CDF at its edges
        D.Histogram: (hist, [0.7], [(hp[1], hp[2])]),
        D.ScaledBinomial: (D.ScaledBinomial(_t([5.0]), _t([0.4])), [0.4], [(binom.cdf(1), binom.cdf(2))]),
        D.ScaledBetaBinomial: (D.ScaledBetaBinomial(_t([6.0]), _t([0.7]), _t([1.9])), [0.5], [(bbin.cdf(2), bbin.cdf(3))]),
        D.ZeroOneInflatedBeta: (zo, [0.0, 1.0, 0.35], [(0.0, p0[0]), (1 - p1[1], 1.0), (inside, inside)]),
    }


def test_every_registered_pit_class_has_an_example():
    assert _ours(registered_pit()) == set(_pit_examples())


@pytest.mark.parametrize("cls", list(_pit_examples()), ids=lambda c: c.__name__)
def test_randomised_pit_spans_the_atom_or_bin(cls):
    d, y, bounds = _pit_examples()[cls]
    # one randomised PIT per seed
    u = torch.stack([pit(d, _t(y), seed=s) for s in range(200)]).numpy()  # (200, labels)
    for i, (lo, hi) in enumerate(bounds):
        assert u[:, i].min() >= lo - 1e-12 and u[:, i].max() <= hi + 1e-12, (cls.__name__, i)
        if hi - lo > 1e-9:  # an atom or bin: randomised over (nearly) all of it
            assert u[:, i].max() - u[:, i].min() > 0.9 * (hi - lo), (cls.__name__, i)


def test_a_subclass_gets_its_parents_formula_and_can_override_it():
    # losslab's Beta subclasses torch's: the MRO walk finds torch's entry
    assert crps_formula(D.Beta(_t([2.0]), _t([3.0]))) is registered_crps()[Beta]

    class Shifted(Normal):
        pass

    d, y = Shifted(_t([0.0]), _t([1.0])), _t([0.5])
    assert torch.equal(crps(d, y, reduction="none"), crps_normal(y, 0.0, 1.0).reshape(1))

    class Halved(Normal):
        pass

    register_crps(Halved)(lambda d, y: 0.5 * crps_normal(y, d.loc, d.scale))
    assert torch.equal(crps(Halved(_t([0.0]), _t([1.0])), y, reduction="none"), 0.5 * crps_normal(y, 0.0, 1.0).reshape(1))


def test_not_implemented_falls_back_to_an_estimator():
    class Declines(Gumbel):
        pass

    register_crps(Declines)(lambda d, y: NotImplemented)
    d, y = Declines(_t([0.0]), _t([1.0])), _t([0.5])
    values, method = crps_values(d, y, 1000, 0)
    assert method == "quantile grid"
    # Gumbel CDF exp(-exp(-x)) (scipy.stats.gumbel_r); the grid's error at 1000 levels is ~1e-7
    assert float(values[0]) == pytest.approx(crps_by_quad(stats.gumbel_r.cdf, 0.5, -40.0, INF), abs=1e-5)  # F(-40) = exp(-e^40) = 0


def test_a_mixture_without_a_closed_form_uses_samples():
    d = MixtureSameFamily(Categorical(probs=_t([[0.3, 0.7]])), Beta(_t([[2.0, 8.0]]), _t([[5.0, 2.0]])))
    assert crps_formula(d) is registered_crps()[MixtureSameFamily]
    assert crps_values(d, _t([0.6]), 200, 0)[1] == "samples"


def test_attributes_alone_do_not_select_a_formula():
    # the formula follows the class, not attribute names: a law that merely has edges and probs is no histogram
    class LooksBinned(Gumbel):
        edges = _t([0.0, 0.5, 1.0])
        probs = _t([0.5, 0.5])

    assert crps_formula(LooksBinned(_t([0.0]), _t([1.0]))) is None and pit_formula(LooksBinned(_t([0.0]), _t([1.0]))) is None


def test_registration_errors_and_overwrite_warning():
    with pytest.raises(LosslabError, match=r"register_crps\(<class 'int'>\): expected a torch.distributions.Distribution subclass"):
        register_crps(int)
    with pytest.raises(LosslabError, match="expected a function"):
        register_pit(Normal)(3)

    class Twice(Normal):
        pass

    def first(d, y):
        return crps_normal(y, d.loc, d.scale)

    register_crps(Twice)(first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_crps(Twice)(first)  # the same function again: silent
    with pytest.warns(UserWarning, match="register_crps\\(Twice\\) replaces"):
        register_crps(Twice)(lambda d, y: crps_normal(y, d.loc, d.scale))
