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
from .dataset import Dataset, from_arrays
from .stream_items import (  # noqa: F401  features_of: re-exported from where it was defined before
    Batches,
    FolderImages,
    Probe,
    TorchFeatures,
    as_is,
    features_of,
    image_channels,
    iterate,
    make_loader,
    one_line,
    raise_on_failure,
    stack,
)

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


# ---------------------------------------------------------------------------- the data set (its items: stream_items.py)
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
        self._sampler = Batches()
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
                yield raise_on_failure(stack([self.items[int(i)] for i in idx])).numpy()
            return
        if self._loader is None:
            self._loader = make_loader(self.items, self._sampler, self.loader_workers, stack, persistent=True)
        self._sampler.batches = [[int(i) for i in b] for b in index_batches]
        for out in iterate(self._loader, f"data {self.name!r}"):
            yield raise_on_failure(out).numpy()

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
    sampler = Batches()
    sampler.batches = [list(range(a, min(a + SCAN_ROWS, n))) for a in range(0, n, SCAN_ROWS)]
    # Not persistent: the first pass reads each item once, and its workers end with it.
    loader = make_loader(Probe(dataset), sampler, workers, as_is, persistent=False)
    i = 0
    for part in iterate(loader, f"data {label!r}"):
        for item in part:
            x, y, t = raise_on_failure(item)
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
        items=TorchFeatures(dataset, labels.y),
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
        channels = max(channels, image_channels(mode))
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
        items=FolderImages(paths, shape),
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
            raise LosslabError(f"data {text!r}: running {mod} raised {one_line(exc)}") from None
    elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", mod):
        try:
            module = importlib.import_module(mod)
        except Exception as exc:  # noqa: BLE001 - as above
            raise LosslabError(f"data {text!r}: importing {mod} raised {one_line(exc)}") from None
    else:
        return None
    if not hasattr(module, attr):
        raise LosslabError(f"data {text!r}: {mod} has no {attr!r}; expected the name of a torch Dataset (or a function returning one)")
    obj = getattr(module, attr)
    if callable(obj) and not is_torch_dataset(obj):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - as above
            raise LosslabError(f"data {text!r}: calling {attr}() raised {one_line(exc)}") from None
    if not is_torch_dataset(obj):
        raise LosslabError(f"data {text!r} is a {type(obj).__name__}; expected a torch.utils.data.Dataset (or a function returning one)")
    return obj
