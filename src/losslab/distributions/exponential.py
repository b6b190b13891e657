"""The exponential family: torch's ``Exponential`` with a CDF that is 0 below 0 and exact near it."""

from __future__ import annotations

import torch
from torch.distributions import Exponential as TorchExponential

__all__ = ["Exponential"]


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
