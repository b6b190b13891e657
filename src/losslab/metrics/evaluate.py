"""``evaluate(law, params, y)``: every metric that applies to a law, and why the others do not."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._errors import LosslabError
from . import point as _point
from ._checks import check_options, check_pair
from .calibration import calibration_error_unchecked
from .info import names as metric_names
from .scoring import central_interval, crps_values, energy_score, pit_values, uniform_distance

__all__ = ["evaluate", "EVALUATED_METRICS"]

#: the keys of :func:`evaluate`'s result that hold a metric (float or None): the rows of
#: :mod:`losslab.metrics.info` marked ``evaluated``
EVALUATED_METRICS: tuple[str, ...] = metric_names(evaluated=True)

#: the metrics that are a mean of one term per row (averaged over outputs); the others (the rank and
#: calibration metrics, the interval's coverage and width) are not, so a bootstrap over test rows must
#: recompute them, not average row terms
ROW_METRICS: tuple[str, ...] = metric_names(evaluated=True, per_row=True)

_PROBABILITY_METRICS = metric_names(evaluated=True, applies_to="probabilities")
_DENSITY_METRICS = metric_names(evaluated=True, applies_to="scalar")


def _columns(x: np.ndarray) -> list[np.ndarray]:
    """One contiguous 1-d array per output (the arrays a metric gets when called on one output)."""
    return [x] if x.ndim == 1 else list(np.ascontiguousarray(x.T))


def _bernoulli_kl_terms(y: np.ndarray, logits: np.ndarray) -> np.ndarray:
    r"""``KL(y || sigmoid(x))`` per element from the logits: :math:`y\log y + (1-y)\log(1-y) + y\,\mathrm{softplus}(-x)
    + (1-y)\,\mathrm{softplus}(x)`, finite wherever ``x`` is (``-log sigmoid(x)`` is ``softplus(-x)``)."""
    return (_point.xlogy(y, y) + _point.xlogy(1 - y, 1 - y)) + (y * np.logaddexp(0.0, -logits) + (1 - y) * np.logaddexp(0.0, logits))


def point_kind(law: Any) -> str:
    """The point prediction a law is scored on: its mean, or its median where it has no mean.

    >>> from losslab import get_law
    >>> point_kind(get_law("student-t", df=1.0)), point_kind(get_law("gaussian"))
    ('median', 'mean')
    """
    return "mean" if "mean" in law.point_kinds else "median"


def evaluate(
    law: Any,
    params: dict[str, torch.Tensor],
    y: Any,
    *,
    trials: Any = None,
    level: float = 0.9,
    n_bins: int = 15,
    threshold: float = 0.5,
    n_samples: int = 1000,
    seed: int = 0,
    point: str | None = None,
    per_row: bool = False,
) -> dict[str, Any]:
    """Every metric of :data:`EVALUATED_METRICS` that applies to ``law``, with a reason for each that does not.

    * ``log_score`` — mean NLL (``law.nll``; for ``bernoulli`` the soft BCE);
    * ``crps``, ``pit_calibration_error`` (``l1``), ``interval_coverage``, ``interval_width``
      (central ``level`` interval) — scalar laws with a distribution over the label
      (not ``bernoulli``, whose soft-label "likelihood" has no density over [0, 1]);
    * ``energy_score`` — multivariate laws (``mvn``);
    * point metrics on the law's mean: ``mean_squared_error``, ``mean_absolute_error``,
      ``spearman_score`` always; ``brier_loss``, ``bernoulli_kl``, ``calibration_error``
      (soft-label ECE, ``l1``, ``n_bins`` uniform bins) and ``auroc_score`` (labels
      binarised at ``threshold``) when the labels and the law's mean lie in [0, 1] —
      always so for laws whose support is within [0, 1], and also, for example, for
      ``sigmoid-mse``, whose mean is a sigmoid.

    Args:
        law: a :class:`~losslab.laws.Law`.
        params: ``law.link(raw)``, batch shape ``(N,)`` or ``(N, T)`` (``T`` outputs).
        y: labels, the shape the law expects (``(N,)``, ``(N, T)``, or ``(N, d)`` for ``mvn``).
        trials: the number of trials per label, for laws that need it.
        level: nominal level of the prediction interval.
        n_bins: bins of the calibration error.
        threshold: binarisation threshold of the AUROC.
        n_samples, seed: for the estimators that draw (see :func:`~losslab.metrics.crps`).
        point: the point prediction the point metrics score (a kind of ``law.point_kinds``); by
            default the law's mean, or its median where the law has no mean (a Student-t with
            ``df <= 1``, such as the Cauchy law).
        per_row: also return each row's term of the metrics that are a mean over rows
            (:data:`ROW_METRICS`), averaged over the outputs, so that their mean over rows is the
            metric: the input of a bootstrap over test rows.

    Returns:
        ``{metric: float or None, ..., "point": the point kind scored, "reasons": {metric: why None}, "methods": {"crps": ...}}``;
        with 2-d labels also ``"per_output": {metric: [float or None per output]}`` (the top-level
        value is the mean over outputs; for ``mvn`` only the point metrics are per output); with
        ``per_row`` also ``"per_row": {metric: (N,) float64 array}`` for each metric of
        :data:`ROW_METRICS` that is not None.
    """
    opts = check_options(level=level, n_bins=n_bins, threshold=threshold, n_samples=n_samples, seed=seed)
    level, n_bins, threshold, n_samples, seed = (opts[k] for k in ("level", "n_bins", "threshold", "n_samples", "seed"))
    with torch.no_grad():
        nll = law.nll(params, y, trials=trials)  # the law validates shapes, support and trials here
        ref = nll
        yt = torch.as_tensor(y).to(dtype=ref.dtype, device=ref.device) if not torch.is_tensor(y) else y.to(ref)
        tr = None if trials is None else torch.as_tensor(trials, dtype=ref.dtype, device=ref.device)
        dist = law.predictive(params, trials=tr) if law.needs_trials else law.predictive(params)
        point = point_kind(law) if point is None else point
        mean = law.point(params, point)
        # the mean's logit where the law holds it (bernoulli, binomial, beta, beta-binomial): the KL of a mean that
        # rounds to 1 (sigmoid(1e4) in float32) from a label 0 is inf, but from the logit it is 1e4, as law.excess says
        mean_logits = law._mean_logits(params) if point == "mean" and hasattr(law, "_mean_logits") else None

    out: dict[str, Any] = {name: None for name in EVALUATED_METRICS}
    reasons: dict[str, str] = {}
    methods: dict[str, str] = {}
    multivariate = law.event_dim > 0
    y_np = yt.detach().cpu().numpy().astype(np.float64)
    m_np = mean.detach().cpu().numpy().astype(np.float64)
    n_out = 1 if y_np.ndim == 1 else y_np.shape[1]
    per: dict[str, list[float | None]] = {}
    rows: dict[str, np.ndarray] = {}  # metric -> (N,) row terms, with per_row

    def put(name: str, values: list[float | None], why: str | None = None) -> None:
        per[name] = values
        ok = [v for v in values if v is not None]
        if ok and len(ok) == len(values):
            out[name] = float(np.mean(ok))
        else:
            reasons[name] = why or "undefined for at least one output"

    def per_element(values: torch.Tensor, name: str | None = None) -> list[float | None]:
        v = values.detach().cpu().numpy().astype(np.float64) if torch.is_tensor(values) else values
        if per_row and name is not None:
            rows[name] = v.reshape(v.shape[0], -1).mean(axis=1)
        return [float(c.mean()) for c in _columns(v)] if not multivariate else [float(v.mean())]

    # ---- log score
    put("log_score", per_element(nll, "log_score"))

    # ---- scores of a density over the label
    if multivariate:
        for name in _DENSITY_METRICS:
            reasons[name] = f"{law.name} is multivariate (event_dim={law.event_dim}); CRPS, PIT and intervals are for scalar laws"
        with torch.no_grad():
            es = energy_score(dist, yt, reduction="none", n_samples=n_samples, seed=seed)
        put("energy_score", [float(es.mean())])
        if per_row:
            rows["energy_score"] = es.detach().cpu().numpy().astype(np.float64).reshape(len(es), -1).mean(axis=1)
    else:
        reasons["energy_score"] = "scalar law: the energy score equals the CRPS (see crps)"
        try:
            with torch.no_grad():
                c, methods["crps"] = crps_values(dist, yt, n_samples, seed)
                u = pit_values(dist, yt, seed)
                lo, hi = central_interval(dist, level, yt, n_samples, seed)
            put("crps", per_element(c, "crps"))
            u_np = u.cpu().numpy().astype(np.float64)
            put("pit_calibration_error", [uniform_distance(col, "l1") for col in _columns(u_np)])
            put("interval_coverage", per_element(((yt >= lo) & (yt <= hi)).to(torch.float64)))
            put("interval_width", per_element((hi - lo).expand(yt.shape)))
        except LosslabError as exc:
            for name in _DENSITY_METRICS:
                reasons[name] = str(exc)

    # ---- point metrics on the mean, per output: checked once here, then each output's arrays go to the
    # metrics' unchecked kernels (the same arithmetic as calling each metric on one output, without
    # converting and checking every output again: with 32 outputs x 7 metrics that took about 30 ms a run).
    check_pair(y_np, m_np)
    if per_row:
        per_element((y_np - m_np) ** 2, "mean_squared_error")
        per_element(np.abs(y_np - m_np), "mean_absolute_error")
    yc, mc = _columns(y_np), _columns(m_np)
    put("mean_squared_error", [_point.mse_unchecked(a, b, None) for a, b in zip(yc, mc)])
    put("mean_absolute_error", [_point.mae_unchecked(a, b, None) for a, b in zip(yc, mc)])
    rhos = [_point.spearman_unchecked(a, b, None) for a, b in zip(yc, mc)]
    put("spearman_score", [None if math.isnan(r) else r for r in rhos], "labels or mean predictions are constant")

    lab_ok = bool(((y_np >= 0) & (y_np <= 1)).all())
    mean_ok = bool(((m_np >= 0) & (m_np <= 1)).all())
    if not (lab_ok and mean_ok):
        what = "labels" if not lab_ok else f"{law.name}'s mean"
        arr = y_np if not lab_ok else m_np
        why = f"{what} leave [0, 1] (range {arr.min():.3g} to {arr.max():.3g}); the metric needs probabilities"
        for name in _PROBABILITY_METRICS:
            reasons[name] = why
    else:
        put("brier_loss", [_point.mse_unchecked(a, b, None) for a, b in zip(yc, mc)])
        if mean_logits is not None:
            kl = _bernoulli_kl_terms(y_np, mean_logits.detach().cpu().numpy().astype(np.float64))
            put("bernoulli_kl", [max(float(c.mean()), 0.0) for c in _columns(kl)])
        else:
            put("bernoulli_kl", [_point.bernoulli_kl_unchecked(a, b, None) for a, b in zip(yc, mc)])
        if per_row:
            rows["brier_loss"] = rows["mean_squared_error"]
            x = _point.xlogy
            if mean_logits is not None:
                per_element(kl, "bernoulli_kl")
            else:
                per_element((x(y_np, y_np) - x(y_np, m_np)) + (x(1 - y_np, 1 - y_np) - x(1 - y_np, 1 - m_np)), "bernoulli_kl")
        put("calibration_error", [calibration_error_unchecked(a, b, np.ones_like(a), n_bins, "l1", "uniform", False) for a, b in zip(yc, mc)])
        aucs: list[float | None] = []
        for a, b in zip(yc, mc):
            try:
                aucs.append(_point.auroc_unchecked(a, b, threshold, None))
            except LosslabError:
                aucs.append(None)
        put("auroc_score", aucs, f"labels fall on one side of threshold={threshold:g} (in at least one output)")

    result: dict[str, Any] = dict(out)
    result["reasons"] = reasons
    result["methods"] = methods
    result["point"] = point
    if y_np.ndim == 2:
        result["per_output"] = {k: v for k, v in per.items() if len(v) == n_out}
    if per_row:
        result["per_row"] = {k: v for k, v in rows.items() if out.get(k) is not None}
    return result
