"""Beta laws for labels in [0, 1]: beta regression, mixtures of betas, and the zero/one-inflated beta."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import Categorical

from .._errors import LosslabError, check_integer, shape_str
from ..distributions import Beta as BetaDistribution
from ..distributions import MixtureSameFamily, ZeroOneInflatedBeta, beta_log_prob, zoib_log_prob
from ..links import IDENTITY, Link, bounded_sigmoid_link, log_link
from ._base import Law, Params, ScalarLaw
from ._registry import register_law
from ._labels import cli_spec
from ._support import UNIT_INTERVAL, UNIT_INTERVAL_CLOSED
from .bernoulli import MAX_LOG_PRECISION, MAX_LOGIT

__all__ = ["Beta", "MixtureBeta", "ZOIB", "mean_precision", "beta_mode", "open_unit_interval_hint"]

#: precisions fitted by the method of moments are kept in this range (inside the link's [e^-15, e^15])
_MIN_INIT_PRECISION, _MAX_INIT_PRECISION = 1e-2, 1e6


def mean_precision(
    raw_mean: torch.Tensor, raw_precision: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(mean, precision, concentration1, concentration0)`` from raw ``logit(mean)`` and ``log(precision)``.

    The same bounds as ``beta-binomial``: ``logit(mean)`` clamped to ±30 and
    ``log(precision)`` to ±15, so both concentrations stay normal float32 numbers.
    ``concentration0 = precision * sigmoid(-r)``, not ``precision * (1 - mean)``, which
    rounds to 0 in float32 once ``mean`` rounds to 1.
    """
    r = raw_mean.clamp(-MAX_LOGIT, MAX_LOGIT)
    mean = torch.sigmoid(r)
    precision = torch.exp(raw_precision.clamp(-MAX_LOG_PRECISION, MAX_LOG_PRECISION))
    return mean, precision, precision * mean, precision * torch.sigmoid(-r)


def beta_mode(concentration1: torch.Tensor, concentration0: torch.Tensor) -> torch.Tensor:
    r"""Mode of Beta(a, b): :math:`(a-1)/(a+b-2)` for ``a, b > 1``; an edge otherwise.

    For ``a <= 1 < b`` the density is largest at 0, for ``b <= 1 < a`` at 1. For
    ``a, b <= 1`` (U-shaped or uniform) the density is unbounded at the edge with the
    smaller concentration, which is returned; for ``a == b <= 1`` no single mode exists
    and 0.5 (the centre of symmetry) is returned.

    >>> beta_mode(torch.tensor([3.0, 0.5, 2.0, 0.5]), torch.tensor([2.0, 2.0, 0.9, 0.5])).tolist()
    [0.6666666865348816, 0.0, 1.0, 0.5]
    """
    a, b = concentration1, concentration0
    interior = (a > 1) & (b > 1)
    denom = torch.where(interior, a + b - 2, torch.ones_like(a))  # the ratio is never 0/0, even where unused
    edge = torch.where(a < b, torch.zeros_like(a), torch.where(a > b, torch.ones_like(a), torch.full_like(a, 0.5)))
    return torch.where(interior, (a - 1) / denom, edge)


def open_unit_interval_hint(law: Law, y: torch.Tensor, bad: torch.Tensor) -> tuple[str, str]:
    """The out-of-support fix of laws on the open interval (0, 1), in Python's and the command line's syntax.

    Labels only at 0 or 1: clamp, or a law whose support has the edges; labels beyond: the fix of any law.
    """
    on_edge = ((y == 0) | (y == 1)) & bad
    if bool(on_edge.any()) and bool((on_edge == bad).all()):
        why = "; labels exactly 0 or 1 have zero density under this law: "
        tail = (
            " to move them inside, or choose a law that allows them: 'zoib' (point masses at 0 and 1), "
            "'bernoulli' (soft BCE) or 'continuous-bernoulli'"
        )
        return f"{why}pass clamp=1e-6{tail}", f"{why}use --laws {cli_spec(law, clamp=1e-6)}{tail}"
    return Law._support_hint(law, y, bad)


def _inside(y: torch.Tensor, eps: float | None) -> torch.Tensor:
    """Labels moved at least ``eps`` inside (0, 1), for marginal fits only."""
    eps = 1e-6 if eps is None else eps
    return y.clamp(eps, 1 - eps)


def _beta_moments(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Method of moments: ``mean = E y``, ``precision = mean (1 - mean) / Var y - 1``, clamped to a usable range."""
    m = y.mean().clamp(1e-3, 1 - 1e-3)
    # One label has no variance: take precision 2 (a + b = 2, uniform at mean 0.5).
    var = y.var() if y.numel() > 1 else m * (1 - m) / 3
    precision = (m * (1 - m) / var.clamp(min=1e-12) - 1).clamp(_MIN_INIT_PRECISION, _MAX_INIT_PRECISION)
    return m, precision


def _no_worse_than_zero_raw(law: Law, y: torch.Tensor, fit: dict[str, Any], zero: dict[str, Any]) -> dict[str, Any]:
    """``fit`` unless raw outputs all zero (``zero``) give a lower mean NLL on ``y``.

    Moment fits are not maximum likelihood and can lose to the neutral start on
    odd samples (e.g. labels piled at both edges); the head's bias must never start worse.
    """
    with torch.no_grad():
        raws = torch.stack([law.inverse_link(fit), torch.zeros(law.raw_dim)]).to(y)  # (2, raw_dim)
        params = law.link(raws[:, None, :].expand(2, y.numel(), law.raw_dim))
        nll = law._nll(params, y.reshape(1, -1).expand(2, -1), None).mean(-1)
    return fit if bool(nll[0] <= nll[1]) else zero


@register_law("beta")
class Beta(ScalarLaw):
    r"""Beta law in the mean–precision parametrisation of beta regression (Ferrari & Cribari-Neto 2004).

    .. math::
        -\log p(y \mid \mu, \phi) = \log B(a, b) - (a - 1)\log y - (b - 1)\log(1 - y),
        \qquad a = \mu\phi,\ b = (1 - \mu)\phi,

    with ``mu = sigmoid(r0)`` and ``phi = exp(r1)``: a linear head with a constant
    precision (``LawHead(..., constant=("precision",))``) is classical beta regression
    with logit mean link, as in R's ``betareg``. ``r0`` is clamped to ±30 and ``r1`` to
    ±15 (the gradient is zero beyond), so both concentrations stay positive float32
    numbers and ``lgamma`` is finite.

    The support is the open interval: labels exactly 0 or 1 have zero density and
    are rejected, unless ``clamp=eps`` moves them to ``[eps, 1 - eps]`` (the NLL then
    depends strongly on ``eps``; ``zoib`` models such labels instead).

    Point kinds: ``mean`` (``mu``), ``median`` (the quantile at 1/2, by
    ``scipy.special.betaincinv``; no gradient) and ``mode`` (see :func:`beta_mode`).
    :meth:`quantile` and :meth:`interval` invert the regularised incomplete beta function;
    the predictive is a :class:`losslab.distributions.Beta` (torch's, with ``cdf`` and ``icdf``).

    Args:
        clamp: move labels to ``[clamp, 1 - clamp]`` before the NLL (default: reject 0 and 1).

    Raw outputs: ``[mean, precision]`` (``logit(mean)``, ``log(precision)``).

    References: S. Ferrari and F. Cribari-Neto, "Beta regression for modelling rates and
    proportions", Journal of Applied Statistics 31 (2004) 799-815; F. Cribari-Neto and
    A. Zeileis, "Beta regression in R", Journal of Statistical Software 34(2) (2010).

    >>> law = Beta()
    >>> p = law.link(torch.tensor([[0.0, math.log(4.0)]]))   # mu = 0.5, phi = 4: Beta(2, 2)
    >>> round(float(law.nll(p, torch.tensor([0.25]))), 6)    # -log(6 * 0.25 * 0.75)
    -0.117783
    """

    support = UNIT_INTERVAL
    formula = "log B(a, b) - (a - 1) log y - (b - 1) log(1 - y),  a = mean * precision, b = (1 - mean) * precision"
    point_kinds = ("mean", "median", "mode")

    def param_links(self) -> dict[str, Link]:
        return {"mean": bounded_sigmoid_link(MAX_LOGIT), "precision": log_link(MAX_LOG_PRECISION)}

    def link(self, raw: torch.Tensor) -> Params:
        """``mean``, ``precision`` and the derived ``concentration1``, ``concentration0`` (see :func:`mean_precision`)."""
        parts = self.split_raw(raw)
        mean, precision, c1, c0 = mean_precision(parts["mean"], parts["precision"])
        return {"mean": mean, "precision": precision, "concentration1": c1, "concentration0": c0}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        y = _inside(torch.as_tensor(y, dtype=torch.get_default_dtype()).flatten(), self.clamp)
        m, precision = _beta_moments(y)
        return _no_worse_than_zero_raw(self, y, {"mean": m, "precision": precision}, {"mean": 0.5, "precision": 1.0})

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return -beta_log_prob(params["concentration1"], params["concentration0"], y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> BetaDistribution:
        return BetaDistribution(params["concentration1"], params["concentration0"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["mean"]

    def _mean_logits(self, params: Params) -> torch.Tensor:
        # logit(mean) = log(concentration1 / concentration0): both kept without rounding (see mean_precision)
        return torch.log(params["concentration1"]) - torch.log(params["concentration0"])

    def _mode(self, params: Params) -> torch.Tensor:
        return beta_mode(params["concentration1"], params["concentration0"])

    def _support_hint(self, y: torch.Tensor, bad: torch.Tensor) -> tuple[str, str]:
        return open_unit_interval_hint(self, y, bad)


@register_law("mixture-beta")
class MixtureBeta(Law):
    r"""Mixture of ``K`` beta laws, each in the mean–precision parametrisation of :class:`Beta`.

    .. math::
        -\log p(y) = -\log \sum_{k=1}^K w_k\, \mathrm{Beta}(y; \mu_k\phi_k, (1-\mu_k)\phi_k),
        \qquad w = \operatorname{softmax}(\text{logits}),

    computed as ``-logsumexp(log_softmax(logits) + log Beta(y))``. For multimodal labels
    in (0, 1), e.g. annotators who split into camps. With ``n_components=1`` it is
    :class:`Beta`. Parameters carry a trailing component axis of size ``K``.

    Args:
        n_components: ``K``, the number of beta components (default 3).
        clamp: move labels to ``[clamp, 1 - clamp]`` (default: reject 0 and 1).

    Raw outputs: ``[logits (K), mean (K), precision (K)]``: weight logits,
    ``logit(mean_k)`` (clamped to ±30), ``log(precision_k)`` (clamped to ±15).

    Point kinds: ``mean`` and ``median`` (the quantile at 1/2). Quantiles and intervals
    bisect the mixture's CDF, bracketed by the components' quantiles
    (:func:`losslab.distributions.mixture_icdf`; no gradient).

    Reference: C. M. Bishop, "Mixture density networks", Aston University report NCRG/94/004 (1994).

    >>> law = MixtureBeta(n_components=2)
    >>> raw = torch.tensor([[0.0, 0.0, 0.0, 0.0, math.log(4.0), 0.0]])  # equal weights: Beta(2, 2) and Beta(.5, .5)
    >>> round(float(law.nll(law.link(raw), torch.tensor([0.25]))), 4)  # -log(0.5 * 1.125 + 0.5 * 0.7351)
    0.0725
    """

    support = UNIT_INTERVAL
    formula = "-logsumexp_k [log w_k + log Beta(y; mean_k * precision_k, (1 - mean_k) * precision_k)]"
    point_kinds = ("mean", "median")

    def __init__(self, *, n_components: int = 3, clamp: float | None = None) -> None:
        super().__init__(clamp=clamp)
        self.n_components = check_integer(n_components, "n_components", who=self.name, low=1)

    def options(self) -> dict[str, Any]:
        return {"n_components": self.n_components, **super().options()}

    @property
    def raw_layout(self) -> dict[str, int]:
        k = self.n_components
        return {"logits": k, "mean": k, "precision": k}

    def link(self, raw: torch.Tensor) -> Params:
        """``logits``, ``mean``, ``precision``, ``concentration1``, ``concentration0``, each ``(..., K)``."""
        parts = self.split_raw(raw)
        mean, precision, c1, c0 = mean_precision(parts["mean"], parts["precision"])
        return {"logits": parts["logits"], "mean": mean, "precision": precision, "concentration1": c1,
                "concentration0": c0}

    def inverse_link(self, params: dict[str, Any]) -> torch.Tensor:
        """Raw outputs ``(3K,)`` from ``weights`` (or ``logits``), ``mean`` and ``precision``, each ``(K,)``."""
        k, dtype = self.n_components, torch.get_default_dtype()
        if "logits" in params:
            logits = torch.as_tensor(params["logits"], dtype=dtype)
        elif "weights" in params:
            logits = torch.log(torch.as_tensor(params["weights"], dtype=dtype).clamp(min=1e-12))
        else:
            raise LosslabError(f"{self.name}: inverse_link needs 'weights' (or 'logits'), 'mean' and 'precision'")
        parts = [
            logits,
            bounded_sigmoid_link(MAX_LOGIT).inverse(params["mean"]),
            log_link(MAX_LOG_PRECISION).inverse(params["precision"]),
        ]
        parts = [torch.as_tensor(p, dtype=dtype).reshape(-1).expand(k) for p in parts]
        return torch.cat(parts)

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        """Split the sorted labels into ``K`` equal-count groups, fit each by moments, weight them equally."""
        y = _inside(torch.as_tensor(y, dtype=torch.get_default_dtype()).flatten(), self.clamp)
        k = self.n_components
        groups = [g for g in torch.sort(y).values.tensor_split(k) if g.numel() > 0]
        fits = [_beta_moments(g) for g in groups]
        fits += [(torch.tensor(0.5), torch.tensor(1.0))] * (k - len(fits))  # fewer labels than components
        fit = {
            "weights": torch.full((k,), 1.0 / k),
            "mean": torch.stack([m for m, _ in fits]),
            "precision": torch.stack([p for _, p in fits]),
        }
        zero = {"weights": torch.full((k,), 1.0 / k), "mean": torch.full((k,), 0.5), "precision": torch.ones(k)}
        return _no_worse_than_zero_raw(self, y, fit, zero)

    def _batch_shape(self, params: Params) -> torch.Size:
        return params["mean"].shape[:-1]

    def _check_shapes(self, params: Params, y: torch.Tensor) -> None:
        super()._check_shapes(params, y)
        k = params["mean"].shape[-1:]
        if k != (self.n_components,):
            raise LosslabError(
                f"{self.name}: parameters have {shape_str(k)} components on their last axis, expected "
                f"({self.n_components},)"
            )

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        log_w = torch.log_softmax(params["logits"], -1)
        lp = beta_log_prob(params["concentration1"], params["concentration0"], y.unsqueeze(-1))
        return -torch.logsumexp(log_w + lp, -1)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> MixtureSameFamily:
        return MixtureSameFamily(
            Categorical(logits=params["logits"], validate_args=False),
            BetaDistribution(params["concentration1"], params["concentration0"], validate_args=False),
            validate_args=False,
        )

    def _mean(self, params: Params) -> torch.Tensor:
        return (torch.softmax(params["logits"], -1) * params["mean"]).sum(-1)

    def _support_hint(self, y: torch.Tensor, bad: torch.Tensor) -> tuple[str, str]:
        return open_unit_interval_hint(self, y, bad)


@register_law("zoib")
class ZOIB(ScalarLaw):
    r"""Zero/one-inflated beta (Ospina & Ferrari 2010): labels exactly 0 and 1 are data, not errors.

    .. math::
        -\log p(y) = \begin{cases}
            -\log \pi_0 & y = 0 \\
            -\log \pi_1 & y = 1 \\
            -\log \pi_c - \log \mathrm{Beta}(y; \mu\phi, (1-\mu)\phi) & 0 < y < 1
        \end{cases}
        \qquad (\pi_0, \pi_1, \pi_c) = \operatorname{softmax}(r_0, r_1, 0)

    The NLL is a log-mass at the atoms and a log-density inside (a likelihood w.r.t.
    Lebesgue measure plus two point masses), so its values at the atoms and inside
    are not on the same scale. The Beta part is :class:`Beta`'s (same bounds). Every
    branch is evaluated at a safe label and selected with ``torch.where``, so neither
    value nor gradient is ever NaN.

    Point kinds: ``mean`` and ``median``. The CDF jumps by ``pi0`` at 0 and ``pi1`` at 1,
    so a quantile is 0 for ``q <= pi0``, 1 for ``q >= 1 - pi1`` and the Beta part's
    quantile in between; a central interval holds at least ``level`` of the mass.

    Args:
        clamp: accepted for uniformity; the support already includes 0 and 1.

    Raw outputs: ``[zero_logits, one_logits, mean, precision]``, with
    ``zero_logits = log(pi0 / pi_c)``, ``one_logits = log(pi1 / pi_c)``.

    Reference: R. Ospina and S. L. P. Ferrari, "Inflated beta distributions",
    Statistical Papers 51 (2010) 111-126.

    >>> law = ZOIB()
    >>> p = law.link(torch.tensor([[0.0, 0.0, 0.0, math.log(4.0)]]))   # pi = 1/3 each, Beta(2, 2) inside
    >>> round(float(law.nll(p, torch.tensor([0.0]))), 4), round(float(law.nll(p, torch.tensor([0.25]))), 4)
    (1.0986, 0.9808)
    """

    likelihood = "mixed"
    support = UNIT_INTERVAL_CLOSED
    point_kinds = ("mean", "median")
    formula = "-log pi0 (y = 0); -log pi1 (y = 1); else -log pi_c - log Beta(y; mean*precision, (1-mean)*precision)"

    def param_links(self) -> dict[str, Link]:
        return {
            "zero_logits": IDENTITY,
            "one_logits": IDENTITY,
            "mean": bounded_sigmoid_link(MAX_LOGIT),
            "precision": log_link(MAX_LOG_PRECISION),
        }

    def link(self, raw: torch.Tensor) -> Params:
        """``zero_logits``, ``one_logits``, ``mean``, ``precision``, ``concentration1``, ``concentration0``."""
        parts = self.split_raw(raw)
        mean, precision, c1, c0 = mean_precision(parts["mean"], parts["precision"])
        return {"zero_logits": parts["zero_logits"], "one_logits": parts["one_logits"], "mean": mean,
                "precision": precision, "concentration1": c1, "concentration0": c0}

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        """Atom masses from the label frequencies (at least 1e-4 each), the Beta part by moments of the rest."""
        y = torch.as_tensor(y, dtype=torch.get_default_dtype()).flatten()
        n = y.numel()
        counts = torch.stack([(y == 0).sum(), (y == 1).sum(), ((y > 0) & (y < 1)).sum()]).to(y.dtype)
        probs = (counts / n).clamp(min=1e-4)
        probs = probs / probs.sum()
        inner = y[(y > 0) & (y < 1)]
        m, precision = _beta_moments(inner) if inner.numel() > 0 else (torch.tensor(0.5), torch.tensor(2.0))
        fit = {
            "zero_logits": torch.log(probs[0] / probs[2]),
            "one_logits": torch.log(probs[1] / probs[2]),
            "mean": m,
            "precision": precision,
        }
        zero = {"zero_logits": 0.0, "one_logits": 0.0, "mean": 0.5, "precision": 1.0}
        return _no_worse_than_zero_raw(self, y, fit, zero)

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return -zoib_log_prob(
            params["zero_logits"], params["one_logits"], params["concentration1"], params["concentration0"], y
        )

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> ZeroOneInflatedBeta:
        return ZeroOneInflatedBeta(
            params["zero_logits"],
            params["one_logits"],
            params["concentration1"],
            params["concentration0"],
            validate_args=False,
        )

    def _mean(self, params: Params) -> torch.Tensor:
        # E y = pi1 + pi_c * mu, with the class probabilities from a softmax over (r0, r1, 0).
        z = torch.stack([params["zero_logits"], params["one_logits"], torch.zeros_like(params["mean"])], -1)
        probs = torch.softmax(z, -1)
        return probs[..., 1] + probs[..., 2] * params["mean"]
