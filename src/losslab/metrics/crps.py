r"""Closed forms of the continuous ranked probability score, one per family, and two estimators.

The CRPS of a predictive CDF :math:`F` at a label ``y``,

.. math::
    \mathrm{CRPS}(F, y) = \int_{-\infty}^{\infty} \big(F(x) - \mathbf 1\{x \ge y\}\big)^2 \, dx
                        = \mathbb E|X - y| - \tfrac12 \mathbb E|X - X'|
                        = 2 \int_0^1 \rho_\alpha\big(y - F^{-1}(\alpha)\big)\, d\alpha,

(Gneiting & Raftery 2007, "Strictly proper scoring rules, prediction, and
estimation"; :math:`\rho_\alpha(u) = u(\alpha - \mathbf 1\{u < 0\})`, the pinball
loss) has the closed forms ``crps_<family>(y, *params)`` here, listed in
:data:`CRPS_CLOSED_FORMS`; :func:`crps_sample` and :func:`crps_quantile_grid` estimate
it for the other laws. Each takes labels and parameters (tensors or numbers; the
parameters may broadcast to the labels' shape, the labels never broadcast) and returns
the per-element CRPS. :mod:`losslab.metrics.registry` says which formula scores which
``torch.distributions`` class; :func:`losslab.metrics.crps` scores a distribution.

The Beta, Student-t and zero/one-inflated Beta forms use the Beta and Student-t CDFs
of ``scipy.special`` through :class:`losslab.distributions.ScipyCdf` (float64 on the
CPU; the derivative in ``x`` is the density, in the shape parameters a central
difference of relative error about 1e-10): differentiable, at the price of a CPU
round-trip.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .._errors import LosslabError
from ..distributions import BETA_SPEC, T_SPEC, ScipyCdf, t_log_pdf
from ._checks import label_tensors

__all__ = [
    "crps_normal", "crps_laplace", "crps_logistic", "crps_exponential", "crps_uniform", "crps_beta", "crps_t",
    "crps_mixnorm", "crps_histogram", "crps_discrete", "crps_zoib", "crps_continuous_bernoulli",
    "crps_sample", "crps_quantile_grid", "CRPS_CLOSED_FORMS",
]

_SQRT_PI = math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return _INV_SQRT_2PI * torch.exp(-0.5 * z * z)


def _expected_abs_uniform(y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``E|U - y|`` for ``U ~ Uniform(a, b)``, one formula for ``y`` below, inside and above ``[a, b]``."""
    t = torch.minimum(torch.maximum(y, a), b)
    return (y - t).abs() + ((t - a) ** 2 + (b - t) ** 2) / (2 * (b - a))


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
    y, loc, scale = label_tensors(y, loc, scale)
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
    y, loc, scale = label_tensors(y, loc, scale)
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
    y, loc, scale = label_tensors(y, loc, scale)
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
    y, rate = label_tensors(y, rate)
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
    y, low, high = label_tensors(y, low, high)
    return _expected_abs_uniform(y, low, high) - (high - low) / 6


def _lbeta(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # In float64: at concentrations ~1e6 float32 lgamma values are ~1e7 and their differences lose every digit.
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    return (torch.lgamma(a64) + torch.lgamma(b64) - torch.lgamma(a64 + b64)).to(a.dtype)


def _beta_parts(y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(E|B - y|, E|B - B'|, E B)`` for ``B ~ Beta(a, b)``."""
    mean = a / (a + b)
    x, a_, b_ = torch.broadcast_tensors(y, a, b)
    f = ScipyCdf.apply(BETA_SPEC, x, a_, b_)
    g = ScipyCdf.apply(BETA_SPEC, x, a_ + 1, b_)  # int_0^y x f(x) dx = E[B] F_{a+1,b}(y)
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
    y, a, b = label_tensors(y, concentration1, concentration0)
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
    y, df, loc, scale = label_tensors(y, df, loc, scale)
    z = (y - loc) / scale
    z, nu = torch.broadcast_tensors(z, df)
    ok = nu > 1
    nu_s = torch.where(ok, nu, torch.full_like(nu, 2.0))
    cdf = ScipyCdf.apply(T_SPEC, z, nu_s)
    pdf = torch.exp(t_log_pdf(z, nu_s))
    half = torch.full_like(nu_s, 0.5)
    half_gini = 2 * torch.sqrt(nu_s) * torch.exp(_lbeta(half, nu_s - 0.5) - 2 * _lbeta(half, nu_s / 2)) / (nu_s - 1)
    out = scale * (z * (2 * cdf - 1) + 2 * pdf * (nu_s + z * z) / (nu_s - 1) - half_gini)
    if bool(ok.all()):
        return out
    import scipy.special as sps  # here: only a Student-t with df <= 1 needs it, and `import losslab` should not load scipy

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
    y, loc, scale, weights = label_tensors(y, loc, scale, weights, last_axis=True)
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
    y, probs, edges = label_tensors(y, probs, edges, last_axis=True)
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
    y, atoms, probs = label_tensors(y, atoms, probs, last_axis=True)
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
    y, p0, p1, a, b = label_tensors(y, p0, p1, concentration1, concentration0)
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
    y, logits = label_tensors(y, logits)
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
    y, samples = label_tensors(y, samples, last_axis=True)
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
