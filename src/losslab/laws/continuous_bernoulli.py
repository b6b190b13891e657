r"""The continuous Bernoulli law (Loaiza-Ganem & Cunningham 2019): BCE made a proper density on [0, 1].

Written in the logits ``x`` (the natural parameter). The density is
:math:`p(y) = C(x)\, \sigma(x)^y (1-\sigma(x))^{1-y}` with :math:`C(x) = x / \tanh(x/2)`,
an exponential family :math:`p(y) = \exp(x y - A(x))` with log-partition
:math:`A(x) = \log((e^x - 1)/x) = x/2 + S(x)`, :math:`S(x) = \log(\sinh(x/2)/(x/2))`. So

.. math::
    \mathrm{NLL}(x, y) = \mathrm{BCE}(x, y) - \log C(x) = A(x) - x y = x(\tfrac12 - y) + S(x),

and the mean is :math:`A'(x) = 1/(1 - e^{-x}) - 1/x`. ``S`` is even and smooth, but its
closed form :math:`|x|/2 + \log(1 - e^{-|x|}) - \log|x|` cancels near 0, where a Taylor
series is used instead (see :func:`_taylor_max`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import ContinuousBernoulli as TorchContinuousBernoulli
from torch.distributions.utils import broadcast_all

from ..distributions import cb_cdf, cb_icdf
from ..links import IDENTITY, Link
from ._base import Params, ScalarLaw
from ._registry import register_law
from ._support import UNIT_INTERVAL_CLOSED

__all__ = [
    "ContinuousBernoulli",
    "StableContinuousBernoulli",
    "cb_nll",
    "cb_log_norm",
    "cb_mean",
    "cb_variance",
    "cb_median",
    "cb_logits_for_mean",
]

LOG_2 = math.log(2.0)


def _taylor_max(dtype: torch.dtype) -> float:
    """``|x|`` below which Taylor series replace the closed forms (for the NLL, the mean and the variance).

    The closed forms lose ``~eps / |x|`` absolutely in the derivative of ``S`` (``1/|x|``
    cancels) and ``~eps / x^2`` in the variance; the series of ``S`` kept to ``x^8`` is
    off by ``x^10 / 479001600`` in value and ``x^9 / 47900160`` in slope. Balancing
    ``x^9 / 4.8e7 = eps / x`` gives ``|x| = 0.15`` for float64 (both errors ~1e-15) and
    ``|x| ~ 1.2`` for float32 (both ~1e-8, below float32 rounding); 1.0 is used.
    """
    return 0.15 if dtype == torch.float64 else 1.0


def _split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(small, a_safe, w)``: the Taylor mask, ``|x|`` kept away from 0 where unused, and ``x^2`` (0 where unused)."""
    t = _taylor_max(x.dtype)
    a = x.abs()
    small = a <= t
    # The closed forms divide by |x|: give them t where the Taylor branch is selected, so no inf/NaN appears.
    # The series see x = 0 where the closed forms are selected: their x^8 overflows once |x| > ~1e4 in float32
    # (~1e38 in float64), and an inf in the unselected branch turns its zero gradient into NaN.
    xs = torch.where(small, x, torch.zeros_like(x))
    return small, torch.where(small, torch.full_like(a, t), a), xs * xs


#: above this |x|, e^-|x| (< 2e-22) is below the rounding of log|x|: log((1 - e^-|x|)/|x|) is -log|x|
_EXP_NEGLIGIBLE = 50.0


def _log_one_minus_exp_over(a: torch.Tensor) -> torch.Tensor:
    """``log((1 - e^{-a}) / a)`` for ``a >= t`` (the closed form of ``S(x) - |x|/2``), finite up to float32's limit.

    Above 50 it is ``-log a``: the ratio ``expm1(-a) / -a`` is a subnormal float32 number once
    ``a > 1.2e38``, whose reciprocal in the gradient of ``log`` overflows (and times 0, is NaN).
    """
    big = a > _EXP_NEGLIGIBLE
    mid = torch.where(big, torch.ones_like(a), a)
    return torch.where(big, -torch.log(a), torch.log(torch.expm1(-mid) / -mid))


def cb_nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Continuous-Bernoulli NLL :math:`x(\tfrac12 - y) + S(x)` (module docstring), finite for any logits.

    Away from 0 it is written :math:`x(H(x) - y) + \log((1 - e^{-|x|})/|x|)` with ``H``
    the step function, so that ``x (1 - y)`` (for ``x > 0``) and ``-x y`` (for ``x < 0``)
    keep full precision at labels near the edge where ``x`` is large, as BCE does.

    >>> round(float(cb_nll(torch.tensor(2.0), torch.tensor(0.75))), 6)
    -0.338561
    """
    small, a, w = _split(logits)
    # S(x) = x^2/24 - x^4/2880 + x^6/181440 - x^8/9676800 + O(x^10)
    taylor = w * (1 / 24 + w * (-1 / 2880 + w * (1 / 181440 - w / 9676800)))
    closed = _log_one_minus_exp_over(a)
    step = torch.where(small, torch.full_like(logits, 0.5), (logits > 0).to(logits.dtype))
    return logits * (step - y) + torch.where(small, taylor, closed)


def cb_log_norm(logits: torch.Tensor) -> torch.Tensor:
    r""":math:`\log C(x) = \log(x / \tanh(x/2))`, the log normaliser w.r.t. the Bernoulli kernel.

    ``log C = BCE(x, y) - NLL(x, y) = softplus(x) - x/2 - S(x)`` for every ``y``; written as
    ``softplus(-|x|) - log((1 - e^{-|x|})/|x|)`` away from 0 and with the series of ``S``
    near it (the series of ``log C`` itself converges more slowly: its radius is pi, not 2 pi).

    >>> round(float(cb_log_norm(torch.tensor(0.0))), 6), round(float(cb_log_norm(torch.tensor(2.0))), 6)
    (0.693147, 0.965489)
    """
    small, a, w = _split(logits)
    taylor = F.softplus(logits) - logits / 2 - w * (1 / 24 + w * (-1 / 2880 + w * (1 / 181440 - w / 9676800)))
    closed = F.softplus(-a) - _log_one_minus_exp_over(a)
    return torch.where(small, taylor, closed)


def _lower_mean(a: torch.Tensor) -> torch.Tensor:
    """``1/a - 1/(e^a - 1)``: the mean of CB(-a) for ``a >= t``; written with ``e^-a`` so ``a = 1e4`` does not overflow."""
    return 1 / a - torch.exp(-a) / -torch.expm1(-a)


def cb_mean(logits: torch.Tensor) -> torch.Tensor:
    r"""Mean :math:`1/(1 - e^{-x}) - 1/x` of the continuous Bernoulli, accurate for any logits.

    The lower tail is computed directly (``1/|x| - 1/(e^{|x|} - 1)`` for ``x < 0``), not as
    ``1 - upper``, so tiny means keep their relative precision; near 0 the series
    ``1/2 + x/12 - x^3/720 + x^5/30240 - x^7/1209600`` is used.

    >>> [round(v, 6) for v in cb_mean(torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64)).tolist()]
    [0.343482, 0.5, 0.656518]
    """
    small, a, w = _split(logits)
    taylor = 0.5 + logits * (1 / 12 + w * (-1 / 720 + w * (1 / 30240 - w / 1209600)))
    lower = _lower_mean(a)
    return torch.where(small, taylor, torch.where(logits > 0, 1 - lower, lower))


def cb_variance(logits: torch.Tensor) -> torch.Tensor:
    r"""Variance :math:`1/x^2 - 1/(4\sinh^2(x/2))`, with its series ``1/12 - x^2/240 + x^4/6048 - ...`` near 0."""
    small, a, w = _split(logits)
    taylor = 1 / 12 + w * (-1 / 240 + w * (1 / 6048 + w * (-1 / 172800 + w / 5322240)))
    # 1/(4 sinh^2(a/2)) = e^-a / (1 - e^-a)^2, finite for large a
    closed = 1 / (a * a) - torch.exp(-a) / torch.expm1(-a) ** 2
    return torch.where(small, taylor, closed)


def cb_median(logits: torch.Tensor) -> torch.Tensor:
    r"""Median :math:`\log((1 + e^x)/2) / x` (solves ``cdf = 1/2``), accurate for any logits.

    For ``|x| <= 1`` it is ``log1p(expm1(x)/2) / x``, free of cancellation; beyond,
    ``1 - (log 2 - softplus(-|x|))/|x|`` and, for the lower tail, ``(log 2 - softplus(-|x|))/|x|``
    directly; the series ``1/2 + x/8 - x^3/192 + x^5/2880 - 17 x^7/645120`` below
    ``|x| = 0.1`` (off by < 1e-14) keeps the gradient free of the ``1/x`` cancellation.

    >>> [round(v, 6) for v in cb_median(torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64)).tolist()]
    [0.28311, 0.5, 0.71689]
    """
    a = logits.abs()
    tiny, mid = a <= 0.1, a <= 1.0
    w = logits * logits
    taylor = 0.5 + logits * (1 / 8 + w * (-1 / 192 + w * (1 / 2880 - w * 17 / 645120)))
    xm = torch.where(tiny | ~mid, torch.ones_like(logits), logits)  # the closed form below is used for 0.1 < |x| <= 1
    central = torch.log1p(torch.expm1(xm) / 2) / xm
    af = torch.where(mid, torch.ones_like(a), a)
    lower = (LOG_2 - F.softplus(-af)) / af  # median of CB(-|x|), |x| > 1
    far = torch.where(logits > 0, 1 - lower, lower)
    return torch.where(tiny, taylor, torch.where(mid, central, far))


@torch.no_grad()
def cb_logits_for_mean(mean: torch.Tensor, max_iter: int = 100) -> torch.Tensor:
    r"""The logits ``x`` whose continuous-Bernoulli mean is ``mean`` (float64; ``±inf`` at 0 and 1).

    With ``q = min(m, 1 - m)`` and ``k(x) = 1/x - 1/(e^x - 1)`` (the mean of CB(-x)),
    solves ``1/k(x) = 1/q`` for ``x >= 0`` by Newton's method from ``x = 1/q``: ``1/k`` is
    increasing and convex on ``x >= 0`` and ``k(x) < 1/x`` puts ``1/q`` right of the root,
    so the iterates decrease monotonically to it (quadratically near it). Then
    ``x = sign(m - 1/2) * root``.

    >>> round(float(cb_logits_for_mean(torch.tensor(0.656518))), 4)
    2.0
    """
    m = mean.to(torch.float64)
    q = torch.minimum(m, 1 - m)
    edge = q <= 0
    q = torch.where(edge, torch.full_like(q, 0.25), q)
    x = 1 / q
    for _ in range(max_iter):
        k = cb_mean(-x)  # k(x) is the mean of CB(-x), computed without 1 - (1 - k)
        # Newton on 1/k(x) - 1/q, whose slope is v / k^2: the step is (q - k)/q * k/v. For x > 50, k/v = x to
        # 1e-12 (e^-x is negligible), and taking it so avoids v = 1/x^2 underflowing for x beyond 1e154.
        k_over_v = torch.where(x > 50, x, k / cb_variance(torch.minimum(x, torch.full_like(x, 50.0))))
        step = (q - k) / q * k_over_v
        x_new = (x - step).clamp(min=0.0)
        # Quadratic convergence: once steps are 1e-13 relative, x_new is exact to rounding. (A tighter test could
        # cycle forever: the series and closed forms of k differ by ~1e-16 where they meet.)
        done = bool((step.abs() <= 1e-13 * (1 + x)).all())
        x = x_new
        if done:
            break
    x = torch.where(m > 0.5, x, -x)
    return torch.where(edge, torch.where(m > 0.5, math.inf, -math.inf), x)


class StableContinuousBernoulli(TorchContinuousBernoulli):
    """``torch.distributions.ContinuousBernoulli`` whose ``log_prob``, ``mean`` and ``variance`` stay exact for any logits.

    torch clamps ``probs`` to ``[eps, 1 - eps]`` (so its log-density saturates once
    ``|logits| > ~36`` in float64, ~16 in float32) and uses a 2-term series in
    ``probs - 1/2``; here :func:`cb_nll`, :func:`cb_mean` and :func:`cb_variance` are
    used, and :func:`losslab.distributions.cb_cdf` and :func:`~losslab.distributions.cb_icdf`
    (closed forms in the logits, finite at ``|logits| = 1e4``, with a Taylor branch near 0
    where torch's are flat in the parameter). ``sample`` and ``rsample`` are torch's.
    """

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return cb_cdf(value, logits)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        logits, value = broadcast_all(self.logits, value)
        return cb_icdf(value, logits)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -cb_nll(logits, value)

    @property
    def mean(self) -> torch.Tensor:
        return cb_mean(self.logits)

    @property
    def variance(self) -> torch.Tensor:
        return cb_variance(self.logits)


@register_law("continuous-bernoulli")
class ContinuousBernoulli(ScalarLaw):
    r"""The continuous Bernoulli: soft BCE plus the log normaliser that makes it a density on [0, 1].

    .. math::
        -\log p(y \mid x) = \mathrm{BCE}(x, y) - \log\frac{x}{\tanh(x/2)}
                          = x(\tfrac12 - y) + \log\frac{\sinh(x/2)}{x/2}

    An exponential family in the logits ``x`` with sufficient statistic ``y``: the NLL is
    convex in ``x`` and, for a label ``y`` in (0, 1), minimised where the law's mean
    equals ``y``, so the minimiser of the expected NLL over a label distribution is
    the label mean (as for BCE, but the mean is not ``sigmoid(x)``: read predictions
    through :meth:`point`). :meth:`excess` solves for that minimiser numerically; it is
    ``+inf`` at labels exactly 0 or 1, where the density is unbounded as ``|x| -> inf``.
    Computed in a form exact for ``|x|`` up to 1e4 and beyond, with Taylor series near
    ``x = 0`` (see :func:`cb_nll`).

    Args:
        clamp: accepted for uniformity; the support already includes 0 and 1.

    Raw outputs: ``[logits]``.

    Reference: G. Loaiza-Ganem and J. P. Cunningham, "The continuous Bernoulli: fixing a
    pervasive error in variational autoencoders", NeurIPS 2019.

    >>> law = ContinuousBernoulli()
    >>> p = law.link(torch.tensor([[0.0], [2.0]]))
    >>> [round(v, 4) for v in law.nll(p, torch.tensor([0.3, 0.75])).tolist()]   # x = 0: the uniform density
    [0.0, -0.3386]
    >>> [round(v, 4) for v in law.point(p).tolist()]
    [0.5, 0.6565]
    """

    support = UNIT_INTERVAL_CLOSED
    formula = "BCE(x, y) - log(x / tanh(x / 2))  (= x (1/2 - y) + log(sinh(x/2) / (x/2)))"
    point_kinds = ("mean", "median")
    mean_minimiser = True

    def param_links(self) -> dict[str, Link]:
        return {"logits": IDENTITY}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # The marginal maximum-likelihood fit: the logits whose mean is the label mean.
        m = torch.as_tensor(y, dtype=torch.float64).mean().clamp(1e-6, 1 - 1e-6)
        return {"logits": cb_logits_for_mean(m).to(torch.get_default_dtype())}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return cb_nll(params["logits"], y)

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        y64 = y.detach().to(torch.float64)
        x = cb_logits_for_mean(y64)
        finite = torch.isfinite(x)
        inf = cb_nll(torch.where(finite, x, torch.zeros_like(x)), y64)
        return torch.where(finite, inf, torch.full_like(inf, -math.inf)).to(y.dtype)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> StableContinuousBernoulli:
        return StableContinuousBernoulli(logits=params["logits"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return cb_mean(params["logits"])

    def _median(self, params: Params) -> torch.Tensor:
        return cb_median(params["logits"])
