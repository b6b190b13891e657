"""Several models of one structure trained as one: their parameters stacked, each replica on its own rows, seed and law.

:func:`train_replicas` gives each replica the minibatch order, early stopping and best weights
:func:`~losslab.experiment.trainer.train` would give it alone; :func:`can_batch` says which
models can train together.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

from .._errors import LosslabError
from ..laws import Law, validation
from ..models import LawModel
from .training import Progress, Split, TrainConfig, TrainResult, adam, improved

__all__ = ["Replicas", "can_batch", "law_segments", "mean_nll_replicas", "per_replica", "train_replicas"]


def can_batch(models: list[LawModel]) -> bool:
    """Whether ``models`` can train as one batched model: same structure and identical buffers.

    A single model can (a batch of one replica): the batched path then runs as for more replicas.
    """
    if not models:
        return False
    first = models[0]
    # A layer that updates buffers in training (BatchNorm's running statistics) cannot run under vmap:
    # torch refuses to write a replica's statistics into the shared, unbatched buffer.
    if any(isinstance(mod, nn.modules.batchnorm._NormBase) and mod.track_running_stats for m in models for mod in m.modules()):
        return False
    shapes = [(k, tuple(v.shape)) for k, v in first.state_dict().items()]
    for m in models[1:]:
        if type(m.trunk) is not type(first.trunk) or [(k, tuple(v.shape)) for k, v in m.state_dict().items()] != shapes:
            return False
        for (k, b0), (_, b) in zip(first.named_buffers(), m.named_buffers()):
            if not torch.equal(b0, b):
                return False
    return True


def linear_chain(model: LawModel) -> list[tuple[str, str]] | None:
    """``(weight, bias)`` names of the linear layers of an MLP or linear model, in order; ``None`` for other models.

    Such a model is ``Linear -> ReLU -> ... -> Linear -> LawHead.arrange``, which
    :class:`Replicas` runs as batched matrix products directly.
    """
    from ..heads import LawHead
    from ..models import MLP, Identity

    if type(model.head) is not LawHead:
        return None
    names: list[str] = []
    if type(model.trunk) is MLP:
        mods = list(model.trunk.net)
        if len(mods) % 2 or not all(
            type(a) is nn.Linear and a.bias is not None and type(b) is nn.ReLU for a, b in zip(mods[::2], mods[1::2])
        ):
            return None
        names = [(f"trunk.net.{i}.weight", f"trunk.net.{i}.bias") for i in range(0, len(mods), 2)]
    elif type(model.trunk) is not Identity:
        return None
    return names + [("head.linear.weight", "head.linear.bias")]


class Replicas:
    """Several ``LawModel`` of one structure trained as one: their parameters stacked along a leading axis.

    MLPs and linear models run as batched matrix products (``baddbmm``) over the stacked
    weights; other models through ``torch.func.vmap`` over ``functional_call`` (grouped
    convolutions for conv layers). Both compute each replica's forward pass from its own
    weights and rows, and the law sees all replicas' rows at once. The summed objective keeps
    each replica's gradient exactly its own, and Adam is elementwise, so each replica follows
    the trajectory it would follow alone, up to floating-point summation order.
    The direct products take 1-2 ms less per step than ``vmap`` (its per-call set-up) for most laws
    (``python -m benchmarks.steps``), a third or more of a step for the small MLPs of a comparison.
    """

    def __init__(self, models: list[LawModel], direct: bool = True) -> None:
        """``direct=False`` runs MLPs through ``vmap`` too (``benchmarks/steps.py`` compares the two)."""
        from torch.func import functional_call, stack_module_state

        self.models = models
        params, _ = stack_module_state(models)
        self.names = list(params)
        self.params = [params[k].detach().clone().requires_grad_(True) for k in self.names]
        self.buffers = {k: v for k, v in models[0].named_buffers()}
        self._chain = linear_chain(models[0]) if direct else None
        self._head = models[0].head
        base = copy.deepcopy(models[0]).to("meta")

        def one(p: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(base, ({**dict(zip(self.names, p)), **self.buffers},), (x,))

        self._one = one

    def forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """Raw outputs ``(R, N, ...)``; ``x`` is ``(N, ...)`` for every replica (``shared``) or ``(R, N, ...)``."""
        if self._chain is None:
            return torch.vmap(self._one, in_dims=(0, None if shared else 0))(self.params, x)
        p = dict(zip(self.names, self.params))
        R = self.params[0].shape[0]
        h = x.flatten(1).expand(R, -1, -1) if shared else x.flatten(2)
        for i, (w, b) in enumerate(self._chain):
            h = torch.baddbmm(p[b].unsqueeze(1), h, p[w].transpose(1, 2))
            if i < len(self._chain) - 1:
                h = torch.relu(h)
        const = p.get("head.constants")
        return self._head.arrange(h, None if const is None else const.unsqueeze(1))

    def keep(self, active: torch.Tensor, opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Drop the replicas not in ``active`` (an index tensor), carrying Adam's state over."""
        new = [p.detach()[active].clone().requires_grad_(True) for p in self.params]
        new_opt = type(opt)(new, **opt.defaults)
        for old, p in zip(self.params, new):
            state = opt.state.get(old)
            if state:
                new_opt.state[p] = {k: (v if v.ndim == 0 else v[active].clone()) for k, v in state.items()}
        self.params = new
        return new_opt

    def snapshot(self, i: int) -> dict[str, torch.Tensor]:
        """Replica ``i``'s current parameters, detached copies by name."""
        return {k: p.detach()[i].clone() for k, p in zip(self.names, self.params)}


def law_segments(laws: list[Law]) -> list[tuple[Law, int, int]]:
    """``(law, start, stop)`` of each run of consecutive replicas under one law (law objects compared by identity)."""
    out: list[tuple[Law, int, int]] = []
    for i, law in enumerate(laws):
        if out and out[-1][0] is law:
            out[-1] = (law, out[-1][1], i + 1)
        else:
            out.append((law, i, i + 1))
    return out


def per_replica(segments, raw: torch.Tensor, y: torch.Tensor, trials: torch.Tensor | None, fn) -> torch.Tensor:
    """``fn(law, raw rows, labels, trials)`` of each law's replicas, as one ``(R, N)`` tensor of per-row values.

    ``raw`` is ``(R, N, ...)`` and ``y``/``trials`` are ``(R, N, ...)``: replica ``r``'s rows.
    """
    parts = []
    for law, a, b in segments:
        t = None if trials is None else trials[a:b].flatten(0, 1)
        parts.append(fn(law, raw[a:b].flatten(0, 1), y[a:b].flatten(0, 1), t).reshape(b - a, -1))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


@torch.no_grad()
def mean_nll_replicas(rep: Replicas, laws: list[Law], data: Split, batch: int = 4096) -> torch.Tensor:
    """Each replica's mean validation NLL under its own law, shape ``(R,)``."""
    segments = law_segments(laws)
    totals, count = None, 0
    for i in range(0, len(data), batch):
        part = data.rows(slice(i, i + batch))
        raw = rep.forward(part.X, shared=True)
        R = raw.shape[0]
        y = part.y.expand(R, *part.y.shape)
        trials = None if part.trials is None else part.trials.expand(R, *part.trials.shape)
        nll = per_replica(segments, raw, y, trials, lambda law, r, yy, t: law.nll(law.link(r), yy, trials=t)).double()
        totals = nll.sum(1) if totals is None else totals + nll.sum(1)
        count += nll.shape[1]
    return totals / max(count, 1)


def train_replicas(
    models: list[LawModel],
    train_data: Split,
    val_data: Split,
    config: TrainConfig,
    *,
    seeds: list[int],
    progress: Progress | None = None,
    labels: list[str] | None = None,
) -> list[TrainResult]:
    """Train several models of one structure at once (one per seed, and possibly per law), with Adam.

    Each replica draws its minibatch order from its own seed, stops early on its own
    validation NLL and ends with its own best weights, as :func:`train` would give it;
    a replica that diverges is recorded as such and dropped while the others go on.
    The models are updated in place.

    The models may be of different laws whose heads have one shape (bernoulli, sigmoid-mse and
    continuous-bernoulli all have one raw output per target): each replica's objective is its own
    law's loss, on its own rows. Models of one law must be adjacent in ``models``; ``labels``
    (one per model) name each replica's law in the progress events.
    """
    if config.optimizer != "adam":
        raise LosslabError(f"train_replicas: optimizer={config.optimizer!r}; replicas train with 'adam' only")
    if len(models) != len(seeds):
        raise LosslabError(f"train_replicas: {len(models)} models but {len(seeds)} seeds")
    if labels is not None and len(labels) != len(models):
        raise LosslabError(f"train_replicas: {len(models)} models but {len(labels)} labels")
    laws: list[Law] = [m.law for m in models]
    segments = law_segments(laws)
    if len({id(law) for law, _, _ in segments}) != len(segments):
        raise LosslabError("train_replicas: the models of one law must be adjacent")
    for law, _, _ in segments:
        law.check_labels(train_data.y, trials=train_data.trials)
        law.check_labels(val_data.y, trials=val_data.trials)
    t0 = time.perf_counter()
    rep = Replicas(models)
    R = len(models)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    opt: torch.optim.Optimizer = adam(rep.params, config)
    results = [TrainResult(status="ok", best_epoch=0, epochs_run=0, initial_val=v) for v in mean_nll_replicas(rep, laws, val_data).tolist()]
    best = [math.inf] * R
    best_state = [rep.snapshot(i) for i in range(R)]
    active = list(range(R))  # positions (in the original order) of the replicas still training
    n, bs = len(train_data), min(config.batch_size, len(train_data))
    dev = train_data.X.device

    def loss(law: Law, raw: torch.Tensor, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        return law.loss(raw, y, trials=trials, reduction="none")

    with validation(False):
        for epoch in range(1, config.epochs + 1):
            # Every generator advances every epoch, as each would when trained alone.
            perms = torch.stack([torch.randperm(n, generator=gens[i]) for i in active]).to(dev)
            live = law_segments([laws[i] for i in active])
            totals = torch.zeros(len(active), dtype=torch.float64, device=dev)
            steps = 0
            for i in range(0, n - bs + 1, bs):
                idx = perms[:, i : i + bs]
                raw = rep.forward(train_data.X[idx], shared=False)
                trials = None if train_data.trials is None else train_data.trials[idx]
                per = per_replica(live, raw, train_data.y[idx], trials, loss).mean(1)
                opt.zero_grad(set_to_none=True)
                per.sum().backward()
                opt.step()
                totals += per.detach()
                steps += 1
            train_losses = (totals / max(steps, 1)).tolist()
            vals = mean_nll_replicas(rep, [laws[i] for i in active], val_data).tolist()
            still: list[int] = []
            for pos, (r, tl, vl) in enumerate(zip(active, train_losses, vals)):
                res = results[r]
                res.epochs_run = epoch
                if not (math.isfinite(tl) and math.isfinite(vl)):
                    res.status, res.diverged_epoch = "diverged", epoch
                    continue
                res.history["train"].append(tl)
                res.history["val"].append(vl)
                if progress:
                    ev = {"event": "epoch", "epoch": epoch, "epochs": config.epochs, "train": tl, "val": vl, "seed": seeds[r]}
                    progress(ev if labels is None else {**ev, "law": labels[r]})
                if improved(vl, best[r], 1e-7):
                    best[r], res.best_epoch = vl, epoch
                    best_state[r] = rep.snapshot(pos)
                    still.append(pos)
                elif epoch - res.best_epoch < config.patience:
                    still.append(pos)
            if not still:
                break
            if len(still) < len(active):
                opt = rep.keep(torch.tensor(still, device=dev), opt)
                active = [active[p] for p in still]
    seconds = (time.perf_counter() - t0) / R
    for m, state, res in zip(models, best_state, results):
        with torch.no_grad():
            named = dict(m.named_parameters())
            for k, v in state.items():
                named[k].copy_(v)
        res.seconds = seconds
    return results
