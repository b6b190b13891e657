"""Data read on demand: a map-style ``torch.utils.data.Dataset``, or an image folder decoded lazily.

A :class:`StreamingDataset` holds the labels (and trial counts) in memory, read in one pass
up front, and reads the features of the rows it is asked for in batches, through a
``torch.utils.data.DataLoader`` with worker processes (``loader_workers``; or in this process).
Decoded features live only in the batches being decoded (two per worker in flight) and the batch
the trainer is using: there is no cache of the whole data set.

Every item is converted as :func:`~losslab.data.from_arrays` converts a whole array (tables to
float32, integer images divided by 255, channels-last images moved to channels-first), so a
streamed data set and the same data loaded into memory give the same features, labels,
splits and fingerprint (:attr:`StreamingDataset.fingerprint`), and a comparison the same numbers.

>>> import torch
>>> from torch.utils.data import TensorDataset
>>> ds = from_torch(TensorDataset(torch.arange(12.0).reshape(6, 2), torch.linspace(0, 1, 6)), loader_workers=0)
>>> ds
StreamingDataset('TensorDataset', table, 6 x (2,), y(6,))
>>> ds.read([4, 0]).tolist(), ds.y[:3].tolist()
([[8.0, 9.0], [0.0, 1.0]], [0.0, 0.20000000298023224, 0.4000000059604645])
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .._errors import LosslabError
from .dataset import Dataset, images_to_nchw, from_arrays

__all__ = ["StreamingDataset", "from_torch", "is_torch_dataset", "dataset_from_spec"]

#: rows per batch of the first pass (labels, shapes and the fingerprint) and of :meth:`StreamingDataset.read`
SCAN_ROWS = 256


def auto_loader_workers() -> int:
    """DataLoader worker processes for ``loader_workers="auto"``: none on 2 logical CPUs or fewer, else one per two, at most 4.

    Training runs in this process on torch's threads, and a worker decodes the next batches
    meanwhile on a core of its own. With 2 CPUs there is no core to spare: decoding in this process
    measured fastest there (``python -m benchmarks.streaming`` on 20,000 PNGs: 2847 training samples/s
    with 0 workers against 2446 with 2 and 2229 with 1; ``docs/performance.md``, Streaming data).
    """
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(4, cpus // 2)


def _check_workers(loader_workers: Any) -> int:
    if loader_workers == "auto":
        return auto_loader_workers()
    if isinstance(loader_workers, bool) or not isinstance(loader_workers, (int, np.integer)) or loader_workers < 0:
        raise LosslabError(f"loader_workers={loader_workers!r}; expected a whole number of DataLoader workers >= 0 (0: read in this process) or 'auto'")
    return int(loader_workers)


# ---------------------------------------------------------------------------- items, read in the workers
class _Failure:
    """An item that could not be read: travels from a DataLoader worker as data, raised here as one line."""

    def __init__(self, message: str) -> None:
        self.message = message


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if not isinstance(exc, LosslabError) else first


def _what(obj: Any) -> str:
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
        raise LosslabError(f"{where}: features are {_what(x)} of dtype {a.dtype}; expected numbers (a tensor or an array)")
    if a.ndim <= 1:
        return np.ascontiguousarray(a.reshape(-1), dtype=np.float32)
    if a.ndim in (2, 3):
        # The whole-array rules applied to a batch of one: the same division, the same channel order.
        return np.ascontiguousarray(images_to_nchw(where, a[None])[0], dtype=np.float32)
    raise LosslabError(f"{where}: features have shape {tuple(a.shape)}; expected a table row (F,) or an image (C, H, W), (H, W, C) or (H, W)")


def _labels_of(value: Any, where: str, role: str) -> np.ndarray:
    """A label (or trial count): a number or a 1-d array of finite numbers, as float64."""
    try:
        a = _array(value)
    except (TypeError, ValueError):
        a = np.asarray(None, dtype=object)
    if a.dtype.kind not in "biuf":
        raise LosslabError(f"{where}: {role} is {_what(value)}; expected a number or a 1-d array of numbers")
    if a.ndim > 1:
        raise LosslabError(f"{where}: {role} has shape {tuple(a.shape)}; expected a number or a 1-d array of numbers")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise LosslabError(f"{where}: {role} holds NaN or inf ({a.tolist()}); expected finite numbers")
    return a


class _Probe(torch.utils.data.Dataset):
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
            return _Failure(f"{where}: __getitem__ raised {_one_line(exc)}")
        try:
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise LosslabError(f"{where} is {_what(item)}; expected a tuple (x, y) or (x, y, trials)")
            x = features_of(item[0], where)
            y = _labels_of(item[1], where, "the label y")
            t = _labels_of(item[2], where, "trials") if len(item) == 3 else None
        except LosslabError as exc:
            return _Failure(str(exc))
        return x, y, t


class _TorchFeatures(torch.utils.data.Dataset):
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
            y = _labels_of(item[1], where, "the label y").astype(np.float32)
        except LosslabError as exc:
            return _Failure(str(exc))
        except Exception as exc:  # noqa: BLE001 - the user's __getitem__ may raise anything
            return _Failure(f"{where}: __getitem__ raised {_one_line(exc)}")
        if not np.array_equal(y.reshape(-1), self.y[i].reshape(-1)):
            return _Failure(
                f"{where} returned the label {y.tolist()} now and {self.y[i].tolist()} in the first pass; losslab reads each "
                f"item once per epoch and needs it the same every time (no random labels; random augmentation breaks the "
                f"paired comparison too)"
            )
        return x


def _image_channels(mode: str) -> int:
    """The channels :func:`~losslab.data.readers.load_image` gives an image of this PIL mode."""
    return 1 if mode in ("1", "L", "LA", "I") or mode.startswith("I;16") else 3


class _FolderImages(torch.utils.data.Dataset):
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
            return _Failure(str(exc))
        if arr.shape[0] == 1 and self.shape[0] == 3:  # a grey image among colour ones: read as RGB, as the eager reader does
            arr = np.repeat(arr, 3, axis=0)
        if arr.shape != self.shape:
            return _Failure(f"{self.paths[i]}: decoded to shape {arr.shape}, but its header said {self.shape}; expected images of one size")
        return arr


def _stack(items: list) -> Any:
    """A DataLoader batch: the items stacked into one float32 tensor, or the first failure."""
    for it in items:
        if isinstance(it, _Failure):
            return it
    return torch.from_numpy(np.stack(items))


def _as_is(items: list) -> list:
    return items


class _Batches:
    """A batch sampler whose batches are set before each pass (the workers stay alive between passes)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _loader(items: Any, sampler: Any, workers: int, collate: Any, persistent: bool) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        items,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=persistent and workers > 0,
        prefetch_factor=2 if workers > 0 else None,
    )


def _raise_on_failure(out: Any) -> Any:
    if isinstance(out, _Failure):
        raise LosslabError(out.message)
    return out


def _iterate(loader: Any, what: str) -> Iterator[Any]:
    """The loader's batches; a worker that died becomes one line."""
    it = iter(loader)
    while True:
        try:
            out = next(it)
        except StopIteration:
            return
        except RuntimeError as exc:  # a worker killed (out of memory, a signal) or a batch that could not be sent
            raise LosslabError(f"{what}: a DataLoader worker failed ({_one_line(exc)}); try loader_workers=0 to read in this process") from None
        yield out


# ---------------------------------------------------------------------------- the data set
@dataclass(eq=False, repr=False)
class StreamingDataset:
    """Labels in memory, features read on demand in batches through a DataLoader.

    Built by :func:`from_torch` or ``read_image_folder(folder, stream=True)``. Attributes as
    :class:`~losslab.data.Dataset` (``name``, ``kind``, ``y``, ``trials``, ``splits``,
    ``feature_names``, ``target_names``, ``meta``), without ``X``; besides:

    Attributes:
        sample_shape: one sample's shape, ``(F,)`` for a table or ``(C, H, W)`` for images.
        items: a map-style torch Dataset whose item ``i`` is row ``i``'s float32 features.
        fingerprint: a short hash that changes when the data change (the data part of a
            comparison's key in a store). For a torch Dataset it hashes every item's features,
            labels and trials (read in the first pass), and equals the fingerprint of the same
            arrays in memory; for an image folder it hashes the labels, trials and split of
            ``labels.csv`` and each image file's name, size and modification time, not its pixels
            (an image rewritten with the same size and time goes unnoticed, as with ``make``).
        loader_workers: DataLoader worker processes that read the features (0: in this process).

    Items must be deterministic: each is read once per epoch (and by each pass that needs it), and
    the paired comparison needs the same features every time.
    """

    name: str
    kind: str  # "table" or "image"
    sample_shape: tuple[int, ...]
    y: np.ndarray  # float32 (N,) or (N, T), checked as from_arrays checks labels
    trials: np.ndarray | None
    items: Any
    fingerprint: str
    loader_workers: int = 0
    splits: list[dict[str, np.ndarray]] | None = None
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sample_shape = tuple(int(d) for d in self.sample_shape)
        self._sampler = _Batches()
        self._loader: torch.utils.data.DataLoader | None = None  # made on the first read; its workers persist

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_targets(self) -> int:
        """Number of targets ``T`` (1 for ``y`` of shape ``(N,)``)."""
        return 1 if self.y.ndim == 1 else int(self.y.shape[1])

    @property
    def sample_bytes(self) -> int:
        """Bytes of one sample's float32 features."""
        return 4 * int(np.prod(self.sample_shape))

    def __repr__(self) -> str:
        trials = "" if self.trials is None else ", trials"
        splits = "" if self.splits is None else f", {len(self.splits)} fixed split(s)"
        return f"StreamingDataset({self.name!r}, {self.kind}, {len(self)} x {self.sample_shape}, y{tuple(self.y.shape)}{trials}{splits})"

    def split(self, seed: int, *, val: float = 0.15, test: float = 0.2) -> dict[str, np.ndarray]:
        """Row indices of each part, exactly as :meth:`losslab.data.Dataset.split` gives them for the same rows."""
        # The split depends on the number of rows and the fixed splits only, which this data set has as a Dataset does.
        return Dataset.split(self, seed, val=val, test=test)  # type: ignore[arg-type]

    def batches(self, index_batches: Sequence[Sequence[int]]) -> Iterator[np.ndarray]:
        """The features of each batch of row indices, in order: float32 ``(len(batch), *sample_shape)``.

        The workers decode the next batches while the caller uses this one (two per worker
        in flight). The workers persist between calls; one pass at a time.
        """
        if len(index_batches) == 0:
            return
        if self.loader_workers == 0:
            for idx in index_batches:
                yield _raise_on_failure(_stack([self.items[int(i)] for i in idx])).numpy()
            return
        if self._loader is None:
            self._loader = _loader(self.items, self._sampler, self.loader_workers, _stack, persistent=True)
        self._sampler.batches = [[int(i) for i in b] for b in index_batches]
        for out in _iterate(self._loader, f"data {self.name!r}"):
            yield _raise_on_failure(out).numpy()

    def read(self, rows: Sequence[int], batch: int = SCAN_ROWS) -> np.ndarray:
        """The features of ``rows``, in that order, as one float32 array (decoded; for small selections)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise LosslabError(f"read: rows outside [0, {len(self)}); expected row indices of data {self.name!r}")
        out = np.empty((rows.size, *self.sample_shape), dtype=np.float32)
        starts = list(range(0, rows.size, batch))
        for a, part in zip(starts, self.batches([rows[a : a + batch] for a in starts])):
            out[a : a + len(part)] = part
        return out

    def to_dataset(self) -> Dataset:
        """Every row decoded into an in-memory :class:`~losslab.data.Dataset` (the fast path, for data that fit)."""
        return from_arrays(
            self.read(np.arange(len(self))),
            self.y,
            trials=self.trials,
            name=self.name,
            kind=self.kind,
            splits=self.splits,
            feature_names=self.feature_names,
            target_names=self.target_names,
            meta=self.meta,
        )

    def close(self) -> None:
        """Stop the DataLoader's worker processes (started again by the next read)."""
        self._loader = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_loader"] = None  # worker processes do not travel
        return state


# ---------------------------------------------------------------------------- torch Datasets
def is_torch_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.utils.data.Dataset`` (map-style or iterable)."""
    return isinstance(obj, torch.utils.data.Dataset)


def from_torch(dataset: Any, *, name: str | None = None, loader_workers: int | str = "auto") -> StreamingDataset:
    """A :class:`StreamingDataset` over a map-style ``torch.utils.data.Dataset``.

    One pass over the items up front (through the DataLoader's workers) reads the labels and
    trials, checks every item and hashes the features for :attr:`StreamingDataset.fingerprint`;
    no features are kept.

    Args:
        dataset: ``__len__`` and ``__getitem__(i)`` returning ``(x, y)`` or ``(x, y, trials)``: ``x`` a
            tensor, array or PIL image of one sample (a table row ``(F,)``, or an image ``(C, H, W)``,
            ``(H, W, C)`` or ``(H, W)``; integer pixels are divided by 255), ``y`` a number or a 1-d
            array of ``T`` targets, ``trials`` the count ``n`` of a k-of-n label (a number or ``(T,)``).
        name: the data set's name (default: its class name).
        loader_workers: DataLoader worker processes (``"auto"``: :func:`auto_loader_workers`; 0 reads
            in this process).

    Raises:
        LosslabError: an iterable-style dataset; an item that is not a 2- or 3-tuple, items of
            different shapes, non-numeric or non-finite labels (each naming the item's index).
    """
    if isinstance(dataset, torch.utils.data.IterableDataset):
        raise LosslabError(
            f"data is an IterableDataset ({type(dataset).__name__}), which is not supported: a comparison splits the rows and "
            f"reads them in a seeded order, so it needs a map-style Dataset (__len__ and __getitem__)"
        )
    if not is_torch_dataset(dataset):
        raise LosslabError(f"data is a {type(dataset).__name__}; expected a torch.utils.data.Dataset")
    workers = _check_workers(loader_workers)
    label = name if name is not None else type(dataset).__name__
    try:
        n = len(dataset)
    except TypeError:
        raise LosslabError(f"data {label!r} has no __len__; expected a map-style Dataset with __len__ and __getitem__") from None
    if n < 1:
        raise LosslabError(f"data {label!r} has no items; expected at least one")
    h = hashlib.sha1()
    shape: tuple[int, ...] | None = None
    ys: list[np.ndarray] = []
    ts: list[np.ndarray] | None = None
    sampler = _Batches()
    sampler.batches = [list(range(a, min(a + SCAN_ROWS, n))) for a in range(0, n, SCAN_ROWS)]
    # Not persistent: the first pass reads each item once, and its workers end with it.
    loader = _loader(_Probe(dataset), sampler, workers, _as_is, persistent=False)
    i = 0
    for part in _iterate(loader, f"data {label!r}"):
        for item in part:
            x, y, t = _raise_on_failure(item)
            if shape is None:
                shape, y_shape, with_trials = x.shape, y.shape, t is not None
                ts = [] if with_trials else None
                # fingerprint(X, y, trials) of the arrays in memory: X's shape and dtype, then its bytes row by row.
                h.update(str(((n, *(int(d) for d in shape)), np.dtype(np.float32).str)).encode())
            elif x.shape != shape:
                raise LosslabError(f"dataset item {i}: features of shape {x.shape}, but item 0's have shape {shape}; expected items of one shape")
            if y.shape != y_shape:
                raise LosslabError(f"dataset item {i}: the label y has shape {y.shape}, but item 0's has {y_shape}; expected labels of one shape")
            if (t is not None) != with_trials:
                raise LosslabError(
                    f"dataset item {i} returns {'3' if t is not None else '2'} values, but item 0 returns {'3' if with_trials else '2'}; "
                    f"expected every item as (x, y) or every item as (x, y, trials)"
                )
            h.update(x.tobytes())
            ys.append(y)
            if ts is not None:
                ts.append(t)
            i += 1
    # The labels through from_arrays, with no feature columns: the same reshaping and checks as the arrays in memory get.
    labels = from_arrays(np.zeros((n, 0), dtype=np.float32), np.stack(ys), trials=None if ts is None else np.stack(ts), name=label, kind="table")
    for a in (labels.y, labels.trials):
        if a is None:
            h.update(b"none")
        else:
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(a.tobytes())
    return StreamingDataset(
        name=label,
        kind="table" if len(shape) == 1 else "image",
        sample_shape=shape,
        y=labels.y,
        trials=labels.trials,
        items=_TorchFeatures(dataset, labels.y),
        fingerprint=h.hexdigest()[:16],
        loader_workers=workers,
        meta={"source": f"torch Dataset {type(dataset).__module__}.{type(dataset).__qualname__}"},
    )


# ---------------------------------------------------------------------------- image folders
def lazy_image_folder(root: Path, lab: Path, y: np.ndarray, trials: np.ndarray | None, splits: Any, files: list[str],
                      targets: list[str], loader_workers: int | str = "auto") -> StreamingDataset:
    """An image folder whose images are decoded when read: the labels and each file's header are read now.

    Called by :func:`~losslab.data.read_image_folder` with ``stream=True`` once it has read and
    checked ``labels.csv``. Each image's header (size and mode, not its pixels) decides the
    shape and the channels as the eager reader does: one colour image makes every image RGB.
    """
    from PIL import Image

    from .readers import missing_file

    workers = _check_workers(loader_workers)
    labels = from_arrays(np.zeros((len(files), 0), dtype=np.float32), y, trials=trials, name=root.name, kind="table", splits=splits,
                         target_names=[str(c) for c in targets])
    paths: list[Path] = []
    stats: list[list] = []
    size, first, channels = None, None, 1
    existing: list[str] | None = None
    for i, fname in enumerate(files):
        p = root / fname
        if not p.is_file():
            existing = existing if existing is not None else sorted(q.name for q in root.iterdir())
            raise missing_file(lab, root, i, fname, existing)
        try:
            with Image.open(p) as im:  # the header only: no pixels are decoded here
                wh, mode = im.size, im.mode
        except (OSError, SyntaxError, ValueError) as exc:
            raise LosslabError(f"{p}: cannot be read as an image ({type(exc).__name__}); expected a PNG or JPEG file") from None
        if size is None:
            size, first = wh, fname
        elif wh != size:
            raise LosslabError(
                f"{p}: image of size {wh[0]}x{wh[1]} (WxH) but {first!r} is {size[0]}x{size[1]}; expected images of one size (resize them first)"
            )
        channels = max(channels, _image_channels(mode))
        st = p.stat()
        paths.append(p)
        stats.append([fname, st.st_size, st.st_mtime_ns])
    shape = (channels, size[1], size[0])
    h = hashlib.sha1()
    h.update(json.dumps({"shape": shape, "files": stats}).encode())
    for a in (labels.y, labels.trials):
        h.update(b"none" if a is None else a.tobytes())
    for s in labels.splits or []:
        for k in sorted(s):
            h.update(k.encode() + s[k].tobytes())
    return StreamingDataset(
        name=root.name,
        kind="image",
        sample_shape=shape,
        y=labels.y,
        trials=labels.trials,
        items=_FolderImages(paths, shape),
        fingerprint=h.hexdigest()[:16],
        loader_workers=workers,
        splits=labels.splits,
        target_names=labels.target_names,
        meta={"source": str(root), "labels": str(lab), "files": np.array(files)},
    )


# ---------------------------------------------------------------------------- the command line
def dataset_from_spec(text: str) -> Any | None:
    """The torch Dataset named by ``"path/to/file.py:name"`` or ``"package.module:name"``; None for other text.

    ``name`` is a Dataset, or a function called without arguments that returns one (the way
    ``uvicorn module:app`` names an application). Used by ``losslab compare``.
    """
    import importlib
    import importlib.util
    import re

    m = re.fullmatch(r"(?P<mod>.+?):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)", text)
    if m is None or Path(text).exists():
        return None
    mod, attr = m["mod"], m["attr"]
    if mod.endswith(".py"):
        path = Path(mod).expanduser()
        if not path.is_file():
            raise LosslabError(f"data {text!r}: {mod!r} is not a file; expected path/to/file.py:name naming a torch Dataset")
        spec = importlib.util.spec_from_file_location(f"_losslab_data_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's module may raise anything: one line naming it
            raise LosslabError(f"data {text!r}: running {mod} raised {_one_line(exc)}") from None
    elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", mod):
        try:
            module = importlib.import_module(mod)
        except Exception as exc:  # noqa: BLE001 - as above
            raise LosslabError(f"data {text!r}: importing {mod} raised {_one_line(exc)}") from None
    else:
        return None
    if not hasattr(module, attr):
        raise LosslabError(f"data {text!r}: {mod} has no {attr!r}; expected the name of a torch Dataset (or a function returning one)")
    obj = getattr(module, attr)
    if callable(obj) and not is_torch_dataset(obj):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - as above
            raise LosslabError(f"data {text!r}: calling {attr}() raised {_one_line(exc)}") from None
    if not is_torch_dataset(obj):
        raise LosslabError(f"data {text!r} is a {type(obj).__name__}; expected a torch.utils.data.Dataset (or a function returning one)")
    return obj
