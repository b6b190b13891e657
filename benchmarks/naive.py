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
tables), and the train/test rows are those of ``Dataset.split(split_seed)``, so both
sides are scored on the same test rows. Nothing here imports losslab's training code.
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
    "gaussian-hetero": _gaussian_hetero,
    "continuous-bernoulli": _continuous_bernoulli,
    "zoib": _zoib,
    "binned": _binned,
}


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
    seconds: float
    runs: int = 0
    extra: dict = field(default_factory=dict)
    #: law -> each seed's mean prediction on the test rows, ``(rows, *targets)``
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)
    #: the test labels, in the order of the predictions' rows
    test_y: np.ndarray | None = None


def train_one(law: NaiveLaw, model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float, seed: int) -> None:
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_targets = 1 if y.ndim == 1 else y.shape[1]
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            out = model(xb).reshape(xb.shape[0], *([n_targets] if y.ndim > 1 else []), law.raw_dim)
            loss = law.loss(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()


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
) -> NaiveResult:
    """Train every (law, seed) one after the other for ``epochs`` epochs; pick the lowest mean test MSE."""
    t0 = time.perf_counter()
    idx = ds.split(split_seed, val=val, test=test)
    X = ds.X.astype(np.float32)
    if ds.kind == "table":
        mu, sd = X[idx["train"]].mean(0), X[idx["train"]].std(0)
        X = (X - mu) / np.where(sd > 1e-8, sd, 1.0)
    dev = torch.device(device)
    Xtr = torch.as_tensor(X[idx["train"]], device=dev)
    ytr = torch.as_tensor(ds.y[idx["train"]], dtype=torch.float32, device=dev)
    Xte = torch.as_tensor(X[idx["test"]], device=dev)
    yte = torch.as_tensor(ds.y[idx["test"]], dtype=torch.float32, device=dev)
    n_targets = 1 if ytr.ndim == 1 else ytr.shape[1]
    values: dict[str, list[float]] = {}
    predictions: dict[str, list[np.ndarray]] = {}
    for name in laws:
        law = NAIVE_LAWS[name]()
        values[name], predictions[name] = [], []
        for seed in range(seeds):
            torch.manual_seed(seed)
            net = naive_model(model, X.shape[1:], n_targets * law.raw_dim).to(dev)
            train_one(law, net, Xtr, ytr, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
            net.eval()
            with torch.no_grad():
                out = net(Xte).reshape(Xte.shape[0], *([n_targets] if ytr.ndim > 1 else []), law.raw_dim)
                pred = law.mean(out)
                mse = float(((pred - yte) ** 2).mean())
            values[name].append(mse if math.isfinite(mse) else math.nan)
            predictions[name].append(pred.cpu().numpy())
    means = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.inf for k, v in values.items()}
    winner = min(means, key=means.get)
    seconds = time.perf_counter() - t0
    return NaiveResult(
        "mean_squared_error", values, winner, means[winner], seconds, runs=len(laws) * seeds, predictions=predictions, test_y=yte.cpu().numpy()
    )
