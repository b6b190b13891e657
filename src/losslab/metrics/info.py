"""What each metric is, in one table: its direction, its scale, what can void it, and where it applies.

The statistics (which way is better), the evaluation (which metrics it computes, which are a mean of
row terms, which need a scalar law or probabilities) and the report (which numbers a fixed spread
voids, which are on a law's own likelihood scale) all read this table, so a fact about a metric is
written once. A metric added to :func:`losslab.metrics.evaluate` without a row here fails
``tests/metrics/test_info.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .._errors import LosslabError

__all__ = ["MetricInfo", "METRICS", "info", "higher_is_better", "ranked", "names"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    direction: str  # "lower" or "higher" is better, or "none": not ranked (a coverage is good near its nominal level)
    likelihood: bool = False  # on the scale of each law's own likelihood: comparable only between laws of one kind
    spread: bool = False  # scores the predictive law's spread, so a spread fixed by an option (not fitted) voids it
    per_row: bool = False  # a mean of one term per row (averaged over outputs): a bootstrap may resample the terms
    evaluated: bool = False  # computed on the test rows by metrics.evaluate (else recorded by the trainer, or user-supplied)
    applies_to: str = "any"  # the laws evaluate computes it for: "any", "scalar" (a density over a scalar label),
    # "multivariate" (event_dim > 0), or "probabilities" (labels and the law's mean in [0, 1])
    summary: str = ""  # one line for tables and help

    def __post_init__(self) -> None:
        # a typo in a row would otherwise read as "not ranked" or "applies to nothing" without a word
        if self.direction not in _DIRECTIONS:
            raise LosslabError(f"metric {self.name!r}: direction={self.direction!r}; expected one of {', '.join(_DIRECTIONS)}")
        if self.applies_to not in _APPLIES_TO:
            raise LosslabError(f"metric {self.name!r}: applies_to={self.applies_to!r}; expected one of {', '.join(_APPLIES_TO)}")


_DIRECTIONS = ("lower", "higher", "none")
_APPLIES_TO = ("any", "scalar", "multivariate", "probabilities")

_TABLE = (
    MetricInfo("log_score", "lower", likelihood=True, spread=True, per_row=True, evaluated=True, summary="mean negative log-likelihood on the test rows"),
    MetricInfo("val_nll", "lower", likelihood=True, spread=True, summary="best mean validation NLL (early stopping's criterion)"),
    MetricInfo("crps", "lower", spread=True, per_row=True, evaluated=True, applies_to="scalar", summary="continuous ranked probability score"),
    MetricInfo("energy_score", "lower", spread=True, per_row=True, evaluated=True, applies_to="multivariate", summary="energy score (multivariate CRPS)"),
    MetricInfo("pit_calibration_error", "lower", spread=True, evaluated=True, applies_to="scalar", summary="L1 distance of the PIT histogram from uniform"),
    MetricInfo("interval_coverage", "none", spread=True, evaluated=True, applies_to="scalar", summary="share of labels inside the central prediction interval"),
    MetricInfo("interval_width", "none", spread=True, evaluated=True, applies_to="scalar", summary="mean width of the central prediction interval"),
    MetricInfo("mean_squared_error", "lower", per_row=True, evaluated=True, summary="mean squared error of the point prediction"),
    MetricInfo("mean_absolute_error", "lower", per_row=True, evaluated=True, summary="mean absolute error of the point prediction"),
    MetricInfo("brier_loss", "lower", per_row=True, evaluated=True, applies_to="probabilities", summary="Brier loss (the squared error of a probability)"),
    MetricInfo("bernoulli_kl", "lower", per_row=True, evaluated=True, applies_to="probabilities", summary="KL(y || p) = soft BCE - H(y)"),
    MetricInfo("spearman_score", "higher", evaluated=True, summary="Spearman rank correlation of prediction and label"),
    MetricInfo("auroc_score", "higher", evaluated=True, applies_to="probabilities", summary="AUROC of the labels binarised at the threshold"),
    MetricInfo("r2_score", "higher", summary="coefficient of determination"),
    MetricInfo("calibration_error", "lower", evaluated=True, applies_to="probabilities", summary="soft-label expected calibration error (L1)"),
    MetricInfo("seconds", "none", summary="training and evaluation time of a run"),
    MetricInfo("epochs", "none", summary="epochs trained"),
)

#: name -> :class:`MetricInfo` of every metric losslab reports
METRICS: dict[str, MetricInfo] = {m.name: m for m in _TABLE}


def info(metric: str) -> MetricInfo:
    """The table's row for ``metric``; an unknown name follows scikit-learn's convention.

    ``*_score`` is higher-better and anything else (``*_error``, ``*_loss``) lower-better.

    >>> info("crps").direction, info("my_score").direction, info("my_loss").direction
    ('lower', 'higher', 'lower')
    """
    if metric in METRICS:
        return METRICS[metric]
    return MetricInfo(metric, "higher" if metric.endswith("_score") else "lower")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (the proper scores ``log_score`` and ``energy_score`` are lower-better).

    >>> higher_is_better("spearman_score"), higher_is_better("log_score"), higher_is_better("crps")
    (True, False, False)
    """
    return info(metric).direction == "higher"


def ranked(metric: str) -> bool:
    """Whether laws can be ranked by ``metric`` (not a coverage, a width, a time or an epoch count).

    >>> ranked("crps"), ranked("interval_coverage")
    (True, False)
    """
    return info(metric).direction != "none"


def names(**flags: object) -> tuple[str, ...]:
    """The metrics whose table fields equal ``flags``, in table order.

    >>> names(spread=True, likelihood=True)
    ('log_score', 'val_nll')
    >>> names(applies_to="probabilities")
    ('brier_loss', 'bernoulli_kl', 'auroc_score', 'calibration_error')
    """
    known = tuple(f.name for f in fields(MetricInfo) if f.name not in ("name", "summary"))
    for key in flags:
        if key not in known:
            raise LosslabError(f"names({key}=...): {key!r} is not a field of the metric table; expected one of {', '.join(known)}")
    return tuple(m.name for m in _TABLE if all(getattr(m, k) == v for k, v in flags.items()))
