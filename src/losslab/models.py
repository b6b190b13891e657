"""Model factories: a trunk (CNN, MLP or nothing) followed by a law's :class:`~losslab.heads.LawHead`.

Trunks are built from the seed alone, before the head, so that for one seed
every law starts from the same trunk weights (the paired design of a comparison).

A custom trunk is a factory ``f(input_shape) -> nn.Module`` whose module maps a batch
``(N, *input_shape)`` to features of any shape ``(N, ...)``; the head reads them flattened
to ``(N, F)``, and :func:`feature_width` measures ``F`` with one forward pass on zeros.
"""

from __future__ import annotations

import copy
import weakref
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
        h = self.trunk(x)
        if h.dim() != 2:  # a custom trunk may return (N,), (N, C, H, W), ...: the head takes (N, F)
            h = h.reshape(h.shape[0], -1)
        return self.head(h)


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

    A callable ``model`` is a factory ``f(input_shape) -> nn.Module`` (see :func:`feature_width`
    for what its module must do). The caller's global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build_trunk(model, input_shape)[0]


#: the modules custom factories returned, to catch a factory handing out one module twice (weak: no leak)
_RETURNED: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()


def factory_name(factory: Callable) -> str:
    """``factory``'s name for messages: its qualified name, a ``partial``'s function's, or its type's."""
    target = getattr(factory, "func", factory)  # functools.partial
    return getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or type(factory).__name__


def _build_trunk(model: str | Callable[[Sequence[int]], nn.Module], input_shape: Sequence[int]) -> tuple[nn.Module, int]:
    """The trunk and the width of its features."""
    if isinstance(model, nn.Module):
        raise LosslabError(
            f"model= got an nn.Module instance ({type(model).__name__}); pass a factory that builds a new one, "
            f"e.g. model=lambda input_shape: {type(model).__name__}(...): every law and seed trains its own weights"
        )
    if callable(model):
        shape = tuple(int(s) for s in input_shape)
        name = factory_name(model)
        try:
            trunk = model(shape)
        except LosslabError:
            raise
        except Exception as e:  # noqa: BLE001 - the user's code: one line naming it, not its traceback
            raise LosslabError(f"model factory {name!r} failed when called with input_shape={shape}: {_one_line(e)}") from e
        if not isinstance(trunk, nn.Module):
            raise LosslabError(f"model factory {name!r} returned {type(trunk).__name__}; expected an nn.Module mapping a batch {_batch(shape)} to features")
        if trunk in _RETURNED:
            raise LosslabError(
                f"model factory {name!r} returned a module it had returned before; build a new module on each call "
                "(every law and seed trains its own weights, and a shared module would carry one run's training into the next; "
                "for a pretrained module, return copy.deepcopy(module))"
            )
        _RETURNED.add(trunk)
        return trunk, feature_width(trunk, shape, name=name)
    kind = resolve_model(model, input_shape)
    in_features = int(torch.tensor(input_shape).prod())
    if kind == "mlp":
        trunk: nn.Module = MLP(in_features)
    elif kind == "cnn":
        trunk = DeeperCNN(input_shape)
    elif kind == "cnn-small":
        trunk = SmallCNN(input_shape)
    else:
        trunk = Identity(in_features)
    return trunk, trunk.out_features


def _batch(shape: tuple[int, ...]) -> str:
    """``(N, 3, 32, 32)`` for ``shape = (3, 32, 32)``."""
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e).split()) or "(no message)"
    return f"{type(e).__name__}: {text if len(text) <= limit else text[: limit - 3] + '...'}"


DRY_BATCH = 2  # rows of the dry pass: 2, not 1, so that a module that drops or mixes up the batch axis shows it


def feature_width(trunk: nn.Module, input_shape: Sequence[int], *, name: str | None = None) -> int:
    """The number of features ``trunk`` gives per sample, found by one forward pass on a batch of zeros.

    The custom model contract: ``trunk`` maps a batch ``(N, *input_shape)`` to features of
    any shape ``(N, ...)``, which the law's head reads flattened to ``(N, F)``. An
    ``out_features`` attribute is not needed; where there is one, it must equal ``F``.

    The pass runs on a copy of ``trunk`` (the module itself when it cannot be copied) in
    eval mode, under ``torch.no_grad()`` and :func:`torch.random.fork_rng`: the caller's random
    state, ``trunk``'s training flags, BatchNorm running statistics and any other state its
    ``forward`` keeps are as they were.

    Args:
        trunk: the module, on the device and with the dtype of its parameters.
        input_shape: one sample's shape, e.g. ``(3, 32, 32)``.
        name: the factory's name, for messages.

    >>> feature_width(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), (1, 8, 8))  # 4 channels x 6 x 6
    144
    """
    shape = tuple(int(s) for s in input_shape)
    who = f"model factory {name!r}" if name else f"module {type(trunk).__name__}"
    try:
        probe = copy.deepcopy(trunk)
    except Exception:  # noqa: BLE001 - some modules hold things deepcopy refuses; run on the module itself
        probe = trunk
    first = next(iter(probe.parameters()), None)
    if first is None:
        first = next(iter(probe.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.get_default_dtype()
    flags = {m: m.training for m in probe.modules()}
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            probe.eval()
            out = probe(torch.zeros((DRY_BATCH, *shape), device=device, dtype=dtype))
    except LosslabError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: one line naming it, not its traceback
        raise LosslabError(
            f"{who}, given input_shape={shape}: its module failed on a batch of zeros of shape {(DRY_BATCH, *shape)}: {_one_line(e)}"
        ) from e
    finally:
        for m, training in flags.items():
            m.training = training
    if not isinstance(out, torch.Tensor):
        raise LosslabError(f"{who}, given input_shape={shape}: its module returned {type(out).__name__}; expected a tensor of features (N, ...)")
    if out.dim() == 0 or out.shape[0] != DRY_BATCH:
        raise LosslabError(
            f"{who}, given input_shape={shape}: its module mapped a batch of {DRY_BATCH} rows to shape {tuple(out.shape)}; "
            f"expected the batch axis first, (N, ...) with N = {DRY_BATCH}"
        )
    width = int(out[0].numel())
    if width == 0:
        raise LosslabError(f"{who}, given input_shape={shape}: its module returned no features (shape {tuple(out.shape)})")
    declared = getattr(trunk, "out_features", None)
    if declared is not None and declared != width:
        raise LosslabError(
            f"{who}, given input_shape={shape}: out_features = {declared!r}, but the module returns {width} features per row "
            f"(output shape {tuple(out.shape)}); correct out_features or remove it (losslab measures the width)"
        )
    return width


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

    ``model`` is a name of :data:`MODELS` or a factory ``f(input_shape) -> nn.Module``
    (the contract: :func:`feature_width`); the head's input width is the trunk's feature width.

    The weights are drawn inside :func:`torch.random.fork_rng`: the caller's global random
    state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trunk, width = _build_trunk(model, input_shape)
        torch.manual_seed(seed + 7919)  # the head's weights: the same for every law of equal raw_dim
        head = LawHead(width, law, n_targets=n_targets, constant=constant)
    return LawModel(trunk, head)
