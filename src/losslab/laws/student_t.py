"""Student's t law: a Gaussian with heavy tails, robust to outlying labels."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch.distributions.utils import broadcast_all
from .._errors import check_number
from ..distributions import StudentT as StudentTDistribution
from ..links import IDENTITY, Link, positive_link
from ._base import Params, ScalarLaw, check_scale
from ._registry import register_law
from ._support import REAL

LOG_PI = math.log(math.pi)


#: beyond this u = |y - loc| / (scale sqrt(df)), log1p(u^2) is computed from log u
_FAR = 1e4


def log1p_square(d: torch.Tensor, scale: torch.Tensor, df: torch.Tensor | float) -> torch.Tensor:
    r""":math:`\log(1 + u^2)` with :math:`u = d / (\sigma\sqrt\nu)`, finite for every finite ``d``, ``scale`` and ``df``.

    For ``|u| > 1e4`` it is :math:`2\log|u| + \log(1 + u^{-2})` with :math:`\log|u|` summed from
    the logs of ``|d|``, ``scale`` and ``df``: a label far in the tail (``|d| / scale`` beyond ~1.8e19)
    overflows ``u^2`` (and even ``u``) in float32, although the NLL there is only ``(df + 1) log|u|``.
    Each branch sees safe inputs where it is not selected (``u = 0``, ``d = 1``), so no inf or
    NaN reaches the gradient.

    >>> float(log1p_square(torch.tensor([1e30]), torch.tensor([1e-3]), 3.0)) > 0   # z^2 = 1e66 in float32
    True
    """
    sqrt_df = math.sqrt(df) if isinstance(df, float) else torch.sqrt(df)
    log_df = math.log(df) if isinstance(df, float) else torch.log(df)
    with torch.no_grad():  # only a mask: an inf here is harmless
        far = (d.abs() / scale / sqrt_df) > _FAR
    if far.device.type == "cpu" and not bool(far.any()):
        # No label in the far tail (the usual case): the near branch alone. Its values and gradients are
        # those the selection below gives, without the far branch's passes over memory (checking costs
        # one reduction on the CPU; on a GPU it would wait for the device, so there the selection runs).
        u = d / scale / sqrt_df
        return torch.log1p(u * u)
    u = torch.where(far, torch.zeros_like(d), d) / scale / sqrt_df
    near = torch.log1p(u * u)
    log_u = torch.log(torch.where(far, d, torch.ones_like(d)).abs()) - torch.log(scale) - 0.5 * log_df
    log_u = torch.where(far, log_u, torch.zeros_like(log_u))
    return torch.where(far, 2 * log_u + torch.log1p(torch.exp(-2 * log_u)), near)


#: above this h, lgamma(h) - lgamma(h + 1/2) is its asymptotic series (next term < 2e-15 at h = 50)
_ASYMPTOTIC_HALF = 50.0


def lgamma_half_step(h: torch.Tensor) -> torch.Tensor:
    r""":math:`\log\Gamma(h) - \log\Gamma(h + \tfrac12)`, accurate and finite for every ``h > 0``.

    For ``h > 50`` the series :math:`-\tfrac12\log h + \tfrac1{8h} - \tfrac1{192h^3} + \tfrac1{640h^5}`
    (from :math:`\log\Gamma(z + a) \sim (z + a - \tfrac12)\log z - z + \tfrac12\log 2\pi
    + \sum_k (-1)^k B_k(a) / (k(k-1) z^{k-1})`, Abramowitz & Stegun 6.1.40, with ``a = 0`` and
    ``a = 1/2``; the next term is ``-17/(14336 h^7)``): the difference of two ``lgamma`` values of
    ``~h log h`` cancels, losing ``1e-7 * h`` in float32, and each overflows float32 for ``h > 1e36``.

    >>> round(float(lgamma_half_step(torch.tensor(100.0, dtype=torch.float64))), 12)  # mpmath, 60 digits: -2.3013350982022...
    -2.301335098202
    """
    big = h > _ASYMPTOTIC_HALF
    if big.device.type == "cpu" and not bool(big.any()):  # no series needed: as in log1p_square
        return torch.lgamma(h) - torch.lgamma(h + 0.5)
    small = torch.where(big, torch.full_like(h, _ASYMPTOTIC_HALF), h)
    hb = torch.where(big, h, torch.full_like(h, _ASYMPTOTIC_HALF))
    inv = 1 / hb
    inv2 = inv * inv
    series = -0.5 * torch.log(hb) + inv * (1 / 8 + inv2 * (-1 / 192 + inv2 / 640))
    return torch.where(big, series, torch.lgamma(small) - torch.lgamma(small + 0.5))


@functools.lru_cache(maxsize=64)
def _fixed_df_constant(df: float) -> float:
    """``lgamma(df/2) - lgamma((df+1)/2) + log(df pi)/2`` for a fixed ``df``.

    By :func:`lgamma_half_step` in float64, not ``math.lgamma(df/2) - math.lgamma((df+1)/2)``: that
    difference of two numbers of size ``(df/2) log(df/2)`` loses ``df * 1e-16``, a digit per decade of ``df``.
    """
    return float(lgamma_half_step(torch.tensor(0.5 * df, dtype=torch.float64))) + 0.5 * (math.log(df) + LOG_PI)


def student_t_nll(
    loc: torch.Tensor, scale: torch.Tensor, df: torch.Tensor | float, y: torch.Tensor
) -> torch.Tensor:
    r"""Per-element Student-t NLL (formula in :class:`StudentT`), shape of ``y``.

    ``df`` is a tensor (learned) or a float (fixed: the ``lgamma`` terms are then one constant).
    """
    if isinstance(df, float):
        const = _fixed_df_constant(df)
        return (0.5 * (df + 1.0)) * log1p_square(y - loc, scale, df) + torch.log(scale) + const
    half = 0.5 * df
    return (
        (half + 0.5) * log1p_square(y - loc, scale, df)
        + torch.log(scale)
        + lgamma_half_step(half)
        + 0.5 * (torch.log(df) + LOG_PI)
    )


#: the range of a fixed ``df`` (and ``min_df``'s upper end): ``sqrt(df)`` and ``1 / df`` stay normal float32 numbers
DF_RANGE = (1e-3, 1e12)


class StableStudentT(StudentTDistribution):
    """The student-t predictive whose ``log_prob`` is ``-student_t_nll``.

    torch's ``log_prob`` squares ``(y - loc) / scale`` (inf beyond 1.8e19 in float32) and takes
    ``lgamma(df/2) - lgamma((df + 1)/2)`` (inf - inf = NaN for ``df`` beyond 1e36);
    :func:`student_t_nll` does neither.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        df, loc, scale, value = broadcast_all(self.df, self.loc, self.scale, value)
        return -student_t_nll(loc, scale, df, value)


@register_law("student-t")
class StudentT(ScalarLaw):
    r"""Student's t law with a learned location, scale and (by default) degrees of freedom.

    .. math::
        -\log p(y \mid \mu, \sigma, \nu) = \frac{\nu + 1}{2}\log\Bigl(1 + \frac{z^2}{\nu}\Bigr)
            + \log\sigma + \log\Gamma\bigl(\tfrac{\nu}{2}\bigr) - \log\Gamma\bigl(\tfrac{\nu + 1}{2}\bigr)
            + \tfrac12 \log \nu\pi, \qquad z = \frac{y - \mu}{\sigma}

    with ``sigma = softplus(r1) + min_scale`` and ``nu = min_df + softplus(r2)``; the
    floor ``min_df = 2`` (as in GluonTS) keeps the variance finite. ``nu -> inf``
    recovers the Gaussian; small ``nu`` caps the gradient of outlying labels, since
    ``d nll / dz`` is bounded by :math:`(\nu + 1) / (2\sqrt\nu)`. With ``df=`` a number,
    the degrees of freedom are fixed and the raw outputs are ``[loc, scale]``. The
    scale can shrink towards its floor on a perfectly fitted label, so :meth:`excess`
    is undefined.

    For ``nu > 100`` the difference of ``lgamma`` terms is taken from its asymptotic series
    (:func:`lgamma_half_step`): ``lgamma`` itself would lose about ``1e-7 * nu`` in float32 and
    overflow beyond ``nu ~ 1e36``.

    Args:
        df: fixed degrees of freedom (> 0), or None to learn them (default).
        min_df: floor of the learned degrees of freedom, >= 1 (default 2).
        min_scale: floor of the scale (default 1e-3).

    Raw outputs: ``[loc, scale, df]`` (``[loc, scale]`` with fixed ``df``).
    ``link`` also returns ``df`` as a 0-d tensor when it is fixed.

    References:
        Lange, Little & Taylor (1989), "Robust Statistical Modeling Using the t
        Distribution", JASA 84(408); Salinas et al. (2020), "DeepAR" (GluonTS ``StudentTOutput``).

    >>> law = StudentT(df=1.0)   # Cauchy: -log p(loc) = log(pi scale)
    >>> raw = law.inverse_link({"loc": 0.0, "scale": 1.0}).unsqueeze(0)
    >>> round(float(law.nll(law.link(raw), torch.tensor([0.0]))), 4)
    1.1447
    >>> StudentT().raw_dim
    3
    """

    formula = "(df + 1)/2 log(1 + z^2/df) + log scale + lgamma(df/2) - lgamma((df+1)/2) + log(df pi)/2, z = (y - loc)/scale"
    support = REAL

    def __init__(
        self,
        *,
        df: float | None = None,
        min_df: float = 2.0,
        min_scale: float = 1e-3,
        clamp: float | None = None,
    ) -> None:
        super().__init__(clamp=clamp)
        low, high = DF_RANGE
        if df is not None:
            df = check_number(df, "df", who=self.name, low=low, high=high,
                              what=f"a number in [{low:g}, {high:g}] or None (learned)")
        self.df = df
        self.min_df = check_number(min_df, "min_df", who=self.name, low=1.0, high=high,
                                   what=f"a number in [1, {high:g}] (2 keeps the variance finite)")
        self.min_scale = check_scale(min_scale, "min_scale", self.name)
        # The mean exists only for df > 1. A learned df is min_df + softplus(r), which rounds to min_df where
        # softplus underflows, so min_df itself must exceed 1 in float32 (the least precision laws compute in).
        has_mean = float(np.float32(self.min_df if self.df is None else self.df)) > 1.0
        self.point_kinds = ("mean", "median", "mode") if has_mean else ("median", "mode")

    def options(self) -> dict[str, Any]:
        return {"df": self.df, "min_df": self.min_df, "min_scale": self.min_scale, **super().options()}

    def param_links(self) -> dict[str, Link]:
        links = {"loc": IDENTITY, "scale": positive_link(self.min_scale)}
        if self.df is None:
            links["df"] = positive_link(self.min_df)
        return links

    def link(self, raw: torch.Tensor) -> Params:
        params = super().link(raw)
        if self.df is not None:
            loc = params["loc"]  # (float32 for half raw outputs, as every parameter)
            params["df"] = torch.tensor(self.df, dtype=loc.dtype, device=loc.device)
        return params

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        # A small grid of marginal fits, keeping the best NLL: median for the location,
        # robust (MAD) and moment (std) scales, light to heavy tails.
        y = y.reshape(-1)
        loc = y.median()
        mad = 1.4826 * (y - loc).abs().median()
        std = y.std() if y.numel() > 1 else torch.ones_like(loc)
        floor = 10 * self.min_scale
        scales = [s.clamp(min=floor) for s in (mad, 0.5 * mad, std, 0.5 * std)]
        dfs = [self.df] if self.df is not None else [self.min_df + 1.0, self.min_df + 5.0, self.min_df + 30.0]
        best, best_nll = None, math.inf
        for scale in scales:
            for df in dfs:
                nll = float(student_t_nll(loc, scale, float(df), y).mean())
                if nll < best_nll:
                    best, best_nll = (scale, df), nll
        scale, df = best
        out: dict[str, Any] = {"loc": loc, "scale": scale}
        if self.df is None:
            out["df"] = torch.tensor(df, dtype=y.dtype)
        return out

    def _df(self, params: Params) -> torch.Tensor | float:
        return self.df if self.df is not None else params["df"]

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return student_t_nll(params["loc"], params["scale"], self._df(params), y)

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> StudentTDistribution:
        """A :class:`losslab.distributions.StudentT`: torch's, with ``cdf`` and ``icdf`` (``scipy.special.stdtr``/``stdtrit``)."""
        return StableStudentT(self._df(params), params["loc"], params["scale"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["loc"]

    _median = _mode = _mean
