r"""Distributional scores of a law's predictive distribution against float labels.

Every function here takes a ``torch.distributions.Distribution`` (from
``law.predictive(params)``) and labels ``y`` whose shape equals the
distribution's ``batch_shape + event_shape`` exactly (no broadcasting).
Torch labels give torch results (``crps`` and ``log_score`` keep the autograd
graph, so they can serve as training losses); numpy labels give floats or
numpy arrays.

:func:`crps` takes the closed form registered for the distribution's class
(:mod:`losslab.metrics.registry`, formulas in :mod:`losslab.metrics.crps`,
re-exported here) and falls back to documented estimators for the others;
:func:`pit` randomises within atoms and bins the same way. The CDFs and quantile
functions behind the PIT and the intervals are :func:`losslab.distributions.distribution_cdf`
and :func:`~losslab.distributions.distribution_icdf`, shared with the laws' ``quantile``
and ``interval``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.distributions import Bernoulli, Distribution, MixtureSameFamily, constraints

from .._errors import LosslabError, shape_str
from ..distributions import beta_cdf as _beta_cdf
from ..distributions import bisect_icdf, distribution_cdf, distribution_icdf
from ..distributions import studentt_cdf as _studentt_cdf
from ._checks import check_array, check_choice, checked_options, label_tensors
from .crps import (  # noqa: F401  the closed forms, importable from here as before the split
    CRPS_CLOSED_FORMS,
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
)
from .registry import crps_formula, pit_formula

__all__ = [
    "crps", "log_score", "pit", "pit_calibration_error", "interval_coverage", "interval_width", "energy_score",
    "beta_cdf", "studentt_cdf",
    # the closed forms and estimators of losslab.metrics.crps, importable from here as before the split
    "crps_normal", "crps_laplace", "crps_logistic", "crps_exponential", "crps_uniform", "crps_beta", "crps_t",
    "crps_mixnorm", "crps_histogram", "crps_discrete", "crps_zoib", "crps_sample", "crps_quantile_grid", "CRPS_CLOSED_FORMS",
]


# ------------------------------------------------- CDFs torch lacks (scipy + autograd, see losslab.distributions)
def beta_cdf(x: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""Regularised incomplete beta function :math:`I_x(a, b)`: the Beta CDF, differentiable in all arguments.

    .. math:: F(x; a, b) = \frac{1}{B(a, b)} \int_0^x t^{a-1}(1-t)^{b-1}\, dt

    Values come from ``scipy.special.betainc`` (float64, CPU); the gradient in ``x`` is the density, in ``a`` and
    ``b`` a central difference (:class:`losslab.distributions.ScipyCdf`).
    :func:`losslab.distributions.beta_cdf` with the scores' shape check: the parameters may
    broadcast to ``x``'s shape, ``x`` is never broadcast.

    >>> round(float(beta_cdf(torch.tensor(0.5), 2.0, 3.0)), 6)  # 1 - (1/2)^4 - 4 (1/2)^4
    0.6875
    """
    return _beta_cdf(*label_tensors(x, concentration1, concentration0))


def studentt_cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""Student-t CDF :math:`F_\nu((x - \mu)/\sigma)`, differentiable in all arguments (``scipy.special.stdtr``).

    :func:`losslab.distributions.studentt_cdf` with the scores' shape check (``x`` is never broadcast).

    >>> round(float(studentt_cdf(torch.tensor(1.0), 1.0)), 6)  # Cauchy: 1/2 + arctan(1)/pi
    0.75
    """
    return _studentt_cdf(*label_tensors(x, df, loc, scale))


# ------------------------------------------------------------ distribution plumbing
def _ref_tensor(d: Distribution) -> torch.Tensor:
    """A floating tensor of the distribution (for the labels' dtype and device)."""
    try:
        m = d.mean
        if torch.is_tensor(m) and m.is_floating_point():
            return m
    except Exception:  # noqa: BLE001 - some laws have no mean; their samples still tell the dtype
        pass
    with torch.no_grad():
        return d.sample()


def _labels(d: Distribution, y: Any, name: str = "y") -> tuple[torch.Tensor, bool]:
    """``y`` as a tensor like the distribution's, with the exact shape ``batch_shape + event_shape``."""
    if not isinstance(d, Distribution):
        raise LosslabError(
            f"dist is a {type(d).__name__}; expected a torch.distributions.Distribution (e.g. law.predictive(params))"
        )
    ref = _ref_tensor(d)
    shape = tuple(d.batch_shape) + tuple(d.event_shape)
    t = check_array(y, name, shape=shape, like=ref.detach())
    return t, not torch.is_tensor(y)


def _reduce(values: torch.Tensor, reduction: str, as_numpy: bool) -> Any:
    check_choice(reduction, "reduction", ("mean", "sum", "none"))
    out = values.mean() if reduction == "mean" else values.sum() if reduction == "sum" else values
    if not as_numpy:
        return out
    out = out.detach().cpu()
    return float(out) if out.ndim == 0 else out.numpy().astype(np.float64)


def _no_density(d: Distribution, what: str) -> None:
    if isinstance(d, Bernoulli):
        raise LosslabError(
            f"{what} is undefined for a Bernoulli law with soft labels: it has no density over [0, 1] "
            f"(its log_prob of a float label is -BCE); use brier_loss, bernoulli_kl or calibration_error"
        )
    if d.event_shape != ():
        raise LosslabError(
            f"{what} is for scalar laws; this law has event shape {shape_str(d.event_shape)} "
            f"(use energy_score or log_score for multivariate laws)"
        )


#: CDF for the laws torch cannot evaluate (Beta, Student-t, mixtures of them), else ``d.cdf``
_cdf = distribution_cdf


def _has_icdf(d: Distribution) -> bool:
    if isinstance(d, MixtureSameFamily):
        # Its icdf is a bisection per level: a 1000-level quantile grid would cost ~100 CDF passes per level.
        return False
    ref = _ref_tensor(d)
    try:
        with torch.no_grad():
            d.icdf(torch.full(tuple(d.batch_shape), 0.5, dtype=ref.dtype, device=ref.device))
        return True
    except (NotImplementedError, AttributeError, TypeError, RuntimeError, ValueError):
        return False


def crps_values(d: Distribution, y: torch.Tensor, n_samples: int, seed: int) -> tuple[torch.Tensor, str]:
    """Per-element CRPS and the method used: ``"closed form"`` (the formula registered for the law's class,
    :func:`~losslab.metrics.registry.crps_formula`), else ``"quantile grid"`` (a law with an icdf), else ``"samples"``."""
    _no_density(d, "crps")
    formula = crps_formula(d)
    if formula is not None:
        values = formula(d, y)
        if values is not NotImplemented:
            return values, "closed form"
    if _has_icdf(d):
        return crps_quantile_grid(y, d.icdf, n_levels=n_samples), "quantile grid"
    draws = _draw(d, n_samples, seed, reparameterised=True)
    return crps_sample(y, torch.movedim(draws, 0, -1)), "samples"


#: the name the tests and older callers import
_crps_values = crps_values


def _draw(d: Distribution, n: int, seed: int, *, reparameterised: bool = False) -> torch.Tensor:
    """``n`` draws ``(n, *batch, *event)`` with a private seeded RNG (the global RNG state is left alone)."""
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise LosslabError(f"n_samples={n!r}; expected an integer >= 2")
    ref = _ref_tensor(d)
    devices = [ref.device] if ref.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if reparameterised and d.has_rsample:
            return d.rsample((n,))
        with torch.no_grad():
            return d.sample((n,))


# ------------------------------------------------------------------- public scores
@checked_options
def crps(dist: Distribution, y: Any, *, reduction: str = "mean", n_samples: int = 1000, seed: int = 0) -> Any:
    r"""Continuous ranked probability score of a law's predictive distribution (lower is better).

    .. math:: \mathrm{CRPS}(F, y) = \int \big(F(x) - \mathbf 1\{x \ge y\}\big)^2\,dx

    Closed forms (exact, differentiable): Normal, Laplace, Exponential, Uniform, Beta,
    Student-t, mixtures of Normals, :class:`~losslab.distributions.Histogram` (binned laws),
    scaled binomial and beta-binomial (an exact sum over the ``n + 1`` atoms), and
    zero/one-inflated Beta. Other scalar laws use an estimator:

    * with an ``icdf`` (continuous Bernoulli, logit-normal): the quantile-grid rule of
      :func:`crps_quantile_grid` with ``n_samples`` levels — deterministic, differentiable;
    * otherwise (e.g. mixtures of Betas): the fair sample estimator :func:`crps_sample`
      on ``n_samples`` draws seeded by ``seed`` — differentiable only for laws with ``rsample``.

    A Bernoulli law (soft BCE) has no density over [0, 1] and multivariate laws have
    no scalar CDF: both raise :class:`~losslab.LosslabError` (see :func:`energy_score`).

    Args:
        dist: the predictive distribution, batch shape ``(...)``, event shape ``()``.
        y: labels of shape ``(...)``, tensor or numpy.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per element).
        n_samples: levels or draws of the estimator (closed forms ignore it).
        seed: seed of the draws.

    Returns:
        a torch scalar (or tensor ``(...)`` for ``"none"``) when ``y`` is a tensor, keeping
        the autograd graph; a float (or numpy array) when ``y`` is numpy.

    >>> from torch.distributions import Normal
    >>> round(crps(Normal(torch.zeros(2), torch.ones(2)), np.zeros(2)), 6)
    0.233695
    """
    t, as_np = _labels(dist, y)
    values, _ = crps_values(dist, t, n_samples, seed)
    return _reduce(values, reduction, as_np)


def log_score(dist: Distribution, y: Any, *, reduction: str = "mean") -> Any:
    r"""Logarithmic score: the negative log-likelihood :math:`-\log p(y)` of the labels (lower is better).

    For a Bernoulli law with soft labels this is the soft binary cross-entropy; for a
    discrete law it is :math:`-\log P(Y = y)`; for a multivariate law, one value per label vector.

    Args:
        dist: the predictive distribution.
        y: labels of shape ``batch_shape + event_shape``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        as :func:`crps`: a differentiable torch scalar for tensor labels, a float for numpy labels.

    >>> from torch.distributions import Normal
    >>> round(log_score(Normal(torch.zeros(1), torch.ones(1)), np.zeros(1)), 6)  # log(2 pi) / 2
    0.918939
    """
    t, as_np = _labels(dist, y)
    return _reduce(-dist.log_prob(t), reduction, as_np)


def _uniforms(shape: tuple[int, ...], ref: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64).to(dtype=ref.dtype, device=ref.device)


def pit_values(d: Distribution, y: torch.Tensor, seed: int) -> torch.Tensor:
    """PIT of every label: the randomised PIT registered for the law's class
    (:func:`~losslab.metrics.registry.pit_formula`: atoms, bins), else the CDF; no gradient."""
    _no_density(d, "pit")
    with torch.no_grad():
        formula = pit_formula(d)
        if formula is not None:
            return formula(d, y, _uniforms(tuple(y.shape), y, seed))
        return _cdf(d, y).clamp(0, 1)


@checked_options
def pit(dist: Distribution, y: Any, *, seed: int = 0) -> Any:
    r"""Probability integral transform :math:`u = F(y)`: uniform on [0, 1] when the law is right.

    Where the law has atoms, the randomised PIT :math:`u = F(y^-) + V\,P(Y = y)` with
    :math:`V \sim U(0, 1)` (seeded by ``seed``) keeps that property: the scaled
    binomial and beta-binomial (atoms ``k/n``), the zero/one-inflated Beta (atoms at 0
    and 1). For a histogram (binned) law the label is randomised within its bin,
    :math:`u = F(e_k) + V p_k`, so the PIT tests the bin probabilities whatever the
    labels' spread inside a bin.

    Args:
        dist: a scalar predictive distribution, batch shape ``(...)``.
        y: labels ``(...)``.
        seed: seed of the randomisation.

    Returns:
        PIT values, shape of ``y`` (tensor for tensor labels, numpy otherwise); no gradient.

    References:
        Dawid (1984), "Statistical theory: the prequential approach"; Czado, Gneiting &
        Held (2009), "Predictive model assessment for count data" (randomised PIT).

    >>> from torch.distributions import Normal
    >>> pit(Normal(torch.zeros(2), torch.ones(2)), np.array([0.0, 1.0])).round(4).tolist()
    [0.5, 0.8413]
    """
    t, as_np = _labels(dist, y)
    return _reduce(pit_values(dist, t, seed), "none", as_np)


def uniform_distance(u: np.ndarray, norm: str) -> float:
    """Distance between the empirical CDF of ``u`` (values in [0, 1]) and the uniform CDF, exactly."""
    u = np.sort(np.clip(u, 0, 1))
    n = len(u)
    if norm == "max":
        i = np.arange(1, n + 1)
        return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))
    # On [u_(i), u_(i+1)) the ECDF is the constant c = i/n; integrate |c - x| or (c - x)^2 exactly.
    a = np.r_[0.0, u]
    b = np.r_[u, 1.0]
    c = np.arange(n + 1) / n
    if norm == "l2":
        return float(np.sqrt(np.sum(((b - c) ** 3 - (a - c) ** 3) / 3)))
    lo, hi = a - c, b - c  # integrate |t| for t from lo to hi (lo <= hi)
    return float(np.sum((np.sign(hi) * hi**2 - np.sign(lo) * lo**2) / 2))


@checked_options
def pit_calibration_error(dist: Distribution, y: Any, *, norm: str = "l1", seed: int = 0) -> float:
    r"""Distance of the PIT values from uniform (0 for a calibrated law, in the limit of many labels).

    With :math:`\hat G` the empirical CDF of the PIT values :math:`u_i` (see :func:`pit`):

    .. math::
        \mathrm{l1} = \int_0^1 |\hat G(u) - u|\,du, \qquad
        \mathrm{l2} = \Big(\int_0^1 (\hat G(u) - u)^2\,du\Big)^{1/2}, \qquad
        \mathrm{max} = \sup_u |\hat G(u) - u|

    ``l1`` is the Wasserstein-1 distance to U(0, 1), ``max`` the Kolmogorov–Smirnov
    statistic; all are computed exactly from the sorted values. Even a perfect law
    scores about :math:`0.5/\sqrt N` (``l1``) from sampling noise.

    Args:
        dist: a scalar predictive distribution.
        y: labels ``(...)``.
        norm: ``"l1"``, ``"l2"`` or ``"max"``.
        seed: seed of the randomised PIT.

    Returns:
        a float.

    >>> from torch.distributions import Uniform
    >>> pit_calibration_error(Uniform(torch.zeros(2), torch.ones(2)), np.array([0.25, 0.75]))
    0.125
    """
    check_choice(norm, "norm", ("l1", "l2", "max"))
    t, _ = _labels(dist, y)
    u = pit_values(dist, t, seed).detach().cpu().numpy().reshape(-1).astype(np.float64)
    return uniform_distance(u, norm)


def _bisect_quantile(d: Distribution, q: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Invert the CDF by bisection (:func:`losslab.distributions.bisect_icdf`) for a law with a cdf but no icdf.

    Brackets come from the support, or from mean ± 10 std widened until they hold ``q``.
    """
    sup = d.support
    if isinstance(sup, (constraints.interval, constraints.half_open_interval)) or hasattr(sup, "lower_bound"):
        lo = torch.as_tensor(sup.lower_bound, dtype=ref.dtype, device=ref.device).expand(q.shape).clone()
        hi = torch.as_tensor(sup.upper_bound, dtype=ref.dtype, device=ref.device).expand(q.shape).clone()
    else:
        m, s = d.mean.expand(q.shape), d.stddev.expand(q.shape)
        lo, hi = m - 10 * s, m + 10 * s
        for _ in range(60):
            low_bad, high_bad = _cdf(d, lo) > q, _cdf(d, hi) < q
            if not bool(low_bad.any() or high_bad.any()):
                break
            span = hi - lo
            lo, hi = torch.where(low_bad, lo - span, lo), torch.where(high_bad, hi + span, hi)
    return bisect_icdf(lambda x: _cdf(d, x), q, lo, hi)


def _quantile(d: Distribution, q: float, ref: torch.Tensor, n_samples: int, seed: int) -> torch.Tensor:
    """The ``q``-quantile of every element: the law's icdf (:func:`losslab.distributions.distribution_icdf`:
    closed forms, scipy, the atoms of count laws, bisection for mixtures), else CDF bisection, else sample quantiles.
    """
    shape = tuple(d.batch_shape)
    qt = torch.full(shape, q, dtype=ref.dtype, device=ref.device)
    try:
        return distribution_icdf(d, qt).to(ref.dtype).expand(shape)
    except NotImplementedError:
        pass
    try:
        return _bisect_quantile(d, qt, ref)
    except NotImplementedError:
        draws = _draw(d, n_samples, seed)
        return torch.quantile(draws.to(torch.float64), q, dim=0).to(ref.dtype)


def central_interval(d: Distribution, level: float, ref: torch.Tensor, n_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi)``, the central ``level`` interval of every element (quantiles as in :func:`interval_coverage`); no gradient."""
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise LosslabError(f"level={level!r}; expected a number in (0, 1)")
    _no_density(d, "interval_coverage")
    with torch.no_grad():
        lo = _quantile(d, (1 - level) / 2, ref, n_samples, seed)
        hi = _quantile(d, (1 + level) / 2, ref, n_samples, seed)
    return lo, hi


@checked_options
def interval_coverage(
    dist: Distribution, y: Any, *, level: float = 0.9, n_samples: int = 2000, seed: int = 0
) -> float:
    r"""Fraction of labels inside the central ``level`` prediction interval :math:`[F^{-1}(\tfrac{1-l}2), F^{-1}(\tfrac{1+l}2)]`.

    A calibrated law covers about ``level`` of the labels. Quantiles come from the
    law's ``icdf`` where torch has one; from ``scipy.special`` for the Beta and
    Student-t; exactly from the atoms of the scaled (beta-)binomial and the
    zero/one-inflated Beta; by bisection of the CDF for mixtures; and from
    ``n_samples`` seeded draws (sample quantiles) for a law with none of these.
    For a law with atoms the interval is closed and its coverage can exceed ``level``.

    Args:
        dist: a scalar predictive distribution.
        y: labels ``(...)``.
        level: the nominal coverage, in (0, 1).
        n_samples, seed: for the sample-quantile fallback.

    Returns:
        a float in [0, 1].

    >>> from torch.distributions import Normal
    >>> interval_coverage(Normal(torch.zeros(3), torch.ones(3)), np.array([0.0, 1.0, 2.0]), level=0.9)
    0.6666666666666666
    """
    t, _ = _labels(dist, y)
    lo, hi = central_interval(dist, level, t, n_samples, seed)
    return float(((t >= lo) & (t <= hi)).to(torch.float64).mean())


@checked_options
def interval_width(
    dist: Distribution, y: Any = None, *, level: float = 0.9, n_samples: int = 2000, seed: int = 0
) -> float:
    r"""Mean width :math:`F^{-1}(\tfrac{1+l}2) - F^{-1}(\tfrac{1-l}2)` of the central ``level`` interval (sharpness).

    Quantiles as in :func:`interval_coverage`. ``y`` is optional; when given, its
    shape is checked against the law's, as for the other scores.

    >>> from torch.distributions import Uniform
    >>> round(interval_width(Uniform(torch.zeros(2), torch.ones(2)), level=0.5), 6)
    0.5
    """
    ref = _ref_tensor(dist).detach()
    if y is not None:
        ref, _ = _labels(dist, y)
    lo, hi = central_interval(dist, level, ref, n_samples, seed)
    return float((hi - lo).to(torch.float64).mean())


@checked_options
def energy_score(
    dist: Distribution, y: Any, *, reduction: str = "mean", n_samples: int = 1000, seed: int = 0
) -> Any:
    r"""Energy score of a (multivariate) law, estimated from seeded draws (lower is better).

    .. math::
        \mathrm{ES}(F, \mathbf y) = \mathbb E\|\mathbf X - \mathbf y\| - \tfrac12 \mathbb E\|\mathbf X - \mathbf X'\|
        \approx \frac1m \sum_i \|\mathbf x_i - \mathbf y\| - \frac1{2m} \sum_i \|\mathbf x_i - \mathbf x_{i+1}\|

    (indices mod ``m``; each consecutive pair is an unbiased draw of
    :math:`\|\mathbf X - \mathbf X'\|`, so the estimator is unbiased in O(m)). It reduces
    to the CRPS for scalar laws. Differentiable for laws with ``rsample``.

    Args:
        dist: the predictive distribution, event shape ``(d,)`` or ``()``.
        y: labels ``batch_shape + event_shape``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        n_samples: draws ``m``.
        seed: seed of the draws.

    References:
        Gneiting & Raftery (2007), section 4.3.

    >>> from torch.distributions import MultivariateNormal
    >>> d = MultivariateNormal(torch.zeros(1, 2), torch.eye(2) * 1e-12)
    >>> round(energy_score(d, np.zeros((1, 2))), 4)   # a point mass at the label
    0.0
    """
    t, as_np = _labels(dist, y)
    if isinstance(dist, Bernoulli):
        _no_density(dist, "energy_score")
    x = _draw(dist, n_samples, seed, reparameterised=True)
    if dist.event_shape == ():
        x, t_ = x.unsqueeze(-1), t.unsqueeze(-1)
    else:
        t_ = t
    first = torch.linalg.vector_norm(x - t_, dim=-1).mean(0)
    second = torch.linalg.vector_norm(x - torch.roll(x, 1, dims=0), dim=-1).mean(0)
    return _reduce(first - 0.5 * second, reduction, as_np)
