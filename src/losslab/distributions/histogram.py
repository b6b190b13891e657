"""The piecewise-uniform density over equal-width bins: the predictive of the ``binned`` law."""

from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, Distribution, constraints
from torch.distributions.utils import lazy_property, logits_to_probs, probs_to_logits

from .._errors import LosslabError

__all__ = ["Histogram", "histogram_bin", "histogram_grid"]


def histogram_bin(value: torch.Tensor, low: float, width: float, n_bins: int) -> torch.Tensor:
    """Index (int64) of the equal-width bin holding ``value``; ``value == high`` falls in the last bin.

    Values outside ``[low, high]`` get the nearest end bin (callers mask them where it matters).
    """
    with torch.no_grad():  # an index has no gradient; in-place steps on one temporary
        t = (value - low) / width
        # NaN would cast to an arbitrary integer; 0 keeps a gather in range (callers mask NaN out).
        return t.floor_().nan_to_num_(nan=0.0).clamp_(0, n_bins - 1).long()


def histogram_grid(low: float, high: float, n_bins: int, dtype=None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(edges (n_bins + 1,), centers (n_bins,))`` of ``n_bins`` equal-width bins on ``[low, high]``."""
    edges = torch.linspace(low, high, n_bins + 1, dtype=dtype, device=device)
    return edges, 0.5 * (edges[:-1] + edges[1:])


class Histogram(Distribution):
    r"""Piecewise-uniform density over ``n_bins`` equal-width bins on ``[low, high]``.

    .. math::
        p(y) = \frac{\pi_{b(y)}}{w}, \qquad w = \frac{\mathrm{high} - \mathrm{low}}{n},
        \qquad \pi = \operatorname{softmax}(\mathrm{logits})

    where :math:`b(y)` is the bin holding ``y`` (``y == high`` lies in the last bin). The
    CDF is piecewise linear; the mean is :math:`\sum_k \pi_k c_k` over the bin centres
    :math:`c_k`, the variance :math:`\sum_k \pi_k (c_k - \mu)^2 + w^2/12` (between-bin
    plus within-bin), the differential entropy :math:`-\sum_k \pi_k \log \pi_k + \log w`.
    This is the predictive distribution of the ``binned`` law (regression by
    classification, van den Oord et al. 2016, "WaveNet", sec. 2.2).

    Args:
        logits: ``(..., n_bins)`` unnormalised log-probabilities of the bins (or pass ``probs=``).
        low, high: the ends of the support, ``low < high``.
        probs: ``(..., n_bins)`` non-negative bin weights, normalised over the last axis.

    Batch shape ``(...)``, event shape ``()``. ``log_prob`` is ``-inf`` outside ``[low, high]``
    (the density is 0 there; the value is not validated against the support), and its
    gradient there is 0, not NaN.

    >>> h = Histogram(torch.log(torch.tensor([0.25, 0.5, 0.25])), 0.0, 3.0)
    >>> round(float(h.log_prob(torch.tensor(1.5)).exp()), 4), round(float(h.cdf(torch.tensor(1.5))), 4)
    (0.5, 0.5)
    >>> round(float(h.mean), 4), round(float(h.variance), 4)  # 0.5 + 1/12
    (1.5, 0.5833)
    """

    arg_constraints = {"logits": constraints.real_vector, "probs": constraints.simplex}
    has_rsample = False

    def __init__(
        self,
        logits: torch.Tensor | None = None,
        low: float = 0.0,
        high: float = 1.0,
        *,
        probs: torch.Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if (logits is None) == (probs is None):
            raise LosslabError("Histogram: pass exactly one of logits= or probs=")
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise LosslabError(f"Histogram: low={low!r}, high={high!r}; expected finite numbers with low < high")
        param = logits if probs is None else probs
        if param.dim() < 1 or param.shape[-1] < 1:
            raise LosslabError(
                f"Histogram: {'logits' if probs is None else 'probs'} has shape {tuple(param.shape)}; "
                f"expected (..., n_bins) with n_bins >= 1"
            )
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._param = param
        self.low, self.high = low, high
        self.n_bins = int(param.shape[-1])
        self.width = (high - low) / self.n_bins
        super().__init__(param.shape[:-1], validate_args=validate_args)

    @lazy_property
    def logits(self) -> torch.Tensor:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> torch.Tensor:
        return logits_to_probs(self.logits)

    @property
    def edges(self) -> torch.Tensor:
        """``(n_bins + 1,)`` bin edges, ``low`` to ``high``."""
        return histogram_grid(self.low, self.high, self.n_bins, self._param.dtype, self._param.device)[0]

    @property
    def centers(self) -> torch.Tensor:
        """``(n_bins,)`` bin midpoints."""
        return histogram_grid(self.low, self.high, self.n_bins, self._param.dtype, self._param.device)[1]

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    def expand(self, batch_shape, _instance=None) -> "Histogram":
        batch_shape = torch.Size(batch_shape)
        logits = self.logits.expand(batch_shape + (self.n_bins,))
        return Histogram(logits, self.low, self.high, validate_args=False)

    def _gather(self, table: torch.Tensor, value: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``table[..., idx]`` with ``table (batch..., n_bins)`` broadcast against ``value``'s shape."""
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        return table.expand(shape + (self.n_bins,)).gather(-1, idx.expand(shape).unsqueeze(-1)).squeeze(-1)

    def _as_value(self, value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=self._param.dtype, device=self._param.device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        value = self._as_value(value)
        idx = histogram_bin(value, self.low, self.width, self.n_bins)
        lp = self._gather(self.logits, value, idx) - math.log(self.width)
        inside = (value >= self.low) & (value <= self.high)
        # The gather above read a valid bin for every value, so the unselected branch is finite
        # and its gradient (zero) cannot poison the backward pass.
        out = torch.where(inside, lp, torch.full_like(lp, -math.inf))
        return torch.where(torch.isnan(value), torch.full_like(out, math.nan), out)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        value = self._as_value(value)
        probs = self.probs
        idx = histogram_bin(value, self.low, self.width, self.n_bins)
        below = torch.cumsum(probs, dim=-1) - probs  # mass of the bins left of each bin
        frac = ((value - self.low) / self.width - idx).clamp(0.0, 1.0)
        out = self._gather(below, value, idx) + self._gather(probs, value, idx) * frac
        return out.clamp(0.0, 1.0)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        u = self._as_value(value)
        shape = torch.broadcast_shapes(u.shape, self.batch_shape)
        probs = self.probs.expand(shape + (self.n_bins,))
        cum = torch.cumsum(probs, dim=-1).contiguous()
        u = u.expand(shape)
        # The first bin whose cumulative mass reaches u; rounding can leave cum[-1] a hair below 1.
        idx = torch.searchsorted(cum, u.unsqueeze(-1).contiguous()).squeeze(-1).clamp(max=self.n_bins - 1)
        p = probs.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        below = cum.gather(-1, idx.unsqueeze(-1)).squeeze(-1) - p
        # An empty bin (underflowed softmax) is only reached at u = 0 or u = 1: divide by 1 there.
        frac = ((u - below) / torch.where(p > 0, p, torch.ones_like(p))).clamp(0.0, 1.0)
        x = self.low + self.width * (idx + frac)
        # The masses sum to 1 only to rounding, which would leave icdf(1) an ulp or a few inside the support's end.
        return torch.where(u >= 1, torch.full_like(x, self.high), torch.where(u <= 0, torch.full_like(x, self.low), x))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            idx = Categorical(probs=self.probs, validate_args=False).sample(torch.Size(sample_shape))
            u = torch.rand(shape, dtype=self._param.dtype, device=self._param.device)
            return (self.low + self.width * (idx + u)).clamp(self.low, self.high)

    @property
    def mean(self) -> torch.Tensor:
        return (self.probs * self.centers).sum(-1)

    @property
    def variance(self) -> torch.Tensor:
        # sum p (c^2 + w^2/12) - mean^2, written around the mean so that it does not cancel.
        dev = self.centers - self.mean.unsqueeze(-1)
        return (self.probs * dev * dev).sum(-1) + self.width**2 / 12

    @property
    def mode(self) -> torch.Tensor:
        """The centre of the most probable bin (the density is flat across that bin)."""
        return self.centers[self.probs.argmax(-1)]

    def entropy(self) -> torch.Tensor:
        # An empty bin has logit -inf and 0 * -inf = nan: clamp as torch's Categorical does.
        logits = torch.clamp(self.logits, min=torch.finfo(self.logits.dtype).min)
        return -(self.probs * logits).sum(-1) + math.log(self.width)
