"""Training one model under one law: preloaded tensors, Adam or full-batch L-BFGS, early stopping.

Deterministic given a seed: the minibatch order comes from a generator seeded
with it, so every law trained with one seed sees the same batches.
"""

from __future__ import annotations

import copy
import math
import time

import torch

from ..laws import Law, validation
from ..models import LawModel
from .devices import available_devices, resolve_device  # noqa: F401  re-exported from where they were defined before
from .replicas import can_batch, train_replicas  # noqa: F401  re-exported: several models trained as one live in replicas.py
from .training import Progress, Split, TrainConfig, TrainResult, adam, improved  # noqa: F401  re-exported, as above


@torch.no_grad()
def mean_nll(model: LawModel, data: Split, batch: int = 4096) -> float:
    """Mean NLL of the model's law on ``data`` (the early-stopping criterion)."""
    model.eval()
    law = model.law
    total, count = 0.0, 0
    with validation(False):
        for part in data.chunks(batch):
            nll = law.nll(law.link(part.outputs(model)), part.y, trials=part.trials)
            total += float(nll.sum())
            count += nll.numel()
    return total / max(count, 1)


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
        if improved(val, self.best, self.rtol):
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
    opt = adam(model.parameters(), config)
    stopper = _EarlyStopping(model, config, progress, rtol=1e-7, patience=config.patience)
    stopper.result.initial_val = mean_nll(model, va)
    n, bs = len(tr), min(config.batch_size, len(tr))
    # The labels were checked once above; per-step checks would cost a pass and a sync per batch.
    with validation(False):
        for epoch in range(1, config.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=gen).to(tr.device)
            total, steps = 0.0, 0
            for batch in tr.batches(perm, bs):
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
    # Any decrease counts: L-BFGS takes few, large steps, and reloading an earlier "best" epoch would
    # undo the last digits of a converged fit.
    stopper = _EarlyStopping(model, config, progress, rtol=0.0, patience=min(config.patience, 5))
    stopper.result.initial_val = mean_nll(model, va)

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
