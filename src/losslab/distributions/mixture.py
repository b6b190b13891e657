"""Mixtures of scalar laws, and the CDF and quantile of any law (a mixture's components may be of any family).

:func:`distribution_cdf` and :func:`distribution_icdf` live here because a mixture evaluates
its components through them, and they in turn send a mixture to :func:`mixture_cdf`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Beta as TorchBeta
from torch.distributions import ContinuousBernoulli as TorchContinuousBernoulli
from torch.distributions import Distribution
from torch.distributions import MixtureSameFamily as TorchMixtureSameFamily
from torch.distributions import StudentT as TorchStudentT

from .beta import beta_cdf, beta_icdf
from .bisect import bisect_icdf
from .continuous_bernoulli import cb_cdf, cb_icdf
from .student_t import studentt_cdf, studentt_icdf

__all__ = ["MixtureSameFamily", "mixture_cdf", "mixture_icdf", "distribution_cdf", "distribution_icdf"]


def mixture_cdf(d: TorchMixtureSameFamily, x: Any) -> torch.Tensor:
    r"""CDF :math:`\sum_k w_k F_k(x)` of a mixture of scalar laws (components through :func:`distribution_cdf`).

    >>> from torch.distributions import Categorical, Normal
    >>> m = TorchMixtureSameFamily(Categorical(torch.tensor([0.5, 0.5])), Normal(torch.tensor([-1.0, 1.0]), torch.ones(2)))
    >>> round(float(mixture_cdf(m, torch.tensor(0.0))), 6)
    0.5
    """
    w = d.mixture_distribution.probs
    x = torch.as_tensor(x, dtype=w.dtype, device=w.device)
    out = (w * distribution_cdf(d.component_distribution, x.unsqueeze(-1))).sum(-1)
    # Weights that sum to 1 + 1 ulp would put the far right tail at 1.0000000000000002: a probability is <= 1.
    return out.clamp(0.0, 1.0)


def mixture_icdf(d: TorchMixtureSameFamily, q: Any) -> torch.Tensor:
    r"""Quantile of a mixture of scalar laws: :func:`bisect_icdf` on :func:`mixture_cdf` (no gradient).

    The components' own ``q``-quantiles bracket the mixture's: at :math:`x = \min_k F_k^{-1}(q)`
    every :math:`F_k(x) \le q`, so :math:`F(x) = \sum_k w_k F_k(x) \le q`, and likewise
    :math:`F \ge q` at the largest; the bracket is tight and finite for ``0 < q < 1``.
    ``q = 0`` and ``q = 1`` give the ends of the support (the components' extreme quantiles).

    >>> from torch.distributions import Categorical, Normal
    >>> m = TorchMixtureSameFamily(Categorical(torch.tensor([0.3, 0.7], dtype=torch.float64)),
    ...     Normal(torch.tensor([-2.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64)))
    >>> round(float(mixture_icdf(m, 0.5)), 4)  # scipy.optimize.brentq on the mixture cdf
    0.7191
    """
    if d.event_shape != ():
        raise NotImplementedError("mixture_icdf: the quantile of a mixture of vector laws is undefined")
    w = d.mixture_distribution.probs
    q = torch.as_tensor(q, dtype=w.dtype, device=w.device)
    shape = torch.broadcast_shapes(q.shape, d.batch_shape)
    q = q.expand(shape)
    k = d.component_distribution.batch_shape[-1]
    comp = d.component_distribution
    with torch.no_grad():
        edge = (q <= 0) | (q >= 1)
        safe = torch.where(edge, torch.full_like(q, 0.5), q)  # the bisection runs on q in (0, 1) only
        per = distribution_icdf(comp, safe.unsqueeze(-1).expand(shape + (k,)))
        x = bisect_icdf(lambda v: mixture_cdf(d, v), safe, per.amin(-1), per.amax(-1))
        if bool(edge.any()):
            ends = distribution_icdf(comp, q.unsqueeze(-1).expand(shape + (k,)))
            x = torch.where(q <= 0, ends.amin(-1), torch.where(q >= 1, ends.amax(-1), x))
        return x


def distribution_cdf(d: Distribution, x: Any) -> torch.Tensor:
    """``d.cdf(x)``, through the functions above for torch classes whose ``cdf`` is missing or imprecise.

    Beta and Student-t (scipy), continuous Bernoulli (:func:`cb_cdf`), mixtures of scalar laws
    (:func:`mixture_cdf`); any other law's own ``cdf``.
    """
    if isinstance(d, TorchBeta):
        return beta_cdf(x, d.concentration1, d.concentration0)
    if isinstance(d, TorchStudentT):
        return studentt_cdf(x, d.df, d.loc, d.scale)
    if isinstance(d, TorchContinuousBernoulli):
        return cb_cdf(torch.as_tensor(x, dtype=d.logits.dtype, device=d.logits.device), d.logits)
    if isinstance(d, TorchMixtureSameFamily) and d.event_shape == ():
        return mixture_cdf(d, x)
    return d.cdf(x)


def distribution_icdf(d: Distribution, q: Any) -> torch.Tensor:
    """``d.icdf(q)``, through the functions above for torch classes without one (see :func:`distribution_cdf`).

    Raises ``NotImplementedError`` for a law with no quantile function here or in torch.
    """
    if isinstance(d, TorchBeta):
        return beta_icdf(q, d.concentration1, d.concentration0)
    if isinstance(d, TorchStudentT):
        return studentt_icdf(q, d.df, d.loc, d.scale)
    if isinstance(d, TorchContinuousBernoulli):
        return cb_icdf(torch.as_tensor(q, dtype=d.logits.dtype, device=d.logits.device), d.logits)
    if isinstance(d, TorchMixtureSameFamily):
        return mixture_icdf(d, q)
    return d.icdf(q)


class MixtureSameFamily(TorchMixtureSameFamily):
    r"""``torch.distributions.MixtureSameFamily`` of scalar laws with ``cdf`` and ``icdf`` for any component family.

    ``cdf`` is :func:`mixture_cdf` (components' CDFs through :func:`distribution_cdf`, so Beta
    and Student-t components work; clamped to [0, 1]); ``icdf`` is :func:`mixture_icdf`
    (bracketed bisection, to two float spacings; no gradient). The predictive of the
    ``mixture-gaussian`` and ``mixture-beta`` laws.

    >>> from torch.distributions import Categorical
    >>> from losslab.distributions import Beta
    >>> m = MixtureSameFamily(Categorical(torch.tensor([0.5, 0.5])), Beta(torch.tensor([2.0, 5.0]), torch.tensor([5.0, 2.0])))
    >>> round(float(m.cdf(torch.tensor(0.5))), 6), round(float(m.icdf(torch.tensor(0.5))), 6)   # symmetric about 1/2
    (0.5, 0.5)
    """

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return mixture_cdf(self, x)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return mixture_icdf(self, value)
