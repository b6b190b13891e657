"""Quantiles by bisection on a CDF, for laws with a ``cdf`` but no closed-form ``icdf``."""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["BISECT_MAX_ITER", "bisect_icdf"]


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
