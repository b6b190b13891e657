"""The metric table (losslab.metrics.info): complete, honest about where each metric applies, and the one source.

The completeness tests run ``evaluate`` on every registered law and fail when it returns a metric the
table does not know (a new metric cannot be forgotten); the constant tests pin the names derived from
the table to the literal values they had before the table owned them (issue 22), so that deriving them
changed no statistic, recommendation or report.
"""

from __future__ import annotations

import pytest
import torch

import losslab as ll
from losslab import LosslabError
from losslab.metrics import info as I
from losslab.metrics.evaluate import EVALUATED_METRICS, ROW_METRICS, evaluate

T = torch.float64
#: the keys of evaluate's result that are not metrics (its reasons, methods, point kind, per-output and per-row parts)
NOT_METRICS = {"reasons", "methods", "point", "per_output", "per_row"}


def _evaluate(name, shape):
    law = ll.get_law(name)
    g = torch.Generator().manual_seed(len(name))
    params = law.link(0.5 * torch.randn(*shape, law.raw_dim, generator=g, dtype=T))
    trials = torch.full(shape, 5.0, dtype=T) if law.needs_trials else None
    dist = law.predictive(params, trials=trials) if law.needs_trials else law.predictive(params)
    torch.manual_seed(0)
    y = torch.rand(shape, generator=g, dtype=T) if name == "bernoulli" else dist.sample()
    return law, evaluate(law, params, y, trials=trials, n_samples=100, per_row=True)


def _cases():
    for name in ll.list_laws():
        yield name, (40,)
        if ll.get_law(name).event_dim == 0:
            yield name, (20, 3)


@pytest.mark.parametrize("name, shape", list(_cases()), ids=lambda c: str(c))
def test_every_metric_evaluate_returns_has_a_row_in_the_table(name, shape):
    law, res = _evaluate(name, shape)
    metrics = set(res) - NOT_METRICS
    assert metrics <= set(I.METRICS), metrics - set(I.METRICS)
    assert metrics == set(I.names(evaluated=True))
    assert set(res["reasons"]) <= metrics and set(res.get("per_output", {})) <= metrics
    # per_row: exactly the table's row-mean metrics that were computed
    assert set(res["per_row"]) == {m for m in I.names(per_row=True) if res.get(m) is not None}
    # applies_to: the metrics for another kind of law are None, with a reason
    other = "scalar" if law.event_dim > 0 else "multivariate"
    for m in I.names(applies_to=other):
        assert res[m] is None and res["reasons"][m], (name, m)
    for m in I.names(applies_to="any", evaluated=True):
        assert m in res["reasons"] or res[m] is not None, (name, m)


def test_evaluate_refuses_a_law_outside_the_probability_metrics_with_one_reason_for_each():
    # gaussian means leave [0, 1]: every metric that needs probabilities is None, for that reason
    _, res = _evaluate("gaussian", (40,))
    wanted = I.names(applies_to="probabilities")
    assert wanted and all(res[m] is None and "[0, 1]" in res["reasons"][m] for m in wanted)


def test_every_public_numeric_metric_has_a_row():
    # pit returns one value per label and reliability_curve a curve: neither is one number to rank
    public = set(ll.metrics.METRICS) - {"pit", "reliability_curve"}
    assert public <= set(I.METRICS), public - set(I.METRICS)


def _old_higher_is_better(metric):
    # experiment/stats.py's function before the table existed, verbatim
    if metric in {"log_score", "energy_score", "val_nll"}:
        return False
    return metric in {"spearman_score", "auroc_score", "r2_score"} or metric.endswith("_score")


def test_derived_constants_equal_their_values_before_the_table():
    from losslab.experiment import stats
    from losslab.report import write

    # the literal definitions these names had before issue 22 (experiment/stats.py, metrics/evaluate.py, report/write.py)
    assert stats.HIGHER_IS_BETTER == {"spearman_score", "auroc_score", "r2_score"}
    assert stats.LOWER_IS_BETTER == {"log_score", "energy_score", "val_nll"}
    assert stats.NOT_RANKED == {"interval_coverage", "interval_width", "seconds", "epochs"}
    assert EVALUATED_METRICS == (
        "log_score", "crps", "energy_score", "pit_calibration_error", "interval_coverage", "interval_width",
        "mean_squared_error", "mean_absolute_error", "brier_loss", "bernoulli_kl", "spearman_score",
        "auroc_score", "calibration_error",
    )
    assert ROW_METRICS == ("log_score", "crps", "energy_score", "mean_squared_error", "mean_absolute_error", "brier_loss", "bernoulli_kl")
    assert write.LIKELIHOOD_METRICS == ("log_score", "val_nll")
    assert write.SPREAD_METRICS == ("log_score", "crps", "energy_score", "pit_calibration_error", "interval_coverage", "interval_width")
    assert I.names(applies_to="probabilities") == ("brier_loss", "bernoulli_kl", "auroc_score", "calibration_error")
    assert I.names(applies_to="scalar") == ("crps", "pit_calibration_error", "interval_coverage", "interval_width")


@pytest.mark.parametrize("metric", [*I.METRICS, "my_score", "my_loss", "my_error", "accuracy", "x_score_y"])
def test_higher_is_better_is_unchanged(metric):
    from losslab.experiment.stats import higher_is_better

    assert higher_is_better(metric) is _old_higher_is_better(metric)
    assert higher_is_better is I.higher_is_better  # one function, not a copy that could drift


def test_a_bad_row_or_flag_is_a_one_line_error():
    with pytest.raises(LosslabError, match="direction='up'; expected one of lower, higher, none"):
        I.MetricInfo("m", "up")
    with pytest.raises(LosslabError, match="applies_to='counts'"):
        I.MetricInfo("m", "lower", applies_to="counts")
    with pytest.raises(LosslabError, match="'per_rows' is not a field"):
        I.names(per_rows=True)
