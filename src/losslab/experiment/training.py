"""What training takes and gives: the options, the rows on the device, the result, and the pieces both loops share.

Both :func:`~losslab.experiment.trainer.train` (one model) and
:func:`~losslab.experiment.replicas.train_replicas` (several stacked as one) take a
:class:`TrainConfig` and :class:`Split` s and return :class:`TrainResult` s; they step with
:func:`adam` and stop on :func:`improved`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn

from .._errors import LosslabError, check_integer, check_number

__all__ = ["Progress", "Split", "TrainConfig", "TrainResult", "adam", "improved"]

#: a progress callback: it receives events such as ``{"event": "epoch", "epoch": 3, "epochs": 200, "train": ..., "val": ...}``
Progress = Callable[[dict[str, Any]], None]


@dataclass
class TrainConfig:
    epochs: int = 200  # upper bound: early stopping on the validation NLL usually ends sooner
    batch_size: int = 128  # minibatch size for Adam (L-BFGS is full batch)
    lr: float = 3e-3  # Adam's step size
    weight_decay: float = 0.0  # L2 penalty on all weights (Adam's weight_decay)
    patience: int = 20  # epochs without a better validation NLL before stopping
    optimizer: str = "adam"  # "adam" or "lbfgs" (full batch, for linear models)

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "lbfgs"):
            raise LosslabError(f"optimizer={self.optimizer!r}; expected 'adam' or 'lbfgs'")
        # Whole numbers stay whole (epochs=1.5 is refused, not truncated); the step size and the decay are finite.
        for name in ("epochs", "batch_size", "patience"):
            setattr(self, name, check_integer(getattr(self, name), name, low=1))
        self.lr = check_number(self.lr, "lr", low=0.0, low_open=True, what="a positive number")
        self.weight_decay = check_number(self.weight_decay, "weight_decay", low=0.0, what="a number >= 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    status: str  # "ok" or "diverged"
    best_epoch: int
    epochs_run: int
    diverged_epoch: int | None = None
    history: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "val": []})
    seconds: float = 0.0
    initial_val: float | None = None  # the validation NLL before the first step (the blow-up check compares with it)


@dataclass
class Split:
    """Tensors of one split, already on the training device."""

    X: torch.Tensor
    y: torch.Tensor
    trials: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def device(self) -> torch.device:
        return self.X.device

    def rows(self, idx: torch.Tensor) -> "Split":
        return Split(self.X[idx], self.y[idx], None if self.trials is None else self.trials[idx])

    # The trainer reads a split only through the three methods below, which a split over streamed data
    # (experiment.streamed.StreamSplit) implements by reading the rows asked for.
    def batches(self, perm: torch.Tensor, batch_size: int) -> Iterable["Split"]:
        """The minibatches ``perm[i:i + batch_size]`` of an epoch, the last partial one dropped."""
        for i in range(0, len(self) - batch_size + 1, batch_size):
            yield self.rows(perm[i : i + batch_size])

    def chunks(self, size: int) -> Iterable["Split"]:
        """Consecutive parts of ``size`` rows (the last may be shorter)."""
        for i in range(0, len(self), size):
            yield self.rows(slice(i, i + size))

    def outputs(self, model: nn.Module) -> torch.Tensor:
        """``model``'s raw outputs on every row, in one forward pass."""
        return model(self.X)


def improved(val: float, best: float, rtol: float) -> bool:
    """A relative improvement of at least ``rtol`` (any finite value improves on the initial ``inf``)."""
    return val < best - rtol * abs(best) if math.isfinite(best) else True


def adam(params: Iterable[torch.Tensor], config: TrainConfig) -> torch.optim.Adam:
    """Adam with ``config``'s step size and weight decay; torch's fused kernel where it has one.

    The fused kernel updates every tensor in one call instead of a dozen Python-level ops per
    tensor (``python -m benchmarks.steps``: 3.38 -> 2.55 ms a step for bernoulli's 5 MLP replicas on one
    CPU thread). Its update is
    elementwise, as the plain one is, so replicas stacked along a leading axis still follow
    their one-by-one trajectories.
    """
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.dtype in _FUSED_DTYPES for p in params)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None)


_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
