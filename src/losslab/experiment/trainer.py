"""Training one model under one law: preloaded tensors, Adam or full-batch L-BFGS, early stopping.

Deterministic given a seed: the minibatch order comes from a generator seeded
with it, so every law trained with one seed sees the same batches.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn

from .._errors import LosslabError, check_integer, check_number
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


def available_devices() -> list[str]:
    """The device names this torch can run on here: ``"cpu"``, then each CUDA GPU, then ``"mps"``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA, then Apple MPS, then the CPU; a named device must exist here.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("bogus")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    losslab._errors.LosslabError: device='bogus' is not a device name; available here: auto, cpu...
    """
    if str(device) == "auto":
        names = available_devices()
        return torch.device("cuda" if "cuda" in names else "mps" if "mps" in names else "cpu")
    here = ", ".join(["auto", *available_devices()])
    if not isinstance(device, (str, torch.device)):
        raise LosslabError(f"device={device!r} ({type(device).__name__}); expected a device name: one of {here}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise LosslabError(f"device={str(device)!r} is not a device name; available here: {here}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise LosslabError(f"device={str(device)!r}, but torch {torch.__version__} ({build}) sees no CUDA GPU; available here: {here}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise LosslabError(f"device={str(device)!r}, but there are {torch.cuda.device_count()} CUDA GPU(s); available here: {here}")
    elif dev.type == "mps":
        if str(dev) not in available_devices():
            raise LosslabError(f"device={str(device)!r}, but Apple MPS is not available; available here: {here}")
    elif dev.type != "cpu":
        backend = getattr(torch, dev.type, None)  # torch.xpu and the like say whether they can run
        if not (hasattr(backend, "is_available") and backend.is_available()):
            raise LosslabError(f"device={str(device)!r} cannot train here; available here: {here}")
    return dev


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


# ---------------------------------------------------------------------------- replicas
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


def _linear_chain(model: LawModel) -> list[tuple[str, str]] | None:
    """``(weight, bias)`` names of the linear layers of an MLP or linear model, in order; ``None`` for other models.

    Such a model is ``Linear -> ReLU -> ... -> Linear -> LawHead.arrange``, which
    :class:`_Replicas` runs as batched matrix products directly.
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


class _Replicas:
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
        self._chain = _linear_chain(models[0]) if direct else None
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
        return {k: p.detach()[i].clone() for k, p in zip(self.names, self.params)}


def _segments(laws: list[Law]) -> list[tuple[Law, int, int]]:
    """``(law, start, stop)`` of each run of consecutive replicas under one law (law objects compared by identity)."""
    out: list[tuple[Law, int, int]] = []
    for i, law in enumerate(laws):
        if out and out[-1][0] is law:
            out[-1] = (law, out[-1][1], i + 1)
        else:
            out.append((law, i, i + 1))
    return out


def _per_replica(segments, raw: torch.Tensor, y: torch.Tensor, trials: torch.Tensor | None, fn) -> torch.Tensor:
    """``fn(law, raw rows, labels, trials)`` of each law's replicas, as one ``(R, N)`` tensor of per-row values.

    ``raw`` is ``(R, N, ...)`` and ``y``/``trials`` are ``(R, N, ...)``: replica ``r``'s rows.
    """
    parts = []
    for law, a, b in segments:
        t = None if trials is None else trials[a:b].flatten(0, 1)
        parts.append(fn(law, raw[a:b].flatten(0, 1), y[a:b].flatten(0, 1), t).reshape(b - a, -1))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


@torch.no_grad()
def _mean_nll_replicas(rep: _Replicas, laws: list[Law], data: Split, batch: int = 4096) -> torch.Tensor:
    """Each replica's mean validation NLL under its own law, shape ``(R,)``."""
    segments = _segments(laws)
    totals, count = None, 0
    for i in range(0, len(data), batch):
        part = data.rows(slice(i, i + batch))
        raw = rep.forward(part.X, shared=True)
        R = raw.shape[0]
        y = part.y.expand(R, *part.y.shape)
        trials = None if part.trials is None else part.trials.expand(R, *part.trials.shape)
        nll = _per_replica(segments, raw, y, trials, lambda law, r, yy, t: law.nll(law.link(r), yy, trials=t)).double()
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
    segments = _segments(laws)
    if len({id(law) for law, _, _ in segments}) != len(segments):
        raise LosslabError("train_replicas: the models of one law must be adjacent")
    for law, _, _ in segments:
        law.check_labels(train_data.y, trials=train_data.trials)
        law.check_labels(val_data.y, trials=val_data.trials)
    t0 = time.perf_counter()
    rep = _Replicas(models)
    R = len(models)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    opt: torch.optim.Optimizer = adam(rep.params, config)
    results = [TrainResult(status="ok", best_epoch=0, epochs_run=0, initial_val=v) for v in _mean_nll_replicas(rep, laws, val_data).tolist()]
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
            live = _segments([laws[i] for i in active])
            totals = torch.zeros(len(active), dtype=torch.float64, device=dev)
            steps = 0
            for i in range(0, n - bs + 1, bs):
                idx = perms[:, i : i + bs]
                raw = rep.forward(train_data.X[idx], shared=False)
                trials = None if train_data.trials is None else train_data.trials[idx]
                per = _per_replica(live, raw, train_data.y[idx], trials, loss).mean(1)
                opt.zero_grad(set_to_none=True)
                per.sum().backward()
                opt.step()
                totals += per.detach()
                steps += 1
            train_losses = (totals / max(steps, 1)).tolist()
            vals = _mean_nll_replicas(rep, [laws[i] for i in active], val_data).tolist()
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
                if _improved(vl, best[r], 1e-7):
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
