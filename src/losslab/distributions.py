"""``torch.distributions`` classes that torch does not ship, used as laws' predictive distributions.

* :class:`ScaledBinomial`, :class:`ScaledBetaBinomial` — counts ``k`` out of ``n``
  reported as fractions ``y = k / n`` (the pmf is unchanged: a discrete law has
  no Jacobian).
* :class:`Histogram` — a piecewise-uniform density over equal-width bins (the
  predictive of the ``binned`` law).
* :class:`ZeroOneInflatedBeta` — point masses at 0 and 1 plus a Beta density inside.
* :class:`Beta`, :class:`StudentT`, :class:`Exponential`, :class:`MixtureSameFamily` —
  torch's classes (``isinstance`` still holds) with the ``cdf`` and ``icdf`` torch lacks
  or computes poorly, so that ``law.predictive(params).icdf(q)`` works for every law
  with a density over the labels.

The CDFs and quantile functions behind them (:func:`beta_cdf`, :func:`beta_icdf`,
:func:`studentt_cdf`, :func:`studentt_icdf`, :func:`cb_cdf`, :func:`cb_icdf`,
:func:`mixture_cdf`, :func:`mixture_icdf`, :func:`bisect_icdf`) also serve plain torch
distributions through :func:`distribution_cdf` and :func:`distribution_icdf`, which
``losslab.metrics`` uses: one implementation for the laws and the scores.

Every ``cdf`` here returns values in [0, 1]; every ``icdf(q)`` is the smallest ``x``
with ``cdf(x) >= q`` (for a law with atoms, the atom), with ``icdf(0)`` and ``icdf(1)``
the ends of the support.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.special as sps
import torch
from torch.distributions import Beta as TorchBeta
from torch.distributions import Binomial, Categorical, Distribution, constraints
from torch.distributions import ContinuousBernoulli as TorchContinuousBernoulli
from torch.distributions import Exponential as TorchExponential
from torch.distributions import MixtureSameFamily as TorchMixtureSameFamily
from torch.distributions import StudentT as TorchStudentT
from torch.distributions.utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits

from ._errors import LosslabError

__all__ = ["ScaledBinomial", "ScaledBetaBinomial", "log_binom"]


def log_binom(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``log C(n, k)`` through ``lgamma`` (also defined for non-integer ``k``)."""
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


#: atoms per block when a count law's cdf or icdf builds its ``(rows, n + 1)`` grid: bounds the memory
#: (8 MB per float64 temporary) whatever the number of rows and trials
_ATOM_BLOCK = 1 << 20


class _ScaledCounts(Distribution):
    """The atoms ``k / n`` of a count law, and the ``cdf`` and ``icdf`` they give (shared by the two laws below)."""

    total_count: torch.Tensor

    def _params(self) -> tuple[torch.Tensor, ...]:
        """The constructor's tensors, in its order (``total_count`` first)."""
        raise NotImplementedError

    def atoms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(atoms, probs)``, each ``(*batch, n_max + 1)``: the values ``k / n`` and their masses.

        Past a row's own ``n`` the atoms repeat 1 with mass 0, so rows with different ``n`` share one grid.
        """
        n = self.total_count
        n_max = int(torch.as_tensor(n).max())
        k = torch.arange(n_max + 1, dtype=n.dtype, device=n.device)
        nk = n.unsqueeze(-1)
        valid = k <= nk
        k_safe = torch.where(valid, k, nk)  # a safe substitute keeps lgamma away from its poles in the masked branch
        shape = tuple(self.batch_shape) + (n_max + 1,)
        grid = type(self)(*(p.unsqueeze(-1).expand(shape) for p in self._params()), validate_args=False)
        atoms = k_safe / nk
        probs = torch.where(valid, torch.exp(grid.log_prob(atoms)), torch.zeros_like(atoms))
        return atoms.expand(shape), probs

    def _by_blocks(self, value: Any, fn: Callable[["_ScaledCounts", torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``fn(law, value)`` on blocks of rows of the broadcast ``(value, law)``, in float64, in ``value``'s shape."""
        ref = self.total_count
        value = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        # float64: the cumulative masses are compared with q, and float32 sums drift by 1e-7.
        params = [p.expand(shape).reshape(-1).to(torch.float64) for p in self._params()]
        flat = value.expand(shape).reshape(-1).to(torch.float64)
        if flat.numel() == 0:
            return flat.reshape(shape).to(ref.dtype)
        rows = max(1, _ATOM_BLOCK // (int(params[0].max()) + 1))
        out = [
            fn(type(self)(*(p[i : i + rows] for p in params), validate_args=False), flat[i : i + rows])
            for i in range(0, flat.numel(), rows)
        ]
        return torch.cat(out).reshape(shape).to(ref.dtype)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        """``P(y <= value)``, a step function of ``value``; a label within ``1e-6 / n`` of an atom counts as on it."""

        def block(d: "_ScaledCounts", x: torch.Tensor) -> torch.Tensor:
            atoms, probs = d.atoms()
            # Labels k/n computed in floating point can land a rounding error below their atom (as in pit).
            tol = 1e-6 / d.total_count.unsqueeze(-1)
            # The masses sum to 1 only to rounding: a probability cannot exceed 1.
            return (probs * (atoms <= x.unsqueeze(-1) + tol)).sum(-1).clamp(0.0, 1.0)

        return self._by_blocks(value, block)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        """The smallest atom ``k / n`` whose cdf reaches ``value`` (no gradient: the quantile is a step function)."""

        def block(d: "_ScaledCounts", q: torch.Tensor) -> torch.Tensor:
            atoms, probs = d.atoms()
            cum = torch.cumsum(probs, -1)
            # a hair of slack for the rounding of the cumulative sum, so that q = P(y <= k/n) gives k/n
            k = (cum < q.unsqueeze(-1) - 1e-12).sum(-1, keepdim=True).clamp(max=atoms.shape[-1] - 1)
            # The slack would stop q = 1 at the last atom with a mass above 1e-12; the support ends at n / n.
            return torch.where(q >= 1, torch.ones_like(q), atoms.gather(-1, k).squeeze(-1))

        with torch.no_grad():
            return self._by_blocks(value, block)


class ScaledBinomial(_ScaledCounts):
    r"""Binomial counts reported as fractions: ``y = k / n`` with ``k ~ Binomial(n, p)``.

    .. math:: P(y) = \binom{n}{ny} p^{ny} (1-p)^{n(1-y)}

    ``cdf`` sums the masses of the atoms ``k / n <= y``; ``icdf(q)`` is the smallest atom
    whose cdf reaches ``q`` (both exact sums over the ``n + 1`` atoms).

    Args:
        total_count: ``n``, shape broadcastable with ``logits``.
        logits: ``log(p / (1 - p))``.

    >>> d = ScaledBinomial(torch.tensor(4.0), torch.tensor(0.0))   # k ~ Binomial(4, 1/2)
    >>> float(d.cdf(torch.tensor(0.5))), float(d.icdf(torch.tensor(0.5)))   # P(k <= 2) = 11/16
    (0.6875, 0.5)
    """

    arg_constraints = {"total_count": constraints.nonnegative, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, total_count: torch.Tensor, logits: torch.Tensor, validate_args: bool | None = None) -> None:
        self.total_count, self.logits = broadcast_all(total_count, logits)
        super().__init__(self.logits.shape, validate_args=validate_args)

    def _params(self) -> tuple[torch.Tensor, ...]:
        return self.total_count, self.logits

    @property
    def probs(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def mean(self) -> torch.Tensor:
        return self.probs

    @property
    def mode(self) -> torch.Tensor:
        return torch.floor((self.total_count + 1) * self.probs).clamp(max=self.total_count) / self.total_count

    @property
    def variance(self) -> torch.Tensor:
        p = self.probs
        return p * (1 - p) / self.total_count

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        n = self.total_count
        k = value * n
        # k log p + (n - k) log(1 - p) = -n * BCE(logits, y): the fused kernel keeps it finite at |logits| = 1e4.
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            self.logits, value.expand_as(self.logits), reduction="none"
        )
        return log_binom(n, k) - n * bce

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            k = Binomial(self.total_count, logits=self.logits).sample(sample_shape)
            return k / self.total_count


class ScaledBetaBinomial(_ScaledCounts):
    r"""Beta-binomial counts reported as fractions ``y = k / n`` (overdispersed annotator counts).

    .. math:: P(y) = \binom{n}{k} \frac{B(k + a, n - k + b)}{B(a, b)}, \quad k = n y

    with ``a = concentration1``, ``b = concentration0``. ``cdf`` and ``icdf`` as for
    :class:`ScaledBinomial`.
    """

    arg_constraints = {
        "total_count": constraints.nonnegative,
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = False

    def __init__(
        self,
        total_count: torch.Tensor,
        concentration1: torch.Tensor,
        concentration0: torch.Tensor,
        validate_args: bool | None = None,
    ) -> None:
        self.total_count, self.concentration1, self.concentration0 = broadcast_all(
            total_count, concentration1, concentration0
        )
        super().__init__(self.concentration1.shape, validate_args=validate_args)

    def _params(self) -> tuple[torch.Tensor, ...]:
        return self.total_count, self.concentration1, self.concentration0

    @property
    def mean(self) -> torch.Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def variance(self) -> torch.Tensor:
        a, b, n = self.concentration1, self.concentration0, self.total_count
        s = a + b
        # Var(k) = n a b (s + n) / (s^2 (s + 1)); y = k / n.
        return a * b * (s + n) / (s * s * (s + 1) * n)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        a, b, n = self.concentration1, self.concentration0, self.total_count
        k = value * n
        lbeta_num = torch.lgamma(k + a) + torch.lgamma(n - k + b) - torch.lgamma(n + a + b)
        lbeta_den = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
        return log_binom(n, k) + lbeta_num - lbeta_den

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            p = TorchBeta(self.concentration1, self.concentration0).sample(sample_shape)
            k = Binomial(self.total_count.expand_as(p), probs=p).sample()
            return k / self.total_count


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


__all__.extend(["Histogram", "histogram_bin", "histogram_grid"])


# --------------------------------------------------------------------------- beta and zero/one-inflated beta


def beta_log_prob(concentration1: torch.Tensor, concentration0: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    r"""Beta log-density :math:`(a-1)\log y + (b-1)\log(1-y) - \log B(a, b)` for ``y`` strictly inside (0, 1).

    ``log1p(-y)`` keeps ``log(1 - y)`` exact for labels near 0; the log-beta function
    is ``lgamma(a) + lgamma(b) - lgamma(a + b)`` (in float32 it loses precision once
    ``a + b`` reaches the thousands, as ``torch.distributions.Beta`` does).

    >>> round(float(beta_log_prob(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(0.25))), 6)  # 12 y (1-y)^2
    0.523248
    """
    a, b = concentration1, concentration0
    log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    return (a - 1) * torch.log(value) + (b - 1) * torch.log1p(-value) - log_beta


def zoib_log_prob(
    zero_logits: torch.Tensor,
    one_logits: torch.Tensor,
    concentration1: torch.Tensor,
    concentration0: torch.Tensor,
    value: torch.Tensor,
) -> torch.Tensor:
    r"""Log-mass at 0 and 1, log-density inside, of :class:`ZeroOneInflatedBeta` (see there)."""
    # log(1 + e^r0 + e^r1): the three outcome classes {0, 1, inside} have logits (r0, r1, 0).
    zero_logits, one_logits = torch.broadcast_tensors(zero_logits, one_logits)
    log_norm = torch.logsumexp(torch.stack([zero_logits, one_logits, torch.zeros_like(zero_logits)]), 0)
    is_zero, is_one = value == 0, value == 1
    inside = ~(is_zero | is_one)
    # The Beta density is evaluated at 0.5 for atoms: -inf * 0 there would poison the gradient via torch.where.
    safe = torch.where(inside, value, torch.full_like(value, 0.5))
    inner = beta_log_prob(concentration1, concentration0, safe)
    lp = torch.where(is_zero, zero_logits, torch.where(is_one, one_logits, inner))
    return lp - log_norm


class ZeroOneInflatedBeta(Distribution):
    r"""Zero/one-inflated beta law: point masses at 0 and 1 plus a Beta density inside (Ospina & Ferrari 2010).

    .. math::
        P(y = 0) = \pi_0, \quad P(y = 1) = \pi_1, \quad
        p(y) = (1 - \pi_0 - \pi_1)\,\mathrm{Beta}(y; a, b) \ \text{for}\ 0 < y < 1,

    with :math:`(\pi_0, \pi_1, \pi_c) = \operatorname{softmax}(r_0, r_1, 0)`. This is a
    mixed law: :meth:`log_prob` returns the log-mass at an atom and the log-density
    (w.r.t. Lebesgue measure) inside, which is the likelihood w.r.t. Lebesgue plus
    the two point masses.

    Args:
        zero_logits: ``r0 = log(pi0 / pi_c)``.
        one_logits: ``r1 = log(pi1 / pi_c)``.
        concentration1, concentration0: ``a``, ``b`` of the Beta part.

    Attributes ``p0``, ``p1`` (atom masses) and ``beta`` (the Beta part, a :class:`Beta`)
    are there for metrics. The CDF jumps at the atoms,

    .. math::
        F(y) = \pi_0 + \pi_c I_y(a, b) \ \text{for}\ 0 \le y < 1, \qquad F(1) = 1,

    and ``icdf(q)`` is the smallest ``y`` with ``F(y) >= q``: 0 for ``q <= pi0``, 1 for
    ``q >= 1 - pi1``, else the Beta quantile at ``(q - pi0) / pi_c`` (``scipy.special``;
    no gradient).

    References: R. Ospina and S. L. P. Ferrari, "Inflated beta distributions",
    Statistical Papers 51 (2010) 111-126.

    >>> d = ZeroOneInflatedBeta(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(2.0), torch.tensor(2.0))
    >>> round(float(d.p0), 4), round(float(d.mean), 4), round(float(d.log_prob(torch.tensor(1.0))), 4)
    (0.3333, 0.5, -1.0986)
    >>> round(float(d.cdf(torch.tensor(0.5))), 4), round(float(d.icdf(torch.tensor(0.5))), 6), float(d.icdf(torch.tensor(0.3)))
    (0.5, 0.5, 0.0)
    """

    arg_constraints = {
        "zero_logits": constraints.real,
        "one_logits": constraints.real,
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval  # closed: the atoms 0 and 1 belong to it
    has_rsample = False

    def __init__(
        self,
        zero_logits: torch.Tensor,
        one_logits: torch.Tensor,
        concentration1: torch.Tensor,
        concentration0: torch.Tensor,
        validate_args: bool | None = None,
    ) -> None:
        self.zero_logits, self.one_logits, self.concentration1, self.concentration0 = broadcast_all(
            zero_logits, one_logits, concentration1, concentration0
        )
        super().__init__(self.zero_logits.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ZeroOneInflatedBeta, _instance)
        batch_shape = torch.Size(batch_shape)
        for key in ("zero_logits", "one_logits", "concentration1", "concentration0"):
            setattr(new, key, getattr(self, key).expand(batch_shape))
        super(ZeroOneInflatedBeta, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _class_log_probs(self) -> torch.Tensor:
        """``log (pi0, pi1, pi_c)`` stacked on a trailing axis of size 3."""
        return torch.log_softmax(
            torch.stack([self.zero_logits, self.one_logits, torch.zeros_like(self.zero_logits)], -1), -1
        )

    @property
    def p0(self) -> torch.Tensor:
        return self._class_log_probs[..., 0].exp()

    @property
    def p1(self) -> torch.Tensor:
        return self._class_log_probs[..., 1].exp()

    @property
    def beta(self) -> "Beta":
        return Beta(self.concentration1, self.concentration0, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        probs = self._class_log_probs.exp()
        return probs[..., 1] + probs[..., 2] * self.beta.mean

    @property
    def variance(self) -> torch.Tensor:
        # Law of total variance over the three classes: non-negative by construction.
        probs = self._class_log_probs.exp()
        m, mb = self.mean, self.beta.mean
        between = probs[..., 0] * m**2 + probs[..., 1] * (1 - m) ** 2 + probs[..., 2] * (mb - m) ** 2
        return probs[..., 2] * self.beta.variance + between

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return zoib_log_prob(self.zero_logits, self.one_logits, self.concentration1, self.concentration0, value)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            cls = Categorical(logits=self._class_log_probs).sample(torch.Size(sample_shape))
            inside = self.beta.sample(torch.Size(sample_shape))
            edge = (cls == 1).to(inside.dtype)
            return torch.where(cls == 2, inside, edge)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        ref = self.concentration1
        value = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        probs = self._class_log_probs.exp()
        inner = probs[..., 0] + probs[..., 2] * beta_cdf(value.clamp(0.0, 1.0), self.concentration1, self.concentration0)
        out = torch.where(value < 0, torch.zeros_like(inner), torch.where(value >= 1, torch.ones_like(inner), inner))
        return out.clamp(0.0, 1.0)  # the three masses sum to 1 only to rounding

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        ref = self.concentration1
        q = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        with torch.no_grad():
            probs = self._class_log_probs.exp()
            p0, p1, pc = probs[..., 0], probs[..., 1], probs[..., 2]
            # pc can underflow to 0 (all mass on the atoms): divide by 1 there, the atoms' branches are selected.
            inner = ((q - p0) / torch.where(pc > 0, pc, torch.ones_like(pc))).clamp(0.0, 1.0)
            x = beta_icdf(inner, self.concentration1, self.concentration0)
            return torch.where(q <= p0, torch.zeros_like(x), torch.where(q >= 1 - p1, torch.ones_like(x), x))


__all__.extend(["beta_log_prob", "zoib_log_prob", "ZeroOneInflatedBeta"])


# --------------------------------------------------------------------------- CDFs and quantiles torch lacks
def _floats(*values: Any) -> list[torch.Tensor]:
    """``values`` as tensors of the dtype and device of the first floating tensor among them (else float64)."""
    ref = next((v for v in values if torch.is_tensor(v) and v.is_floating_point()), None)
    dtype, device = (torch.float64, None) if ref is None else (ref.dtype, ref.device)
    return [torch.as_tensor(v, dtype=dtype, device=device) for v in values]


def _numpy64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


class _ScipyCdf(torch.autograd.Function):
    """``cdf(x, *shape)`` by scipy; ``d/dx`` = the density (exact), ``d/dshape`` by central differences.

    Torch has no regularised incomplete beta function, so the Beta and Student-t CDFs are
    evaluated by ``scipy.special`` (on the CPU, in float64). The derivatives in the shape
    parameters are central differences of the same scipy function with relative step
    ``6e-6`` (error about ``1e-10`` relative).
    """

    @staticmethod
    def forward(ctx, spec, x, *shape):  # type: ignore[override]
        np_cdf, log_pdf = spec
        args = [_numpy64(t) for t in (x, *shape)]
        out = np_cdf(args[0], *args[1:])
        ctx.spec, ctx.args = spec, args
        ctx.save_for_backward(x, *shape)
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        np_cdf, log_pdf = ctx.spec
        x, *shape = ctx.saved_tensors
        args = ctx.args
        grads: list[torch.Tensor | None] = [None, None]
        if ctx.needs_input_grad[1]:
            grads[1] = grad * torch.exp(log_pdf(x, *shape))
        for i in range(len(shape)):
            if not ctx.needs_input_grad[2 + i]:
                grads.append(None)
                continue
            # Central difference with h ~ eps^(1/3) * value: truncation and rounding errors balance near 1e-10.
            h = 6e-6 * np.maximum(np.abs(args[1 + i]), 1e-3)
            up = [*args[1:]]
            dn = [*args[1:]]
            up[i] = args[1 + i] + h
            dn[i] = args[1 + i] - h
            d = (np_cdf(args[0], *up) - np_cdf(args[0], *dn)) / (2 * h)
            grads.append(grad * torch.as_tensor(d, dtype=grad.dtype, device=grad.device))
        return tuple(grads)


def _beta_log_pdf(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inside = (x > 0) & (x < 1)
    xs = torch.where(inside, x, torch.full_like(x, 0.5))
    lp = torch.xlogy(a - 1, xs) + torch.xlogy(b - 1, 1 - xs) - (torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b))
    return torch.where(inside, lp, torch.full_like(lp, -math.inf))


def _t_log_pdf(z: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    d64 = df.to(torch.float64)  # float64 for the lgamma difference
    const = (torch.lgamma((d64 + 1) / 2) - torch.lgamma(d64 / 2) - 0.5 * torch.log(d64 * math.pi)).to(z.dtype)
    return const - (df + 1) / 2 * torch.log1p(z * z / df)


_BETA_SPEC = (lambda x, a, b: sps.betainc(a, b, np.clip(x, 0.0, 1.0)), _beta_log_pdf)
_T_SPEC = (lambda z, df: sps.stdtr(df, z), _t_log_pdf)


def beta_cdf(x: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""Beta CDF :math:`I_x(a, b)`, broadcast over its arguments, differentiable in all of them.

    .. math:: I_x(a, b) = \frac{1}{B(a, b)} \int_0^x t^{a-1}(1-t)^{b-1}\, dt

    ``scipy.special.betainc`` in float64 on the CPU (0 below 0, 1 above 1); the gradient
    in ``x`` is the density, in ``a`` and ``b`` a central difference (see :class:`_ScipyCdf`).

    >>> round(float(beta_cdf(torch.tensor(0.5), 2.0, 3.0)), 6)  # 1 - (1/2)^4 - 4 (1/2)^4
    0.6875
    """
    x, a, b = torch.broadcast_tensors(*_floats(x, concentration1, concentration0))
    return _ScipyCdf.apply(_BETA_SPEC, x, a, b)


def beta_icdf(q: Any, concentration1: Any, concentration0: Any) -> torch.Tensor:
    r"""Beta quantile :math:`I^{-1}_q(a, b)` by ``scipy.special.betaincinv`` (float64 on the CPU; no gradient).

    Returned in the dtype and on the device of the concentrations (else of ``q``).

    >>> round(float(beta_icdf(torch.tensor(0.6875), 2.0, 3.0)), 6)
    0.5
    """
    a, b, q = torch.broadcast_tensors(*_floats(concentration1, concentration0, q))
    out = sps.betaincinv(_numpy64(a), _numpy64(b), _numpy64(q))
    return torch.as_tensor(out, dtype=a.dtype, device=a.device)


def studentt_cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""Student-t CDF :math:`F_\nu((x - \mu)/\sigma)` by ``scipy.special.stdtr``, broadcast, differentiable.

    >>> round(float(studentt_cdf(torch.tensor(1.0), 1.0)), 6)  # Cauchy: 1/2 + arctan(1)/pi
    0.75
    """
    x, df, loc, scale = _floats(x, df, loc, scale)
    z, df = torch.broadcast_tensors((x - loc) / scale, df)
    return _ScipyCdf.apply(_T_SPEC, z, df)


def studentt_icdf(q: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""Student-t quantile :math:`\mu + \sigma F_\nu^{-1}(q)` by ``scipy.special.stdtrit`` (no gradient through ``q``, ``df``).

    >>> round(float(studentt_icdf(torch.tensor(0.75), 1.0)), 6)  # Cauchy: tan(pi / 4)
    1.0
    """
    loc, scale, df, q = _floats(loc, scale, df, q)
    df_b, q_b = torch.broadcast_tensors(df, q)
    z = torch.as_tensor(sps.stdtrit(_numpy64(df_b), _numpy64(q_b)), dtype=loc.dtype, device=loc.device)
    # scipy 1.17's stdtrit(df, 0) is +inf, not -inf
    z = torch.where(q_b <= 0, torch.full_like(z, -math.inf), z)
    return loc + scale * z


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


#: bisection steps at most: past the ~60 that halve any finite bracket to one float spacing, room for brackets
#: that start at 0 and narrow geometrically towards a quantile as small as 1e-300 (see bisect_icdf)
BISECT_MAX_ITER = 300


def bisect_icdf(
    cdf: Callable[[torch.Tensor], torch.Tensor],
    q: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    *,
    max_iter: int = BISECT_MAX_ITER,
) -> torch.Tensor:
    r"""The smallest ``x`` in ``[lo, hi]`` with ``cdf(x) >= q``, elementwise, by vectorised bisection.

    Needs a bracket with ``cdf(lo) <= q <= cdf(hi)``. Each step halves the bracket, or,
    where it is non-negative and its ends differ by more than a factor of 4, halves its
    logarithm (geometric midpoint, with 0 read as the smallest normal float), so a quantile
    of a law with mass piled near 0, such as 1e-50 for a Beta with ``a < 1``, keeps its
    relative precision. It stops once ``lo`` and ``hi`` are neighbouring floats, or after
    ``max_iter`` steps (300; a finite bracket needs about 64, one that narrows geometrically
    from 0 into the subnormal floats fewer than 140). Returns the smallest float of the
    bracket whose cdf reaches ``q`` (for a law with atoms, the atom; where the cdf jumps
    between two floats, as for a Beta piling mass within 1e-16 of 1, the upper one). No gradient.

    Args:
        cdf: maps ``x`` of ``q``'s shape to the CDF, a non-decreasing function of ``x``.
        q, lo, hi: levels and brackets, broadcast together.

    >>> from torch.distributions import Normal
    >>> x = bisect_icdf(Normal(0.0, 1.0).cdf, torch.tensor([0.975], dtype=torch.float64),
    ...                 torch.tensor([-10.0], dtype=torch.float64), torch.tensor([10.0], dtype=torch.float64))
    >>> round(float(x), 6)  # scipy.stats.norm.ppf(0.975)
    1.959964
    """
    with torch.no_grad():
        q, lo, hi = torch.broadcast_tensors(q, lo, hi)
        lo, hi = lo.clone(), hi.clone()
        finfo = torch.finfo(lo.dtype)
        for _ in range(max_iter):
            done = torch.nextafter(lo, hi) >= hi  # adjacent floats (or equal): nothing left to halve
            if bool(done.all()):
                break
            base = lo.clamp(min=finfo.tiny)
            geometric = (lo >= 0) & (hi > 4 * base)
            mid = torch.where(geometric, torch.sqrt(base) * torch.sqrt(hi), lo + 0.5 * (hi - lo))
            # Converged brackets stay as they are: an element's quantile does not depend on the rest of the batch.
            below = cdf(mid) < q
            lo = torch.where(below & ~done, mid, lo)
            hi = torch.where(below | done, hi, mid)
        # hi is the float after lo, the smallest with cdf >= q, unless the bracket's own lo already reached q
        return torch.where(cdf(lo) >= q, lo, hi)


def mixture_cdf(d: TorchMixtureSameFamily, x: Any) -> torch.Tensor:
    r"""CDF :math:`\sum_k w_k F_k(x)` of a mixture of scalar laws (components through :func:`distribution_cdf`).

    >>> from torch.distributions import Categorical, Normal
    >>> m = TorchMixtureSameFamily(Categorical(torch.tensor([0.5, 0.5])), Normal(torch.tensor([-1.0, 1.0]), torch.ones(2)))
    >>> round(float(mixture_cdf(m, torch.tensor(0.0))), 6)
    0.5
    """
    w = d.mixture_distribution.probs
    x = torch.as_tensor(x, dtype=w.dtype, device=w.device)
    out = (w * distribution_cdf(d.component_distribution, x.unsqueeze(-1))).sum(-1)
    # Weights that sum to 1 + 1 ulp would put the far right tail at 1.0000000000000002: a probability is <= 1.
    return out.clamp(0.0, 1.0)


def mixture_icdf(d: TorchMixtureSameFamily, q: Any) -> torch.Tensor:
    r"""Quantile of a mixture of scalar laws: :func:`bisect_icdf` on :func:`mixture_cdf` (no gradient).

    The components' own ``q``-quantiles bracket the mixture's: at :math:`x = \min_k F_k^{-1}(q)`
    every :math:`F_k(x) \le q`, so :math:`F(x) = \sum_k w_k F_k(x) \le q`, and likewise
    :math:`F \ge q` at the largest; the bracket is tight and finite for ``0 < q < 1``.
    ``q = 0`` and ``q = 1`` give the ends of the support (the components' extreme quantiles).

    >>> from torch.distributions import Categorical, Normal
    >>> m = TorchMixtureSameFamily(Categorical(torch.tensor([0.3, 0.7], dtype=torch.float64)),
    ...     Normal(torch.tensor([-2.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64)))
    >>> round(float(mixture_icdf(m, 0.5)), 4)  # scipy.optimize.brentq on the mixture cdf
    0.7191
    """
    if d.event_shape != ():
        raise NotImplementedError("mixture_icdf: the quantile of a mixture of vector laws is undefined")
    w = d.mixture_distribution.probs
    q = torch.as_tensor(q, dtype=w.dtype, device=w.device)
    shape = torch.broadcast_shapes(q.shape, d.batch_shape)
    q = q.expand(shape)
    k = d.component_distribution.batch_shape[-1]
    comp = d.component_distribution
    with torch.no_grad():
        edge = (q <= 0) | (q >= 1)
        safe = torch.where(edge, torch.full_like(q, 0.5), q)  # the bisection runs on q in (0, 1) only
        per = distribution_icdf(comp, safe.unsqueeze(-1).expand(shape + (k,)))
        x = bisect_icdf(lambda v: mixture_cdf(d, v), safe, per.amin(-1), per.amax(-1))
        if bool(edge.any()):
            ends = distribution_icdf(comp, q.unsqueeze(-1).expand(shape + (k,)))
            x = torch.where(q <= 0, ends.amin(-1), torch.where(q >= 1, ends.amax(-1), x))
        return x


def distribution_cdf(d: Distribution, x: Any) -> torch.Tensor:
    """``d.cdf(x)``, through the functions above for torch classes whose ``cdf`` is missing or imprecise.

    Beta and Student-t (scipy), continuous Bernoulli (:func:`cb_cdf`), mixtures of scalar laws
    (:func:`mixture_cdf`); any other law's own ``cdf``.
    """
    if isinstance(d, TorchBeta):
        return beta_cdf(x, d.concentration1, d.concentration0)
    if isinstance(d, TorchStudentT):
        return studentt_cdf(x, d.df, d.loc, d.scale)
    if isinstance(d, TorchContinuousBernoulli):
        return cb_cdf(torch.as_tensor(x, dtype=d.logits.dtype, device=d.logits.device), d.logits)
    if isinstance(d, TorchMixtureSameFamily) and d.event_shape == ():
        return mixture_cdf(d, x)
    return d.cdf(x)


def distribution_icdf(d: Distribution, q: Any) -> torch.Tensor:
    """``d.icdf(q)``, through the functions above for torch classes without one (see :func:`distribution_cdf`).

    Raises ``NotImplementedError`` for a law with no quantile function here or in torch.
    """
    if isinstance(d, TorchBeta):
        return beta_icdf(q, d.concentration1, d.concentration0)
    if isinstance(d, TorchStudentT):
        return studentt_icdf(q, d.df, d.loc, d.scale)
    if isinstance(d, TorchContinuousBernoulli):
        return cb_icdf(torch.as_tensor(q, dtype=d.logits.dtype, device=d.logits.device), d.logits)
    if isinstance(d, TorchMixtureSameFamily):
        return mixture_icdf(d, q)
    return d.icdf(q)


# --------------------------------------------------------------------------- torch's classes with cdf and icdf
class Beta(TorchBeta):
    r"""``torch.distributions.Beta`` with ``cdf`` and ``icdf``: the predictive of the ``beta`` law.

    ``cdf`` is :func:`beta_cdf` (differentiable), ``icdf`` is :func:`beta_icdf` (no gradient).

    >>> d = Beta(torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64))
    >>> float(d.cdf(torch.tensor(0.5))), round(float(d.icdf(torch.tensor(0.6875))), 12)
    (0.6875, 0.5)
    """

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return beta_cdf(value, self.concentration1, self.concentration0)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return beta_icdf(value, self.concentration1, self.concentration0)


class StudentT(TorchStudentT):
    r"""``torch.distributions.StudentT`` with ``cdf`` and ``icdf``: the predictive of the ``student-t`` law.

    ``cdf`` is :func:`studentt_cdf` (differentiable), ``icdf`` is :func:`studentt_icdf`
    (differentiable in ``loc`` and ``scale`` only).

    >>> d = StudentT(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(2.0))   # Cauchy, scale 2
    >>> round(float(d.cdf(torch.tensor(2.0))), 6), round(float(d.icdf(torch.tensor(0.75))), 6)
    (0.75, 2.0)
    """

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return studentt_cdf(value, self.df, self.loc, self.scale)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return studentt_icdf(value, self.df, self.loc, self.scale)


class Exponential(TorchExponential):
    r"""``torch.distributions.Exponential`` whose ``cdf`` is :math:`-\mathrm{expm1}(-\lambda \max(y, 0))`.

    torch's ``1 - exp(-rate * y)`` is negative for ``y < 0`` and loses the relative
    precision of small probabilities; ``icdf`` is torch's ``-log1p(-q) / rate``.

    >>> d = Exponential(torch.tensor(2.0, dtype=torch.float64), validate_args=False)
    >>> float(d.cdf(torch.tensor(-1.0))), round(float(d.cdf(torch.tensor(1e-12, dtype=torch.float64))) / 2e-12, 9)  # 1 - e^-x = x - x^2/2 ...
    (0.0, 1.0)
    """

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -torch.expm1(-self.rate * torch.as_tensor(value, dtype=self.rate.dtype).clamp(min=0))


class MixtureSameFamily(TorchMixtureSameFamily):
    r"""``torch.distributions.MixtureSameFamily`` of scalar laws with ``cdf`` and ``icdf`` for any component family.

    ``cdf`` is :func:`mixture_cdf` (components' CDFs through :func:`distribution_cdf`, so Beta
    and Student-t components work; clamped to [0, 1]); ``icdf`` is :func:`mixture_icdf`
    (bracketed bisection, to two float spacings; no gradient). The predictive of the
    ``mixture-gaussian`` and ``mixture-beta`` laws.

    >>> from torch.distributions import Categorical
    >>> m = MixtureSameFamily(Categorical(torch.tensor([0.5, 0.5])), Beta(torch.tensor([2.0, 5.0]), torch.tensor([5.0, 2.0])))
    >>> round(float(m.cdf(torch.tensor(0.5))), 6), round(float(m.icdf(torch.tensor(0.5))), 6)   # symmetric about 1/2
    (0.5, 0.5)
    """

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return mixture_cdf(self, x)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return mixture_icdf(self, value)


__all__.extend(
    [
        "Beta",
        "StudentT",
        "Exponential",
        "MixtureSameFamily",
        "beta_cdf",
        "beta_icdf",
        "studentt_cdf",
        "studentt_icdf",
        "cb_cdf",
        "cb_icdf",
        "bisect_icdf",
        "mixture_cdf",
        "mixture_icdf",
        "distribution_cdf",
        "distribution_icdf",
    ]
)
