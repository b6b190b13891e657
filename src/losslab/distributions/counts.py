"""Counts ``k`` out of ``n`` reported as fractions ``k / n``: the binomial and beta-binomial predictive laws."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.distributions import Beta as TorchBeta
from torch.distributions import Binomial, Distribution, constraints
from torch.distributions.utils import broadcast_all

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
