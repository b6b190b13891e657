"""``LawHead``: the last layer of a network trained under a law."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from ._errors import LosslabError, close_matches
from .laws import Law, get_law


class LawHead(nn.Module):
    """``Linear -> raw outputs`` of a law, with the bias initialised through the law's inverse link.

    Args:
        in_features: width of the trunk's last layer.
        law: a :class:`~losslab.laws.Law` or a registered name.
        n_targets: number of targets predicted side by side (e.g. 32 pixels). The
            output has shape ``(N, raw_dim)`` for one target and ``(N, n_targets, raw_dim)``
            otherwise, so that ``law.link(head(x))`` has the labels' shape ``(N,)`` or ``(N, n_targets)``.
        constant: parameters that do not depend on the input: each is a free
            scalar per target (the precision of classical beta regression, a
            homoscedastic Gaussian scale). Only scalar laws support them.

    >>> head = LawHead(4, "beta", constant=("precision",))
    >>> head(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(self, in_features: int, law: Law | str, n_targets: int = 1, constant: Iterable[str] = ()) -> None:
        super().__init__()
        self.law = get_law(law) if isinstance(law, str) else law
        if n_targets < 1:
            raise LosslabError(f"LawHead: n_targets={n_targets} must be >= 1")
        if self.law.event_dim and n_targets != 1:
            raise LosslabError(f"LawHead: law {self.law.name!r} models a vector target jointly; use n_targets=1")
        self.n_targets = n_targets
        layout = self.law.raw_layout
        self.constant = tuple(constant)
        for name in self.constant:
            if name not in layout:
                raise LosslabError(
                    f"LawHead: constant parameter {name!r} is not a parameter of law {self.law.name!r}"
                    f"{close_matches(name, layout)}; its parameters: {', '.join(layout)}"
                )
        if len(self.constant) == len(layout):
            raise LosslabError("LawHead: at least one parameter must depend on the input")
        # Index of each raw column, split into input-dependent and constant columns.
        cols, start = {}, 0
        for key, k in layout.items():
            cols[key] = list(range(start, start + k))
            start += k
        self._varying = [c for key in layout if key not in self.constant for c in cols[key]]
        self._const = [c for key in self.constant for c in cols[key]]
        self.linear = nn.Linear(in_features, n_targets * len(self._varying))
        self.constants = nn.Parameter(torch.zeros(n_targets, len(self._const))) if self._const else None
        order = self._varying + self._const
        self.register_buffer("_perm", torch.argsort(torch.tensor(order)), persistent=False)
        self.init_bias()

    @torch.no_grad()
    def init_bias(self, y: Any = None, trials: Any = None) -> None:
        """Set the bias (and constants) so the untrained head predicts the law's marginal fit to ``y``.

        ``y`` has shape ``(N,)`` or ``(N, n_targets)``; without it, the law's fit to a
        neutral label sample is used (zeros of the raw outputs where that fails).
        """
        raw = torch.zeros(self.n_targets, self.law.raw_dim)
        if y is not None:
            y = torch.as_tensor(y, dtype=torch.get_default_dtype())
            tr = None if trials is None else torch.as_tensor(trials, dtype=y.dtype)
            for t in range(self.n_targets):
                yt, tt = y, tr
                if self.n_targets > 1:  # labels (N, n_targets): fit each target's column on its own
                    yt = y[:, t]
                    tt = tr[:, t] if tr is not None and tr.ndim == 2 else tr
                raw[t] = self.law.inverse_link(self.law.init_params(yt, tt)).to(raw.dtype)
        raw = raw.to(self.linear.bias.dtype)
        self.linear.bias.copy_(raw[:, self._varying].reshape(-1))
        if self.constants is not None:
            self.constants.copy_(raw[:, self._const])

    @torch.no_grad()
    def copy_bias(self, other: "LawHead") -> None:
        """Take ``other``'s bias and constants (the result of its :meth:`init_bias`); the heads must match."""
        if (other.law.name, other.law.options(), other.n_targets, other.constant) != (self.law.name, self.law.options(), self.n_targets, self.constant):
            raise LosslabError("LawHead.copy_bias: the other head has another law, options, targets or constants")
        self.linear.bias.copy_(other.linear.bias.to(self.linear.bias))
        if self.constants is not None:
            self.constants.copy_(other.constants.to(self.constants))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.arrange(self.linear(h), self.constants)

    def arrange(self, out: torch.Tensor, constants: torch.Tensor | None) -> torch.Tensor:
        """The raw outputs from the linear layer's output ``out`` ``(..., n_targets * varying)``.

        ``constants`` (``None`` without constant parameters) must broadcast to
        ``(..., n_targets, n_constant)``; batched replicas pass theirs as ``(R, 1, n_targets, n_constant)``.
        """
        out = out.reshape(*out.shape[:-1], self.n_targets, len(self._varying))
        if constants is not None:
            const = constants.expand(*out.shape[:-1], len(self._const))
            out = torch.cat([out, const], dim=-1).index_select(-1, self._perm)
        return out.squeeze(-2) if self.n_targets == 1 else out
