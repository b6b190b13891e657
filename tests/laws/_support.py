"""The :class:`Example` record and label/raw generators used by ``tests/laws/ex_*.py``.

The common suite (``test_laws_common.py``) runs every check on every example;
its completeness test fails when a registered law has no example here. Each
family contributes ``EXAMPLES`` from a module ``tests/laws/ex_<family>.py``;
this module gathers them.

An :class:`Example` says how to draw raw network outputs and labels in the
support, and gives the reference log-density (scipy.stats, or a closed form
written out independently of the law's code, with its source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch


@dataclass
class Example:
    #: options for ``get_law(name, **opts)``
    opts: dict[str, Any] = field(default_factory=dict)
    #: ``raw(gen, n) -> (n, raw_dim)`` float64 raw outputs at moderate values
    raw: Callable[[torch.Generator, int], torch.Tensor] | None = None
    #: ``labels(gen, n) -> (y, trials or None)``: labels strictly inside the support
    #: (shape ``(n,)``, or ``(n, d)`` for vector laws) and, for laws that need them, trials ``(n,)``
    labels: Callable[[torch.Generator, int], tuple[torch.Tensor, torch.Tensor | None]] | None = None
    #: ``logpdf(params_as_numpy, y_numpy, trials_numpy_or_None) -> (n,)`` independent reference
    logpdf: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray | None], np.ndarray] | None = None
    #: labels exactly on (or just inside) the support's edges, where loss and gradient must stay finite
    edge_labels: tuple[float, ...] = ()
    #: where the reference came from, for the reader of a failing test
    source: str = ""


def uniform(low: float, high: float) -> Callable[[torch.Generator, int], tuple[torch.Tensor, None]]:
    """Labels uniform on ``(low, high)``, no trials."""

    def draw(gen: torch.Generator, n: int) -> tuple[torch.Tensor, None]:
        return low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64), None

    return draw


def normal_raw(dim: int, scale: float = 1.0) -> Callable[[torch.Generator, int], torch.Tensor]:
    """Raw outputs ``scale * N(0, 1)`` of width ``dim``."""

    def draw(gen: torch.Generator, n: int) -> torch.Tensor:
        return scale * torch.randn(n, dim, generator=gen, dtype=torch.float64)

    return draw


def fractions(n_low: int, n_high: int) -> Callable[[torch.Generator, int], tuple[torch.Tensor, torch.Tensor]]:
    """Labels ``k / n`` with ``n`` uniform on ``[n_low, n_high]`` and ``k`` uniform on ``0..n``."""

    def draw(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        trials = torch.randint(n_low, n_high + 1, (n,), generator=gen).to(torch.float64)
        k = torch.floor(torch.rand(n, generator=gen, dtype=torch.float64) * (trials + 1)).clamp(max=trials)
        return k / trials, trials

    return draw
