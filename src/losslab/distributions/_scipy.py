"""The bridge from ``scipy.special`` CDFs to torch autograd, shared by the Beta and Student-t CDFs.

``scipy`` is imported by the functions that call it, not here: ``import losslab`` does not load it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__: list[str] = []


def as_floats(*values: Any) -> list[torch.Tensor]:
    """``values`` as tensors of the dtype and device of the first floating tensor among them (else float64)."""
    ref = next((v for v in values if torch.is_tensor(v) and v.is_floating_point()), None)
    dtype, device = (torch.float64, None) if ref is None else (ref.dtype, ref.device)
    return [torch.as_tensor(v, dtype=dtype, device=device) for v in values]


def numpy64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


class ScipyCdf(torch.autograd.Function):
    """``cdf(x, *shape)`` by scipy; ``d/dx`` = the density (exact), ``d/dshape`` by central differences.

    Torch has no regularised incomplete beta function, so the Beta and Student-t CDFs are
    evaluated by ``scipy.special`` (on the CPU, in float64). The derivatives in the shape
    parameters are central differences of the same scipy function with relative step
    ``6e-6`` (error about ``1e-10`` relative).
    """

    @staticmethod
    def forward(ctx, spec, x, *shape):  # type: ignore[override]
        np_cdf, log_pdf = spec
        args = [numpy64(t) for t in (x, *shape)]
        out = np_cdf(args[0], *args[1:])
        ctx.spec, ctx.args = spec, args
        ctx.save_for_backward(x, *shape)
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        np_cdf, log_pdf = ctx.spec
        x, *shape = ctx.saved_tensors
        args = ctx.args
        grads: list[torch.Tensor | None] = [None, None]
        if ctx.needs_input_grad[1]:
            grads[1] = grad * torch.exp(log_pdf(x, *shape))
        for i in range(len(shape)):
            if not ctx.needs_input_grad[2 + i]:
                grads.append(None)
                continue
            # Central difference with h ~ eps^(1/3) * value: truncation and rounding errors balance near 1e-10.
            h = 6e-6 * np.maximum(np.abs(args[1 + i]), 1e-3)
            up = [*args[1:]]
            dn = [*args[1:]]
            up[i] = args[1 + i] + h
            dn[i] = args[1 + i] - h
            d = (np_cdf(args[0], *up) - np_cdf(args[0], *dn)) / (2 * h)
            grads.append(grad * torch.as_tensor(d, dtype=grad.dtype, device=grad.device))
        return tuple(grads)
