"""evaluate(law, params, y) over every law in the registry (a new law is tested automatically)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losslab as ll
from losslab.distributions import ZeroOneInflatedBeta
from losslab.metrics import EVALUATED_METRICS, crps, evaluate, log_score
from losslab.metrics.registry import register_crps, register_pit, registered_crps, registered_pit

from ._refs import ZeroOneInflatedBetaStandIn, crps_by_quad

# The stand-in is not a losslab class: like a law outside losslab, it registers the formulas it shares with
# losslab's ZeroOneInflatedBeta (the same functions each time, so registering from two test modules is silent).
register_crps(ZeroOneInflatedBetaStandIn)(registered_crps()[ZeroOneInflatedBeta])
register_pit(ZeroOneInflatedBetaStandIn)(registered_pit()[ZeroOneInflatedBeta])

T = torch.float64


def _setup(name, shape):
    """Raw outputs of moderate size, the law's parameters, labels drawn from the law itself, and trials."""
    law = ll.get_law(name)
    g = torch.Generator().manual_seed(abs(hash(name)) % 2**31)
    raw = 0.5 * torch.randn(*shape, law.raw_dim, generator=g, dtype=T)
    params = law.link(raw)
    trials = torch.full(shape, 5.0, dtype=T) if law.needs_trials else None
    dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
    torch.manual_seed(0)
    y = torch.rand(shape, generator=g, dtype=T) if name == "bernoulli" else dist.sample()
    return law, params, y, trials


@pytest.mark.parametrize("name", ll.list_laws())
def test_evaluate_reports_every_metric_or_a_reason(name):
    law, params, y, trials = _setup(name, (64,))
    res = evaluate(law, params, y, trials=trials, n_samples=200)
    assert set(EVALUATED_METRICS) <= set(res)
    for m in EVALUATED_METRICS:
        if res[m] is None:
            assert res["reasons"].get(m), (name, m)
        else:
            assert isinstance(res[m], float) and math.isfinite(res[m]), (name, m)
    # the log score is the law's own mean NLL
    assert res["log_score"] == pytest.approx(float(law.nll(params, y, trials=trials).mean()), rel=1e-12)
    if law.support_bounds[:2] == (0.0, 1.0) and law.event_dim == 0:
        for m in ("brier_loss", "bernoulli_kl", "calibration_error"):
            assert res[m] is not None, (name, m, res["reasons"].get(m))


def test_bernoulli_has_no_density_metrics_but_has_probability_metrics():
    law, params, y, _ = _setup("bernoulli", (64,))
    res = evaluate(law, params, y)
    for m in ("crps", "pit_calibration_error", "interval_coverage", "interval_width"):
        assert res[m] is None and "no density" in res["reasons"][m]
    assert res["brier_loss"] is not None and res["calibration_error"] is not None
    p = torch.sigmoid(params["logits"]).numpy()
    assert res["brier_loss"] == pytest.approx(np.mean((y.numpy() - p) ** 2), abs=1e-12)


def test_mvn_gets_the_energy_score_instead_of_the_crps():
    law, params, y, _ = _setup("mvn", (32,))
    res = evaluate(law, params, y, n_samples=200)
    assert res["crps"] is None and "multivariate" in res["reasons"]["crps"]
    assert res["energy_score"] is not None and res["energy_score"] > 0


def test_gaussian_crps_in_evaluate_matches_the_integral():
    law, params, y, _ = _setup("gaussian", (8,))
    res = evaluate(law, params, y)
    from scipy import stats

    loc = params["loc"].numpy()
    want = np.mean([crps_by_quad(stats.norm(m, 1.0).cdf, yi, -np.inf, np.inf) for m, yi in zip(loc, y.numpy())])
    assert res["crps"] == pytest.approx(want, abs=1e-9)
    assert res["methods"]["crps"] == "closed form"


@pytest.mark.parametrize("name", ["beta", "zoib", "binomial", "binned", "gaussian-hetero"])
def test_multi_output_labels_give_per_output_values_and_their_mean(name):
    law, params, y, trials = _setup(name, (48, 3))
    res = evaluate(law, params, y, trials=trials)
    per = res["per_output"]
    for m in ("log_score", "crps", "mean_squared_error", "interval_coverage"):
        assert len(per[m]) == 3
        assert res[m] == pytest.approx(float(np.mean(per[m])), rel=1e-12)
    law1, params1 = law, {k: v[:, 1] for k, v in params.items()}
    t1 = None if trials is None else trials[:, 1]
    d1 = law1.predictive(params1, trials=t1) if law1.needs_trials else law1.predictive(params1)
    assert per["crps"][1] == pytest.approx(float(crps(d1, y[:, 1])), rel=1e-9)
    assert per["log_score"][1] == pytest.approx(float(log_score(d1, y[:, 1])), rel=1e-9)


@pytest.mark.parametrize("name", ["bernoulli", "zoib", "gaussian-hetero"])
def test_per_output_point_metrics_equal_the_public_metrics_on_each_output(name):
    # evaluate checks its arrays once and calls the metrics' unchecked kernels per output: the values must be
    # exactly those of calling each public metric on one output's columns.
    from losslab import metrics as M

    law, params, y, trials = _setup(name, (48, 3))
    res = evaluate(law, params, y, trials=trials)
    yn = y.numpy().astype(np.float64)
    mn = law.point(params, "mean").numpy().astype(np.float64)
    public = {
        "mean_squared_error": M.mean_squared_error,
        "mean_absolute_error": M.mean_absolute_error,
        "spearman_score": M.spearman_score,
    }
    if res["brier_loss"] is not None:
        public.update(brier_loss=M.brier_loss, bernoulli_kl=M.bernoulli_kl, calibration_error=M.calibration_error, auroc_score=M.auroc_score)
    for metric, fn in public.items():
        want = [fn(yn[:, j], mn[:, j]) for j in range(3)]
        if metric == "bernoulli_kl" and hasattr(law, "_mean_logits"):
            # evaluate computes it from the mean's logit (finite where sigmoid rounds to 0 or 1): equal up to rounding
            assert res["per_output"][metric] == pytest.approx(want, rel=1e-12, abs=1e-15), metric
            continue
        assert res["per_output"][metric] == want, metric
    assert (res["brier_loss"] is not None) == (name != "gaussian-hetero")


def test_real_zoib_class_agrees_with_the_stand_in():
    from losslab.distributions import ZeroOneInflatedBeta

    from ._refs import ZeroOneInflatedBetaStandIn

    d = ZeroOneInflatedBeta(torch.tensor([0.3, -1.0], dtype=T), torch.tensor([-0.5, 0.2], dtype=T), torch.tensor([2.0, 0.7], dtype=T), torch.tensor([1.5, 3.0], dtype=T))
    s = ZeroOneInflatedBetaStandIn(d.p0, d.p1, d.beta.concentration1, d.beta.concentration0)
    y = torch.tensor([0.0, 0.4], dtype=T)
    assert torch.allclose(crps(d, y, reduction="none"), crps(s, y, reduction="none"), atol=1e-14)


def _edge_labels(law, dt):
    low, high = law.support_bounds[:2]
    if (low, high) == (0.0, 1.0):
        y = torch.tensor([0.0, 0.2, 0.6, 1.0], dtype=dt)
        return y.clamp(1e-3, 1 - 1e-3) if law.support == "unit_interval" else y
    if low == 0.0:
        return torch.tensor([0.0, 0.2, 3.0, 50.0], dtype=dt)
    return torch.tensor([0.0, 0.2, 3.0, -2.0], dtype=dt)


@pytest.mark.parametrize("dt", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", [n for n in ll.list_laws() if n not in ("bernoulli", "mvn")])
def test_crps_as_a_loss_is_finite_at_extreme_raw_outputs(name, dt):
    law = ll.get_law(name)
    for v in (-1e4, 0.0, 1e4):
        raw = torch.full((4, law.raw_dim), v, dtype=dt, requires_grad=True)
        params = law.link(raw)
        trials = torch.full((4,), 5.0, dtype=dt) if law.needs_trials else None
        dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
        c = crps(dist, _edge_labels(law, dt), reduction="none")
        if name == "exponential" and v < 0:
            # softplus(-1e4) underflows the rate to 0: the law's mean is infinite and so is its CRPS
            assert bool((c == math.inf).all())
            continue
        assert bool(torch.isfinite(c).all()), (name, v, c)
        if c.requires_grad:
            (g,) = torch.autograd.grad(c.sum(), raw)
            assert bool(torch.isfinite(g).all()), (name, v)
