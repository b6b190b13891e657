"""The Beta family: the Beta CDF and quantile torch lacks, torch's ``Beta`` with them, and the zero/one-inflated beta."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.distributions import Beta as TorchBeta
from torch.distributions import Categorical, Distribution, constraints
from torch.distributions.utils import broadcast_all

from ._scipy import ScipyCdf, as_floats, numpy64

__all__ = ["Beta", "beta_cdf", "beta_icdf", "beta_log_prob", "zoib_log_prob", "ZeroOneInflatedBeta"]


def _beta_log_pdf(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inside = (x > 0) & (x < 1)
    xs = torch.where(inside, x, torch.full_like(x, 0.5))
    lp = torch.xlogy(a - 1, xs) + torch.xlogy(b - 1, 1 - xs) - (torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b))
    return torch.where(inside, lp, torch.full_like(lp, -math.inf))


def _betainc(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import scipy.special as sps  # here, not at import: scipy.special loads in ~0.1 s

    return sps.betainc(a, b, np.clip(x, 0.0, 1.0))


#: the Beta CDF for :class:`ScipyCdf`: ``(numpy cdf(x, a, b), torch log-density)``
BETA_SPEC = (_betainc, _beta_log_pdf)


def beta_cdf(x: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""Beta CDF :math:`I_x(a, b)`, broadcast over its arguments, differentiable in all of them.

    .. math:: I_x(a, b) = \frac{1}{B(a, b)} \int_0^x t^{a-1}(1-t)^{b-1}\, dt

    ``scipy.special.betainc`` in float64 on the CPU (0 below 0, 1 above 1); the gradient
    in ``x`` is the density, in ``a`` and ``b`` a central difference (see :class:`ScipyCdf`).

    >>> round(float(beta_cdf(torch.tensor(0.5), 2.0, 3.0)), 6)  # 1 - (1/2)^4 - 4 (1/2)^4
    0.6875
    """
    x, a, b = torch.broadcast_tensors(*as_floats(x, concentration1, concentration0))
    return ScipyCdf.apply(BETA_SPEC, x, a, b)


def beta_icdf(q: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""Beta quantile :math:`I^{-1}_q(a, b)` by ``scipy.special.betaincinv`` (float64 on the CPU; no gradient).

    Returned in the dtype and on the device of the concentrations (else of ``q``).

    >>> round(float(beta_icdf(torch.tensor(0.6875), 2.0, 3.0)), 6)
    0.5
    """
    a, b, q = torch.broadcast_tensors(*as_floats(concentration1, concentration0, q))
    import scipy.special as sps

    out = sps.betaincinv(numpy64(a), numpy64(b), numpy64(q))
    return torch.as_tensor(out, dtype=a.dtype, device=a.device)


class Beta(TorchBeta):
    r"""``torch.distributions.Beta`` with ``cdf`` and ``icdf``: the predictive of the ``beta`` law.

    ``cdf`` is :func:`beta_cdf` (differentiable), ``icdf`` is :func:`beta_icdf` (no gradient).

    >>> d = Beta(torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64))
    >>> float(d.cdf(torch.tensor(0.5))), round(float(d.icdf(torch.tensor(0.6875))), 12)
    (0.6875, 0.5)
    """

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return beta_cdf(value, self.concentration1, self.concentration0)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return beta_icdf(value, self.concentration1, self.concentration0)


def beta_log_prob(concentration1: torch.Tensor, concentration0: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    r"""Beta log-density :math:`(a-1)\log y + (b-1)\log(1-y) - \log B(a, b)` for ``y`` strictly inside (0, 1).

    ``log1p(-y)`` keeps ``log(1 - y)`` exact for labels near 0; the log-beta function
    is ``lgamma(a) + lgamma(b) - lgamma(a + b)`` (in float32 it loses precision once
    ``a + b`` reaches the thousands, as ``torch.distributions.Beta`` does).

    >>> round(float(beta_log_prob(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(0.25))), 6)  # 12 y (1-y)^2
    0.523248
    """
    a, b = concentration1, concentration0
    log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    return (a - 1) * torch.log(value) + (b - 1) * torch.log1p(-value) - log_beta


def zoib_log_prob(
    zero_logits: torch.Tensor,
    one_logits: torch.Tensor,
    concentration1: torch.Tensor,
    concentration0: torch.Tensor,
    value: torch.Tensor,
) -> torch.Tensor:
    r"""Log-mass at 0 and 1, log-density inside, of :class:`ZeroOneInflatedBeta` (see there)."""
    # log(1 + e^r0 + e^r1): the three outcome classes {0, 1, inside} have logits (r0, r1, 0).
    zero_logits, one_logits = torch.broadcast_tensors(zero_logits, one_logits)
    log_norm = torch.logsumexp(torch.stack([zero_logits, one_logits, torch.zeros_like(zero_logits)]), 0)
    is_zero, is_one = value == 0, value == 1
    inside = ~(is_zero | is_one)
    # The Beta density is evaluated at 0.5 for atoms: -inf * 0 there would poison the gradient via torch.where.
    safe = torch.where(inside, value, torch.full_like(value, 0.5))
    inner = beta_log_prob(concentration1, concentration0, safe)
    lp = torch.where(is_zero, zero_logits, torch.where(is_one, one_logits, inner))
    return lp - log_norm


class ZeroOneInflatedBeta(Distribution):
    r"""Zero/one-inflated beta law: point masses at 0 and 1 plus a Beta density inside (Ospina & Ferrari 2010).

    .. math::
        P(y = 0) = \pi_0, \quad P(y = 1) = \pi_1, \quad
        p(y) = (1 - \pi_0 - \pi_1)\,\mathrm{Beta}(y; a, b) \ \text{for}\ 0 < y < 1,

    with :math:`(\pi_0, \pi_1, \pi_c) = \operatorname{softmax}(r_0, r_1, 0)`. This is a
    mixed law: :meth:`log_prob` returns the log-mass at an atom and the log-density
    (w.r.t. Lebesgue measure) inside, which is the likelihood w.r.t. Lebesgue plus
    the two point masses.

    Args:
        zero_logits: ``r0 = log(pi0 / pi_c)``.
        one_logits: ``r1 = log(pi1 / pi_c)``.
        concentration1, concentration0: ``a``, ``b`` of the Beta part.

    Attributes ``p0``, ``p1`` (atom masses) and ``beta`` (the Beta part, a :class:`Beta`)
    are there for metrics. The CDF jumps at the atoms,

    .. math::
        F(y) = \pi_0 + \pi_c I_y(a, b) \ \text{for}\ 0 \le y < 1, \qquad F(1) = 1,

    and ``icdf(q)`` is the smallest ``y`` with ``F(y) >= q``: 0 for ``q <= pi0``, 1 for
    ``q >= 1 - pi1``, else the Beta quantile at ``(q - pi0) / pi_c`` (``scipy.special``;
    no gradient).

    References: R. Ospina and S. L. P. Ferrari, "Inflated beta distributions",
    Statistical Papers 51 (2010) 111-126.

    >>> d = ZeroOneInflatedBeta(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(2.0), torch.tensor(2.0))
    >>> round(float(d.p0), 4), round(float(d.mean), 4), round(float(d.log_prob(torch.tensor(1.0))), 4)
    (0.3333, 0.5, -1.0986)
    >>> round(float(d.cdf(torch.tensor(0.5))), 4), round(float(d.icdf(torch.tensor(0.5))), 6), float(d.icdf(torch.tensor(0.3)))
    (0.5, 0.5, 0.0)
    """

    arg_constraints = {
        "zero_logits": constraints.real,
        "one_logits": constraints.real,
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval  # closed: the atoms 0 and 1 belong to it
    has_rsample = False

    def __init__(
        self,
        zero_logits: torch.Tensor,
        one_logits: torch.Tensor,
        concentration1: torch.Tensor,
        concentration0: torch.Tensor,
        validate_args: bool | None = None,
    ) -> None:
        self.zero_logits, self.one_logits, self.concentration1, self.concentration0 = broadcast_all(
            zero_logits, one_logits, concentration1, concentration0
        )
        super().__init__(self.zero_logits.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ZeroOneInflatedBeta, _instance)
        batch_shape = torch.Size(batch_shape)
        for key in ("zero_logits", "one_logits", "concentration1", "concentration0"):
            setattr(new, key, getattr(self, key).expand(batch_shape))
        super(ZeroOneInflatedBeta, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _class_log_probs(self) -> torch.Tensor:
        """``log (pi0, pi1, pi_c)`` stacked on a trailing axis of size 3."""
        return torch.log_softmax(
            torch.stack([self.zero_logits, self.one_logits, torch.zeros_like(self.zero_logits)], -1), -1
        )

    @property
    def p0(self) -> torch.Tensor:
        return self._class_log_probs[..., 0].exp()

    @property
    def p1(self) -> torch.Tensor:
        return self._class_log_probs[..., 1].exp()

    @property
    def beta(self) -> "Beta":
        return Beta(self.concentration1, self.concentration0, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        probs = self._class_log_probs.exp()
        return probs[..., 1] + probs[..., 2] * self.beta.mean

    @property
    def variance(self) -> torch.Tensor:
        # Law of total variance over the three classes: non-negative by construction.
        probs = self._class_log_probs.exp()
        m, mb = self.mean, self.beta.mean
        between = probs[..., 0] * m**2 + probs[..., 1] * (1 - m) ** 2 + probs[..., 2] * (mb - m) ** 2
        return probs[..., 2] * self.beta.variance + between

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return zoib_log_prob(self.zero_logits, self.one_logits, self.concentration1, self.concentration0, value)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            cls = Categorical(logits=self._class_log_probs).sample(torch.Size(sample_shape))
            inside = self.beta.sample(torch.Size(sample_shape))
            edge = (cls == 1).to(inside.dtype)
            return torch.where(cls == 2, inside, edge)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        ref = self.concentration1
        value = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        probs = self._class_log_probs.exp()
        inner = probs[..., 0] + probs[..., 2] * beta_cdf(value.clamp(0.0, 1.0), self.concentration1, self.concentration0)
        out = torch.where(value < 0, torch.zeros_like(inner), torch.where(value >= 1, torch.ones_like(inner), inner))
        return out.clamp(0.0, 1.0)  # the three masses sum to 1 only to rounding

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        ref = self.concentration1
        q = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        with torch.no_grad():
            probs = self._class_log_probs.exp()
            p0, p1, pc = probs[..., 0], probs[..., 1], probs[..., 2]
            # pc can underflow to 0 (all mass on the atoms): divide by 1 there, the atoms' branches are selected.
            inner = ((q - p0) / torch.where(pc > 0, pc, torch.ones_like(pc))).clamp(0.0, 1.0)
            x = beta_icdf(inner, self.concentration1, self.concentration0)
            return torch.where(q <= p0, torch.zeros_like(x), torch.where(q >= 1 - p1, torch.ones_like(x), x))
