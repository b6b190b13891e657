"""The predictive law of a deep ensemble: the equal-weight mixture of its members' distributions."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch.distributions import Distribution, constraints

from .._errors import LosslabError

__all__ = ["EqualMixture"]


class EqualMixture(Distribution):
    r"""The equal-weight mixture of ``K`` distributions of one batch and event shape: a deep ensemble's predictive.

    .. math::
        p(y) = \frac1K \sum_{k=1}^K p_k(y), \qquad
        \log p(y) = \operatorname{logsumexp}_k \log p_k(y) - \log K, \qquad
        F(y) = \frac1K \sum_k F_k(y)

    ``mean`` is the members' average, ``variance`` the law of total variance (mean of the
    variances plus the variance of the means), ``icdf(q)`` the smallest ``y`` with
    :math:`F(y) \ge q`, by vectorised bisection on :math:`F` inside the bracket of the members'
    own ``q``-quantiles (at their smallest every :math:`F_k \le q`, at their largest every
    :math:`F_k \ge q`), and ``sample`` draws a member uniformly per element, then from it.
    No ``rsample``: the member choice is discrete.

    Args:
        components: the ``K`` distributions, each of batch shape ``(...)`` and one event shape.

    >>> from torch.distributions import Normal
    >>> m = EqualMixture([Normal(torch.tensor([-1.0]), torch.tensor([1.0])), Normal(torch.tensor([1.0]), torch.tensor([1.0]))])
    >>> m.mean.tolist(), m.variance.tolist(), m.cdf(torch.tensor([0.0])).tolist()
    ([0.0], [2.0], [0.5])
    >>> round(float(m.log_prob(torch.tensor([0.0]))), 6)  # log N(0; 1, 1), as both members give it
    -1.418939
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, components: Sequence[Distribution], validate_args: bool | None = None) -> None:
        comps = list(components)
        if not comps:
            raise LosslabError("EqualMixture: components is empty; expected at least one distribution")
        for i, c in enumerate(comps):
            if not isinstance(c, Distribution):
                raise LosslabError(f"EqualMixture: components[{i}] is a {type(c).__name__}; expected a torch Distribution")
            if (c.batch_shape, c.event_shape) != (comps[0].batch_shape, comps[0].event_shape):
                raise LosslabError(
                    f"EqualMixture: components[{i}] has batch shape {tuple(c.batch_shape)} and event shape {tuple(c.event_shape)}; "
                    f"components[0] has {tuple(comps[0].batch_shape)} and {tuple(comps[0].event_shape)}; expected equal shapes"
                )
        self.components = comps
        super().__init__(comps[0].batch_shape, comps[0].event_shape, validate_args=False)

    @property
    def support(self) -> constraints.Constraint:
        return self.components[0].support

    @property
    def mean(self) -> torch.Tensor:
        return torch.stack([c.mean for c in self.components]).mean(0)

    @property
    def variance(self) -> torch.Tensor:
        means = torch.stack([c.mean for c in self.components])
        spread = (means - means.mean(0)).pow(2).mean(0)
        return torch.stack([c.variance for c in self.components]).mean(0) + spread

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        # logsumexp, not log(mean(exp)): a member's log density of -800 underflows exp in float64
        lp = torch.stack([c.log_prob(value) for c in self.components])
        return torch.logsumexp(lp, dim=0) - math.log(len(self.components))

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        from ..distributions import distribution_cdf

        return torch.stack([distribution_cdf(c, value) for c in self.components]).mean(0).clamp(0.0, 1.0)

    def icdf(self, value: Any) -> torch.Tensor:
        """The smallest ``y`` with ``cdf(y) >= q``; ``q`` broadcasts to the batch shape. No gradient."""
        from ..distributions import distribution_icdf

        q = self._levels(value)
        return self.quantile_within(q, [distribution_icdf(c, q) for c in self.components])

    def quantile_within(self, q: torch.Tensor, member_quantiles: Sequence[torch.Tensor]) -> torch.Tensor:
        """The mixture's ``q``-quantile, given each member's ``q``-quantile (its bracket); ``q`` has the batch shape."""
        from ..distributions import bisect_icdf

        if self.event_shape != ():
            raise NotImplementedError("EqualMixture: the quantile of a mixture of vector laws is undefined")
        with torch.no_grad():
            per = torch.stack([torch.as_tensor(m, dtype=q.dtype, device=q.device).expand(q.shape) for m in member_quantiles])
            lo, hi = per.amin(0), per.amax(0)
            edge = (q <= 0) | (q >= 1)
            # q = 0 and 1 are the members' extreme ends (maybe infinite): a zero-width bracket skips the bisection there
            inner = torch.where(edge, torch.full_like(q, 0.5), q)
            finite = torch.where(torch.isfinite(lo), lo, torch.where(torch.isfinite(hi), hi, torch.zeros_like(lo)))
            a, b = torch.where(edge, finite, lo), torch.where(edge, finite, hi)
            # An atom at the bracket's lower end (zoib's 0, a count law's k/n) already holds q: it is the answer.
            x = torch.where(self.cdf(a) >= inner, a, bisect_icdf(self.cdf, inner, a, b))
            return torch.where(q <= 0, lo, torch.where(q >= 1, hi, x))

    def _levels(self, value: Any) -> torch.Tensor:
        ref = self.mean
        q = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        try:
            fits = torch.broadcast_shapes(q.shape, self.batch_shape) == self.batch_shape
        except RuntimeError:
            fits = False
        if not fits:
            raise LosslabError(f"EqualMixture.icdf: q has shape {tuple(q.shape)}; expected a shape that broadcasts to the batch shape {tuple(self.batch_shape)}")
        return q.expand(self.batch_shape)

    def sample(self, sample_shape: torch.Size | Sequence[int] = torch.Size()) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        with torch.no_grad():
            draws = torch.stack([c.sample(sample_shape) for c in self.components])  # (K, *sample, *batch, *event)
            rows = draws.shape[1 : draws.dim() - len(self.event_shape)]
            pick = torch.randint(len(self.components), rows, device=draws.device)
            pick = pick.reshape(1, *rows, *([1] * len(self.event_shape))).expand(1, *draws.shape[1:])
            return draws.gather(0, pick).squeeze(0)

    def __repr__(self) -> str:
        kinds = sorted({type(c).__name__ for c in self.components})
        return f"EqualMixture({len(self.components)} x {'/'.join(kinds)}, batch_shape={tuple(self.batch_shape)})"
