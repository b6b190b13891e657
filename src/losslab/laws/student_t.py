"""Student's t law: a Gaussian with heavy tails, robust to outlying labels."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import StudentT as TorchStudentT

from .._errors import LosslabError
from ..links import IDENTITY, Link, positive_link
from ._base import Params, ScalarLaw
from ._registry import register_law

LOG_PI = math.log(math.pi)


def student_t_nll(
    loc: torch.Tensor, scale: torch.Tensor, df: torch.Tensor | float, y: torch.Tensor
) -> torch.Tensor:
    r"""Per-element Student-t NLL (formula in :class:`StudentT`), shape of ``y``.

    ``df`` is a tensor (learned) or a float (fixed: the ``lgamma`` terms are then one constant).
    """
    z = (y - loc) / scale
    if isinstance(df, float):
        const = math.lgamma(0.5 * df) - math.lgamma(0.5 * (df + 1.0)) + 0.5 * (math.log(df) + LOG_PI)
        return (0.5 * (df + 1.0)) * torch.log1p(z * z * (1.0 / df)) + torch.log(scale) + const
    half = 0.5 * df
    return (
        (half + 0.5) * torch.log1p(z * z / df)
        + torch.log(scale)
        + torch.lgamma(half)
        - torch.lgamma(half + 0.5)
        + 0.5 * (torch.log(df) + LOG_PI)
    )


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

    In float32 the difference of ``lgamma`` terms loses absolute precision (about
    ``1e-7 * nu``) for very large ``nu``; it stays finite.

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
    support = "real"

    def __init__(
        self,
        *,
        df: float | None = None,
        min_df: float = 2.0,
        min_scale: float = 1e-3,
        clamp: float | None = None,
    ) -> None:
        super().__init__(clamp=clamp)
        if df is not None and not (isinstance(df, (int, float)) and df > 0 and math.isfinite(df)):
            raise LosslabError(f"{self.name}: df={df!r} must be a positive number or None (learned)")
        if not (isinstance(min_df, (int, float)) and 1.0 <= min_df and math.isfinite(min_df)):
            raise LosslabError(f"{self.name}: min_df={min_df!r} must be a number >= 1 (2 keeps the variance finite)")
        if not (isinstance(min_scale, (int, float)) and min_scale > 0 and math.isfinite(min_scale)):
            raise LosslabError(f"{self.name}: min_scale={min_scale!r} must be a positive number")
        self.df = None if df is None else float(df)
        self.min_df, self.min_scale = float(min_df), float(min_scale)
        # The mean exists only for df > 1; the learned df always exceeds min_df >= 1.
        has_mean = self.df is None or self.df > 1.0
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
            params["df"] = torch.tensor(self.df, dtype=raw.dtype, device=raw.device)
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

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> TorchStudentT:
        return TorchStudentT(self._df(params), params["loc"], params["scale"], validate_args=False)

    def _mean(self, params: Params) -> torch.Tensor:
        return params["loc"]

    _median = _mode = _mean
