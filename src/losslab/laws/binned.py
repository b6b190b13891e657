"""Categorical-over-bins laws: regression by classification with one-hot, two-hot or HL-Gauss targets.

The label range ``[low, high]`` is cut into ``n_bins`` equal-width bins; the network
outputs one logit per bin, and the predictive is the piecewise-uniform density
(:class:`~losslab.distributions.Histogram`) that puts ``softmax(logits)[k]`` on bin ``k``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .._errors import LosslabError, check_choice, check_integer, check_number, shape_str
from ..distributions import Histogram, histogram_bin, histogram_grid
from ._base import Law, Params
from ._registry import register_law
from ._support import INTERVAL_CLOSED

#: target constructions; the first is the default
KINDS = ("hl-gauss", "onehot", "twohot")

#: the largest |low|, |high| and span: a quarter of float32's largest number, so that high - low and the edges
#: computed from it stay finite in float32
_FLOAT32_RANGE = float(torch.finfo(torch.float32).max) / 4

#: the range of ``sigma_ratio``: float32 computes HL-Gauss targets from about 1e-30 to 1e6 bin widths (NaN at
#: 1e-40 and 1e9); within these bounds the targets run from onehot's to flat over a million bins
SIGMA_RATIO_RANGE = (1e-6, 1e6)

#: bisection steps of the HL-Gauss decoder: (high - low) / 2**41 is below float64 resolution of typical ranges
_BISECTION_STEPS = 40


def _erfc_cap(dtype: torch.dtype) -> float:
    """An argument beyond which ``erfc`` would leave the normal floats of ``dtype`` (8.8 in float32, 26.1 in float64)."""
    return math.sqrt(-math.log(torch.finfo(dtype).tiny)) - 0.5


def _erfc_loss_cap(dtype: torch.dtype) -> float:
    """The argument where ``erfc`` falls to ``eps**2`` of ``dtype`` (5.4 in float32, 8.3 in float64).

    Target masses below ``eps**2`` change no cross-entropy value or gradient at the
    precision of ``dtype`` (a term ``t_k log p_k`` with ``t_k < eps**2`` and ``|log p_k|``
    below ``1/eps`` stays under ``eps`` of the loss), so the training objective drops them.
    """
    target = torch.finfo(dtype).eps ** 2
    lo, hi = 0.0, 30.0
    for _ in range(60):  # bisection on the decreasing math.erfc, to double precision
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.erfc(mid) > target else (lo, mid)
    return hi


@register_law("binned")
class Binned(Law):
    r"""Regression by classification: a softmax over ``n_bins`` equal-width bins of ``[low, high]``.

    The predictive is the piecewise-uniform histogram density, and :meth:`nll` reports its
    density NLL, comparable with the continuous laws:

    .. math::
        -\log p(y) = -\log \operatorname{softmax}(\ell)_{b(y)} + \log w,
        \qquad w = \frac{\mathrm{high} - \mathrm{low}}{n}

    with :math:`b(y)` the bin holding ``y`` (``y = high`` in the last bin). The training
    objective is the cross-entropy against target probabilities ``t = to_probs(y)``:

    .. math::
        L(\ell, y) = -\sum_k t_k(y) \log \operatorname{softmax}(\ell)_k + \log w

    * ``kind="onehot"``: ``t`` is the bin of ``y`` (WaveNet, van den Oord et al. 2016,
      sec. 2.2); the objective equals the NLL.
    * ``kind="twohot"``: ``t`` splits linearly between the two centres around ``y``
      (MuZero, Schrittwieser et al. 2020); labels below the first centre or above the
      last go wholly to the end bin.
    * ``kind="hl-gauss"``: ``t_k`` is the mass of ``Normal(y, sigma)`` in bin ``k``, with
      ``sigma = sigma_ratio * w``, renormalised over ``[low, high]`` (Imani & White 2018,
      "Improving Regression Performance with Distributional Losses"; Farebrother et al.
      2024, "Stop Regressing").

    For ``twohot`` and ``hl-gauss`` the objective is not the NLL (the smoothed targets are
    what is trained; the NLL is what is reported). :meth:`excess` is ``KL(t || softmax(logits))``:
    the objective minus its infimum ``H(t) + log w``. Labels outside ``[low, high]`` are
    rejected (the support is closed, so ``clamp=`` changes nothing).

    :meth:`to_probs` builds the targets and :meth:`from_probs` decodes bin probabilities
    back to a label. Point predictions: ``"mean"`` (of the histogram), ``"median"`` (of its
    piecewise-linear CDF), ``"mode"`` (centre of the most probable bin) and ``"interp"``
    (the mode's centre refined by its two neighbours, as suggested for WaveNet outputs).

    Args:
        kind: ``"hl-gauss"`` (default), ``"onehot"`` or ``"twohot"``.
        n_bins: number of bins, >= 2 (default 51).
        low, high: the label range (default [0, 1]).
        sigma_ratio: HL-Gauss standard deviation in bin widths (default 0.75, as in Stop Regressing).

    Raw outputs: ``n_bins`` logits; ``link`` gives ``{"logits": (..., n_bins)}`` for labels ``(...)``.

    >>> law = Binned(kind="onehot", n_bins=4)            # bins of width 0.25 on [0, 1]
    >>> p = law.link(torch.log(torch.tensor([[1.0, 3.0, 1.0, 1.0]])))  # probs 1/6, 1/2, 1/6, 1/6
    >>> round(float(law.nll(p, torch.tensor([0.3]))), 4)  # density 0.5 / 0.25 = 2
    -0.6931
    >>> Binned(kind="twohot", n_bins=4).to_probs(torch.tensor(0.5))  # centres 0.125, 0.375, ...
    tensor([0.0000, 0.5000, 0.5000, 0.0000])
    """

    support = INTERVAL_CLOSED
    formula = "-log softmax(logits)[bin(y)] + log(width)  (trained as cross-entropy to onehot/twohot/hl-gauss targets)"
    point_kinds = ("mean", "median", "mode", "interp")

    def __init__(
        self,
        *,
        kind: str = "hl-gauss",
        n_bins: int = 51,
        low: float = 0.0,
        high: float = 1.0,
        sigma_ratio: float = 0.75,
        clamp: float | None = None,
    ) -> None:
        super().__init__(clamp=clamp)
        kind = check_choice(kind, "kind", KINDS, who=self.name)
        n_bins = check_integer(n_bins, "n_bins", who=self.name, low=2)
        # The grid is computed in the labels' dtype, float32 at least: its ends, its span and its bin width
        # must be normal float32 numbers, or (y - low) / width is inf or 0/0 (high=1e-320 gave NaN losses).
        lim = _FLOAT32_RANGE
        low = check_number(low, "low", who=self.name, low=-lim, high=lim, what=f"a number in [-{lim:g}, {lim:g}]")
        high = check_number(high, "high", who=self.name, low=-lim, high=lim, what=f"a number in [-{lim:g}, {lim:g}]")
        if not low < high:
            raise LosslabError(f"{self.name}: low={low!r}, high={high!r}; expected low < high")
        tiny = torch.finfo(torch.float32).tiny
        if not (high - low) / n_bins >= tiny * max(1.0, abs(low), abs(high)) / torch.finfo(torch.float32).eps:
            raise LosslabError(
                f"{self.name}: low={low!r}, high={high!r} with n_bins={n_bins} give bins of width "
                f"{(high - low) / n_bins:.3g}, below what float32 resolves there; expected a wider range or fewer bins"
            )
        lo_r, hi_r = SIGMA_RATIO_RANGE
        sigma_ratio = check_number(sigma_ratio, "sigma_ratio", who=self.name, low=lo_r, high=hi_r,
                                   what=f"a number of bin widths in [{lo_r:g}, {hi_r:g}]")
        self.kind, self.n_bins = kind, n_bins
        self.low, self.high, self.sigma_ratio = low, high, sigma_ratio
        self.support = INTERVAL_CLOSED.with_bounds(low, high)  # this instance's [low, high]
        self.width = (self.high - self.low) / n_bins
        self.sigma = self.sigma_ratio * self.width
        self._log_width = math.log(self.width)

    def options(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_bins": self.n_bins,
            "low": self.low,
            "high": self.high,
            "sigma_ratio": self.sigma_ratio,
            **super().options(),
        }

    # ------------------------------------------------------------------ layout
    @property
    def raw_layout(self) -> dict[str, int]:
        return {"logits": self.n_bins}

    def link(self, raw: torch.Tensor) -> Params:
        return {"logits": self.split_raw(raw)["logits"]}

    def _batch_shape(self, params: Params) -> torch.Size:
        return params["logits"].shape[:-1]

    def inverse_link(self, params: dict[str, Any]) -> torch.Tensor:
        if "logits" not in params:
            raise LosslabError(f"{self.name}: inverse_link needs parameters ['logits']")
        logits = torch.as_tensor(params["logits"], dtype=torch.get_default_dtype())
        if logits.shape != (self.n_bins,):
            raise LosslabError(
                f"{self.name}: inverse_link got logits of shape {shape_str(logits.shape)}, expected ({self.n_bins},)"
            )
        # Softmax ignores a common shift; centring keeps the bias small.
        return logits - logits.mean()

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        """The marginal fit of the training objective: the mean target ``mean_i to_probs(y_i)``.

        This minimises the marginal cross-entropy (for ``onehot`` it is the label histogram;
        for ``twohot``/``hl-gauss`` the histogram as the targets spread it). Add-1/2
        pseudo-counts (Krichevsky-Trofimov) keep every bin's probability positive, so
        every logit is finite; they weigh less as the number of labels grows.
        """
        y = torch.as_tensor(y, dtype=torch.get_default_dtype()).reshape(-1)
        n = y.numel()
        counts = self.to_probs(y).sum(0) if n else torch.zeros(self.n_bins, dtype=y.dtype)
        probs = (counts + 0.5) / (n + 0.5 * self.n_bins)
        return {"logits": torch.log(probs)}

    # ------------------------------------------------------------------ grid and targets
    def _grid(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return histogram_grid(self.low, self.high, self.n_bins, like.dtype, like.device)

    def _twohot_split(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(i0, f)``: the target puts ``1 - f`` on centre ``i0`` and ``f`` on centre ``i0 + 1``."""
        # Position in centre units (centre k at t = k), clipped so that the ends go wholly to the end bins.
        t = ((y - self.low) / self.width - 0.5).clamp(0.0, self.n_bins - 1.0)
        i0 = torch.floor(t).clamp(max=self.n_bins - 2)
        return i0.long(), t - i0

    def _hl_gauss_halfwidth(self, dtype: torch.dtype, for_loss: bool = False) -> int:
        """Bins each side of the label's bin beyond which every HL-Gauss mass is 0 in ``dtype`` (see below).

        With ``for_loss``, beyond which every mass is below ``eps**2`` (see :func:`_erfc_loss_cap`):
        the window's outer edges lie at least ``K`` bins, ``K / (sigma_ratio sqrt 2)`` in erfc's
        argument, from any label in the centre bin, so ``K = ceil(cap sigma_ratio sqrt 2)`` suffices.
        """
        if for_loss:
            return math.ceil(_erfc_loss_cap(dtype) * self.sigma_ratio * math.sqrt(2))
        return math.ceil(_erfc_cap(dtype) * self.sigma_ratio * math.sqrt(2)) + 1

    def _sparse_targets(self, y: torch.Tensor, for_loss: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The targets as ``(bins (..., W), weights (..., W))``: ``to_probs(y)`` is 0 off these bins.

        ``W`` is 1 (onehot), 2 (twohot) or, for HL-Gauss, a window of ``2K + 1`` bins around the
        label (all bins when that is wider than the grid): the masses outside it are exact zeros
        (their erfc values are capped, see :meth:`_hl_gauss_window`), so training gathers ``W``
        log-probabilities per label instead of multiplying a dense ``(..., n_bins)`` target.
        ``for_loss`` narrows the HL-Gauss window to the masses above ``eps**2`` of the dtype,
        invisible to the cross-entropy (13 bins instead of 23 in float32 at ``sigma_ratio=0.75``):
        fewer erfc calls, a narrower gather, and no subnormal products in the backward pass.
        """
        if self.kind == "onehot":
            idx = histogram_bin(y, self.low, self.width, self.n_bins).unsqueeze(-1)
            return idx, torch.ones(idx.shape, dtype=y.dtype, device=y.device)
        if self.kind == "twohot":
            i0, f = self._twohot_split(y)
            return torch.stack([i0, i0 + 1], dim=-1), torch.stack([1 - f, f], dim=-1)
        return self._hl_gauss_window(y, for_loss)

    def _hl_gauss_window(self, y: torch.Tensor, for_loss: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.n_bins
        width = min(2 * self._hl_gauss_halfwidth(y.dtype, for_loss) + 1, n)
        u = (y - self.low) / self.width  # the label in bin units: edge k sits at u = k
        # A window of `width` bins centred on the label's bin, slid inside the grid near its ends.
        start = (histogram_bin(y, self.low, self.width, n) - (width // 2)).clamp_(0, n - width)
        # w_k = (e_k - y) / (sigma sqrt 2) at the window's edges, in one broadcast pass.
        a = 1 / (self.sigma_ratio * math.sqrt(2))
        steps = torch.arange(width + 1, dtype=y.dtype, device=y.device) * a
        w = ((start.to(y.dtype) - u) * a).unsqueeze(-1) + steps  # (..., width + 1)
        # With s = sign(e - y) (+1 at e = y) and T = erfc(|w|), twice P(X <= e) is (1 + s) - s T. A bin's
        # mass is a difference of tails (not of CDF values near 1), so far bins keep their relative
        # precision: erfc, unlike torch's CPU ndtr (0 below -8.3 sigma), holds it to 37 sigma in float64.
        # |w| is capped where erfc leaves the normal floats: subnormal arithmetic is ~10x slower on CPU,
        # and masses below 1e-35 (float32) or 1e-297 (float64) are zeros to the cross-entropy.
        # (In-place steps on fresh temporaries: fewer allocations, fewer passes over memory.)
        signed_tail = torch.special.erfc(w.abs().clamp_(max=_erfc_cap(w.dtype))).copysign_(w)
        sign = torch.copysign(torch.ones((), dtype=w.dtype, device=w.device), w)
        mass = sign[..., 1:] - sign[..., :-1]  # 2 on the bin that holds y, else 0: exact
        mass.add_(signed_tail[..., :-1]).sub_(signed_tail[..., 1:])
        mass.clamp_(min=0.0)  # rounding must not leave a negative weight (the entropy takes its log)
        bins = start.unsqueeze(-1) + torch.arange(width, device=y.device)
        return bins, mass.div_(mass.sum(-1, keepdim=True))

    def to_probs(self, y: torch.Tensor) -> torch.Tensor:
        r"""Target probabilities ``(..., n_bins)`` for labels ``y (...)``; each row sums to 1.

        * ``onehot``: 1 on the bin holding ``y`` (``y = high`` in the last bin);
        * ``twohot``: ``1 - f`` and ``f`` on the two centres around ``y`` with
          :math:`y = (1 - f) c_i + f c_{i+1}`; below the first centre or above the last, 1 on the end bin;
        * ``hl-gauss``: :math:`t_k = [\Phi((e_{k+1} - y)/\sigma) - \Phi((e_k - y)/\sigma)] / Z`
          over the edges :math:`e_k`, with :math:`Z` the mass inside ``[low, high]``; masses
          below ~1e-35 (float32) or ~1e-297 (float64) are 0.

        Labels outside ``[low, high]`` are treated as the nearest end (they are clamped).
        """
        y = torch.as_tensor(y)
        if not y.is_floating_point():
            y = y.to(torch.get_default_dtype())
        y = y.clamp(self.low, self.high)
        bins, weights = self._sparse_targets(y)
        if bins.shape[-1] == self.n_bins:  # an HL-Gauss window over the whole grid: already dense
            return weights
        out = torch.zeros(*y.shape, self.n_bins, dtype=y.dtype, device=y.device)
        return out.scatter_add_(-1, bins, weights)

    def from_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Decode bin probabilities ``(..., n_bins)`` to a label ``(...)``: the inverse of :meth:`to_probs`.

        * ``onehot``/``twohot``: the mean of the centres under ``probs``. For ``twohot`` this
          inverts :meth:`to_probs` exactly for labels between the first and the last centre;
          in the end half-bins the target is the end bin whatever the label, so the decoded
          value is that centre (off by at most half a bin). For ``onehot`` the position
          inside a bin is lost: the decoded value is the bin centre (off by up to half a bin).
        * ``hl-gauss``: the truncation to ``[low, high]`` pulls the mean of a target towards
          the middle near the ends; the mean of ``to_probs(mu)`` is increasing in ``mu``, so
          the decoder solves ``mean(to_probs(mu)) = mean(probs)`` for ``mu`` in ``[low, high]``
          by bisection (40 steps, without gradient). Exact (to the bisection) on targets.
        """
        probs = torch.as_tensor(probs)
        if probs.shape[-1:] != (self.n_bins,):
            raise LosslabError(
                f"{self.name}: probs has shape {shape_str(probs.shape)}, expected last dimension n_bins={self.n_bins}"
            )
        _, centers = self._grid(probs)
        mean = (probs * centers).sum(-1) / probs.sum(-1)
        if self.kind != "hl-gauss":
            return mean
        with torch.no_grad():
            lo = torch.full_like(mean, self.low)
            hi = torch.full_like(mean, self.high)
            for _ in range(_BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                below = (self.to_probs(mid) * centers).sum(-1) < mean
                lo = torch.where(below, mid, lo)
                hi = torch.where(below, hi, mid)
            return 0.5 * (lo + hi)

    # ------------------------------------------------------------------ NLL and objective
    def _flat(self, params: Params) -> torch.Tensor:
        return params["logits"].reshape(-1, self.n_bins)

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        idx = histogram_bin(y, self.low, self.width, self.n_bins).reshape(-1)
        # The fused cross-entropy kernel computes logsumexp(logits) - logits[idx] in one pass.
        return F.cross_entropy(self._flat(params), idx, reduction="none").reshape(y.shape) + self._log_width

    def _objective_terms(self, params: Params, y: torch.Tensor, reduction: str) -> torch.Tensor:
        """The cross-entropy against ``to_probs(y)`` (without ``log w``), reduced as torch losses do."""
        flat = self._flat(params)
        y = y.reshape(-1)
        if self.kind == "onehot":  # the fused index cross-entropy kernel
            return F.cross_entropy(flat, histogram_bin(y, self.low, self.width, self.n_bins), reduction=reduction)
        bins, weights = self._sparse_targets(y, for_loss=True)
        logp = F.log_softmax(flat, dim=-1)
        if bins.shape[-1] != self.n_bins:  # (dense HL-Gauss targets cover every bin, in order)
            # -sum_k t_k log softmax(l)_k over the few bins where t is not 0: one log_softmax and a gather
            # of W columns, cheaper than torch's dense probability-target cross-entropy.
            logp = logp.gather(-1, bins)
        # A bin with target weight 0 contributes 0, even where its log-probability is -inf (float32 logits
        # ~±3e38): 0 * -inf would be NaN, as in torch's probability-target cross-entropy.
        per = -(torch.where(weights > 0, logp, torch.zeros_like(logp)) * weights).sum(-1)
        if reduction == "none":
            return per
        return per.mean() if reduction == "mean" else per.sum()

    def _objective(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return self._objective_terms(params, y, "none").reshape(y.shape) + self._log_width

    def _reduced_loss(self, raw, y, reduction, trials):  # noqa: D102 - see Law._reduced_loss
        # mean(ce + log w) = mean(ce) + log w: let the cross-entropy kernel reduce.
        params = self.link(raw)
        y, _ = self._prepare(params, y, trials)
        ce = self._objective_terms(params, y, reduction)
        return ce + self._log_width * (1 if reduction == "mean" else y.numel())

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        t = self.to_probs(y)
        return -torch.xlogy(t, t).sum(-1) + self._log_width

    # ------------------------------------------------------------------ predictions
    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> Histogram:
        return Histogram(params["logits"], self.low, self.high, validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        _, centers = self._grid(params["logits"])
        return (torch.softmax(params["logits"], dim=-1) * centers).sum(-1)

    def _median(self, params: Params) -> torch.Tensor:
        return self.predictive(params).icdf(torch.tensor(0.5, dtype=params["logits"].dtype))

    def _mode(self, params: Params) -> torch.Tensor:
        _, centers = self._grid(params["logits"])
        return centers[params["logits"].argmax(-1)]

    def _interp(self, params: Params) -> torch.Tensor:
        """The most probable bin's centre refined by its two neighbours (WaveNet post-processing).

        The probability-weighted mean of the centres of bins ``k - 1, k, k + 1`` around the
        mode ``k``; at an end bin only the one existing neighbour is used.
        """
        logits = params["logits"]
        _, centers = self._grid(logits)
        k = logits.argmax(-1, keepdim=True)
        idx = k + torch.tensor([-1, 0, 1], device=logits.device)
        valid = (idx >= 0) & (idx < self.n_bins)
        idx = idx.clamp(0, self.n_bins - 1)
        # Weights relative to the mode's probability: exp(l_j - l_k) <= 1, no overflow.
        w = torch.exp(logits.gather(-1, idx) - logits.gather(-1, k)) * valid
        return (w * centers[idx]).sum(-1) / w.sum(-1)
