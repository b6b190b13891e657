"""The label checks every law runs before its NLL: shapes, support, ``clamp=``, trials and weights.

:class:`LabelChecks` is a base of :class:`~losslab.laws.Law`; its methods read the law's
``name``, ``support_bounds``, ``clamp``, ``needs_trials`` and ``_batch_shape``/``_event_shape``.
:func:`validation` switches the checks off for a trainer's inner loop.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any, Iterator

import torch

from .._errors import LosslabError, as_real_tensor, dtype_name, first_rows, shape_str
from ._support import interval_str

if TYPE_CHECKING:
    from ._base import Params

__all__ = ["LabelChecks", "cli_spec", "option_text", "validation", "validation_enabled"]

_VALIDATE = True


def cli_spec(law: Any, **extra: Any) -> str:
    """``law`` as ``--laws`` takes it: its name, then the options it was given other than their defaults, and ``extra``.

    ``;`` separates a law's options on the command line (``,`` separates laws).

    >>> from losslab.laws import get_law
    >>> cli_spec(get_law("beta"), clamp=1e-6), cli_spec(get_law("binned", kind="twohot", n_bins=21))
    ('beta:clamp=1e-6', 'binned:kind=twohot;n_bins=21')
    """
    import inspect

    defaults = {
        k: p.default for k, p in inspect.signature(type(law).__init__).parameters.items() if p.default is not inspect.Parameter.empty
    }
    opts = {k: v for k, v in law.options().items() if k not in extra and k in defaults and v != defaults[k]}
    opts.update(extra)
    return law.name + (":" + ";".join(f"{k}={option_text(v)}" for k, v in opts.items()) if opts else "")


def option_text(value: Any) -> str:
    """A law option as one types it: ``1e-6`` rather than Python's ``1e-06``."""
    if isinstance(value, float):
        return f"{value:g}".replace("e-0", "e-").replace("e+0", "e+")
    return str(value)


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Turn label and shape checks of every law on or off inside a ``with`` block.

    Checks are on by default. The trainer validates the labels once, up front,
    and switches them off for its inner loop, where they would cost one extra
    pass over the labels and a device synchronisation per step.
    """
    global _VALIDATE
    old, _VALIDATE = _VALIDATE, bool(enabled)
    try:
        yield
    finally:
        _VALIDATE = old


def validation_enabled() -> bool:
    return _VALIDATE



class LabelChecks:
    """The input checks of :class:`~losslab.laws.Law` (a base class of it, not used alone)."""

    def check_labels(self, y: Any, *, trials: Any = None) -> None:
        """Raise a one-line error if labels (or trials) do not fit this law; used once before training."""
        y = as_real_tensor(y, "labels y", who=self.name)
        y = y if y.is_floating_point() else y.double()
        self._check_support(y)
        if self.needs_trials:
            t = None if trials is None else as_real_tensor(trials, "trials", who=self.name).to(dtype=y.dtype)
            self._check_trials(y, t)

    # ------------------------------------------------------------ input checks
    def _prepare(self, params: Params, y: Any, trials: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        ref = next(iter(params.values()))
        y = as_real_tensor(y, "labels y", who=self.name)
        if y.dtype != ref.dtype or y.device != ref.device:
            y = y.to(dtype=ref.dtype, device=ref.device)
        if trials is not None:
            trials = as_real_tensor(trials, "trials", who=self.name).to(dtype=ref.dtype, device=ref.device)
        if _VALIDATE:
            self._check_shapes(params, y)
            if trials is not None and trials.shape != y.shape and trials.ndim != 0:
                raise LosslabError(
                    f"{self.name}: trials has shape {shape_str(trials.shape)}, expected the labels' shape "
                    f"{shape_str(y.shape)} or a single number"
                )
            self._check_support(y)
            if self.needs_trials:
                self._check_trials(y, trials)
        elif self.needs_trials and trials is None:
            raise LosslabError(f"{self.name}: needs trials= (the number of trials n of each k/n label)")
        if self.clamp is not None:
            y = self._clamp_labels(y)
        return y, trials

    def _batch_shape(self, params: Params) -> torch.Size:
        raise NotImplementedError

    def _check_shapes(self, params: Params, y: torch.Tensor) -> None:
        batch = self._batch_shape(params)
        expected = tuple(batch) + tuple(self._event_shape(params))
        if tuple(y.shape) != expected:
            hint = ""
            if y.ndim == len(expected) + 1 and y.shape[-1] == 1 and tuple(y.shape[:-1]) == expected:
                hint = " (drop the trailing axis of size 1, e.g. y.squeeze(-1))"
            elif y.ndim + 1 == len(expected) and expected[-1] == 1:
                hint = " (add a trailing axis, e.g. y.unsqueeze(-1))"
            raise LosslabError(
                f"{self.name}: labels y have shape {shape_str(y.shape)} but the parameters have "
                f"shape {shape_str(expected)}; shapes must match exactly, no broadcasting{hint}"
            )

    def _event_shape(self, params: Params) -> tuple[int, ...]:
        return ()

    def _check_support(self, y: torch.Tensor) -> None:
        if y.numel() == 0:
            raise LosslabError(f"{self.name}: labels y are empty")
        lo, hi = torch.aminmax(y.detach())
        low, high, lc, hc = self.support_bounds
        lo, hi = float(lo), float(hi)
        inside = (lo >= low if lc or self.clamp is not None else lo > low) and (
            hi <= high if hc or self.clamp is not None else hi < high
        )
        if inside and math.isfinite(lo) and math.isfinite(hi):
            return
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = ~torch.isfinite(y)
            raise LosslabError(
                f"{self.name}: labels y contain {int(bad.sum())} non-finite value(s), first at row(s) "
                f"{first_rows(bad)}; expected finite numbers"
            )
        below = (y < low) if (lc or self.clamp is not None) else (y <= low)
        above = (y > high) if (hc or self.clamp is not None) else (y >= high)
        bad = below | above
        n = int(bad.sum())
        interval = interval_str(low, high, lc, hc)
        rows = first_rows(bad)
        # the first offending row and its value, so that the user can find it in the file
        head = (
            f"{self.name}: {n} of {y.numel()} labels lie outside the support {interval}: row {rows[0]} holds "
            f"{float(y[bad].flatten()[0]):g} (rows {rows}{', ...' if n > len(rows) else ''}; the labels span "
            f"[{lo:g}, {hi:g}])"
        )
        python, cli = self._support_hint(y, bad)
        raise LosslabError(head + python, cli=head + cli)

    def _support_hint(self, y: torch.Tensor, bad: torch.Tensor) -> tuple[str, str]:
        """The fix appended to the out-of-support error, in Python's syntax and in the command line's.

        Labels only on an edge the support leaves open: ``clamp``. Labels beyond it: rescale them, or
        take a law for real-valued labels. Laws on (0, 1) override this to name the laws with edges.
        """
        low, high, lc, hc = self.support_bounds
        on_edge = ((y == low) | (y == high)) & bad
        if bool(on_edge.any()) and bool((on_edge == bad).all()):
            tail = " to move edge labels inside, or choose a law whose support includes the edges"
            return f"; pass clamp=1e-6{tail}", f"; use --laws {cli_spec(self, clamp=1e-6)}{tail}"
        into = "rescale them into" if math.isfinite(low) and math.isfinite(high) else "shift them into"
        fix = f"; expected labels in {interval_str(low, high, lc, hc)}: {into} it"
        other = "a law for real-valued labels, e.g."
        return f"{fix}, or use {other} get_law('gaussian-hetero')", f"{fix}, or use {other} --laws gaussian-hetero"

    def _clamp_labels(self, y: torch.Tensor) -> torch.Tensor:
        low, high, lc, hc = self.support_bounds
        eps = float(self.clamp)
        lo = low if lc else low + eps * max(1.0, abs(low))
        hi = high if hc else high - eps * max(1.0, abs(high))
        if y.dtype not in self._clamp_ok:
            self._check_clamp_resolution(y.dtype, (low, lo, lc), (high, hi, hc))
        if math.isinf(lo) and math.isinf(hi):
            return y
        return y.clamp(lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)

    def _check_clamp_resolution(
        self, dtype: torch.dtype, lower: tuple[float, float, bool], upper: tuple[float, float, bool]
    ) -> None:
        """Raise if ``clamp`` cannot move an open edge's labels inside in ``dtype`` (``1 - 1e-8`` is 1 in float32).

        ``lower`` and ``upper`` are ``(edge, edge moved by clamp, closed)``. Checked when labels of a
        dtype first arrive, since only then is the dtype known.
        """
        for (edge, moved, closed), sign in ((lower, "+"), (upper, "-")):
            if closed or not math.isfinite(edge):
                continue  # clamp leaves a closed edge where it is
            rounded = float(torch.tensor(moved, dtype=dtype))
            if (rounded <= edge) if sign == "+" else (rounded >= edge):
                need = torch.finfo(dtype).eps * max(1.0, abs(edge))
                raise LosslabError(
                    f"{self.name}: clamp={self.clamp:g} does nothing in {dtype_name(dtype)}: {edge:g} {sign} "
                    f"{self.clamp:g} rounds to {edge:g}, so labels on that edge keep zero density; use "
                    f"clamp >= {need:.3g} with {dtype_name(dtype)} labels, or float64 raw outputs and labels"
                )
        self._clamp_ok.add(dtype)

    def _check_trials(self, y: torch.Tensor, trials: torch.Tensor | None) -> None:
        if trials is None:
            raise LosslabError(f"{self.name}: needs trials= (the number of trials n of each k/n label)")
        if not bool(torch.isfinite(trials).all()) or bool((trials < 1).any()):
            bad = ~torch.isfinite(trials) | (trials < 1)
            raise LosslabError(
                f"{self.name}: trials must be finite counts >= 1; {int(bad.sum())} are not "
                f"(first at row(s) {first_rows(bad) if bad.ndim else [0]})"
            )

    def _check_weight(self, weight: Any, per: torch.Tensor) -> torch.Tensor:
        weight = as_real_tensor(weight, "weight", who=self.name).to(dtype=per.dtype, device=per.device)
        if weight.shape != per.shape:
            raise LosslabError(
                f"{self.name}: weight has shape {shape_str(weight.shape)}, expected {shape_str(per.shape)} "
                f"(one weight per element of the loss)"
            )
        if _VALIDATE:
            bad = ~torch.isfinite(weight) | (weight < 0)
            if bool(bad.any()):
                raise LosslabError(
                    f"{self.name}: weight has {int(bad.sum())} negative or non-finite value(s), first at row(s) "
                    f"{first_rows(bad)} (e.g. {float(weight[bad].flatten()[0]):g}); expected finite weights >= 0"
                )
        return weight
