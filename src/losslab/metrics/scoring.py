r"""Distributional scores of a law's predictive distribution against float labels.

Every function here takes a ``torch.distributions.Distribution`` (from
``law.predictive(params)``) and labels ``y`` whose shape equals the
distribution's ``batch_shape + event_shape`` exactly (no broadcasting).
Torch labels give torch results (``crps`` and ``log_score`` keep the autograd
graph, so they can serve as training losses); numpy labels give floats or
numpy arrays.

The continuous ranked probability score of a predictive CDF :math:`F` at ``y``,

.. math::
    \mathrm{CRPS}(F, y) = \int_{-\infty}^{\infty} \big(F(x) - \mathbf 1\{x \ge y\}\big)^2 \, dx
                        = \mathbb E|X - y| - \tfrac12 \mathbb E|X - X'|
                        = 2 \int_0^1 \rho_\alpha\big(y - F^{-1}(\alpha)\big)\, d\alpha,

(Gneiting & Raftery 2007, "Strictly proper scoring rules, prediction, and
estimation"; :math:`\rho_\alpha(u) = u(\alpha - \mathbf 1\{u < 0\})`, the pinball
loss) has closed forms ``crps_<family>`` for the families listed in
:data:`CRPS_CLOSED_FORMS`; :func:`crps` dispatches on the distribution's type and
falls back to documented estimators for the others.

Torch has no regularised incomplete beta function, so the Beta and Student-t
CDFs are evaluated by ``scipy.special`` (on the CPU, in float64) inside an
autograd function whose derivative in ``x`` is the exact density and whose
derivatives in the shape parameters are central finite differences of the same
scipy function (relative step ``6e-6``, error about ``1e-10`` relative). The
Beta, Student-t and zero/one-inflated Beta CRPS are therefore differentiable
but pay a CPU round-trip. These CDFs and the quantile functions behind the
intervals live in :mod:`losslab.distributions` (``distribution_cdf``,
``distribution_icdf``), shared with the laws' ``quantile`` and ``interval``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.special as sps
import torch
import torch.nn.functional as F
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    ContinuousBernoulli,
    Distribution,
    Exponential,
    Laplace,
    MixtureSameFamily,
    Normal,
    StudentT,
    Uniform,
    constraints,
)

from .._errors import LosslabError, shape_str
from ..distributions import (
    _BETA_SPEC,
    _T_SPEC,
    ScaledBetaBinomial,
    ScaledBinomial,
    _ScipyCdf,
    _t_log_pdf,
    bisect_icdf,
    distribution_cdf,
    distribution_icdf,
)
from ..distributions import beta_cdf as _beta_cdf
from ..distributions import studentt_cdf as _studentt_cdf
from ._checks import check_array, check_choice, checked_options

__all__ = [
    "crps_normal",
    "crps_laplace",
    "crps_logistic",
    "crps_exponential",
    "crps_uniform",
    "crps_beta",
    "crps_t",
    "crps_mixnorm",
    "crps_histogram",
    "crps_discrete",
    "crps_zoib",
    "crps_sample",
    "crps_quantile_grid",
    "crps",
    "log_score",
    "pit",
    "pit_calibration_error",
    "interval_coverage",
    "interval_width",
    "energy_score",
    "beta_cdf",
    "studentt_cdf",
    "CRPS_CLOSED_FORMS",
]

_SQRT_PI = math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------- helpers
def _tensors(y: Any, *params: Any, last_axis: bool = False) -> tuple[torch.Tensor, ...]:
    """Convert ``y`` and parameters to tensors of one float dtype and check their shapes.

    Parameters may broadcast to ``y``'s shape; ``y`` is never broadcast up (that would
    silently score every label against every prediction). With ``last_axis=True`` the
    parameters carry an extra last axis (mixture components, bins, atoms) that is left
    out of the check.
    """
    ts = [p if torch.is_tensor(p) else None for p in (y, *params)]
    ref = next((t for t in ts[1:] if t is not None and t.is_floating_point()), None)
    if ref is None:
        ref = ts[0] if ts[0] is not None and ts[0].is_floating_point() else torch.zeros((), dtype=torch.float64)
    out = [torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (y, *params)]
    shapes = [t.shape[:-1] if last_axis else t.shape for t in out[1:]]
    shape = torch.broadcast_shapes(out[0].shape, *shapes)
    if shape != out[0].shape:
        raise LosslabError(
            f"y has shape {shape_str(out[0].shape)} but the parameters broadcast to {shape_str(shape)}; "
            f"parameters may broadcast to the labels' shape, labels are never broadcast"
        )
    return tuple(out)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return _INV_SQRT_2PI * torch.exp(-0.5 * z * z)


def _expected_abs_uniform(y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``E|U - y|`` for ``U ~ Uniform(a, b)``, one formula for ``y`` below, inside and above ``[a, b]``."""
    t = torch.minimum(torch.maximum(y, a), b)
    return (y - t).abs() + ((t - a) ** 2 + (b - t) ** 2) / (2 * (b - a))


# ------------------------------------------------- CDFs torch lacks (scipy + autograd, see losslab.distributions)
def beta_cdf(x: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""Regularised incomplete beta function :math:`I_x(a, b)`: the Beta CDF, differentiable in all arguments.

    .. math:: F(x; a, b) = \frac{1}{B(a, b)} \int_0^x t^{a-1}(1-t)^{b-1}\, dt

    Values come from ``scipy.special.betainc`` (float64, CPU); see the module docstring for the gradients.
    :func:`losslab.distributions.beta_cdf` with the scores' shape check: the parameters may
    broadcast to ``x``'s shape, ``x`` is never broadcast.

    >>> round(float(beta_cdf(torch.tensor(0.5), 2.0, 3.0)), 6)  # 1 - (1/2)^4 - 4 (1/2)^4
    0.6875
    """
    return _beta_cdf(*_tensors(x, concentration1, concentration0))


def studentt_cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""Student-t CDF :math:`F_\nu((x - \mu)/\sigma)`, differentiable in all arguments (``scipy.special.stdtr``).

    :func:`losslab.distributions.studentt_cdf` with the scores' shape check (``x`` is never broadcast).

    >>> round(float(studentt_cdf(torch.tensor(1.0), 1.0)), 6)  # Cauchy: 1/2 + arctan(1)/pi
    0.75
    """
    return _studentt_cdf(*_tensors(x, df, loc, scale))


# -------------------------------------------------------------------- closed forms
def crps_normal(y: Any, loc: Any, scale: Any) -> torch.Tensor:
    r"""CRPS of a Normal law.

    .. math::
        \mathrm{CRPS}(\mathcal N(\mu, \sigma^2), y) =
        \sigma\Big[z\big(2\Phi(z) - 1\big) + 2\varphi(z) - \frac{1}{\sqrt\pi}\Big], \quad z = \frac{y-\mu}{\sigma}

    Args:
        y: labels, shape ``(...)``.
        loc, scale: parameters broadcastable to ``y``'s shape.

    Returns:
        per-element CRPS, shape of ``y``.

    References:
        Gneiting, Raftery, Westveld & Goldman (2005), "Calibrated probabilistic forecasting
        using ensemble model output statistics and minimum CRPS estimation", eq. 5.

    >>> round(float(crps_normal(torch.tensor(0.0), 0.0, 1.0)), 6)  # (sqrt 2 - 1) / sqrt(pi)
    0.233695
    """
    y, loc, scale = _tensors(y, loc, scale)
    z = (y - loc) / scale
    return scale * (z * (2 * _normal_cdf(z) - 1) + 2 * _normal_pdf(z) - 1 / _SQRT_PI)


def crps_laplace(y: Any, loc: Any, scale: Any) -> torch.Tensor:
    r"""CRPS of a Laplace law.

    .. math::
        \mathrm{CRPS}(\mathcal L(\mu, b), y) = b\Big[|z| + e^{-|z|} - \frac34\Big], \quad z = \frac{y - \mu}{b}

    References:
        Jordan, Krüger & Lerch (2019), "Evaluating probabilistic forecasts with scoringRules", appendix A.

    >>> round(float(crps_laplace(torch.tensor(0.0), 0.0, 1.0)), 6)
    0.25
    """
    y, loc, scale = _tensors(y, loc, scale)
    z = ((y - loc) / scale).abs()
    return scale * (z + torch.exp(-z) - 0.75)


def crps_logistic(y: Any, loc: Any, scale: Any) -> torch.Tensor:
    r"""CRPS of a logistic law (CDF :math:`\sigma((x - \mu)/s)`).

    .. math::
        \mathrm{CRPS} = s\big[z - 2\log\sigma(z) - 1\big] = s\big[z + 2\operatorname{softplus}(-z) - 1\big],
        \quad z = \frac{y - \mu}{s}

    (``softplus`` keeps it finite for :math:`|z|` up to 1e4.)

    References:
        Jordan, Krüger & Lerch (2019), appendix A.

    >>> round(float(crps_logistic(torch.tensor(0.0), 0.0, 1.0)), 6)  # 2 log 2 - 1
    0.386294
    """
    y, loc, scale = _tensors(y, loc, scale)
    z = (y - loc) / scale
    return scale * (z + 2 * F.softplus(-z) - 1)


def crps_exponential(y: Any, rate: Any) -> torch.Tensor:
    r"""CRPS of an exponential law with rate :math:`\lambda`.

    .. math::
        \mathrm{CRPS} = \begin{cases}
            y - \dfrac{3}{2\lambda} + \dfrac{2}{\lambda} e^{-\lambda y} & y \ge 0 \\[4pt]
            \dfrac{1}{2\lambda} - y & y < 0
        \end{cases}

    References:
        Jordan, Krüger & Lerch (2019), appendix A.

    >>> round(float(crps_exponential(torch.tensor(1.0), 1.0)), 6)  # 2/e - 1/2
    0.235759
    """
    y, rate = _tensors(y, rate)
    yp = y.clamp(min=0)
    # One division: at rate = 0 (underflowed) this is +inf, where two separate 1/rate terms give inf - inf = nan.
    pos = yp + (2 * torch.exp(-rate * yp) - 1.5) / rate
    return torch.where(y >= 0, pos, 0.5 / rate - y)


def crps_uniform(y: Any, low: Any, high: Any) -> torch.Tensor:
    r"""CRPS of a uniform law on :math:`[a, b]`.

    .. math::
        \mathrm{CRPS} = \mathbb E|U - y| - \frac{b - a}{6}, \qquad
        \mathbb E|U - y| = |y - t| + \frac{(t - a)^2 + (b - t)^2}{2(b - a)}, \quad t = \min(\max(y, a), b)

    >>> round(float(crps_uniform(torch.tensor(0.5), 0.0, 1.0)), 6)  # 1/4 - 1/6
    0.083333
    """
    y, low, high = _tensors(y, low, high)
    return _expected_abs_uniform(y, low, high) - (high - low) / 6


def _lbeta(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # In float64: at concentrations ~1e6 float32 lgamma values are ~1e7 and their differences lose every digit.
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    return (torch.lgamma(a64) + torch.lgamma(b64) - torch.lgamma(a64 + b64)).to(a.dtype)


def _beta_parts(y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(E|B - y|, E|B - B'|, E B)`` for ``B ~ Beta(a, b)``."""
    mean = a / (a + b)
    x, a_, b_ = torch.broadcast_tensors(y, a, b)
    f = _ScipyCdf.apply(_BETA_SPEC, x, a_, b_)
    g = _ScipyCdf.apply(_BETA_SPEC, x, a_ + 1, b_)  # int_0^y x f(x) dx = E[B] F_{a+1,b}(y)
    abs_dev = y * (2 * f - 1) + mean * (1 - 2 * g)
    gini = 4 * torch.exp(_lbeta(2 * a, 2 * b) - 2 * _lbeta(a, b)) / (a + b)
    return abs_dev, gini, mean


def crps_beta(y: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""CRPS of a Beta law on [0, 1] (``a = concentration1``, ``b = concentration0``).

    .. math::
        \mathrm{CRPS} = y\big(2F_{a,b}(y) - 1\big) + \frac{a}{a+b}\big(1 - 2F_{a+1,b}(y)\big)
                        - \frac{2 B(2a, 2b)}{(a+b) B(a,b)^2}

    with :math:`F_{a,b}` the Beta CDF (from ``scipy.special.betainc``; differentiable,
    see the module docstring). The last term is :math:`\tfrac12\mathbb E|X - X'|`,
    evaluated through ``lgamma``.

    References:
        Taillardat, Mestre, Zamo & Naveau (2016), "Calibrated ensemble forecasts using
        quantile regression forests and ensemble model output statistics", appendix.

    >>> round(float(crps_beta(torch.tensor(0.5), 1.0, 1.0)), 6)  # uniform: 1/4 - 1/6
    0.083333
    """
    y, a, b = _tensors(y, concentration1, concentration0)
    abs_dev, gini, _ = _beta_parts(y, a, b)
    # Rounding can push a near-perfect forecast a hair below zero; the CRPS is >= 0.
    return (abs_dev - 0.5 * gini).clamp(min=0)


def crps_t(y: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""CRPS of a location-scale Student-t law.

    .. math::
        \mathrm{CRPS} = \sigma\Big[z\big(2F_\nu(z) - 1\big) + 2 f_\nu(z)\frac{\nu + z^2}{\nu - 1}
                        - \frac{2\sqrt\nu\, B(\tfrac12, \nu - \tfrac12)}{(\nu - 1) B(\tfrac12, \tfrac\nu2)^2}\Big],
        \quad z = \frac{y - \mu}{\sigma}, \ \nu > 1

    For :math:`\nu \le 1` the mean is infinite and the closed form does not apply
    (the CRPS itself is finite for :math:`\nu > 1/2`); those elements are computed by
    the quantile quadrature of :func:`crps_quantile_grid` with 4000 levels and carry
    no gradient.

    References:
        Jordan, Krüger & Lerch (2019), appendix A.

    >>> round(float(crps_t(torch.tensor(0.0), 1e6, 0.0, 1.0)), 5)  # ~ Normal: (sqrt 2 - 1) / sqrt(pi)
    0.2337
    """
    y, df, loc, scale = _tensors(y, df, loc, scale)
    z = (y - loc) / scale
    z, nu = torch.broadcast_tensors(z, df)
    ok = nu > 1
    nu_s = torch.where(ok, nu, torch.full_like(nu, 2.0))
    cdf = _ScipyCdf.apply(_T_SPEC, z, nu_s)
    pdf = torch.exp(_t_log_pdf(z, nu_s))
    half = torch.full_like(nu_s, 0.5)
    half_gini = 2 * torch.sqrt(nu_s) * torch.exp(_lbeta(half, nu_s - 0.5) - 2 * _lbeta(half, nu_s / 2)) / (nu_s - 1)
    out = scale * (z * (2 * cdf - 1) + 2 * pdf * (nu_s + z * z) / (nu_s - 1) - half_gini)
    if bool(ok.all()):
        return out
    with torch.no_grad():
        zs, nus = z.detach(), nu.detach()
        q = lambda u: torch.as_tensor(  # noqa: E731
            sps.stdtrit(nus.cpu().numpy(), u.cpu().numpy()), dtype=zs.dtype, device=zs.device
        )
        slow = scale.detach() * crps_quantile_grid(zs, q, n_levels=4000)
    return torch.where(ok, out, slow)


def crps_mixnorm(y: Any, loc: Any, scale: Any, weights: Any) -> torch.Tensor:
    r"""CRPS of a mixture of Normals :math:`\sum_k w_k \mathcal N(\mu_k, \sigma_k^2)`.

    .. math::
        \mathrm{CRPS} = \sum_k w_k A(y - \mu_k, \sigma_k)
            - \tfrac12 \sum_{j,k} w_j w_k A\big(\mu_j - \mu_k, \sqrt{\sigma_j^2 + \sigma_k^2}\big),
        \qquad A(m, s) = \mathbb E|\mathcal N(m, s^2)| = m\big(2\Phi(\tfrac ms) - 1\big) + 2 s\, \varphi(\tfrac ms)

    Args:
        y: labels ``(...)``.
        loc, scale, weights: ``(..., K)``; ``weights`` sum to 1 over the last axis.

    References:
        Grimit, Gneiting, Berrocal & Johnson (2006), "The continuous ranked probability
        score for circular variables and its application to mesoscale forecast ensemble verification".

    >>> round(float(crps_mixnorm(torch.tensor(0.0), torch.zeros(2), torch.ones(2), torch.tensor([0.5, 0.5]))), 6)
    0.233695
    """
    y, loc, scale, weights = _tensors(y, loc, scale, weights, last_axis=True)
    yk = y.unsqueeze(-1)

    def abs_mean(m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        r = m / s
        return m * (2 * _normal_cdf(r) - 1) + 2 * s * _normal_pdf(r)

    first = (weights * abs_mean(yk - loc, scale)).sum(-1)
    dm = loc.unsqueeze(-1) - loc.unsqueeze(-2)
    ds = torch.sqrt(scale.unsqueeze(-1) ** 2 + scale.unsqueeze(-2) ** 2)
    ww = weights.unsqueeze(-1) * weights.unsqueeze(-2)
    second = (ww * abs_mean(dm, ds)).sum((-1, -2))
    return (first - 0.5 * second).clamp(min=0)


def _sorted_gini(atoms: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    r""":math:`\tfrac12 \sum_{i,j} \pi_i \pi_j |x_i - x_j|` for atoms sorted ascending along the last axis, in O(K)."""
    below_p = torch.cumsum(probs, -1) - probs
    below_m = torch.cumsum(probs * atoms, -1) - probs * atoms
    return (probs * (atoms * below_p - below_m)).sum(-1)


def crps_histogram(y: Any, probs: Any, edges: Any) -> torch.Tensor:
    r"""CRPS of a piecewise-uniform (histogram) density: bin :math:`k` on :math:`[e_k, e_{k+1}]` has mass :math:`p_k`.

    Writing the law as a mixture of uniforms :math:`U_k` with centres :math:`c_k` and
    widths :math:`w_k`, and using that two different bins do not overlap
    (:math:`\mathbb E|U_j - U_k'| = |c_j - c_k|`) while :math:`\mathbb E|U_k - U_k'| = w_k/3`:

    .. math::
        \mathrm{CRPS} = \sum_k p_k\, \mathbb E|U_k - y|
            - \sum_{j<k} p_j p_k (c_k - c_j) - \frac16 \sum_k p_k^2 w_k

    with :math:`\mathbb E|U_k - y|` as in :func:`crps_uniform`. Exact, O(K) per label,
    differentiable in ``probs``.

    Args:
        y: labels ``(...)``.
        probs: ``(..., K)`` bin masses summing to 1.
        edges: ``(K + 1,)`` increasing edges (or ``(..., K + 1)``).

    >>> round(float(crps_histogram(torch.tensor(0.5), torch.tensor([0.5, 0.5]), torch.tensor([0.0, 0.5, 1.0]))), 6)
    0.083333
    """
    y, probs, edges = _tensors(y, probs, edges, last_axis=True)
    yk, lo, hi = y.unsqueeze(-1), edges[..., :-1], edges[..., 1:]
    centres, widths = (lo + hi) / 2, hi - lo
    first = (probs * _expected_abs_uniform(yk, lo, hi)).sum(-1)
    centres = centres.expand_as(probs)
    second = _sorted_gini(centres, probs) + (probs * probs * widths).sum(-1) / 6
    return (first - second).clamp(min=0)


def crps_discrete(y: Any, atoms: Any, probs: Any) -> torch.Tensor:
    r"""CRPS of a law on finitely many atoms :math:`x_1 \le \dots \le x_K` with masses :math:`\pi_k`.

    .. math::
        \mathrm{CRPS} = \sum_k \pi_k |x_k - y| - \sum_{j<k} \pi_j \pi_k (x_k - x_j)

    Exact; O(K) per label through cumulative sums (atoms must be sorted ascending).
    Used for the scaled binomial and beta-binomial laws (atoms :math:`k/n`).

    Args:
        y: labels ``(...)``.
        atoms: ``(..., K)`` or ``(K,)`` sorted atom positions.
        probs: ``(..., K)`` masses summing to 1.

    >>> round(float(crps_discrete(torch.tensor(1.0), torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5]))), 6)
    0.25
    """
    y, atoms, probs = _tensors(y, atoms, probs, last_axis=True)
    yk, atoms = y.unsqueeze(-1), atoms.expand_as(probs)
    first = (probs * (atoms - yk).abs()).sum(-1)
    return (first - _sorted_gini(atoms, probs)).clamp(min=0)


def crps_zoib(y: Any, p0: Any, p1: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""CRPS of a zero/one-inflated Beta law: atoms :math:`p_0` at 0, :math:`p_1` at 1, and :math:`w = 1 - p_0 - p_1` on Beta(a, b).

    With :math:`B \sim \mathrm{Beta}(a, b)`, :math:`m = \mathbb E B`:

    .. math::
        \mathbb E|X - y| &= p_0 |y| + p_1 |1 - y| + w\,\mathbb E|B - y| \\
        \mathbb E|X - X'| &= 2 p_0 p_1 + 2 p_0 w\, m + 2 p_1 w (1 - m) + w^2\, \mathbb E|B - B'| \\
        \mathrm{CRPS} &= \mathbb E|X - y| - \tfrac12 \mathbb E|X - X'|

    with the Beta terms of :func:`crps_beta`. Differentiable (see the module docstring).

    >>> round(float(crps_zoib(torch.tensor(0.0), 1.0, 0.0, 2.0, 2.0)), 6)  # a point mass at the label
    0.0
    """
    y, p0, p1, a, b = _tensors(y, p0, p1, concentration1, concentration0)
    w = 1 - p0 - p1
    abs_dev, gini, m = _beta_parts(y, a, b)
    first = p0 * y.abs() + p1 * (1 - y).abs() + w * abs_dev
    second = 2 * p0 * p1 + 2 * p0 * w * m + 2 * p1 * w * (1 - m) + w * w * gini
    return (first - 0.5 * second).clamp(min=0)


#: below this |logits| the continuous Bernoulli's CRPS is its Taylor series (the closed form cancels)
_CB_CRPS_TAYLOR = 2e-2


def crps_continuous_bernoulli(y: Any, logits: Any) -> torch.Tensor:
    r"""CRPS of a continuous Bernoulli law with natural parameter :math:`\eta` (``logits``) on [0, 1].

    With :math:`F(x) = (e^{\eta x} - 1)/(e^\eta - 1)`, for :math:`\eta > 0`, :math:`D = 1 - e^{-\eta}`,
    :math:`a = e^{\eta(y-1)}`, :math:`b = e^{-\eta}`:

    .. math::
        D^2\,\mathrm{CRPS} = \int_0^y (e^{\eta(x-1)} - b)^2 dx + \int_y^1 (1 - e^{\eta(x-1)})^2 dx
            = \frac{a^2 - b^2}{2\eta} - \frac{2b(a - b)}{\eta} + b^2 y
              + (1 - y) - \frac{2(1 - a)}{\eta} + \frac{1 - a^2}{2\eta}

    every exponential at most 1; :math:`\eta < 0` is the mirror image (:math:`y \to 1 - y`).
    The terms cancel as :math:`\eta \to 0`, so below :math:`|\eta| = 0.02` the series to
    :math:`\eta^4` is used (its coefficients from sympy, starting with the uniform law's
    :math:`y^2 - y + 1/3`). Computed in float64, returned in the dtype of the inputs;
    within 1e-11 of numerical integration (``tests/metrics/test_crps_reference.py``).

    >>> round(float(crps_continuous_bernoulli(torch.tensor(0.5), torch.tensor(0.0))), 6)  # the uniform law
    0.083333
    """
    y, logits = _tensors(y, logits)
    y64, eta = y.double(), logits.double()
    flip = eta < 0
    e = eta.abs()
    yy = torch.where(flip, 1 - y64, y64)
    small = e < _CB_CRPS_TAYLOR
    es = torch.where(small, torch.ones_like(e), e)  # substitute, then where: no 0/0 in the unused branch
    d = -torch.expm1(-es)
    a = torch.exp(es * (yy - 1))
    b = torch.exp(-es)
    below = (a * a - b * b) / (2 * es) - 2 * b * (a - b) / es + b * b * yy
    above = (1 - yy) + 2 * torch.expm1(es * (yy - 1)) / es - torch.expm1(2 * es * (yy - 1)) / (2 * es)
    exact = (below + above) / (d * d)
    t = y64
    coef = (
        t**2 - t + 1 / 3,
        t**3 / 3 - t**2 / 2 + 1 / 12,
        t**4 / 12 - t**3 / 6 + t**2 / 12 + 1 / 180,
        t**5 / 60 - t**4 / 24 + t**3 / 36 - 1 / 720,
        t**6 / 360 - t**5 / 120 + t**4 / 144 - t**2 / 720 - 1 / 5040,
    )
    series = coef[0] + eta * (coef[1] + eta * (coef[2] + eta * (coef[3] + eta * coef[4])))
    return torch.where(small, series, exact).clamp(min=0).to(y.dtype)


def crps_sample(y: Any, samples: Any, *, fair: bool = True) -> torch.Tensor:
    r"""Sample (ensemble) estimate of the CRPS from ``m`` draws :math:`x_1, \dots, x_m` of the law.

    .. math::
        \widehat{\mathrm{CRPS}} = \frac1m \sum_i |x_i - y| - \frac{1}{m(m-1)} \sum_{i<j} |x_i - x_j|

    (``fair=True``, unbiased for the CRPS of the law the draws come from; ``fair=False``
    divides the second sum by :math:`m^2`, the CRPS of the empirical law). The pair
    sum is computed in O(m log m) by sorting. Differentiable when the draws are
    reparameterised (``rsample``).

    Args:
        y: labels ``(...)``.
        samples: ``(..., m)`` draws, the sample axis last.

    References:
        Ferro (2014), "Fair scores for ensemble forecasts".

    >>> round(float(crps_sample(torch.tensor(0.0), torch.tensor([-1.0, 1.0]))), 6)  # 1 - 2/2
    0.0
    """
    y, samples = _tensors(y, samples, last_axis=True)
    yk = y.unsqueeze(-1)
    m = samples.shape[-1]
    if m < 2:
        raise LosslabError(f"samples has {m} draw(s) along its last axis; expected at least 2")
    first = (samples - yk).abs().mean(-1)
    xs = torch.sort(samples, dim=-1).values
    k = torch.arange(1, m + 1, dtype=xs.dtype, device=xs.device)
    pair_sum = (xs * (2 * k - m - 1)).sum(-1)  # sum_{i<j} (x_(j) - x_(i))
    return first - pair_sum / (m * (m - 1) if fair else m * m)


def crps_quantile_grid(
    y: torch.Tensor, quantile: Callable[[torch.Tensor], torch.Tensor], *, n_levels: int = 1000
) -> torch.Tensor:
    r"""CRPS from the quantile function by the midpoint rule over levels :math:`\alpha_i = (i - \tfrac12)/m`.

    .. math::
        \mathrm{CRPS}(F, y) = 2\int_0^1 \rho_\alpha\big(y - F^{-1}(\alpha)\big)\, d\alpha
            \approx \frac2m \sum_{i=1}^m \rho_{\alpha_i}\big(y - F^{-1}(\alpha_i)\big)

    Deterministic; its error falls as :math:`1/m^2` for a smooth quantile function
    (about 1e-6 at ``m = 1000`` for the laws on [0, 1] tested here). Differentiable
    when ``quantile`` is.

    Args:
        y: labels ``(...)``.
        quantile: maps levels ``(c, ...)`` (broadcast against ``y``) to quantiles of the same shape.
        n_levels: ``m``.

    >>> from torch.distributions import Uniform
    >>> round(float(crps_quantile_grid(torch.tensor(0.5), Uniform(0.0, 1.0).icdf)), 6)
    0.083333
    """
    total = torch.zeros((), dtype=y.dtype, device=y.device)
    chunk = max(1, int(4e6 // max(1, y.numel())))
    view = (-1,) + (1,) * y.ndim
    for start in range(0, n_levels, chunk):
        i = torch.arange(start, min(n_levels, start + chunk), dtype=y.dtype, device=y.device)
        alpha = ((i + 0.5) / n_levels).reshape(view)
        u = y - quantile(alpha.expand((-1,) + tuple(y.shape)))
        total = total + (u * (alpha - (u < 0).to(u.dtype))).sum(0)
    return 2 * total / n_levels


#: family name -> closed-form CRPS function (each is checked against numerical integration in the tests)
CRPS_CLOSED_FORMS: dict[str, Callable[..., torch.Tensor]] = {
    "normal": crps_normal,
    "laplace": crps_laplace,
    "logistic": crps_logistic,
    "exponential": crps_exponential,
    "uniform": crps_uniform,
    "beta": crps_beta,
    "t": crps_t,
    "mixnorm": crps_mixnorm,
    "histogram": crps_histogram,
    "discrete": crps_discrete,
    "zoib": crps_zoib,
    "continuous_bernoulli": crps_continuous_bernoulli,
}


# ------------------------------------------------------------ distribution plumbing
def _is_histogram(d: Distribution) -> bool:
    return hasattr(d, "edges") and hasattr(d, "probs") and not isinstance(d, Categorical)


def _is_zoib(d: Distribution) -> bool:
    return all(hasattr(d, a) for a in ("p0", "p1", "beta"))


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


def _atoms(d: Distribution) -> tuple[torch.Tensor, torch.Tensor]:
    """``(atoms, probs)``, each ``(*batch, n_max + 1)``, of a scaled (beta-)binomial law; atoms past ``n`` get mass 0."""
    return d.atoms()


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


def _crps_values(d: Distribution, y: torch.Tensor, n_samples: int, seed: int) -> tuple[torch.Tensor, str]:
    """Per-element CRPS and the method used (``"closed form"``, ``"quantile grid"`` or ``"samples"``)."""
    _no_density(d, "crps")
    if isinstance(d, Normal):
        return crps_normal(y, d.loc, d.scale), "closed form"
    if isinstance(d, Laplace):
        return crps_laplace(y, d.loc, d.scale), "closed form"
    if isinstance(d, Exponential):
        return crps_exponential(y, d.rate), "closed form"
    if isinstance(d, Uniform):
        return crps_uniform(y, d.low, d.high), "closed form"
    if isinstance(d, Beta):
        return crps_beta(y, d.concentration1, d.concentration0), "closed form"
    if isinstance(d, StudentT):
        return crps_t(y, d.df, d.loc, d.scale), "closed form"
    if isinstance(d, MixtureSameFamily) and isinstance(d.component_distribution, Normal):
        c = d.component_distribution
        return crps_mixnorm(y, c.loc, c.scale, d.mixture_distribution.probs), "closed form"
    if _is_histogram(d):
        return crps_histogram(y, d.probs, d.edges), "closed form"
    if isinstance(d, (ScaledBinomial, ScaledBetaBinomial)):
        atoms, probs = _atoms(d)
        return crps_discrete(y, atoms, probs), "closed form"
    if _is_zoib(d):
        return crps_zoib(y, d.p0, d.p1, d.beta.concentration1, d.beta.concentration0), "closed form"
    if isinstance(d, ContinuousBernoulli):
        return crps_continuous_bernoulli(y, d.logits), "closed form"
    if _has_icdf(d):
        return crps_quantile_grid(y, d.icdf, n_levels=n_samples), "quantile grid"
    draws = _draw(d, n_samples, seed, reparameterised=True)
    return crps_sample(y, torch.movedim(draws, 0, -1)), "samples"


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
    values, _ = _crps_values(dist, t, n_samples, seed)
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


def _pit_values(d: Distribution, y: torch.Tensor, seed: int) -> torch.Tensor:
    _no_density(d, "pit")
    with torch.no_grad():
        if isinstance(d, (ScaledBinomial, ScaledBetaBinomial)):
            atoms, probs = _atoms(d)
            tol = 1e-6 / d.total_count.unsqueeze(-1)
            below = (probs * (atoms < y.unsqueeze(-1) - tol)).sum(-1)
            at = (probs * ((atoms - y.unsqueeze(-1)).abs() <= tol)).sum(-1)
            return below + _uniforms(tuple(y.shape), y, seed) * at
        if _is_zoib(d):
            u = _uniforms(tuple(y.shape), y, seed)
            p0, p1 = d.p0.expand(y.shape), d.p1.expand(y.shape)
            interior = p0 + (1 - p0 - p1) * beta_cdf(y, d.beta.concentration1, d.beta.concentration0)
            return torch.where(y <= 0, u * p0, torch.where(y >= 1, 1 - p1 + u * p1, interior))
        if _is_histogram(d):
            # Binned reading: the label's bin is what the law predicts, so randomise within it.
            edges, probs = d.edges, d.probs.expand(tuple(y.shape) + d.probs.shape[-1:])
            k = (torch.searchsorted(edges.contiguous(), y.contiguous(), right=True) - 1).clamp(0, probs.shape[-1] - 1)
            below = torch.cumsum(probs, -1) - probs
            pk = probs.gather(-1, k.unsqueeze(-1)).squeeze(-1)
            bk = below.gather(-1, k.unsqueeze(-1)).squeeze(-1)
            return bk + _uniforms(tuple(y.shape), y, seed) * pk
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
    return _reduce(_pit_values(dist, t, seed), "none", as_np)


def _uniform_distance(u: np.ndarray, norm: str) -> float:
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
    u = _pit_values(dist, t, seed).detach().cpu().numpy().reshape(-1).astype(np.float64)
    return _uniform_distance(u, norm)


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


def _interval(d: Distribution, level: float, ref: torch.Tensor, n_samples: int, seed: int):
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
    lo, hi = _interval(dist, level, t, n_samples, seed)
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
    lo, hi = _interval(dist, level, ref, n_samples, seed)
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
