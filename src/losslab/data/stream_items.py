"""The worker side of streamed data: the items a DataLoader's workers read, and the loader that runs them.

An item that cannot be read travels back from a worker as a :class:`Failure` (data, not an
exception, which a worker would print as a traceback) and is raised here as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .._errors import LosslabError
from .dataset import images_to_nchw

__all__ = [
    "Batches", "Failure", "FolderImages", "Probe", "TorchFeatures", "as_is", "features_of", "image_channels", "iterate", "labels_of",
    "make_loader", "one_line", "raise_on_failure", "stack", "what_it_is",
]


class Failure:
    """An item that could not be read: travels from a DataLoader worker as data, raised here as one line."""

    def __init__(self, message: str) -> None:
        self.message = message


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and first line (a LosslabError's message as it is)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if not isinstance(exc, LosslabError) else first


def what_it_is(obj: Any) -> str:
    """A short description of what an item returned: its type, and its shape or length."""
    if torch.is_tensor(obj) or isinstance(obj, np.ndarray):
        return f"a {type(obj).__name__} of shape {tuple(obj.shape)}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)} value(s)"
    text = repr(obj)
    return f"{text[:60] + '...' if len(text) > 60 else text} ({type(obj).__name__})"


def _array(value: Any) -> np.ndarray:
    """A numpy view of a tensor, array, PIL image or number (no copy where there is one already)."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def features_of(x: Any, where: str) -> np.ndarray:
    """One sample's features as :func:`~losslab.data.from_arrays` converts a whole array of them.

    A number or a 1-d array is a table row ``(F,)`` (float32); a 2-d ``(H, W)`` or 3-d ``(C, H, W)``
    / ``(H, W, C)`` array is an image ``(C, H, W)`` in [0, 1] (integer pixels divided by 255).

    >>> features_of(np.array([[0, 255]], dtype=np.uint8), "x").tolist()
    [[[0.0, 1.0]]]
    """
    a = _array(x)
    if a.dtype.kind not in "biuf":
        raise LosslabError(f"{where}: features are {what_it_is(x)} of dtype {a.dtype}; expected numbers (a tensor or an array)")
    if a.ndim <= 1:
        return np.ascontiguousarray(a.reshape(-1), dtype=np.float32)
    if a.ndim in (2, 3):
        # The whole-array rules applied to a batch of one: the same division, the same channel order.
        return np.ascontiguousarray(images_to_nchw(where, a[None])[0], dtype=np.float32)
    raise LosslabError(f"{where}: features have shape {tuple(a.shape)}; expected a table row (F,) or an image (C, H, W), (H, W, C) or (H, W)")


def labels_of(value: Any, where: str, role: str) -> np.ndarray:
    """A label (or trial count): a number or a 1-d array of finite numbers, as float64."""
    try:
        a = _array(value)
    except (TypeError, ValueError):
        a = np.asarray(None, dtype=object)
    if a.dtype.kind not in "biuf":
        raise LosslabError(f"{where}: {role} is {what_it_is(value)}; expected a number or a 1-d array of numbers")
    if a.ndim > 1:
        raise LosslabError(f"{where}: {role} has shape {tuple(a.shape)}; expected a number or a 1-d array of numbers")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise LosslabError(f"{where}: {role} holds NaN or inf ({a.tolist()}); expected finite numbers")
    return a


class Probe(torch.utils.data.Dataset):
    """The first pass over a torch Dataset: each item checked and split into features, label and trials."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Any:
        where = f"dataset item {i}"
        try:
            item = self.source[i]
        except Exception as exc:  # noqa: BLE001 - the user's __getitem__ may raise anything: one line naming the item
            return Failure(f"{where}: __getitem__ raised {one_line(exc)}")
        try:
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise LosslabError(f"{where} is {what_it_is(item)}; expected a tuple (x, y) or (x, y, trials)")
            x = features_of(item[0], where)
            y = labels_of(item[1], where, "the label y")
            t = labels_of(item[2], where, "trials") if len(item) == 3 else None
        except LosslabError as exc:
            return Failure(str(exc))
        return x, y, t


class TorchFeatures(torch.utils.data.Dataset):
    """Features of a torch Dataset's items, after the first pass; the labels must not have changed since."""

    def __init__(self, source: Any, y: np.ndarray) -> None:
        self.source, self.y = source, y

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Any:
        where = f"dataset item {i}"
        try:
            item = self.source[i]
            x = features_of(item[0], where)
            y = labels_of(item[1], where, "the label y").astype(np.float32)
        except LosslabError as exc:
            return Failure(str(exc))
        except Exception as exc:  # noqa: BLE001 - the user's __getitem__ may raise anything
            return Failure(f"{where}: __getitem__ raised {one_line(exc)}")
        if not np.array_equal(y.reshape(-1), self.y[i].reshape(-1)):
            return Failure(
                f"{where} returned the label {y.tolist()} now and {self.y[i].tolist()} in the first pass; losslab reads each "
                f"item once per epoch and needs it the same every time (no random labels; random augmentation breaks the "
                f"paired comparison too)"
            )
        return x


def image_channels(mode: str) -> int:
    """The channels :func:`~losslab.data.readers.load_image` gives an image of this PIL mode."""
    return 1 if mode in ("1", "L", "LA", "I") or mode.startswith("I;16") else 3


class FolderImages(torch.utils.data.Dataset):
    """The images of a folder, each decoded when asked for, as :func:`~losslab.data.read_image_folder` decodes it."""

    def __init__(self, paths: list[Path], shape: tuple[int, int, int]) -> None:
        self.paths, self.shape = paths, shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        from .readers import load_image

        try:
            arr = load_image(self.paths[i])
        except LosslabError as exc:
            return Failure(str(exc))
        if arr.shape[0] == 1 and self.shape[0] == 3:  # a grey image among colour ones: read as RGB, as the eager reader does
            arr = np.repeat(arr, 3, axis=0)
        if arr.shape != self.shape:
            return Failure(f"{self.paths[i]}: decoded to shape {arr.shape}, but its header said {self.shape}; expected images of one size")
        return arr


def stack(items: list) -> Any:
    """A DataLoader batch: the items stacked into one float32 tensor, or the first failure."""
    for it in items:
        if isinstance(it, Failure):
            return it
    return torch.from_numpy(np.stack(items))


def as_is(items: list) -> list:
    """A DataLoader batch left as the list of its items (the first pass checks each)."""
    return items


class Batches:
    """A batch sampler whose batches are set before each pass (the workers stay alive between passes)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def make_loader(items: Any, sampler: Any, workers: int, collate: Any, persistent: bool) -> torch.utils.data.DataLoader:
    """A DataLoader over ``items`` in the batches ``sampler`` holds, on ``workers`` processes (0: this one)."""
    return torch.utils.data.DataLoader(
        items,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=persistent and workers > 0,
        prefetch_factor=2 if workers > 0 else None,
    )


def raise_on_failure(out: Any) -> Any:
    """``out``, unless it is a :class:`Failure`: then its message as a LosslabError."""
    if isinstance(out, Failure):
        raise LosslabError(out.message)
    return out


def iterate(loader: Any, what: str) -> Iterator[Any]:
    """The loader's batches; a worker that died becomes one line."""
    it = iter(loader)
    while True:
        try:
            out = next(it)
        except StopIteration:
            return
        except RuntimeError as exc:  # a worker killed (out of memory, a signal) or a batch that could not be sent
            raise LosslabError(f"{what}: a DataLoader worker failed ({one_line(exc)}); try loader_workers=0 to read in this process") from None
        yield out
