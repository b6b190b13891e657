"""Full-batch L-BFGS polishing of a trained model, for fits with no held-out rows (the Regressor's GLMs)."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..laws import Law, validation

__all__ = ["polish_lbfgs"]


def polish_lbfgs(net: Any, law: Law, data: Any, weight_decay: float, rounds: int = 20) -> None:
    """Run full-batch L-BFGS on ``data`` until the objective stops decreasing.

    The trainer keeps the weights of the epoch with the best validation loss, counting only
    relative gains above 1e-9; near the optimum of a convex GLM the loss changes quadratically,
    so gains that small still move coefficients by about 1e-6. With no held-out rows there is
    nothing to stop early for, so the last digits are recovered here. Weights whose objective
    is not lower (or not finite) are never kept.
    """
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.LBFGS(
        params, lr=1.0, max_iter=100, tolerance_grad=1e-12, tolerance_change=1e-30, line_search_fn="strong_wolfe"
    )

    def objective() -> torch.Tensor:
        loss = law.loss(net(data.X), data.y, trials=data.trials)
        if weight_decay:  # the trainer's L-BFGS objective, penalty included
            loss = loss + 0.5 * weight_decay * sum((p * p).sum() for p in params)
        return loss

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        return loss

    net.train()
    with validation(False):
        with torch.no_grad():
            best = float(objective())
        for _ in range(rounds):
            saved = [p.detach().clone() for p in params]
            opt.step(closure)
            with torch.no_grad():
                now = float(objective())
            if not (math.isfinite(now) and now <= best):
                with torch.no_grad():
                    for p, old in zip(params, saved):
                        p.copy_(old)
                return
            moved = max(float((p.detach() - old).abs().max()) for p, old in zip(params, saved))
            if moved <= 1e-12:
                return
            best = now
