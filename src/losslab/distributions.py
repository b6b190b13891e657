"""``torch.distributions`` classes that torch does not ship, used as laws' predictive distributions.

* :class:`ScaledBinomial`, :class:`ScaledBetaBinomial` — counts ``k`` out of ``n``
  reported as fractions ``y = k / n`` (the pmf is unchanged: a discrete law has
  no Jacobian).
* :class:`Histogram` — a piecewise-uniform density over equal-width bins (the
  predictive of the ``binned`` law).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Beta, Binomial, Categorical, Distribution, constraints
from torch.distributions.utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits

from ._errors import LosslabError

__all__ = ["ScaledBinomial", "ScaledBetaBinomial", "log_binom"]


def log_binom(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``log C(n, k)`` through ``lgamma`` (also defined for non-integer ``k``)."""
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


class ScaledBinomial(Distribution):
    r"""Binomial counts reported as fractions: ``y = k / n`` with ``k ~ Binomial(n, p)``.

    .. math:: P(y) = \binom{n}{ny} p^{ny} (1-p)^{n(1-y)}

    Args:
        total_count: ``n``, shape broadcastable with ``logits``.
        logits: ``log(p / (1 - p))``.
    """

    arg_constraints = {"total_count": constraints.nonnegative, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, total_count: torch.Tensor, logits: torch.Tensor, validate_args: bool | None = None) -> None:
        self.total_count, self.logits = broadcast_all(total_count, logits)
        super().__init__(self.logits.shape, validate_args=validate_args)

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


class ScaledBetaBinomial(Distribution):
    r"""Beta-binomial counts reported as fractions ``y = k / n`` (overdispersed annotator counts).

    .. math:: P(y) = \binom{n}{k} \frac{B(k + a, n - k + b)}{B(a, b)}, \quad k = n y

    with ``a = concentration1``, ``b = concentration0``.
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
            p = Beta(self.concentration1, self.concentration0).sample(sample_shape)
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
        return self.low + self.width * (idx + frac)

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

    Attributes ``p0``, ``p1`` (atom masses) and ``beta`` (the ``torch.distributions.Beta``
    part) are there for metrics. ``cdf``/``icdf`` need the regularised incomplete beta
    function, which torch lacks, and raise ``NotImplementedError``.

    References: R. Ospina and S. L. P. Ferrari, "Inflated beta distributions",
    Statistical Papers 51 (2010) 111-126.

    >>> d = ZeroOneInflatedBeta(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(2.0), torch.tensor(2.0))
    >>> round(float(d.p0), 4), round(float(d.mean), 4), round(float(d.log_prob(torch.tensor(1.0))), 4)
    (0.3333, 0.5, -1.0986)
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
    def beta(self) -> Beta:
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
        raise NotImplementedError(
            "ZeroOneInflatedBeta.cdf needs the regularised incomplete beta function, which torch does not provide"
        )

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "ZeroOneInflatedBeta.icdf needs the inverse regularised incomplete beta function, "
            "which torch does not provide"
        )


__all__.extend(["beta_log_prob", "zoib_log_prob", "ZeroOneInflatedBeta"])
