"""Laws for labels in [0, 1] read as probabilities or fractions of trials: soft BCE, binomial, beta-binomial."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli as TorchBernoulli

from .._errors import LosslabError
from ..distributions import ScaledBetaBinomial, ScaledBinomial, log_binom
from ..links import IDENTITY, Link, bounded_sigmoid_link, log_link, logit
from ._base import Params, ScalarLaw
from ._registry import register_law
from ._support import UNIT_INTERVAL_CLOSED


def binary_entropy(y: torch.Tensor) -> torch.Tensor:
    r""":math:`H(y) = -y\log y - (1-y)\log(1-y)`, 0 at y in {0, 1} (``xlogy`` handles 0 log 0)."""
    return -(torch.xlogy(y, y) + torch.xlogy(1 - y, 1 - y))


#: why soft BCE has no quantiles or intervals for a float label (the one-line error of quantile and interval)
NO_INTERVAL = (
    "bernoulli: soft BCE has no quantiles or intervals for a float label: its predictive is Bernoulli(p) on {0, 1}, "
    "not a density over [0, 1], so sigmoid(logits) estimates the label's mean but not its spread; for intervals "
    "choose a law with a density on [0, 1]: 'beta', 'zoib' (labels exactly 0 or 1 too), 'continuous-bernoulli', "
    "'binned' or 'logit-normal'"
)


@register_law("bernoulli")
class Bernoulli(ScalarLaw):
    r"""Soft-label binary cross-entropy from logits: the Bernoulli log-likelihood with a float label.

    .. math::
        \ell(x, y) = -y \log \sigma(x) - (1 - y) \log(1 - \sigma(x))
                   = \operatorname{softplus}(x) - x y

    For a soft label ``y`` the loss is minimised exactly at ``sigmoid(x) = y``; its
    minimum is the label entropy ``H(y)``, not 0, so the interpretable value is
    the excess ``BCE - H(y) = KL(y || p)`` (:meth:`excess`). Computed with the fused
    ``binary_cross_entropy_with_logits`` kernel (``log_sigmoid`` form), finite at
    ``|x| = 1e4``. This is not a density over [0, 1]; its predictive distribution is
    ``Bernoulli(logits)`` whose ``log_prob`` of a float label is ``-BCE``.

    It has no quantiles or prediction intervals for a float label: :meth:`quantile` and
    :meth:`interval` raise a :class:`~losslab.LosslabError`. Its predictive puts mass only
    on 0 and 1, so a "90% interval" would be ``{0}``, ``{1}`` or ``[0, 1]`` whatever the
    soft label; ``sigmoid(x)`` estimates the label's mean and nothing about its spread.
    For intervals on labels in [0, 1] use a law with a density there: ``beta``, ``zoib``
    (labels exactly 0 or 1 too), ``continuous-bernoulli``, ``binned`` or ``logit-normal``.

    Raw outputs: ``[logits]``.

    >>> law = Bernoulli()
    >>> p = law.link(torch.tensor([[0.0]]))
    >>> round(float(law.nll(p, torch.tensor([0.75]))), 4), round(float(law.excess(p, torch.tensor([0.75]))), 4)
    (0.6931, 0.1308)
    """

    likelihood = "soft-bernoulli"
    support = UNIT_INTERVAL_CLOSED
    formula = "softplus(x) - x y  (= BCE of sigmoid(x) against soft label y)"
    mean_minimiser = True

    def param_links(self) -> dict[str, Link]:
        return {"logits": IDENTITY}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        return {"logits": logit(y.mean())}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(params["logits"], y, reduction="none")

    def _reduced_loss(self, raw, y, reduction, trials):  # noqa: D102 - see Law._reduced_loss
        params = self.link(raw)
        y, _ = self._prepare(params, y, trials)
        # The fused kernel reduces in one pass, as torch's own BCE loss does.
        return F.binary_cross_entropy_with_logits(params["logits"], y, reduction=reduction)

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return binary_entropy(y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> TorchBernoulli:
        return TorchBernoulli(logits=params["logits"], validate_args=False)

    def _quantile(self, params: Params, q: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        raise LosslabError(NO_INTERVAL)

    def _mean(self, params: Params) -> torch.Tensor:
        return torch.sigmoid(params["logits"])

    def _mean_logits(self, params: Params) -> torch.Tensor:
        return params["logits"]


@register_law("binomial")
class Binomial(ScalarLaw):
    r"""Binomial law of ``k = n y`` successes out of ``n`` trials (annotator counts), given per sample.

    .. math::
        -\log P(k \mid n, p) = -\log\binom{n}{k} - k \log p - (n - k)\log(1 - p)
                             = n\,\mathrm{BCE}(x, y) - \log\binom{n}{k}

    The gradient is that of soft BCE weighted by ``n``: labels backed by more
    annotators count more. Pass ``trials=`` (a number or one per label) to
    :meth:`nll`, :meth:`loss`, :meth:`excess` and :meth:`predictive`.

    Raw outputs: ``[logits]``.

    >>> law = Binomial()
    >>> p = law.link(torch.tensor([[0.0]]))
    >>> round(float(law.nll(p, torch.tensor([0.5]), trials=torch.tensor([2.0]))), 4)  # -log(2 * 0.25)
    0.6931
    """

    likelihood = "pmf"
    support = UNIT_INTERVAL_CLOSED
    needs_trials = True
    formula = "n * BCE(x, y) - log C(n, n y)"
    mean_minimiser = True

    def param_links(self) -> dict[str, Link]:
        return {"logits": IDENTITY}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        if trials is None or trials.ndim == 0:
            return {"logits": logit(y.mean())}
        return {"logits": logit((y * trials).sum() / trials.sum())}

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return -ScaledBinomial(trials, params["logits"]).log_prob(y)

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return trials * binary_entropy(y) - log_binom(trials, y * trials)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> ScaledBinomial:
        if trials is None:
            raise LosslabError(f"{self.name}: predictive needs trials= (the number of trials per label)")
        return ScaledBinomial(trials, params["logits"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return torch.sigmoid(params["logits"])

    def _mean_logits(self, params: Params) -> torch.Tensor:
        return params["logits"]


#: raw logits of a mean are clamped to ±30: sigmoid(-30) * exp(-15) still is a normal float32 number
MAX_LOGIT = 30.0
#: raw log-precisions are clamped to ±15 (precision in [3e-7, 3.3e6]), where lgamma keeps float32 precision
MAX_LOG_PRECISION = 15.0


@register_law("beta-binomial")
class BetaBinomial(ScalarLaw):
    r"""Beta-binomial law of ``k = n y`` out of ``n``: binomial counts whose probability varies (overdispersion).

    .. math::
        -\log P(k) = -\log\binom{n}{k} - \log B(k + \mu\phi, n - k + (1-\mu)\phi) + \log B(\mu\phi, (1-\mu)\phi)

    with mean ``mu = sigmoid(r0)`` (``r0`` clamped to ±30) and precision ``phi = exp(r1)``
    (``r1`` clamped to ±15, so ``lgamma`` keeps its precision); ``phi -> inf`` recovers the binomial.

    Raw outputs: ``[mean, precision]``.

    >>> law = BetaBinomial()
    >>> p = law.link(torch.tensor([[0.0, 0.0]]))   # mu = 0.5, phi = 1: a = b = 0.5
    >>> round(float(law.nll(p, torch.tensor([0.5]), trials=2.0)), 4)
    1.3863
    """

    likelihood = "pmf"
    support = UNIT_INTERVAL_CLOSED
    needs_trials = True
    formula = "-log C(n,k) - log B(k + mu phi, n - k + (1 - mu) phi) + log B(mu phi, (1 - mu) phi)"

    def param_links(self) -> dict[str, Link]:
        return {"mean": bounded_sigmoid_link(MAX_LOGIT), "precision": log_link(MAX_LOG_PRECISION)}

    def link(self, raw: torch.Tensor) -> Params:
        """``mean``, ``precision`` and the derived ``concentration1 = mean * precision``, ``concentration0``.

        ``concentration0`` is computed as ``precision * sigmoid(-r0)``, not ``precision * (1 - mean)``,
        which would round to 0 in float32 for a confident mean.
        """
        params = super().link(raw)
        r0 = self.split_raw(raw)["mean"].clamp(-MAX_LOGIT, MAX_LOGIT)
        params["concentration1"] = params["precision"] * params["mean"]
        params["concentration0"] = params["precision"] * torch.sigmoid(-r0)
        return params

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # Method of moments: Var(y) = mu (1 - mu) [rho + (1 - rho) E(1/n)], rho = 1 / (phi + 1).
        mu = y.mean().clamp(1e-3, 1 - 1e-3)
        inv_n = torch.as_tensor(1.0 if trials is None else (1.0 / trials).mean(), dtype=y.dtype)
        var = y.var() if y.numel() > 1 else mu * (1 - mu) * inv_n
        rho = ((var / (mu * (1 - mu)) - inv_n) / (1 - inv_n).clamp(min=1e-6)).clamp(1e-4, 0.99)
        return {"mean": mu, "precision": 1 / rho - 1}

    def _dist(self, params: Params, trials: torch.Tensor) -> ScaledBetaBinomial:
        return ScaledBetaBinomial(trials, params["concentration1"], params["concentration0"], validate_args=False)

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return -self._dist(params, trials).log_prob(y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> ScaledBetaBinomial:
        if trials is None:
            raise LosslabError(f"{self.name}: predictive needs trials= (the number of trials per label)")
        return self._dist(params, trials)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["mean"]

    def _mean_logits(self, params: Params) -> torch.Tensor:
        # logit(mean) = log(concentration1 / concentration0): both kept without rounding by the link
        return torch.log(params["concentration1"]) - torch.log(params["concentration0"])
