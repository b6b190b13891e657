"""The Student-t family: the CDF and quantile torch lacks (``scipy.special``), and torch's ``StudentT`` with them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.distributions import StudentT as TorchStudentT

from ._scipy import ScipyCdf, as_floats, numpy64

__all__ = ["StudentT", "studentt_cdf", "studentt_icdf"]


def t_log_pdf(z: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    r"""Log-density of the standard Student-t law at ``z`` with ``df`` degrees of freedom (the lgamma terms in float64)."""
    d64 = df.to(torch.float64)  # float64 for the lgamma difference
    const = (torch.lgamma((d64 + 1) / 2) - torch.lgamma(d64 / 2) - 0.5 * torch.log(d64 * math.pi)).to(z.dtype)
    return const - (df + 1) / 2 * torch.log1p(z * z / df)


def _stdtr(z: np.ndarray, df: np.ndarray) -> np.ndarray:
    import scipy.special as sps  # here, not at import: scipy.special loads in ~0.1 s

    return sps.stdtr(df, z)


#: the standard Student-t CDF for :class:`ScipyCdf`: ``(numpy cdf(z, df), torch log-density)``
T_SPEC = (_stdtr, t_log_pdf)


def studentt_cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""Student-t CDF :math:`F_\nu((x - \mu)/\sigma)` by ``scipy.special.stdtr``, broadcast, differentiable.

    >>> round(float(studentt_cdf(torch.tensor(1.0), 1.0)), 6)  # Cauchy: 1/2 + arctan(1)/pi
    0.75
    """
    x, df, loc, scale = as_floats(x, df, loc, scale)
    z, df = torch.broadcast_tensors((x - loc) / scale, df)
    return ScipyCdf.apply(T_SPEC, z, df)


def studentt_icdf(q: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> torch.Tensor:
    r"""Student-t quantile :math:`\mu + \sigma F_\nu^{-1}(q)` by ``scipy.special.stdtrit`` (no gradient through ``q``, ``df``).

    >>> round(float(studentt_icdf(torch.tensor(0.75), 1.0)), 6)  # Cauchy: tan(pi / 4)
    1.0
    """
    import scipy.special as sps

    loc, scale, df, q = as_floats(loc, scale, df, q)
    df_b, q_b = torch.broadcast_tensors(df, q)
    z = torch.as_tensor(sps.stdtrit(numpy64(df_b), numpy64(q_b)), dtype=loc.dtype, device=loc.device)
    # scipy 1.17's stdtrit(df, 0) is +inf, not -inf
    z = torch.where(q_b <= 0, torch.full_like(z, -math.inf), z)
    return loc + scale * z


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
