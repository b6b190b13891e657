"""Training one model under one law: preloaded tensors, Adam or full-batch L-BFGS, early stopping.

Deterministic given a seed: the minibatch order comes from a generator seeded
with it, so every law trained with one seed sees the same batches.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from .._errors import LosslabError
from ..laws import Law, validation
from ..models import LawModel

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
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise LosslabError(f"{name}={getattr(self, name)!r} must be a positive integer")
        if not self.lr > 0:
            raise LosslabError(f"lr={self.lr!r} must be positive")

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


@dataclass
class Split:
    """Tensors of one split, already on the training device."""

    X: torch.Tensor
    y: torch.Tensor
    trials: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]

    def rows(self, idx: torch.Tensor) -> "Split":
        return Split(self.X[idx], self.y[idx], None if self.trials is None else self.trials[idx])


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA, then Apple MPS, then the CPU."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def mean_nll(model: LawModel, data: Split, batch: int = 4096) -> float:
    """Mean NLL of the model's law on ``data`` (the early-stopping criterion)."""
    model.eval()
    law = model.law
    total, count = 0.0, 0
    with validation(False):
        for i in range(0, len(data), batch):
            part = data.rows(slice(i, i + batch))
            nll = law.nll(law.link(model(part.X)), part.y, trials=part.trials)
            total += float(nll.sum())
            count += nll.numel()
    return total / max(count, 1)


def _improved(val: float, best: float, rtol: float) -> bool:
    """A relative improvement of at least ``rtol`` (any finite value improves on the initial ``inf``)."""
    return val < best - rtol * abs(best) if math.isfinite(best) else True


def train(
    model: LawModel,
    train_data: Split,
    val_data: Split,
    config: TrainConfig,
    *,
    seed: int,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of its best validation epoch."""
    law: Law = model.law
    law.check_labels(train_data.y, trials=train_data.trials)
    law.check_labels(val_data.y, trials=val_data.trials)
    t0 = time.perf_counter()
    if config.optimizer == "lbfgs":
        result = _train_lbfgs(model, train_data, val_data, config, progress)
    else:
        result = _train_adam(model, train_data, val_data, config, seed, progress)
    result.seconds = time.perf_counter() - t0
    return result


class _EarlyStopping:
    """Epoch bookkeeping shared by both optimisers: history, divergence, best weights and patience."""

    def __init__(self, model: LawModel, config: TrainConfig, progress: Progress | None, rtol: float, patience: int) -> None:
        self.model, self.config, self.progress = model, config, progress
        self.rtol, self.patience = rtol, patience
        self.result = TrainResult(status="ok", best_epoch=0, epochs_run=0)
        self.best, self.best_state = math.inf, copy.deepcopy(model.state_dict())

    def step(self, epoch: int, train_loss: float, val: float) -> bool:
        """Record one epoch; return True when training should stop."""
        res = self.result
        res.epochs_run = epoch
        if not (math.isfinite(train_loss) and math.isfinite(val)):
            res.status, res.diverged_epoch = "diverged", epoch
            return True
        res.history["train"].append(train_loss)
        res.history["val"].append(val)
        if self.progress:
            self.progress({"event": "epoch", "epoch": epoch, "epochs": self.config.epochs, "train": train_loss, "val": val})
        if _improved(val, self.best, self.rtol):
            self.best, res.best_epoch = val, epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
            return False
        return epoch - res.best_epoch >= self.patience

    def finish(self) -> TrainResult:
        self.model.load_state_dict(self.best_state)
        return self.result


def _train_adam(
    model: LawModel, tr: Split, va: Split, config: TrainConfig, seed: int, progress: Progress | None
) -> TrainResult:
    law = model.law
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    stopper = _EarlyStopping(model, config, progress, rtol=1e-7, patience=config.patience)
    n, bs = len(tr), min(config.batch_size, len(tr))
    # The labels were checked once above; per-step checks would cost a pass and a sync per batch.
    with validation(False):
        for epoch in range(1, config.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=gen).to(tr.X.device)
            total, steps = 0.0, 0
            for i in range(0, n - bs + 1, bs):
                batch = tr.rows(perm[i : i + bs])
                loss = law.loss(model(batch.X), batch.y, trials=batch.trials)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach()
                steps += 1
            if stopper.step(epoch, float(total) / max(steps, 1), mean_nll(model, va)):
                break
    return stopper.finish()


def _train_lbfgs(model: LawModel, tr: Split, va: Split, config: TrainConfig, progress: Progress | None) -> TrainResult:
    law = model.law
    opt = torch.optim.LBFGS(
        model.parameters(), lr=1.0, max_iter=50, tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe"
    )
    stopper = _EarlyStopping(model, config, progress, rtol=1e-9, patience=min(config.patience, 5))

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = law.loss(model(tr.X), tr.y, trials=tr.trials)
        if config.weight_decay:
            loss = loss + 0.5 * config.weight_decay * sum((p * p).sum() for p in model.parameters())
        loss.backward()
        return loss

    with validation(False):
        previous = math.inf
        for epoch in range(1, config.epochs + 1):
            model.train()
            loss = float(opt.step(closure).detach())
            # Stop on patience, or once an L-BFGS pass no longer changes the training loss.
            if stopper.step(epoch, loss, mean_nll(model, va)) or abs(previous - loss) <= 1e-10 * (1 + abs(loss)):
                break
            previous = loss
    return stopper.finish()
