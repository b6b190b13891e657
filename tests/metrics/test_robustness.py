"""Regression tests of issue 21's metric defects (items 6, 8, 12): options checked once, by one checker, everywhere.

``evaluate(level=1.5)`` returned None for CRPS, PIT and the intervals (the error became a "reason");
``evaluate(n_samples=0)`` gave a NaN CRPS for the logit-normal law and ``n_samples=-5`` gave 0.0; the
public metrics had the same gaps one by one. Every public metric with a ``level``, ``n_bins``,
``threshold``, ``n_samples`` or ``seed`` argument now passes it through
:func:`losslab.metrics._checks.check_options`; the completeness test below fails for a metric that does not.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

import losslab as ll
from losslab.metrics import METRICS

F64 = torch.float64
BAD = {
    "level": [1.5, 0.0, 1.0, math.nan, "0.9", None, True],
    "n_bins": [0, 2.5, True, "10", -1],
    "threshold": [math.nan, math.inf, "0.5", None],
    "n_samples": [0, 1, -5, 2.5, True, "100"],
    "seed": [-1, 1.5, "0", True],
}
OPTIONS = tuple(BAD)


def _setup():
    law = ll.get_law("logit-normal")
    params = law.link(torch.tensor([[0.0, 0.5], [1.0, -0.5], [-1.0, 0.0], [0.5, 0.2]], dtype=F64))
    y = torch.tensor([0.3, 0.7, 0.2, 0.6], dtype=F64)
    return law, params, y


@pytest.mark.parametrize("option, bad", [(o, v) for o in OPTIONS for v in BAD[o] if v is not None])
def test_evaluate_refuses_bad_options(option, bad):
    law, params, y = _setup()
    with pytest.raises(ll.LosslabError) as info:
        ll.metrics.evaluate(law, params, y, **{option: bad})
    msg = str(info.value)
    assert "\n" not in msg and f"{option}=" in msg


def test_evaluate_reads_numpy_integers():
    law, params, y = _setup()
    a = ll.metrics.evaluate(law, params, y, n_samples=np.int64(500), n_bins=np.int32(5), seed=np.int64(3))
    b = ll.metrics.evaluate(law, params, y, n_samples=500, n_bins=5, seed=3)
    assert a["crps"] == b["crps"] and a["calibration_error"] == b["calibration_error"]
    assert a["crps"] is not None and math.isfinite(a["crps"])


def _call(name, fn, **opt):
    """``fn`` on valid data with the option ``opt``."""
    if name in ll.metrics.POINT_METRICS or name in ll.metrics.CALIBRATION_METRICS:
        return fn([0.1, 0.4, 0.8, 0.9], [0.2, 0.3, 0.7, 0.6], **opt)
    if name == "energy_score":
        law = ll.get_law("mvn")
        return fn(law.predictive(law.link(torch.zeros(4, law.raw_dim, dtype=F64))), torch.zeros(4, 2, dtype=F64), **opt)
    law = ll.get_law("gaussian")
    return fn(law.predictive(law.link(torch.zeros(4, 1, dtype=F64))), torch.tensor([0.1, -0.2, 0.3, 1.0], dtype=F64), **opt)


METRIC_OPTIONS = [(name, o) for name, fn in METRICS.items() for o in OPTIONS if o in inspect.signature(fn).parameters]


def test_the_option_metrics_are_the_expected_ones():
    # So that the parametrised test below cannot pass by testing nothing.
    names = {n for n, _ in METRIC_OPTIONS}
    assert {"crps", "pit", "interval_coverage", "interval_width", "energy_score", "auroc_score",
            "calibration_error", "reliability_curve"} <= names


@pytest.mark.parametrize("name, option", METRIC_OPTIONS, ids=[f"{n}-{o}" for n, o in METRIC_OPTIONS])
def test_every_public_metric_checks_its_options(name, option):
    fn = METRICS[name]
    for bad in BAD[option]:
        if bad is None:
            continue
        with pytest.raises(ll.LosslabError) as info:
            _call(name, fn, **{option: bad})
        assert f"{option}=" in str(info.value), (name, bad)


def test_crps_of_the_logit_normal_law_refuses_too_few_levels():
    # Item 6: the quantile grid with 0 levels was 0/0 (NaN) and with -5 levels an empty sum (0.0).
    law, params, y = _setup()
    dist = law.predictive(params)
    for n in (0, -5):
        with pytest.raises(ll.LosslabError, match=f"n_samples={n}"):
            ll.metrics.crps(dist, y, n_samples=n)
    assert math.isfinite(float(ll.metrics.crps(dist, y, n_samples=2)))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_evaluate_bernoulli_kl_of_a_saturated_beta_mean(dtype):
    # Item 8's class: beta's mean logit is clamped at 30, whose sigmoid rounds to 1.0 in float32; KL(y || mean)
    # from the rounded mean is inf at y < 1. Reference: the closed form y log(y/p) + (1-y) log((1-y)/(1-p))
    # with p = sigmoid(30), 1 - p = sigmoid(-30) = 9.357622968839299e-14, computed here in float64.
    law = ll.get_law("beta")
    params = law.link(torch.tensor([[30.0, 2.0], [-30.0, 2.0], [0.0, 1.0]], dtype=dtype))
    y = torch.tensor([0.5, 0.5, 0.25], dtype=dtype)
    got = ll.metrics.evaluate(law, params, y)["bernoulli_kl"]
    p = 1 / (1 + np.exp(-np.array([30.0, -30.0, 0.0])))
    q = 1 / (1 + np.exp(np.array([30.0, -30.0, 0.0])))  # 1 - p without cancellation
    yy = np.array([0.5, 0.5, 0.25])
    ref = np.mean(yy * np.log(yy / p) + (1 - yy) * np.log((1 - yy) / q))
    assert got == pytest.approx(ref, rel=1e-5)


def test_evaluate_bernoulli_kl_matches_the_probability_metric_where_both_are_finite():
    # Away from saturation the logit form and the metric on the mean agree (they are the same KL).
    law = ll.get_law("bernoulli")
    params = law.link(torch.tensor([[0.3], [-2.0], [1.5]], dtype=F64))
    y = torch.tensor([0.2, 0.7, 1.0], dtype=F64)
    res = ll.metrics.evaluate(law, params, y, per_row=True)
    assert res["bernoulli_kl"] == pytest.approx(ll.metrics.bernoulli_kl(y, torch.sigmoid(params["logits"])), rel=1e-12)
    assert float(res["per_row"]["bernoulli_kl"].mean()) == pytest.approx(res["bernoulli_kl"], rel=1e-12)
