"""``torch.distributions`` classes that torch does not ship, used as laws' predictive distributions.

* :class:`ScaledBinomial`, :class:`ScaledBetaBinomial` — counts ``k`` out of ``n``
  reported as fractions ``y = k / n`` (the pmf is unchanged: a discrete law has
  no Jacobian).
"""

from __future__ import annotations

import torch
from torch.distributions import Beta, Binomial, Distribution, constraints
from torch.distributions.utils import broadcast_all

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
