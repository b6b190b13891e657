"""Gaussian laws: fixed scale (MSE), learned scale (heteroscedastic, beta-NLL), and MSE through a sigmoid."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Normal
from torch.distributions.utils import broadcast_all

from .._errors import check_number
from ..links import IDENTITY, LOG_2PI, SIGMOID, Link
from ._base import LocScaleLaw, Params, ScalarLaw, check_scale
from ._registry import register_law
from ._support import REAL


def gaussian_nll(loc: torch.Tensor, scale: torch.Tensor | float, y: torch.Tensor) -> torch.Tensor:
    r"""Per-element Gaussian NLL, :math:`\tfrac12 ((y-\mu)/\sigma)^2 + \log\sigma + \tfrac12\log 2\pi`."""
    if isinstance(scale, float):
        return (0.5 / scale**2) * F.mse_loss(loc, y, reduction="none") + (math.log(scale) + 0.5 * LOG_2PI)
    z = (y - loc) / scale
    return 0.5 * z * z + torch.log(scale) + 0.5 * LOG_2PI


class StableNormal(Normal):
    """``torch.distributions.Normal`` whose ``log_prob`` is ``-gaussian_nll``: the residual is divided by the
    scale before it is squared.

    torch computes ``(y - loc)^2 / (2 scale^2)``: with a scale of 1e20 and a residual of 1e20 (a log
    density of -47) both squares overflow float32 and the ratio is NaN.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        loc, scale, value = broadcast_all(self.loc, self.scale, value)
        return -gaussian_nll(loc, scale, value)


class _FixedScaleGaussian(ScalarLaw):
    """Shared code of the fixed-scale Gaussian laws (``gaussian``, ``sigmoid-mse``)."""

    point_kinds = ("mean", "median", "mode")
    mean_minimiser = True
    support = REAL

    def __init__(self, *, sigma: float = 1.0, clamp: float | None = None) -> None:
        super().__init__(clamp=clamp)
        self.sigma = check_scale(sigma, "sigma", self.name)

    def options(self) -> dict[str, Any]:
        return {"sigma": self.sigma, **super().options()}

    @property
    def fixed_spread(self) -> float:
        """``sigma``: every prediction is a Normal of this standard deviation."""
        return self.sigma

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return gaussian_nll(params["loc"], self.sigma, y)

    def _reduced_loss(self, raw, y, reduction, trials):  # noqa: D102 - see Law._reduced_loss
        # mean(a * se + c) = a * mean(se) + c: one fused torch kernel instead of three passes.
        params = self.link(raw)
        y, _ = self._prepare(params, y, trials)
        se = F.mse_loss(params["loc"], y, reduction=reduction)
        const = math.log(self.sigma) + 0.5 * LOG_2PI
        return (0.5 / self.sigma**2) * se + const * (1 if reduction == "mean" else y.numel())

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return torch.full_like(y, math.log(self.sigma) + 0.5 * LOG_2PI)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> Normal:
        return StableNormal(params["loc"], torch.full_like(params["loc"], self.sigma), validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["loc"]

    _median = _mode = _mean


@register_law("gaussian")
class Gaussian(_FixedScaleGaussian):
    r"""Gaussian with a fixed scale: the law behind the mean squared error.

    .. math::
        -\log p(y \mid \mu) = \frac{(y - \mu)^2}{2\sigma^2} + \log\sigma + \tfrac12 \log 2\pi

    Minimising it is minimising MSE; its minimiser over a label distribution is the label mean.

    Args:
        sigma: the fixed standard deviation (default 1).

    Raw outputs: ``[loc]`` (identity link).

    >>> law = Gaussian()
    >>> round(float(law.nll(law.link(torch.tensor([[0.5]])), torch.tensor([1.5]))), 4)
    1.4189
    """

    formula = "(y - loc)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2"

    def param_links(self) -> dict[str, Link]:
        return {"loc": IDENTITY}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        return {"loc": y.mean()}


@register_law("sigmoid-mse")
class SigmoidMSE(_FixedScaleGaussian):
    r"""Squared error of ``sigmoid(raw)``: the MSE/Brier baseline, read as a fixed-scale Gaussian.

    .. math::
        -\log p(y \mid x) = \frac{(y - \operatorname{sigmoid}(x))^2}{2\sigma^2} + \log\sigma + \tfrac12\log 2\pi

    Its minimiser over a label distribution is the label mean (as for BCE), but its
    gradient in ``x`` carries a factor ``p (1 - p)`` that vanishes when the sigmoid
    saturates. The Gaussian reading puts mass outside [0, 1], so its density is
    over the real line.

    :meth:`quantile` and :meth:`interval` are those of ``Normal(sigmoid(x), sigma)``, but
    ``sigma`` is an option, not fitted: every label gets an interval of the same width
    ``2 * 1.645 * sigma`` (at level 0.9), which may reach outside [0, 1], whatever the data's
    spread. For intervals learned from the labels, use ``beta``, ``logit-normal`` or ``binned``.

    Args:
        sigma: the fixed standard deviation of the Gaussian reading (default 1).

    >>> law = SigmoidMSE()
    >>> round(float(law.point(law.link(torch.tensor([[0.0]])))), 3)
    0.5
    """

    formula = "(y - sigmoid(x))^2 / (2 sigma^2) + log sigma + log(2 pi) / 2"

    def param_links(self) -> dict[str, Link]:
        return {"loc": SIGMOID}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        return {"loc": y.mean().clamp(1e-4, 1 - 1e-4)}


@register_law("gaussian-hetero")
class GaussianHetero(LocScaleLaw):
    r"""Gaussian with a learned mean and standard deviation (heteroscedastic regression).

    .. math::
        -\log p(y \mid \mu, \sigma) = \frac{(y - \mu)^2}{2\sigma^2} + \log\sigma + \tfrac12 \log 2\pi,
        \qquad \sigma = \operatorname{softplus}(r) + \sigma_{\min}

    With ``beta > 0`` the training objective is beta-NLL (Seitzer et al. 2022,
    "On the Pitfalls of Heteroscedastic Uncertainty Estimation with Probabilistic
    Neural Networks"): each element's NLL is weighted by ``stopgrad(sigma^(2 beta))``,
    so badly fitted, high-variance points no longer starve the mean of gradient.
    ``nll`` always reports the plain NLL.

    Args:
        beta: beta-NLL exponent in [0, 1] (0 = plain NLL, 0.5 recommended by the paper).
        min_scale: floor of sigma, used at training and prediction time alike.

    Raw outputs: ``[loc, scale]``.

    >>> law = GaussianHetero()
    >>> p = law.link(torch.tensor([[0.0, 0.5413]]))  # softplus(0.5413) + 1e-3 = 1.0
    >>> round(float(law.nll(p, torch.tensor([1.0]))), 3)
    1.419
    """

    formula = "(y - loc)^2 / (2 scale^2) + log scale + log(2 pi) / 2"
    point_kinds = ("mean", "median", "mode")

    def __init__(self, *, beta: float = 0.0, min_scale: float = 1e-3, clamp: float | None = None) -> None:
        super().__init__(min_scale=min_scale, clamp=clamp)
        self.beta = check_number(beta, "beta", who=self.name, low=0.0, high=1.0)
        self.stop_gradient = self.beta > 0

    def options(self) -> dict[str, Any]:
        return {"beta": self.beta, **super().options()}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        return {"loc": y.mean(), "scale": y.std().clamp(min=10 * self.min_scale) if y.numel() > 1 else 1.0}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return gaussian_nll(params["loc"], params["scale"], y)

    def _objective(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        nll = self._nll(params, y, trials)
        if self.beta == 0.0:
            return nll
        return nll * params["scale"].detach() ** (2 * self.beta)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> Normal:
        return StableNormal(params["loc"], params["scale"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["loc"]

    _median = _mode = _mean
