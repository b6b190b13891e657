"""Readers: CSV and Parquet tables, ``.npz`` archives and image folders, each to a :class:`Dataset`.

Every bad input raises :class:`~losslab._errors.LosslabError` with one line naming
the file, the column and the first offending rows. Row numbers are 0-based data
rows (the header is not counted).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import LosslabError, close_matches
from .dataset import Dataset, images_to_nchw, in_columns, from_arrays
from .tables import SPLIT_NAMES, frame_dataset, missing_column, numeric_column, row_list, split_from_column

if TYPE_CHECKING:
    from .streaming import StreamingDataset


def check_file(path: Any, what: str) -> Path:
    """``path`` as a Path that exists (a file, unless ``what`` is "folder"); else one line with close names."""
    p = Path(path).expanduser()
    if not p.exists():
        siblings = [c.name for c in p.parent.iterdir()] if p.parent.is_dir() else []
        raise LosslabError(f"{what} {str(p)!r} does not exist{close_matches(p.name, siblings)}")
    if what != "folder" and p.is_dir():
        raise LosslabError(f"{what} {str(p)!r} is a folder; expected a file")
    return p


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _table_dataset(func: str, path: Any, reader: Any, what: str, *, target, features, trials, split) -> Dataset:
    """The shared tail of :func:`read_csv` and :func:`read_parquet`: read the file(s), then build the Dataset."""
    if isinstance(path, Mapping) and split is not None:
        raise LosslabError(f"{func} got both split files and split=; expected one way of giving the split")
    df, source, name, splits = _read_tables(path, reader, what)
    return frame_dataset(df, source, name=name, target=target, features=features, trials=trials, split=split, splits=splits)


def _read_tables(path: Any, reader: Any, what: str) -> tuple[Any, str, str, list[dict[str, np.ndarray]] | None]:
    """One table, or a mapping {"train": path, "val": path, "test": path} concatenated with its split."""
    import pandas as pd

    if isinstance(path, Mapping):
        frames, splits, start = [], {}, 0
        for key, p in path.items():
            part = SPLIT_NAMES.get(str(key).lower())
            if part is None:
                raise LosslabError(f"split file key {key!r}; expected 'train', 'val' or 'test'")
            df = reader(check_file(p, what))
            if len(df) == 0:
                raise LosslabError(f"{p}: the file has a header but no data rows; expected at least one row")
            frames.append(df)
            splits[part] = np.arange(start, start + len(df))
            start += len(df)
        if "train" not in splits:
            raise LosslabError(f"split files {list(path)}; expected a 'train' file")
        cols = [list(f.columns) for f in frames]
        if any(c != cols[0] for c in cols):
            raise LosslabError(f"split files have different columns ({cols[0]} vs others); expected the same header")
        source = " + ".join(str(p) for p in path.values())
        name = Path(str(path["train"])).stem
        # One-hot encoding after concatenation, so every part gets the same columns.
        return pd.concat(frames, ignore_index=True), source, name, [splits]
    p = check_file(path, what)
    return reader(p), str(p), p.stem, None


def read_csv(
    path: Any,
    *,
    target: str | Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    trials: str | Sequence[str] | None = None,
    split: str | None = None,
    **pandas_kwargs: Any,
) -> Dataset:
    """A table from a CSV file (or from split files ``{"train": path, "test": path}``).

    Args:
        path: the CSV file, or a mapping from "train"/"val"/"test" to files with the same header.
        target: the label column, or a list of columns for several targets ``(N, T)``; required (without it
            the error lists the file's columns).
        features: the feature columns (default: every other column). Non-numeric columns are
            one-hot encoded with ``pandas.get_dummies`` (names ``column_value``).
        trials: the column of counts ``n`` for k-of-n labels (one, or one per target).
        split: a column of "train"/"val"/"test" strings giving a fixed split.
        **pandas_kwargs: passed to ``pandas.read_csv`` (``sep=";"``, ``decimal=","``, ...).

    Returns:
        A table :class:`Dataset`; ``splits`` holds the given split, if any.
    """
    import pandas as pd

    def reader(p: Path) -> Any:
        try:
            return pd.read_csv(p, **pandas_kwargs)
        except pd.errors.EmptyDataError:
            raise LosslabError(f"{p}: the file is empty; expected a header row and data rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise LosslabError(f"{p}: cannot be parsed as CSV ({first_line(exc)})") from None
        except TypeError as exc:  # an option that neither read_csv nor pandas.read_csv knows
            raise LosslabError(
                f"read_csv: option(s) {sorted(pandas_kwargs)} not accepted ({first_line(exc)}); expected target=, "
                f"features=, trials=, split= or pandas.read_csv options"
            ) from None

    return _table_dataset("read_csv", path, reader, "CSV file", target=target, features=features, trials=trials, split=split)


def read_parquet(
    path: Any,
    *,
    target: str | Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    trials: str | Sequence[str] | None = None,
    split: str | None = None,
) -> Dataset:
    """A table from a Parquet file (needs pyarrow: ``pip install 'losslab[parquet]'``).

    Arguments as :func:`read_csv`.
    """
    import pandas as pd

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise LosslabError("reading Parquet needs pyarrow, which is not installed: pip install 'losslab[parquet]'") from None

    def reader(p: Path) -> Any:
        try:
            return pd.read_parquet(p, engine="pyarrow")
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise LosslabError(f"{p}: cannot be read as Parquet ({first_line(exc)})") from None

    return _table_dataset("read_parquet", path, reader, "Parquet file", target=target, features=features, trials=trials, split=split)


def read_npz(
    path: Any,
    *,
    x: str = "X",
    y: str = "y",
    trials: str | float | None = None,
    split: str | None = None,
) -> Dataset:
    """A data set from a numpy ``.npz`` archive.

    Args:
        path: the ``.npz`` file.
        x: the key of the features: a table ``(N, F)`` or images (3-D or 4-D, channels first or last;
            integer pixels are divided by 255).
        y: the key of the labels ``(N,)`` or ``(N, T)``.
        trials: the key of the counts, or one number for every label.
        split: the key of an array of "train"/"val"/"test" strings giving a fixed split.
    """
    p = check_file(path, "npz file")
    try:
        archive = np.load(p, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise LosslabError(f"{p}: cannot be read as a numpy .npz archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise LosslabError(f"{p}: holds a single array, not an .npz archive of named arrays; expected keys {x!r}, {y!r}")
    with archive:
        keys = list(archive.keys())

        def get(key: str, role: str) -> np.ndarray:
            if key not in keys:
                raise LosslabError(f"{p}: no {role} array {key!r}{close_matches(key, keys)}; its keys: {', '.join(keys)}")
            try:
                return archive[key]
            except ValueError as exc:  # object arrays need pickle, which we refuse
                raise LosslabError(f"{p}: array {key!r} cannot be read without pickle ({exc})") from None

        X = get(x, "feature")
        Y = get(y, "label")
        T = get(trials, "trials") if isinstance(trials, str) else trials
        S = get(split, "split") if split is not None else None
    if Y.dtype.kind not in "biuf":
        raise LosslabError(f"{p}: label array {y!r} has dtype {Y.dtype}; expected numbers")
    if X.dtype.kind not in "biuf":
        raise LosslabError(f"{p}: feature array {x!r} has dtype {X.dtype}; expected numbers")
    if Y.ndim not in (1, 2):
        raise LosslabError(f"{p}: label array {y!r} has shape {Y.shape}; expected (N,) or (N, T)")
    if X.ndim not in (1, 2, 3, 4):
        raise LosslabError(f"{p}: feature array {x!r} has shape {X.shape}; expected a table (N, F) or images")
    if Y.shape[0] != X.shape[0]:
        raise LosslabError(f"{p}: {y!r} has {Y.shape[0]} rows but {x!r} has {X.shape[0]}; expected one label per row")
    if Y.shape[0] == 0:
        raise LosslabError(f"{p}: arrays {x!r} and {y!r} have no rows; expected at least one")
    for key, arr in ((x, X), (y, Y)):
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
            if bad.any():
                cols = in_columns(~np.isfinite(arr)) if arr.ndim == 2 else ""
                raise LosslabError(
                    f"{p}: array {key!r} has {int(bad.sum())} row(s) with NaN or inf{cols}, first at row(s) "
                    f"{row_list(bad)}; expected finite numbers"
                )
    splits = None
    if S is not None:
        import pandas as pd

        splits = split_from_column(f"{p}", pd.DataFrame({split: S.astype(str)}), split)
    kind = "image" if X.ndim in (3, 4) else "table"
    if kind == "image":
        X = images_to_nchw(f"{p}: {x!r}", X)
    return from_arrays(X, Y, trials=T, name=p.stem, kind=kind, splits=splits, meta={"source": str(p)})


def missing_file(lab: Path, root: Path, i: int, fname: str, existing: list[str]) -> LosslabError:
    return LosslabError(f"{lab}: row {i} names {fname!r}, which is not a file in {root}{close_matches(Path(fname).name, existing)}")


def load_image(path: Path) -> np.ndarray:
    """One image as float32 (C, H, W) in [0, 1], C = 1 for grayscale, 3 for colour."""
    try:
        from PIL import Image
    except ImportError:
        raise LosslabError("reading an image folder needs Pillow, which is not installed: pip install pillow") from None
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("1", "L", "LA"):
                arr = np.asarray(im.convert("L"), dtype=np.float32)[None] / 255.0
            elif mode.startswith("I;16") or mode == "I":
                arr = np.clip(np.asarray(im, dtype=np.float32), 0, 65535)[None] / 65535.0
            else:  # RGB, RGBA (alpha dropped), P (palette), CMYK, YCbCr
                arr = np.moveaxis(np.asarray(im.convert("RGB"), dtype=np.float32), -1, 0) / 255.0
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise LosslabError(f"{path}: cannot be read as an image ({type(exc).__name__}); expected a PNG or JPEG file") from None
    return arr.astype(np.float32)


def read_image_folder(
    folder: Any,
    labels: str = "labels.csv",
    *,
    target: str | Sequence[str] = "label",
    trials: str | None = None,
    stream: bool = False,
    loader_workers: int | str = "auto",
) -> Dataset | StreamingDataset:
    """Images in a folder, with labels from a CSV of columns ``filename,label[,trials][,split]``.

    File names are relative to ``folder``. Grayscale images give ``C = 1``; if any image is in
    colour, all are read as RGB (``C = 3``). All images must have the same size.

    By default every image is decoded now, into one array (the fast path for folders that fit
    in memory). With ``stream=True`` only ``labels.csv`` and each file's header (its size and
    colour mode) are read now, and the images are decoded in batches when a comparison reads
    them, by ``loader_workers`` DataLoader processes, never all held at once
    (:class:`~losslab.data.streaming.StreamingDataset`); a comparison on it gives the numbers of the
    same folder read into memory, trained with ``replicas=False``. The choice is the user's,
    not a size threshold: decoding every epoch costs time that a folder which fits in memory
    need not pay (``python -m benchmarks.streaming`` measures both; ``docs/performance.md``).

    Args:
        folder: the image folder.
        labels: the labels CSV, relative to ``folder`` (or an absolute path).
        target: the label column(s) of the labels CSV (default ``"label"``).
        trials: the column of counts ``n`` of k-of-n labels (default: ``"trials"`` when present).
        stream: decode the images when read instead of now.
        loader_workers: with ``stream=True``, the DataLoader worker processes that decode them
            (``"auto"``: :func:`~losslab.data.streaming.auto_loader_workers`; 0 decodes in this process).

    Returns:
        An image :class:`Dataset`, ``X`` of shape ``(N, C, H, W)`` in [0, 1]; with ``stream=True`` a
        :class:`~losslab.data.streaming.StreamingDataset` of samples ``(C, H, W)``.
    """
    import pandas as pd

    root = check_file(folder, "folder")
    if not root.is_dir():
        raise LosslabError(f"folder {str(root)!r} is a file; expected a folder of images with a labels CSV")
    lab = Path(labels) if Path(labels).is_absolute() else root / labels
    if not lab.exists():
        # show the file to write: its header and a row naming one of the folder's images
        image = next((q.name for q in sorted(root.iterdir()) if q.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")), "0.png")
        fmt = f"expected a CSV with the header line 'filename,label' and one row per image, e.g. '{image},0.75' (label a number; optional columns trials, split)"
        try:
            check_file(lab, "labels CSV")
        except LosslabError as e:
            raise LosslabError(f"{e}; {fmt}") from None
    lab = check_file(lab, "labels CSV")
    try:
        df = pd.read_csv(lab, dtype={"filename": str})
    except pd.errors.EmptyDataError:
        raise LosslabError(f"{lab}: the file is empty; expected columns filename,label[,trials]") from None
    except pd.errors.ParserError as exc:
        raise LosslabError(f"{lab}: cannot be parsed as CSV ({first_line(exc)})") from None
    df.columns = [str(c).strip() for c in df.columns]
    targets = [target] if isinstance(target, str) else list(target)
    if trials is None and "trials" in df.columns:
        trials = "trials"
    wanted = [("filename", "required")] + [(c, "required" if c == "label" else "label") for c in targets]
    for c, role in wanted + ([(trials, "trials")] if trials is not None else []):
        if c not in df.columns:
            raise missing_column(str(lab), c, list(df.columns), role)
    if len(df) == 0:
        raise LosslabError(f"{lab}: the file has a header but no data rows; expected one row per image")
    y = np.stack([numeric_column(str(lab), df, c, "label") for c in targets], axis=1)
    t = None
    if trials is not None:
        t = numeric_column(str(lab), df, trials, "trials")
    splits = split_from_column(str(lab), df, "split") if "split" in df.columns else None

    files = df["filename"].astype(str).str.strip().tolist()
    if stream is not False:
        if stream is not True:
            raise LosslabError(f"stream={stream!r}; expected True (decode the images when read) or False (decode them all now)")
        from .streaming import lazy_image_folder

        return lazy_image_folder(root, lab, y, t, splits, files, targets, loader_workers)
    existing = None
    images, first_shape, first_name = [], None, None
    for i, fname in enumerate(files):
        p = root / fname
        if not p.is_file():
            if existing is None:
                existing = sorted(q.name for q in root.iterdir())
            raise missing_file(lab, root, i, fname, existing)
        arr = load_image(p)
        if first_shape is None:
            first_shape, first_name = arr.shape[1:], fname
        elif arr.shape[1:] != first_shape:
            raise LosslabError(
                f"{p}: image of size {arr.shape[2]}x{arr.shape[1]} (WxH) but {first_name!r} is "
                f"{first_shape[1]}x{first_shape[0]}; expected images of one size (resize them first)"
            )
        images.append(arr)
    channels = max(a.shape[0] for a in images)
    if channels == 3:
        images = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in images]
    X = np.stack(images)
    return from_arrays(
        X,
        y,
        trials=t,
        name=root.name,
        kind="image",
        splits=splits,
        target_names=[str(c) for c in targets],
        meta={"source": str(root), "labels": str(lab), "files": np.array(files)},
    )
