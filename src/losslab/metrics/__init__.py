"""Metrics for float labels: point metrics, soft-label calibration and distributional scores.

* :mod:`~losslab.metrics.point` — ``f(y_true, y_pred, *, sample_weight=None) -> float``
  (``*_score`` higher-better, ``*_error``/``*_loss`` lower-better, as in scikit-learn);
* :mod:`~losslab.metrics.calibration` — reliability curves and ECE with float labels;
* :mod:`~losslab.metrics.scoring` — scores of a law's predictive distribution
  (log score, CRPS, PIT, interval coverage and width, energy score);
* :mod:`~losslab.metrics.crps` — the CRPS closed forms ``crps_<family>`` and estimators;
  :mod:`~losslab.metrics.registry` — which formula scores which distribution class
  (:func:`register_crps`, :func:`register_pit`, as torch's ``register_kl``);
* :mod:`~losslab.metrics.info` — what each metric is: direction, scale, what voids it;
* :func:`evaluate` — every metric that applies to a law, with reasons for the rest.

:data:`METRICS` lists every public metric by name; the test suite checks that each has a test.
The package imports neither matplotlib nor typer.
"""

from __future__ import annotations

from typing import Callable

from .calibration import ReliabilityCurve, bin_edges, calibration_error, reliability_curve
from .evaluate import EVALUATED_METRICS, evaluate, point_kind
from .point import (
    auroc_score,
    bernoulli_kl,
    brier_loss,
    mean_absolute_error,
    mean_squared_error,
    spearman_score,
)
from .registry import register_crps, register_pit
from .scoring import (
    CRPS_CLOSED_FORMS,
    beta_cdf,
    crps,
    crps_beta,
    crps_continuous_bernoulli,
    crps_discrete,
    crps_exponential,
    crps_histogram,
    crps_laplace,
    crps_logistic,
    crps_mixnorm,
    crps_normal,
    crps_quantile_grid,
    crps_sample,
    crps_t,
    crps_uniform,
    crps_zoib,
    energy_score,
    interval_coverage,
    interval_width,
    log_score,
    pit,
    pit_calibration_error,
    studentt_cdf,
)

#: point metrics: ``f(y_true, y_pred, *, sample_weight=None) -> float``
POINT_METRICS: dict[str, Callable] = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "brier_loss": brier_loss,
    "bernoulli_kl": bernoulli_kl,
    "spearman_score": spearman_score,
    "auroc_score": auroc_score,
}

#: soft-label calibration: ``f(y_true, y_pred, *, n_bins, strategy, sample_weight, ...)``
CALIBRATION_METRICS: dict[str, Callable] = {
    "reliability_curve": reliability_curve,
    "calibration_error": calibration_error,
}

#: scores of a predictive distribution: ``f(dist, y, ...)``
DISTRIBUTIONAL_METRICS: dict[str, Callable] = {
    "log_score": log_score,
    "crps": crps,
    "pit": pit,
    "pit_calibration_error": pit_calibration_error,
    "interval_coverage": interval_coverage,
    "interval_width": interval_width,
    "energy_score": energy_score,
}

#: every public metric by name (the completeness test iterates over this)
METRICS: dict[str, Callable] = {**POINT_METRICS, **CALIBRATION_METRICS, **DISTRIBUTIONAL_METRICS}

__all__ = [
    "METRICS",
    "POINT_METRICS",
    "CALIBRATION_METRICS",
    "DISTRIBUTIONAL_METRICS",
    "CRPS_CLOSED_FORMS",
    "EVALUATED_METRICS",
    "register_crps",
    "register_pit",
    "ReliabilityCurve",
    "evaluate",
    "point_kind",
    "bin_edges",
    "beta_cdf",
    "studentt_cdf",
    "mean_squared_error",
    "mean_absolute_error",
    "brier_loss",
    "bernoulli_kl",
    "spearman_score",
    "auroc_score",
    "reliability_curve",
    "calibration_error",
    "log_score",
    "crps",
    "pit",
    "pit_calibration_error",
    "interval_coverage",
    "interval_width",
    "energy_score",
    "crps_normal",
    "crps_laplace",
    "crps_logistic",
    "crps_exponential",
    "crps_uniform",
    "crps_beta",
    "crps_continuous_bernoulli",
    "crps_t",
    "crps_mixnorm",
    "crps_histogram",
    "crps_discrete",
    "crps_zoib",
    "crps_sample",
    "crps_quantile_grid",
]
