"""The logit-normal law: a Gaussian on the logit of a label in (0, 1)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.distributions import Normal, SigmoidTransform, TransformedDistribution
from torch.distributions.utils import broadcast_all

from ._base import LocScaleLaw, Params
from ._registry import register_law
from ._support import UNIT_INTERVAL
from .beta import open_unit_interval_hint
from .gaussian import gaussian_nll

__all__ = ["LogitNormal", "logit_normal_mean"]


def _rule(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "hermite":  # probabilists' Hermite: weight exp(-z^2/2), normalised to the standard normal
        z, w = np.polynomial.hermite_e.hermegauss(n)
        return z, w / math.sqrt(2 * math.pi)
    return np.polynomial.laguerre.laggauss(n)  # weight exp(-u) on [0, inf)


#: 64-node rules; with the switch at scale 1.4 the mean is off by < 1e-13 for every loc (checked against
#: scipy.integrate.quad in tests/laws/test_unit.py)
_N_NODES = 64
_HERMITE = _rule("hermite", _N_NODES)
_LAGUERRE = _rule("laguerre", _N_NODES)
_SWITCH_SCALE = 1.4
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def logit_normal_mean(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    r""":math:`E[\sigma(X)]` for :math:`X \sim N(\mu, s^2)` by Gauss quadrature (differentiable).

    For ``s <= 1.4``, Gauss–Hermite on :math:`\sum_i w_i \sigma(\mu + s z_i)`: the
    integrand is smooth on the Gaussian's scale. For wider Gaussians the sigmoid looks
    like a step and Hermite nodes resolve it badly (error 1e-2 at ``s = 10`` with 32
    nodes), so the step is taken out exactly: writing :math:`\sigma(x) = 1\{x > 0\} + h(x)`
    with ``h`` odd and :math:`h(x) = -\sigma(-x)` for ``x > 0``,

    .. math::
        E[\sigma(X)] = \Phi(\mu/s) + \int_0^\infty e^{-u}\,\sigma(u)\,[\varphi_s(u + \mu) - \varphi_s(u - \mu)]\,du,

    a smooth integrand for the Gauss–Laguerre rule (:math:`\varphi_s` the N(0, s²) density).

    Args:
        loc, scale: tensors of the same shape ``(...)``.

    Returns:
        the mean, shape ``(...)``.

    >>> round(float(logit_normal_mean(torch.tensor(1.0), torch.tensor(2.0))), 6)
    0.647726
    """
    loc, scale = torch.broadcast_tensors(loc, scale)
    flat_loc, flat_scale = loc.reshape(-1), scale.reshape(-1)
    # Blocks bound the (block, 64) intermediates to a few MB, whatever the number of predictions.
    blocks = [
        _mean_block(flat_loc[i : i + _BLOCK], flat_scale[i : i + _BLOCK]) for i in range(0, flat_loc.numel(), _BLOCK)
    ]
    return (torch.cat(blocks) if blocks else flat_loc.clone()).reshape(loc.shape)


_BLOCK = 1 << 15


def _mean_block(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    dtype, device = loc.dtype, loc.device
    z, wz = (torch.as_tensor(v, dtype=dtype, device=device) for v in _HERMITE)
    u, wu = (torch.as_tensor(v, dtype=dtype, device=device) for v in _LAGUERRE)
    mu, s = loc.unsqueeze(-1), scale.unsqueeze(-1)
    hermite = (torch.sigmoid(mu + s * z) * wz).sum(-1)
    # Both branches are finite for every loc and scale > 0, so torch.where is safe for the gradient.
    gauss = lambda v: torch.exp(-0.5 * (v / s) ** 2) * (_INV_SQRT_2PI / s)  # noqa: E731
    laguerre = torch.special.ndtr(loc / scale) + (torch.sigmoid(u) * (gauss(u + mu) - gauss(u - mu)) * wu).sum(-1)
    return torch.where(scale <= _SWITCH_SCALE, hermite, laguerre)


def logit_normal_nll(loc: torch.Tensor, scale: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Per-element logit-normal NLL :math:`-\log N(\operatorname{logit} y; \mu, s) + \log y + \log(1 - y)`, shape of ``y``."""
    log_y, log_1my = torch.log(y), torch.log1p(-y)
    return gaussian_nll(loc, scale, log_y - log_1my) + (log_y + log_1my)


class StableLogitNormal(TransformedDistribution):
    """``Normal(loc, scale)`` pushed through the sigmoid, whose ``log_prob`` is :func:`logit_normal_nll`'s.

    torch's clamps the label to ``[tiny, 1 - eps]`` before the logit (so the float just below 1 in
    float32 gets the density of ``1 - 1.2e-7``) and squares the residual before dividing by the
    scale (NaN once both overflow); the law's NLL does neither. Build it as a
    ``TransformedDistribution(Normal(loc, scale), [SigmoidTransform()])``.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        base = self.base_dist
        loc, scale, value = broadcast_all(base.loc, base.scale, value)
        return -logit_normal_nll(loc, scale, value)


@register_law("logit-normal")
class LogitNormal(LocScaleLaw):
    r"""Logit-normal law: ``logit(y) ~ Normal(loc, scale)`` for labels in the open interval (0, 1).

    .. math::
        -\log p(y) = \frac{(\operatorname{logit} y - \mu)^2}{2\sigma^2} + \log\sigma + \tfrac12\log 2\pi
                     + \log y + \log(1 - y)

    (the last two terms are the Jacobian of the logit), with ``scale = softplus(r) + min_scale``.
    Labels exactly 0 or 1 are rejected unless ``clamp=eps`` moves them inside; the
    logit of a clamped label is about ``±log(1/eps)``, so such labels dominate the fit.

    Point kinds: ``median`` = ``sigmoid(loc)`` (exact: the sigmoid is monotone), ``mean``
    by quadrature (:func:`logit_normal_mean`).

    Args:
        min_scale: floor of ``scale`` at training and prediction time (default 1e-3).
        clamp: move labels to ``[clamp, 1 - clamp]`` (default: reject 0 and 1).

    Raw outputs: ``[loc, scale]``.

    Reference: J. Atchison and S. M. Shen, "Logistic-normal distributions: some properties
    and uses", Biometrika 67 (1980) 261-272.

    >>> law = LogitNormal()
    >>> p = law.link(torch.tensor([[0.0, 0.5397]]))   # loc 0, scale softplus(0.5397) + 1e-3 = 1.0
    >>> round(float(law.nll(p, torch.tensor([0.5]))), 4)   # 0.5 log(2 pi) + 2 log(0.5)
    -0.4674
    """

    support = UNIT_INTERVAL
    formula = "(logit y - loc)^2 / (2 scale^2) + log scale + log(2 pi) / 2 + log y + log(1 - y)"
    point_kinds = ("mean", "median")

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # The marginal maximum-likelihood fit: mean and (biased) standard deviation of logit(y).
        eps = 1e-6 if self.clamp is None else self.clamp
        y = torch.as_tensor(y, dtype=torch.float64).flatten().clamp(eps, 1 - eps)
        z = torch.log(y) - torch.log1p(-y)
        scale = z.std(unbiased=False) if z.numel() > 1 else torch.tensor(1.0, dtype=torch.float64)
        dtype = torch.get_default_dtype()
        return {"loc": z.mean().to(dtype), "scale": scale.clamp(min=2 * self.min_scale).to(dtype)}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return logit_normal_nll(params["loc"], params["scale"], y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> TransformedDistribution:
        return StableLogitNormal(
            Normal(params["loc"], params["scale"], validate_args=False), [SigmoidTransform()], validate_args=False
        )

    def _mean(self, params: Params) -> torch.Tensor:
        return logit_normal_mean(params["loc"], params["scale"])

    def _median(self, params: Params) -> torch.Tensor:
        return torch.sigmoid(params["loc"])

    def _support_hint(self, y: torch.Tensor, bad: torch.Tensor) -> tuple[str, str]:
        return open_unit_interval_hint(self, y, bad)
