"""Model factories: a trunk (CNN, MLP or nothing) followed by a law's :class:`~losslab.heads.LawHead`.

Trunks are built from the seed alone, before the head, so that for one seed
every law starts from the same trunk weights (the paired design of a comparison).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._errors import LosslabError
from .heads import LawHead
from .laws import Law

MODELS = ("auto", "mlp", "cnn", "cnn-small", "linear")


def relu_max_pool2d(x: torch.Tensor) -> torch.Tensor:
    """``relu(max_pool2d(x, 2))``, equal to ``max_pool2d(relu(x), 2)``: relu and max commute (both monotone).

    Pooling first halves the relu's work, and the pooled maximum has no ties (the relu's
    zeros would tie), so the gradient goes to the same element as ``MaxPool2d(ReLU(x))``'s.

    >>> x = torch.tensor([[[[1.0, -2.0], [-3.0, 0.5]]]])
    >>> relu_max_pool2d(x).flatten().tolist(), relu_max_pool2d(-x).flatten().tolist()
    ([1.0], [3.0])
    """
    return torch.relu(F.max_pool2d(x, 2))


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in NHWC memory order on the CPU (a no-op elsewhere and for tensors that are not 4-d).

    oneDNN's CPU convolutions and max-pooling run faster on NHWC than on NCHW (measured in
    ``benchmarks/cnn.py``: max-pool forward+backward ~3x, a CNN training step 1.4-2x), and an
    NHWC input makes every following convolution, pooling and activation keep that order.
    The logical shape and the values are unchanged. On a GPU the input is left as it is.
    """
    if x.device.type == "cpu" and x.dim() == 4:
        try:
            return x.contiguous(memory_format=torch.channels_last)
        except RuntimeError:  # a vmapped input (replicas with their own rows): memory formats are not exposed there
            return x
    return x


class SmallCNN(nn.Module):
    """The classic one-conv net, corrected: its flatten size follows the input instead of a hard-coded 28x28.

    ``Conv2d(C, 16, 3, padding=1) -> ReLU -> MaxPool2d(2) -> flatten``; no sigmoid at the end
    (the law's link owns the output range). Runs channels-last on the CPU (see :func:`channels_last`).
    """

    def __init__(self, in_shape: Sequence[int], channels: int = 16) -> None:
        super().__init__()
        c, h, w = in_shape
        self.conv = nn.Conv2d(c, channels, 3, padding=1)
        self.out_features = channels * (h // 2) * (w // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = relu_max_pool2d(self.conv(channels_last(x)))  # (N, channels, H/2, W/2)
        # flatten in (C, H, W) order whatever the memory order, as NCHW code would
        return h.flatten(1)


class DeeperCNN(nn.Module):
    """The default image trunk: two conv blocks, global average pooling and a hidden layer.

    ``[Conv2d(3x3) -> ReLU -> MaxPool2d(2)] x 2 -> global average pool -> Linear -> ReLU``,
    channels-last on the CPU (see :func:`channels_last`).
    """

    def __init__(self, in_shape: Sequence[int], width: int = 32, hidden: int = 64) -> None:
        super().__init__()
        c = in_shape[0]
        self.conv1 = nn.Conv2d(c, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.hidden = nn.Linear(2 * width, hidden)
        self.out_features = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = relu_max_pool2d(self.conv1(channels_last(x)))  # (N, width, H/2, W/2)
        h = relu_max_pool2d(self.conv2(h))  # (N, 2 width, H/4, W/4)
        return torch.relu(self.hidden(h.mean(dim=(-2, -1))))  # (N, hidden)


class MLP(nn.Module):
    """``Linear -> ReLU`` blocks; ``out_features`` is the last hidden width."""

    def __init__(self, in_features: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class Identity(nn.Module):
    """No trunk: the head is a linear model of the inputs (with the law, a generalised linear model)."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.out_features = in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class LawModel(nn.Module):
    """A trunk followed by a :class:`LawHead`: ``forward(x)`` returns the law's raw outputs."""

    def __init__(self, trunk: nn.Module, head: LawHead) -> None:
        super().__init__()
        self.trunk, self.head = trunk, head

    @property
    def law(self) -> Law:
        return self.head.law

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def resolve_model(model: str, input_shape: Sequence[int]) -> str:
    """``"auto"`` is ``"cnn"`` for image inputs ``(C, H, W)`` and ``"mlp"`` for tables."""
    if model not in MODELS:
        raise LosslabError(f"unknown model {model!r}; expected one of {', '.join(MODELS)} or a callable")
    if model == "auto":
        return "cnn" if len(input_shape) == 3 else "mlp"
    if model.startswith("cnn") and len(input_shape) != 3:
        raise LosslabError(f"model={model!r} needs image inputs (C, H, W); these inputs have shape {tuple(input_shape)}")
    return model


def build_trunk(model: str | Callable[[Sequence[int]], nn.Module], input_shape: Sequence[int], seed: int) -> nn.Module:
    """The trunk for ``input_shape`` (one sample's shape), its weights drawn from ``seed`` alone.

    A callable ``model`` receives the input shape and returns an ``nn.Module``
    with an ``out_features`` attribute. The caller's global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build_trunk(model, input_shape)


def _build_trunk(model: str | Callable[[Sequence[int]], nn.Module], input_shape: Sequence[int]) -> nn.Module:
    if callable(model):
        trunk = model(tuple(input_shape))
        if not hasattr(trunk, "out_features"):
            raise LosslabError("a custom model factory must return an nn.Module with an `out_features` attribute")
        return trunk
    kind = resolve_model(model, input_shape)
    in_features = int(torch.tensor(input_shape).prod())
    if kind == "mlp":
        return MLP(in_features)
    if kind == "cnn":
        return DeeperCNN(input_shape)
    if kind == "cnn-small":
        return SmallCNN(input_shape)
    return Identity(in_features)


def build_model(
    model: str | Callable[[Sequence[int]], nn.Module],
    input_shape: Sequence[int],
    law: Law,
    *,
    n_targets: int = 1,
    seed: int = 0,
    constant: Sequence[str] = (),
) -> LawModel:
    """Trunk (from ``seed``) + ``LawHead`` (from a seed derived from ``seed``).

    The weights are drawn inside :func:`torch.random.fork_rng`: the caller's global random
    state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trunk = _build_trunk(model, input_shape)
        torch.manual_seed(seed + 7919)  # the head's weights: the same for every law of equal raw_dim
        head = LawHead(trunk.out_features, law, n_targets=n_targets, constant=constant)
    return LawModel(trunk, head)
