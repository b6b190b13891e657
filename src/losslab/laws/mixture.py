"""Gaussian mixture law: multimodal real labels (a mixture density network's output)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal

from .._errors import LosslabError, check_integer, shape_str
from ..distributions import MixtureSameFamily
from ..links import LOG_2PI, positive, positive_inv
from ._base import Law, Params, check_scale
from ._registry import register_law
from ._support import REAL

#: ascent steps of the mode search, from every component's location (Newton converges in a few)
MODE_STEPS = 30


def mixture_log_prob(logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""``log sum_k softmax(logits)_k N(y; loc_k, scale_k)``; parameters ``(..., K)``, ``y`` and result ``(...)``.

    A component more than ``C`` scales from ``y`` (``C = sqrt(largest float) / 8``: 2.3e18 in float32)
    gets log-density ``-inf``, its value to the precision of the sum (below ``-2.6e36``): computing
    ``z^2`` there would overflow float32, and although ``logsumexp`` gives such a component zero
    weight, ``0 * inf`` in the backward pass would make every gradient NaN.

    Where every component is that far (a label 1e30 away), the log density is taken relative to the
    nearest component ``k`` (in scales): :math:`\log p = c_k + \log\sum_j \exp(c_j - c_k)` with
    :math:`c_j - c_k = \log\frac{w_j s_k}{w_k s_j} - \tfrac12 (z_j - z_k)(z_j + z_k)`, which forms no
    ``z^2``. Its value overflows to ``-inf`` with ``c_k``'s square, as the exact one would, but its
    gradient stays finite (tied components share it), where ``logsumexp`` of nothing but ``-inf`` has
    a NaN gradient.
    """
    d = y.unsqueeze(-1) - loc
    with torch.no_grad():  # only masks
        ratio = d.abs() / scale
        far = ratio > _far_scales(d.dtype)
        all_far = far.all(-1)
    log_w = F.log_softmax(logits, dim=-1)
    z = torch.where(far, torch.zeros_like(d), d) / scale
    comp = -0.5 * z * z - torch.log(scale) - 0.5 * LOG_2PI
    comp = torch.where(far, torch.full_like(comp, -math.inf), comp)
    if all_far.device.type == "cpu" and not bool(all_far.any()):
        # The usual case, checked for free on a CPU (on a GPU the check would wait for the device).
        return torch.logsumexp(log_w + comp, dim=-1)
    every = all_far.unsqueeze(-1)
    lse = torch.logsumexp(torch.where(every, torch.zeros_like(comp), log_w + comp), dim=-1)
    # Rows where every component is far: z (capped at a quarter of the largest float, so that sums and
    # differences of two stay finite; the cap binds only where the gradient z / s is beyond the dtype anyway).
    cap = torch.finfo(d.dtype).max / 4
    with torch.no_grad():
        huge = every & (ratio > cap)  # z itself beyond the cap (or inf): a constant there, whose gradient is 0
    zf = torch.where(huge | ~every, torch.zeros_like(d), d) / scale
    zf = torch.where(huge, torch.sign(d) * cap, zf)
    k = ratio.argmin(-1, keepdim=True)
    # Rows with a near component take ``lse``; their ``base`` is replaced before it is used, since a
    # weight of 0 there (log_w = -inf) would make ``base - base_k`` NaN, and ``where`` passes on 0 * NaN.
    base = torch.where(every, log_w - torch.log(scale), torch.zeros_like(log_w))
    z_k, base_k = zf.gather(-1, k), base.gather(-1, k)
    rel = (base - base_k) - 0.5 * (zf - z_k) * (zf + z_k)
    nearest = (base_k - 0.5 * z_k * z_k).squeeze(-1) - 0.5 * LOG_2PI + torch.logsumexp(rel, dim=-1)
    return torch.where(all_far, nearest, lse)


def _far_scales(dtype: torch.dtype) -> float:
    """``C``: ``C^2`` is finite in ``dtype``, with room for the sums that follow (see :func:`mixture_log_prob`)."""
    return math.sqrt(torch.finfo(dtype).max) / 8


class StableGaussianMixture(MixtureSameFamily):
    """The mixture-gaussian predictive whose ``log_prob`` is :func:`mixture_log_prob`.

    torch's sums ``log N(y; mu_k, s_k)`` from ``(y - mu_k)^2 / (2 s_k^2)``: a component of scale
    1e20 makes both squares overflow float32 and the ratio NaN, which ``logsumexp`` spreads.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        comp = self.component_distribution
        return mixture_log_prob(self.mixture_distribution.logits, comp.loc, comp.scale, value)


@register_law("mixture-gaussian")
class MixtureGaussian(Law):
    r"""Mixture of ``K`` Gaussians with learned weights, locations and scales (mixture density network).

    .. math::
        -\log p(y) = -\log \sum_{k=1}^{K} \pi_k\, \mathcal N(y; \mu_k, \sigma_k^2),
        \qquad \pi = \operatorname{softmax}(w), \quad \sigma_k = \operatorname{softplus}(r_k) + \sigma_{\min}

    computed as ``-logsumexp(log_softmax(w) + log N(y; mu_k, sigma_k))``, finite for
    raw outputs at ±1e4. A component can shrink onto a label, so :meth:`excess` is undefined.

    Parameters have a trailing component axis: ``logits``, ``loc`` and ``scale`` are
    ``(..., K)`` for labels ``(...)``.

    Point kinds: ``mean`` (``sum_k pi_k mu_k``); ``median`` (the quantile at 1/2: bisection
    on the mixture cdf to float resolution, bracketed by the components' medians); ``mode`` (the highest density reached by the fixed-point ascent of
    Carreira-Perpinan (2000) started from each of the K component locations, with Newton
    steps where they climb faster). The mode search is local: it misses the global mode
    only if no ascent from a component location reaches it; on a flat top (two equal
    components 2 scales apart) float32 locates it only to about 1e-2 scales, since the
    density there is flat to within rounding. Neither is differentiable.
    The predictive, a :class:`losslab.distributions.MixtureSameFamily`, has ``cdf``, ``icdf``
    (:func:`losslab.distributions.mixture_icdf`, used by :meth:`quantile` and :meth:`interval`)
    and ``sample``.

    Args:
        n_components: the number of components ``K`` (default 3).
        min_scale: floor of each component's scale (default 1e-3).

    Raw outputs: ``[logits (K), loc (K), scale (K)]``.

    References:
        Bishop (1994), "Mixture Density Networks", Aston University NCRG/94/004;
        Carreira-Perpinan (2000), "Mode-finding for mixtures of Gaussian distributions", IEEE TPAMI 22(11).

    >>> law = MixtureGaussian(n_components=2)
    >>> raw = law.inverse_link({"probs": [0.5, 0.5], "loc": [-1.0, 1.0], "scale": [1.0, 1.0]})
    >>> p = law.link(raw.unsqueeze(0))
    >>> round(float(law.nll(p, torch.tensor([0.0]))), 4)  # -log N(1; 0, 1)
    1.4189
    >>> raw = law.inverse_link({"probs": [0.3, 0.7], "loc": [-2.0, 1.0], "scale": [1.0, 0.5]})
    >>> p = law.link(raw.unsqueeze(0))
    >>> [round(float(law.point(p, k)), 4) for k in ("mean", "median", "mode")]  # scipy: brentq, minimize_scalar
    [0.1, 0.7191, 0.9982]
    """

    formula = "-logsumexp_k(log_softmax(w)_k + log N(y; loc_k, scale_k))"
    support = REAL
    point_kinds = ("mean", "median", "mode")

    def __init__(self, *, n_components: int = 3, min_scale: float = 1e-3, clamp: float | None = None) -> None:
        super().__init__(clamp=clamp)
        self.n_components = check_integer(n_components, "n_components", who=self.name, low=1)
        self.min_scale = check_scale(min_scale, "min_scale", self.name)

    def options(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "min_scale": self.min_scale, **super().options()}

    @property
    def raw_layout(self) -> dict[str, int]:
        k = self.n_components
        return {"logits": k, "loc": k, "scale": k}

    def link(self, raw: torch.Tensor) -> Params:
        parts = self.split_raw(raw)
        return {"logits": parts["logits"], "loc": parts["loc"], "scale": positive(parts["scale"], self.min_scale)}

    def inverse_link(self, params: dict[str, Any]) -> torch.Tensor:
        """Raw outputs ``(3K,)`` for ``logits`` (or ``probs``), ``loc`` and ``scale``, each ``(K,)``."""
        dtype = torch.get_default_dtype()
        if "logits" in params:
            logits = torch.as_tensor(params["logits"], dtype=dtype)
        elif "probs" in params:
            logits = torch.log(torch.as_tensor(params["probs"], dtype=dtype).clamp(min=1e-30))
        else:
            raise LosslabError(f"{self.name}: inverse_link needs 'logits' (or 'probs'), 'loc' and 'scale'")
        if "loc" not in params or "scale" not in params:
            raise LosslabError(f"{self.name}: inverse_link needs 'logits' (or 'probs'), 'loc' and 'scale'")
        loc = torch.as_tensor(params["loc"], dtype=dtype)
        scale = torch.as_tensor(params["scale"], dtype=dtype)
        k = self.n_components
        for name, v in (("logits", logits), ("loc", loc), ("scale", scale)):
            if v.shape != (k,):
                raise LosslabError(f"{self.name}: inverse_link got {name} of shape {shape_str(v.shape)}, expected ({k},)")
        return torch.cat([logits, loc, positive_inv(scale, self.min_scale).to(dtype)])

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        """A marginal fit: locations at quantiles of ``y``, refined by a few EM steps.

        The best (by NLL on ``y``) of the quantile start, its EM refinement and a single
        moment-matched Gaussian is returned, so the fit is never worse than one Gaussian.
        """
        y = torch.as_tensor(y).reshape(-1).to(torch.float64)
        k = self.n_components
        std = y.std() if y.numel() > 1 else torch.ones((), dtype=torch.float64)
        # A floor relative to the spread keeps EM from collapsing a component onto one label.
        floor = torch.clamp(0.01 * std, min=10 * self.min_scale)
        q = (torch.arange(k, dtype=torch.float64) + 0.5) / k
        start = {
            "logits": torch.zeros(k, dtype=torch.float64),
            "loc": torch.quantile(y, q),
            "scale": (std / k).clamp(min=floor).expand(k).clone(),
        }
        single = {
            "logits": torch.zeros(k, dtype=torch.float64),
            "loc": y.mean().expand(k).clone(),
            "scale": std.clamp(min=floor).expand(k).clone(),
        }
        candidates = [start, single, self._em(y, start, floor, steps=30)]
        nlls = [float(-mixture_log_prob(c["logits"], c["loc"], c["scale"], y).mean()) for c in candidates]
        best = candidates[min(range(len(candidates)), key=lambda i: nlls[i] if math.isfinite(nlls[i]) else math.inf)]
        return {key: v.to(torch.get_default_dtype()) for key, v in best.items()}

    @staticmethod
    def _em(y: torch.Tensor, start: dict[str, torch.Tensor], floor: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
        logits, loc, scale = start["logits"], start["loc"], start["scale"]
        for _ in range(steps):
            z = (y.unsqueeze(-1) - loc) / scale
            logr = F.log_softmax(logits, -1) - 0.5 * z * z - torch.log(scale)
            r = torch.softmax(logr, dim=-1)  # responsibilities (N, K)
            nk = r.sum(0).clamp(min=1e-12)
            loc = (r * y.unsqueeze(-1)).sum(0) / nk
            var = (r * (y.unsqueeze(-1) - loc) ** 2).sum(0) / nk
            scale = var.sqrt().clamp(min=floor)
            logits = torch.log(nk / nk.sum())
        return {"logits": logits, "loc": loc, "scale": scale}

    def _batch_shape(self, params: Params) -> torch.Size:
        return params["loc"].shape[:-1]

    def _check_shapes(self, params: Params, y: torch.Tensor) -> None:
        k = self.n_components
        for key in ("logits", "loc", "scale"):
            if params[key].shape[-1:] != (k,):
                raise LosslabError(
                    f"{self.name}: parameter {key} has shape {shape_str(params[key].shape)}, expected a last "
                    f"dimension of n_components={k}"
                )
        super()._check_shapes(params, y)

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return -mixture_log_prob(params["logits"], params["loc"], params["scale"], y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> MixtureSameFamily:
        return StableGaussianMixture(
            Categorical(logits=params["logits"], validate_args=False),
            Normal(params["loc"], params["scale"], validate_args=False),
            validate_args=False,
        )

    def _mean(self, params: Params) -> torch.Tensor:
        return (torch.softmax(params["logits"], dim=-1) * params["loc"]).sum(-1)

    @torch.no_grad()
    def _mode(self, params: Params) -> torch.Tensor:
        logw = F.log_softmax(params["logits"], dim=-1).unsqueeze(-2)  # (..., 1, K)
        loc, scale = params["loc"].unsqueeze(-2), params["scale"].unsqueeze(-2)
        prec = scale.pow(-2)

        def log_density(x: torch.Tensor) -> torch.Tensor:  # x (..., S) -> (..., S)
            return mixture_log_prob(logw, loc, scale, x)

        x = params["loc"].clone()  # (..., S = K): one start per component
        for _ in range(MODE_STEPS):
            z = (x.unsqueeze(-1) - loc) / scale
            r = torch.softmax(logw - 0.5 * z * z - torch.log(scale), dim=-1)  # responsibilities at x
            u = (loc - x.unsqueeze(-1)) * prec  # d/dx log N_k(x)
            g = (r * u).sum(-1)  # d/dx log p(x)
            h = (r * (u * u - prec)).sum(-1) - g * g  # d2/dx2 log p(x)
            # The fixed point x = sum r_k mu_k / s_k^2 / sum r_k / s_k^2 (Carreira-Perpinan 2000) climbs
            # reliably but crawls on flat tops; a Newton step is taken instead where it climbs higher.
            fixed = x + g / (r * prec).sum(-1)
            newton = x - g / torch.where(h < 0, h, -torch.ones_like(h))
            better = (h < 0) & (log_density(newton) > log_density(fixed))
            step = torch.where(better, newton, fixed)
            # Far outside the useful range (scales of 1e30, whose precision underflows) a step can be 0/0:
            # such a start stays where it is; every start is a finite candidate.
            x = torch.where(torch.isfinite(step), step, x)
        best = log_density(x).argmax(-1, keepdim=True)
        return x.gather(-1, best).squeeze(-1)
