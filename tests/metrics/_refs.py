"""Independent references for the metric tests: numerical CRPS integration, scipy CDFs, and small test laws.

Nothing here calls losslab code: the references must be able to disagree with it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate
from torch.distributions import Beta, Distribution, constraints


def crps_by_quad(cdf, y: float, low: float, high: float, points=()) -> float:
    r"""Numerical :math:`\int (F(x) - 1\{x \ge y\})^2 dx` over ``[low, high]`` (infinite ends allowed), split at ``y``.

    ``points`` are extra breakpoints (bin edges, atoms) where ``F`` has kinks or jumps; the
    integral is cut there so that scipy.integrate.quad only sees smooth pieces.
    """
    def piece(a: float, b: float, below: bool) -> float:
        if not a < b:
            return 0.0
        f = (lambda x: cdf(x) ** 2) if below else (lambda x: (1.0 - cdf(x)) ** 2)
        cuts = sorted(p for p in points if a < p < b)
        ends = [a, *cuts, b]
        total = 0.0
        for lo, hi in zip(ends[:-1], ends[1:]):
            val, _ = integrate.quad(f, lo, hi, epsabs=1e-13, epsrel=1e-12, limit=400)
            total += val
        return total

    y_in = min(max(y, low), high)
    # Outside [low, high] the integrand is 1 between the support and the label.
    outside = max(low - y, 0.0) + max(y - high, 0.0)
    return piece(low, y_in, True) + piece(y_in, high, False) + outside


class ZeroOneInflatedBetaStandIn(Distribution):
    """A minimal zero/one-inflated Beta with the attributes the ZOIB formulas read: ``p0``, ``p1``, ``beta``.

    So that the tests build the law from known masses whatever the constructor of
    ``losslab.distributions.ZeroOneInflatedBeta`` looks like. The metrics find a formula by
    class (``losslab.metrics.registry``), so the test modules that use it register the
    ZOIB's CRPS and PIT for it.
    """

    arg_constraints: dict = {}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, p0, p1, concentration1, concentration0):
        self.p0, self.p1 = torch.as_tensor(p0), torch.as_tensor(p1)
        self.beta = Beta(torch.as_tensor(concentration1), torch.as_tensor(concentration0), validate_args=False)
        shape = torch.broadcast_shapes(self.p0.shape, self.p1.shape, self.beta.batch_shape)
        super().__init__(shape, validate_args=False)

    @property
    def mean(self):
        return self.p1 + (1 - self.p0 - self.p1) * self.beta.mean

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            u = torch.rand(shape, dtype=self.p0.dtype)
            b = self.beta.sample(sample_shape).expand(shape)
            return torch.where(u < self.p0, torch.zeros_like(b), torch.where(u < self.p0 + self.p1, torch.ones_like(b), b))

    def log_prob(self, value):
        w = 1 - self.p0 - self.p1
        inside = self.beta.log_prob(value.clamp(1e-12, 1 - 1e-12)) + torch.log(w)
        return torch.where(value <= 0, torch.log(self.p0), torch.where(value >= 1, torch.log(self.p1), inside))


def ks_pvalue(u: np.ndarray) -> float:
    """Kolmogorov–Smirnov p-value of ``u`` against U(0, 1) (scipy.stats.kstest)."""
    from scipy import stats

    return float(stats.kstest(np.asarray(u).ravel(), "uniform").pvalue)


SQRT_PI = math.sqrt(math.pi)
