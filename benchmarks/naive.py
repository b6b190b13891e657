"""The naive way to compare losses: the reference that ``benchmarks.grid`` times ``losslab.compare`` against.

What a careful user writes without losslab, one model at a time:

* a ``torch.utils.data.DataLoader`` over a ``TensorDataset`` (shuffled, batch 128);
* the same trunks as losslab's defaults (an MLP with two hidden layers of 64, or the two-block
  CNN / the one-conv CNN) written with ``nn.MaxPool2d`` modules, NCHW, ReLU before pooling;
* PyTorch's default initialisation (no bias initialisation from the labels);
* Adam at losslab's default step size, for a fixed number of epochs (no early stopping,
  no validation split used), the last epoch's weights evaluated;
* the straightforward per-law loss code: torch's own ops and distributions
  (``F.binary_cross_entropy_with_logits``, ``F.mse_loss``, ``F.gaussian_nll_loss``,
  ``torch.distributions.ContinuousBernoulli`` / ``Beta`` ``.log_prob``, a dense
  erf-built HL-Gauss target for ``F.cross_entropy``);
* the winner picked by the lowest mean test mean squared error over seeds.

The inputs are standardised with the training rows' statistics (as losslab does for
tables), and the train/test rows are those of ``Dataset.split(split_seed)`` (of
``Dataset.split(seed)`` for data with fixed splits, the UCI sets, as losslab runs them), so both
sides are scored on the same test rows. Nothing here imports losslab's training code.

For time to quality (``benchmarks.grid``) the loop can also score every seed on the test rows
every ``eval_every`` epochs, with its clock stopped: a law's seeds then train side by side, one
epoch each in turn, so that the law's mean over seeds after epoch ``e`` is known as soon as
its last seed has trained ``e`` epochs. Each seed keeps its own model, optimiser and shuffling
generator, so this gives every seed the weights the one-after-the-other loop gives it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


# ---------------------------------------------------------------------------- per-law code
@dataclass
class NaiveLaw:
    """Raw outputs per target, the training loss ``loss(out, y)`` and the mean prediction ``mean(out)``."""

    raw_dim: int
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    mean: Callable[[torch.Tensor], torch.Tensor]


def _bernoulli() -> NaiveLaw:
    return NaiveLaw(1, lambda o, y: F.binary_cross_entropy_with_logits(o[..., 0], y), lambda o: torch.sigmoid(o[..., 0]))


def _sigmoid_mse() -> NaiveLaw:
    return NaiveLaw(1, lambda o, y: F.mse_loss(torch.sigmoid(o[..., 0]), y), lambda o: torch.sigmoid(o[..., 0]))


def _gaussian_hetero() -> NaiveLaw:
    def loss(o, y):
        scale = F.softplus(o[..., 1]) + 1e-3
        return F.gaussian_nll_loss(o[..., 0], y, scale**2, full=True)

    return NaiveLaw(2, loss, lambda o: o[..., 0])


def _gaussian() -> NaiveLaw:
    # Half the squared error: the NLL of N(loc, 1) up to its constant, what losslab's gaussian law (sigma=1) minimises.
    return NaiveLaw(1, lambda o, y: 0.5 * F.mse_loss(o[..., 0], y), lambda o: o[..., 0])


def _laplace_hetero() -> NaiveLaw:
    def loss(o, y):
        return -D.Laplace(o[..., 0], F.softplus(o[..., 1]) + 1e-3).log_prob(y).mean()

    return NaiveLaw(2, loss, lambda o: o[..., 0])


def _student_t() -> NaiveLaw:
    def loss(o, y):
        return -D.StudentT(2.0 + F.softplus(o[..., 2]), o[..., 0], F.softplus(o[..., 1]) + 1e-3).log_prob(y).mean()

    return NaiveLaw(3, loss, lambda o: o[..., 0])  # df > 2 always, so the mean is loc


def _continuous_bernoulli() -> NaiveLaw:
    return NaiveLaw(
        1,
        lambda o, y: -D.ContinuousBernoulli(logits=o[..., 0]).log_prob(y).mean(),
        lambda o: D.ContinuousBernoulli(logits=o[..., 0]).mean,
    )


def _zoib() -> NaiveLaw:
    """Zero/one-inflated beta: masses ``softmax(r0, r1, 0)`` at 0, 1 and inside, then a Beta(mean, precision)."""

    def parts(o):
        logp = torch.log_softmax(torch.stack([o[..., 0], o[..., 1], torch.zeros_like(o[..., 0])], -1), -1)
        mean = torch.sigmoid(o[..., 2])
        precision = torch.exp(o[..., 3].clamp(-10.0, 10.0))
        return logp, mean, precision

    def loss(o, y):
        logp, mean, precision = parts(o)
        inside = (y > 0) & (y < 1)
        y_safe = torch.where(inside, y, torch.full_like(y, 0.5))
        beta = D.Beta(mean * precision, (1 - mean) * precision).log_prob(y_safe)
        ll = torch.where(y == 0, logp[..., 0], torch.where(y == 1, logp[..., 1], logp[..., 2] + beta))
        return -ll.mean()

    def mean(o):
        logp, m, _ = parts(o)
        p = logp.exp()
        return p[..., 1] + p[..., 2] * m

    return NaiveLaw(4, loss, mean)


def _binned(n_bins: int = 51, low: float = 0.0, high: float = 1.0, sigma_ratio: float = 0.75) -> NaiveLaw:
    """HL-Gauss cross-entropy (Imani & White 2018): dense targets from erf at every call."""
    edges_cpu = torch.linspace(low, high, n_bins + 1, dtype=torch.float64)
    centres_cpu = 0.5 * (edges_cpu[1:] + edges_cpu[:-1])
    sigma = sigma_ratio * (high - low) / n_bins

    def loss(o, y):
        edges = edges_cpu.to(o.device, o.dtype)
        cdf = 0.5 * (1 + torch.erf((edges - y.unsqueeze(-1)) / (sigma * math.sqrt(2))))
        target = cdf[..., 1:] - cdf[..., :-1]
        target = target / target.sum(-1, keepdim=True)
        return F.cross_entropy(o.reshape(-1, n_bins), target.reshape(-1, n_bins))

    return NaiveLaw(n_bins, loss, lambda o: (torch.softmax(o, -1) * centres_cpu.to(o.device, o.dtype)).sum(-1))


NAIVE_LAWS: dict[str, Callable[[], NaiveLaw]] = {
    "bernoulli": _bernoulli,
    "sigmoid-mse": _sigmoid_mse,
    "gaussian": _gaussian,
    "gaussian-hetero": _gaussian_hetero,
    "laplace-hetero": _laplace_hetero,
    "student-t": _student_t,
    "continuous-bernoulli": _continuous_bernoulli,
    "zoib": _zoib,
    "binned": _binned,
}


def naive_law(name: str, y: np.ndarray) -> NaiveLaw:
    """:data:`NAIVE_LAWS` ``[name]``; binned over the labels' range padded by 5% a side when they leave [0, 1].

    The padding is the one losslab's binned law takes for such labels (``laws.spec.law_for_data``),
    which a user comparing the two would set by hand.
    """
    if name == "binned":
        lo, hi = float(np.min(y)), float(np.max(y))
        if lo < 0.0 or hi > 1.0:
            pad = 0.05 * (hi - lo if hi > lo else 1.0)
            return _binned(low=lo - pad, high=hi + pad)
    return NAIVE_LAWS[name]()


# ---------------------------------------------------------------------------- models
def naive_model(kind: str, in_shape: Sequence[int], n_out: int) -> nn.Module:
    """losslab's default trunks written the usual way (``nn.MaxPool2d``, NCHW), with a linear output layer."""
    if kind == "mlp":
        n_in = int(np.prod(in_shape))
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, n_out))
    c, h, w = in_shape
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, n_out),
        )  # fmt: skip
    if kind == "cnn-small":
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * (h // 2) * (w // 2), n_out),
        )  # fmt: skip
    raise ValueError(f"model={kind!r}; expected 'mlp', 'cnn' or 'cnn-small'")


# ---------------------------------------------------------------------------- the loop
@dataclass
class NaiveResult:
    metric: str
    values: dict[str, list[float]]  # law -> test metric per seed (nan for a diverged run)
    winner: str
    winner_value: float
    seconds: float  # the loop's clock: set-up and training, the test evaluations left out
    runs: int = 0
    extra: dict = field(default_factory=dict)
    #: law -> each seed's mean prediction on the test rows, ``(rows, *targets)``
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)
    #: the test labels, in the order of the predictions' rows (one array shared by every seed)
    test_y: np.ndarray | None = None
    #: each seed's test labels (the seeds' own splits with fixed splits, else ``test_y`` for every seed)
    test_ys: list[np.ndarray] = field(default_factory=list)
    #: the evaluations in the order they happened: ``{"seconds", "law", "epoch", "value"}``, ``seconds`` the
    #: clock when every seed of ``law`` had trained ``epoch`` epochs, ``value`` the law's mean test MSE over seeds then
    trace: list[dict] = field(default_factory=list)


def train_one(law: NaiveLaw, model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float, seed: int) -> None:
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        train_epoch(law, model, loader, opt, y)


def train_epoch(law: NaiveLaw, model: nn.Module, loader: DataLoader, opt: torch.optim.Optimizer, y: torch.Tensor) -> None:
    """One pass over ``loader``: the loop a user writes."""
    n_targets = 1 if y.ndim == 1 else y.shape[1]
    model.train()
    for xb, yb in loader:
        out = model(xb).reshape(xb.shape[0], *([n_targets] if y.ndim > 1 else []), law.raw_dim)
        loss = law.loss(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


class _Clock:
    """Seconds spent inside ``with clock:`` blocks, summed."""

    def __init__(self) -> None:
        self.total = 0.0

    def __enter__(self) -> "_Clock":
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.total += time.perf_counter() - self._t0


@dataclass
class _Part:
    """One seed's split as tensors: training rows, test rows."""

    Xtr: torch.Tensor
    ytr: torch.Tensor
    Xte: torch.Tensor
    yte: torch.Tensor


def _parts(ds, split_seed: int, val: float, test: float, dev: torch.device) -> _Part:
    idx = ds.split(split_seed, val=val, test=test)
    X = ds.X.astype(np.float32)
    if ds.kind == "table":
        mu, sd = X[idx["train"]].mean(0), X[idx["train"]].std(0)
        X = (X - mu) / np.where(sd > 1e-8, sd, 1.0)
    return _Part(
        torch.as_tensor(X[idx["train"]], device=dev),
        torch.as_tensor(ds.y[idx["train"]], dtype=torch.float32, device=dev),
        torch.as_tensor(X[idx["test"]], device=dev),
        torch.as_tensor(ds.y[idx["test"]], dtype=torch.float32, device=dev),
    )


@torch.no_grad()
def _test(law: NaiveLaw, net: nn.Module, part: _Part) -> tuple[float, torch.Tensor]:
    """``(test MSE, mean prediction)`` of one trained model; the MSE in float64, over every test row and target."""
    net.eval()
    y = part.yte
    out = net(part.Xte).reshape(part.Xte.shape[0], *([y.shape[1]] if y.ndim > 1 else []), law.raw_dim)
    pred = law.mean(out)
    mse = float(((pred.double() - y.double()) ** 2).mean())
    return (mse if math.isfinite(mse) else math.nan), pred


def naive_compare(
    ds,
    laws: Sequence[str],
    seeds: int,
    *,
    model: str,
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    split_seed: int = 0,
    val: float = 0.15,
    test: float = 0.2,
    device: str = "cpu",
    eval_every: int | None = None,
) -> NaiveResult:
    """Train every (law, seed) for ``epochs`` epochs, a law after another; pick the lowest mean test MSE.

    ``eval_every``: also score each seed on the test rows after every ``eval_every``-th epoch
    (and the last), the clock stopped, into :attr:`NaiveResult.trace`. The laws train in the
    order given, and a law's seeds side by side, an epoch each in turn.
    """
    clock = _Clock()
    dev = torch.device(device)
    fixed = ds.splits is not None and len(ds.splits) > 1  # as losslab: run seed s on fixed split s
    with clock:
        shared = None if fixed else _parts(ds, split_seed, val, test, dev)
        parts = [_parts(ds, s, val, test, dev) if fixed else shared for s in range(seeds)]
    values: dict[str, list[float]] = {}
    predictions: dict[str, list[np.ndarray]] = {}
    trace: list[dict] = []
    for name in laws:
        law = naive_law(name, ds.y)
        with clock:
            n_targets = [1 if p.ytr.ndim == 1 else p.ytr.shape[1] for p in parts]
            nets = []
            for seed in range(seeds):
                torch.manual_seed(seed)
                nets.append(naive_model(model, ds.X.shape[1:], n_targets[seed] * law.raw_dim).to(dev))
            loaders = [
                DataLoader(TensorDataset(p.Xtr, p.ytr), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
                for seed, p in enumerate(parts)
            ]
            opts = [torch.optim.Adam(net.parameters(), lr=lr) for net in nets]
        for epoch in range(1, epochs + 1):
            for net, loader, opt, p in zip(nets, loaders, opts, parts):
                with clock:
                    train_epoch(law, net, loader, opt, p.ytr)
            if eval_every and (epoch % eval_every == 0 or epoch == epochs):
                mses = [_test(law, net, p)[0] for net, p in zip(nets, parts)]
                trace.append({"seconds": clock.total, "law": name, "epoch": epoch, "value": float(np.mean(mses))})
        values[name], predictions[name] = [], []
        for net, p in zip(nets, parts):
            mse, pred = _test(law, net, p)
            values[name].append(mse)
            predictions[name].append(pred.cpu().numpy())
    means = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.inf for k, v in values.items()}
    winner = min(means, key=means.get)
    test_ys = [p.yte.cpu().numpy() for p in parts]
    return NaiveResult(
        "mean_squared_error", values, winner, means[winner], clock.total, runs=len(laws) * seeds, predictions=predictions,
        test_y=None if fixed else test_ys[0], test_ys=test_ys, trace=trace,
    )  # fmt: skip
