"""Laplace laws: fixed scale (the law behind the mean absolute error) and learned scale."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Laplace as TorchLaplace
from torch.distributions.utils import broadcast_all

from ..links import IDENTITY, Link
from ._base import LocScaleLaw, Params, ScalarLaw, check_scale
from ._registry import register_law
from ._support import REAL

LOG_2 = math.log(2.0)


def laplace_nll(loc: torch.Tensor, scale: torch.Tensor | float, y: torch.Tensor) -> torch.Tensor:
    r"""Per-element Laplace NLL, :math:`|y - \mu| / b + \log 2b`, shape of ``y``."""
    if isinstance(scale, float):
        return F.l1_loss(loc, y, reduction="none") * (1.0 / scale) + math.log(2.0 * scale)
    return torch.abs(y - loc) / scale + torch.log(scale) + LOG_2


class StableLaplace(TorchLaplace):
    """``torch.distributions.Laplace`` whose ``log_prob`` is ``-laplace_nll``.

    torch computes ``-log(2 scale)``: a scale above 1.7e38 makes ``2 scale`` overflow float32
    (a log density of -inf where it is -89).
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        loc, scale, value = broadcast_all(self.loc, self.scale, value)
        return -laplace_nll(loc, scale, value)


@register_law("laplace")
class Laplace(ScalarLaw):
    r"""Laplace law with a fixed scale: the law behind the mean absolute error.

    .. math::
        -\log p(y \mid \mu) = \frac{|y - \mu|}{b} + \log 2b

    Minimising it is minimising MAE: its minimiser over a label distribution is the
    label *median*, not the mean (so ``mean_minimiser`` is False). The infimum over
    ``mu`` is ``log 2b`` (at ``mu = y``), which :meth:`excess` subtracts.

    Args:
        scale: the fixed scale ``b`` (default 1); the standard deviation is ``b * sqrt(2)``.

    Raw outputs: ``[loc]`` (identity link).

    References:
        Laplace (1774); Johnson, Kotz & Balakrishnan, *Continuous Univariate
        Distributions* vol. 2, ch. 24.

    >>> law = Laplace()
    >>> p = law.link(torch.tensor([[0.5]]))
    >>> round(float(law.nll(p, torch.tensor([2.0]))), 4)  # 1.5 + log 2
    2.1931
    >>> round(float(law.excess(p, torch.tensor([2.0]))), 4)
    1.5
    """

    formula = "|y - loc| / scale + log(2 scale)"
    point_kinds = ("mean", "median", "mode")
    support = REAL

    def __init__(self, *, scale: float = 1.0, clamp: float | None = None) -> None:
        super().__init__(clamp=clamp)
        self.scale = check_scale(scale, "scale", self.name)

    def options(self) -> dict[str, Any]:
        return {"scale": self.scale, **super().options()}

    @property
    def fixed_spread(self) -> float:
        """``scale * sqrt(2)``: every prediction is a Laplace law of this standard deviation."""
        return self.scale * math.sqrt(2.0)

    def param_links(self) -> dict[str, Link]:
        return {"loc": IDENTITY}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # The marginal maximum-likelihood location of a Laplace law is the sample median.
        return {"loc": y.median()}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return laplace_nll(params["loc"], self.scale, y)

    def _reduced_loss(self, raw, y, reduction, trials):  # noqa: D102 - see Law._reduced_loss
        # mean(|r| / b + c) = mean(|r|) / b + c: one fused torch kernel instead of three passes.
        params = self.link(raw)
        y, _ = self._prepare(params, y, trials)
        ae = F.l1_loss(params["loc"], y, reduction=reduction)
        const = math.log(2.0 * self.scale)
        return ae * (1.0 / self.scale) + const * (1 if reduction == "mean" else y.numel())

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return torch.full_like(y, math.log(2.0 * self.scale))

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> TorchLaplace:
        return StableLaplace(params["loc"], torch.full_like(params["loc"], self.scale), validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["loc"]

    _median = _mode = _mean


@register_law("laplace-hetero")
class LaplaceHetero(LocScaleLaw):
    r"""Laplace law with a learned location and scale (heteroscedastic MAE).

    .. math::
        -\log p(y \mid \mu, b) = \frac{|y - \mu|}{b} + \log 2b,
        \qquad b = \operatorname{softplus}(r) + b_{\min}

    The scale can shrink towards ``b_min`` on a perfectly fitted label, so the NLL
    has no useful infimum and :meth:`excess` is undefined (as for ``gaussian-hetero``).

    Args:
        min_scale: floor of the scale ``b``, used at training and prediction time alike (default 1e-3).

    Raw outputs: ``[loc, scale]``.

    References:
        Kendall & Gal (2017), "What Uncertainties Do We Need in Bayesian Deep
        Learning for Computer Vision?" (the Laplace variant of the aleatoric loss).

    >>> law = LaplaceHetero()
    >>> p = law.link(law.inverse_link({"loc": 0.0, "scale": 1.0}).unsqueeze(0))
    >>> round(float(law.nll(p, torch.tensor([1.0]))), 4)  # 1 + log 2
    1.6931
    """

    formula = "|y - loc| / scale + log(2 scale)"
    point_kinds = ("mean", "median", "mode")
    support = REAL

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # Marginal maximum likelihood: the median, and the mean absolute deviation from it.
        loc = y.median()
        scale = (y - loc).abs().mean().clamp(min=10 * self.min_scale)
        return {"loc": loc, "scale": scale}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return laplace_nll(params["loc"], params["scale"], y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> TorchLaplace:
        return StableLaplace(params["loc"], params["scale"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["loc"]

    _median = _mode = _mean
