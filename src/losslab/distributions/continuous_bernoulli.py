"""The continuous Bernoulli CDF and quantile, finite for any logit (torch's are flat near 1/2)."""

from __future__ import annotations

import torch

__all__ = ["cb_cdf", "cb_icdf"]


#: below this |logit| the continuous Bernoulli is within 1e-3 of uniform and the exact formulas divide 0 by 0
_CB_TAYLOR = 1e-3


def cb_cdf(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Continuous Bernoulli CDF :math:`F(x) = \frac{e^{\eta x} - 1}{e^\eta - 1}`, finite for any logit :math:`\eta`.

    torch treats ``probs`` within 1e-3 of 1/2 as exactly uniform, which makes its CDF
    and icdf flat in the parameter there (zero gradient); a second-order Taylor branch
    :math:`x + \eta x(x-1)/2 + \eta^2 x(x-1)(2x-1)/12` (error :math:`O(\eta^3) < 10^{-9}`) keeps the slope.

    >>> round(float(cb_cdf(torch.tensor(0.5), torch.tensor(2.0))), 6)  # (e - 1) / (e^2 - 1) = 1 / (1 + e)
    0.268941
    """
    x = x.clamp(0, 1)
    small = logits.abs() < _CB_TAYLOR
    eta = torch.where(small, torch.ones_like(logits), logits)
    # For eta > 0 divide through by e^eta so that nothing overflows at |eta| = 1e4.
    pos = torch.exp(eta * (x - 1)) * torch.expm1(-eta * x) / torch.expm1(-eta)
    neg = torch.expm1(eta * x) / torch.expm1(eta)
    exact = torch.where(eta > 0, pos, neg)
    taylor = x + logits * x * (x - 1) / 2 + logits**2 * x * (x - 1) * (2 * x - 1) / 12
    return torch.where(small, taylor, exact)


def cb_icdf(u: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Continuous Bernoulli quantile :math:`F^{-1}(u) = \log(1 - u + u e^\eta)/\eta`, with the Taylor branch of :func:`cb_cdf`.

    ``log(1 - u + u e^eta)`` is a ``logaddexp``, finite for any ``eta``; near ``eta = 0``,
    :math:`u + \eta u(1-u)/2 + \eta^2 u(1-u)(1-2u)/6`.

    >>> round(float(cb_icdf(torch.tensor(0.268941), torch.tensor(2.0))), 5)
    0.5
    """
    small = logits.abs() < _CB_TAYLOR
    eta = torch.where(small, torch.ones_like(logits), logits)
    us = u.clamp(1e-300 if u.dtype == torch.float64 else 1e-38, 1.0)
    exact = torch.logaddexp(torch.log(us) + eta, torch.log1p(-u.clamp(max=1.0))) / eta
    exact = torch.where(u <= 0, torch.zeros_like(exact), exact)
    taylor = u + logits * u * (1 - u) / 2 + logits**2 * u * (1 - u) * (1 - 2 * u) / 6
    return torch.where(small, taylor, exact).clamp(0, 1)
