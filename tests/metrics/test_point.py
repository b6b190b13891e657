"""Point metrics against scikit-learn, scipy and formulas written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats
from sklearn import metrics as skm

from losslab import LosslabError
from losslab.metrics import (
    auroc_score,
    bernoulli_kl,
    brier_loss,
    mean_absolute_error,
    mean_squared_error,
    spearman_score,
)

RNG = np.random.default_rng(0)
Y = RNG.uniform(size=50)
P = np.clip(Y + RNG.normal(scale=0.2, size=50), 0, 1)
W = RNG.integers(0, 4, size=50).astype(float)


def test_regression_errors_match_sklearn():
    assert mean_squared_error(Y, P) == pytest.approx(skm.mean_squared_error(Y, P), abs=1e-15)
    assert mean_absolute_error(Y, P) == pytest.approx(skm.mean_absolute_error(Y, P), abs=1e-15)
    assert mean_squared_error(Y, P, sample_weight=W) == pytest.approx(skm.mean_squared_error(Y, P, sample_weight=W), abs=1e-15)
    assert mean_absolute_error(Y, P, sample_weight=W) == pytest.approx(skm.mean_absolute_error(Y, P, sample_weight=W), abs=1e-15)
    y2, p2 = np.c_[Y, 2 * Y], np.c_[P, 1 - P]
    assert mean_squared_error(y2, p2) == pytest.approx(skm.mean_squared_error(y2, p2), abs=1e-15)  # uniform average


def test_brier_loss_is_the_squared_error_of_a_probability():
    assert brier_loss(Y, P) == pytest.approx(np.mean((Y - P) ** 2), abs=1e-15)
    yb = (Y > 0.5).astype(float)
    assert brier_loss(yb, P, sample_weight=W) == pytest.approx(skm.brier_score_loss(yb, P, sample_weight=W), abs=1e-15)


def test_bernoulli_kl_matches_scipy_rel_entr_and_is_bce_minus_entropy():
    p = np.clip(P, 0.01, 0.99)
    want = np.mean(special.rel_entr(Y, p) + special.rel_entr(1 - Y, 1 - p))  # scipy's x log(x/y)
    assert bernoulli_kl(Y, p) == pytest.approx(want, abs=1e-14)
    bce = -(Y * np.log(p) + (1 - Y) * np.log(1 - p))
    ent = -(special.xlogy(Y, Y) + special.xlogy(1 - Y, 1 - Y))
    assert bernoulli_kl(Y, p) == pytest.approx(np.mean(bce - ent), abs=1e-12)


def test_bernoulli_kl_is_zero_at_a_perfect_fit_and_non_negative():
    edges = np.r_[Y, 0.0, 1.0]
    assert bernoulli_kl(edges, edges) == 0.0
    for _ in range(20):
        y, p = RNG.uniform(size=30), RNG.uniform(size=30)
        assert bernoulli_kl(y, p) >= 0.0
    assert bernoulli_kl([0.5], [0.0]) == np.inf  # no clipping: a confident wrong prediction costs infinity


def test_spearman_matches_scipy_with_ties_and_weights_as_repeats():
    y = np.round(Y, 1)  # ties
    assert spearman_score(y, P) == pytest.approx(stats.spearmanr(y, P).statistic, abs=1e-12)
    w = W.astype(int)
    rep = np.repeat(np.arange(50), w)
    assert spearman_score(y, P, sample_weight=w) == pytest.approx(stats.spearmanr(y[rep], P[rep]).statistic, abs=1e-12)
    assert np.isnan(spearman_score(Y, np.ones_like(Y)))  # undefined for a constant prediction


def test_auroc_matches_sklearn_after_binarising():
    for t in (0.3, 0.5):
        yb = (Y > t).astype(int)
        assert auroc_score(Y, P, threshold=t) == pytest.approx(skm.roc_auc_score(yb, P), abs=1e-14)
        assert auroc_score(Y, np.round(P, 1), threshold=t, sample_weight=W) == pytest.approx(
            skm.roc_auc_score(yb, np.round(P, 1), sample_weight=W), abs=1e-14
        )
    # a label exactly at the threshold is negative, as in sklearn.preprocessing.Binarizer
    assert auroc_score([0.5, 0.9, 0.1], [0.9, 0.8, 0.1]) == pytest.approx(skm.roc_auc_score([0, 1, 0], [0.9, 0.8, 0.1]))


def test_auroc_with_one_class_names_y_true():
    with pytest.raises(LosslabError, match="y_true has no positive label"):
        auroc_score([0.1, 0.2], [0.3, 0.4])


def test_point_metrics_accept_torch_and_lists():
    assert mean_squared_error(torch.tensor(Y), torch.tensor(P, dtype=torch.float32)) == pytest.approx(
        np.mean((Y - P.astype(np.float32).astype(float)) ** 2), abs=1e-12
    )
    assert mean_absolute_error(list(Y), list(P)) == pytest.approx(skm.mean_absolute_error(Y, P))
    t = torch.tensor(P, requires_grad=True)  # no gradient is needed: inputs are detached
    assert isinstance(brier_loss(Y, t), float)
