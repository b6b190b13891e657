"""Exponential law: non-negative labels (waiting times, sizes) through a rate."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from .._errors import LosslabError, first_rows
from ..distributions import Exponential as ExponentialDistribution
from ..links import Link, log_softplus, positive_inv
from ._base import Params, ScalarLaw
from ._registry import register_law
from ._support import NONNEGATIVE

LOG_2 = math.log(2.0)
LOG_LOG_2 = math.log(LOG_2)

SOFTPLUS = Link("softplus", F.softplus, lambda v: positive_inv(v, 0.0))

#: below this raw output, log(softplus(r)) is replaced by r (as in :func:`losslab.links.log_softplus`)
SMALL_RAW = -15.0


class _ReducedExponentialNLL(torch.autograd.Function):
    """``sum_i softplus(r_i) y_i - log softplus(r_i)``, times ``scale``, in a few fused passes.

    The composite (softplus, log_softplus, mul, sub, mean) costs twice the memory traffic
    of ``Exponential(softplus(r)).log_prob`` because ``log_softplus`` guards with ``where``
    twice; here the guard is one boolean mask shared by the forward and backward passes,
    and the product is reduced by ``dot``. Once differentiable.
    """

    @staticmethod
    def forward(ctx, r: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
        rate = F.softplus(r)
        small = r < SMALL_RAW
        # log(0) = -inf where softplus underflows is only ever read in the unselected branch;
        # no autograd graph runs through this forward, so it cannot poison a gradient.
        log_rate = torch.where(small, r, torch.log(rate))
        ctx.save_for_backward(r, y, rate, small)
        ctx.scale = scale
        return (torch.dot(rate.reshape(-1), y.reshape(-1)) - log_rate.sum()) * scale

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        r, y, rate, small = ctx.saved_tensors
        sig = torch.sigmoid(r)
        # d/dr log softplus(r) = sigmoid(r) / softplus(r), which tends to 1 where both underflow.
        dlog = torch.where(small, 1.0, sig / rate)
        # d nll / dr = sigmoid(r) y - dlog, written as -(dlog - sig y) with one fused addcmul.
        return torch.addcmul(dlog, sig, y, value=-1).mul_(-grad * ctx.scale), None, None


class LogRateExponential(ExponentialDistribution):
    """The exponential predictive whose ``log_prob`` is ``log_rate - rate y`` and whose mean is ``exp(-log_rate)``.

    Where ``softplus(r)`` underflows (``r < -103`` in float32) the rate is 0 and torch's
    ``log(rate)`` is ``-inf``, while the law's NLL, from ``log_rate = r``, is finite: the
    predictive agrees with :meth:`Exponential.nll`. (The mean ``e^{-r}`` itself is beyond
    float32 once ``r < -88.7``: that inf is the value's rounding, not a failure.)
    """

    @classmethod
    def from_log_rate(cls, rate: torch.Tensor, log_rate: torch.Tensor) -> "LogRateExponential":
        # (A factory, not __init__: torch's expand() refuses subclasses that override __init__.)
        d = cls(rate, validate_args=False)
        d.log_rate = log_rate.expand(d.rate.shape)
        return d

    def _log_rate(self) -> torch.Tensor:
        # expand() builds an instance without log_rate: fall back to log(rate)
        log_rate = self.__dict__.get("log_rate")
        return torch.log(self.rate) if log_rate is None or log_rate.shape != self.rate.shape else log_rate

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._log_rate() - self.rate * value

    @property
    def mean(self) -> torch.Tensor:
        return torch.exp(-self._log_rate())


@register_law("exponential")
class Exponential(ScalarLaw):
    r"""Exponential law of a non-negative label with a learned rate.

    .. math::
        -\log p(y \mid \lambda) = \lambda y - \log\lambda, \qquad \lambda = \operatorname{softplus}(r)

    This is the "``f(x) y - log f(x)``" loss with ``f = softplus``. ``log lambda`` is
    computed as ``log_softplus(r)`` (which is ``r`` itself for very negative ``r``, where
    ``softplus`` underflows), so the loss stays finite for raw outputs at ±1e4 without
    any floor on the rate. :meth:`link` returns ``rate`` and this ``log_rate``.

    The expected NLL under a label distribution is minimised at ``1 / lambda = E[y]``:
    the predicted mean is the label mean. The infimum over ``lambda`` at ``y > 0`` is
    ``1 + log y`` (at ``lambda = 1 / y``); at ``y = 0`` the NLL ``-log lambda`` has no
    lower bound, so :meth:`excess` raises a :class:`~losslab.LosslabError` on zero labels.

    Raw outputs: ``[rate]``.

    References:
        Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 1, ch. 19;
        McCullagh & Nelder (1989), *Generalized Linear Models* (exponential = gamma with shape 1).

    >>> law = Exponential()
    >>> p = law.link(law.inverse_link({"rate": 1.0}).unsqueeze(0))
    >>> round(float(law.nll(p, torch.tensor([2.0]))), 4)  # 2 - log 1
    2.0
    >>> round(float(law.excess(p, torch.tensor([2.0]))), 4)  # 2 - (1 + log 2)
    0.3069
    """

    formula = "rate y - log rate,  rate = softplus(x)"
    support = NONNEGATIVE
    point_kinds = ("mean", "median", "mode")
    mean_minimiser = True

    def param_links(self) -> dict[str, Link]:
        return {"rate": SOFTPLUS}

    def link(self, raw: torch.Tensor) -> Params:
        r = self.split_raw(raw)["rate"]
        return {"rate": F.softplus(r), "log_rate": log_softplus(r)}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # Marginal maximum likelihood: rate = 1 / mean(y) (all-zero labels get a large finite rate).
        return {"rate": 1.0 / y.mean().clamp(min=1e-6)}

    @staticmethod
    def _log_rate(params: Params) -> torch.Tensor:
        return params["log_rate"] if "log_rate" in params else torch.log(params["rate"])

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return params["rate"] * y - self._log_rate(params)

    def _reduced_loss(self, raw, y, reduction, trials):  # noqa: D102 - see Law._reduced_loss
        if torch.is_tensor(y) and y.requires_grad:
            return None  # the fused Function has no gradient in y
        r = self.split_raw(raw)["rate"]
        y, _ = self._prepare({"rate": r}, y, trials)
        if y.numel() == 0:
            return None
        return _ReducedExponentialNLL.apply(r, y, 1.0 / y.numel() if reduction == "mean" else 1.0)

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        zero = y <= 0
        if bool(zero.any()):
            raise LosslabError(
                f"{self.name}: excess is undefined at labels y = 0 ({int(zero.sum())} of {y.numel()}, first at "
                f"row(s) {first_rows(zero)}): -log rate has no lower bound there; expected labels y > 0"
            )
        return 1.0 + torch.log(y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> ExponentialDistribution:
        """A :class:`losslab.distributions.Exponential`: torch's, with a cdf that is 0 below 0 and exact near it.

        Its ``log_prob`` and ``mean`` use ``log_rate`` (:class:`LogRateExponential`), as :meth:`nll` does.
        """
        return LogRateExponential.from_log_rate(params["rate"], self._log_rate(params))

    def _mean(self, params: Params) -> torch.Tensor:
        return torch.exp(-self._log_rate(params))

    def _median(self, params: Params) -> torch.Tensor:
        # exp(log log 2 - log rate), not log 2 * exp(-log rate): the product's factor e^710 overflows float64
        # where the median itself (1.6e308) does not
        return torch.exp(LOG_LOG_2 - self._log_rate(params))

    def _mode(self, params: Params) -> torch.Tensor:
        return torch.zeros_like(params["rate"])
