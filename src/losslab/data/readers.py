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
from .features import MAX_CATEGORIES

if TYPE_CHECKING:
    from .streaming import StreamingDataset

_SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _rows(mask: np.ndarray, k: int = 5) -> str:
    idx = np.flatnonzero(mask)[:k].tolist()
    return f"{idx}" + ("" if int(mask.sum()) <= k else " ...")


def _missing_column(source: str, column: str, columns: Sequence[str], role: str) -> LosslabError:
    listed = ", ".join(map(str, columns[:12])) + (" ..." if len(columns) > 12 else "")
    return LosslabError(
        f"{source}: no {role} column {column!r}{close_matches(str(column), [str(c) for c in columns])}; "
        f"its columns: {listed}"
    )


def numeric_column(source: str, df: Any, column: str, role: str) -> np.ndarray:
    """The column as float64; non-numeric cells, missing values and infinities raise, naming rows."""
    import pandas as pd

    col = df[column]
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = col.isna().to_numpy()
    unparsed = np.isnan(values) & ~missing
    if unparsed.any():
        first = col[unparsed].iloc[0]
        raise LosslabError(
            f"{source}: {role} column {column!r} holds {int(unparsed.sum())} non-numeric value(s) such as {first!r} "
            f"at row(s) {_rows(unparsed)}; expected numbers"
        )
    if missing.any():
        raise LosslabError(
            f"{source}: {role} column {column!r} has {int(missing.sum())} missing value(s) (NaN), first at row(s) "
            f"{_rows(missing)}; expected a number in every row"
        )
    inf = np.isinf(values)
    if inf.any():
        raise LosslabError(
            f"{source}: {role} column {column!r} has {int(inf.sum())} infinite value(s), first at row(s) "
            f"{_rows(inf)}; expected finite numbers"
        )
    return values


def _feature_block(source: str, df: Any, column: str) -> tuple[np.ndarray, list[str]]:
    """One feature column: numeric as is, categorical one-hot encoded (pandas.get_dummies)."""
    import pandas as pd

    col = df[column]
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return numeric_column(source, df, column, "feature")[:, None], [str(column)]
    present = col.dropna()
    parsed = pd.to_numeric(present, errors="coerce")
    # Mostly numbers with some text is a broken numeric column (typos, "n/a" spellings), not
    # categories: one-hot encoding it would turn every distinct number into a feature.
    if len(present) and parsed.notna().mean() >= 0.5:
        text = parsed.isna()
        if text.any():
            unparsed = col.index.isin(present.index[text.to_numpy()])
            raise LosslabError(
                f"{source}: feature column {column!r} holds {int(text.sum())} non-numeric value(s) such as "
                f"{present[text].iloc[0]!r} at row(s) {_rows(unparsed)} among {int((~text).sum())} numbers (mixed "
                f"types); expected numbers (fix those cells, or leave the column out with features=[...])"
            )
        return numeric_column(source, df, column, "feature")[:, None], [str(column)]
    missing = col.isna().to_numpy()
    if missing.any():
        raise LosslabError(
            f"{source}: categorical feature column {column!r} has {int(missing.sum())} missing value(s), first at "
            f"row(s) {_rows(missing)}; expected a category in every row"
        )
    n_cat = present.nunique()
    if n_cat > max(MAX_CATEGORIES, len(col) // 2):
        raise LosslabError(
            f"{source}: categorical feature column {column!r} has {n_cat} distinct values in {len(col)} rows, "
            f"like an identifier; expected a category (leave it out with features=[...])"
        )
    dummies = pd.get_dummies(col.astype(str), prefix=str(column), dtype=np.float64)
    return dummies.to_numpy(), [str(c) for c in dummies.columns]


def _split_from_column(source: str, df: Any, column: str) -> list[dict[str, np.ndarray]]:
    raw = df[column]
    names = raw.astype(str).str.strip().str.lower().to_numpy()
    mapped = np.array([_SPLIT_NAMES.get(v, "") for v in names])
    bad = (mapped == "") | raw.isna().to_numpy()
    if bad.any():
        first = raw[bad].iloc[0]
        raise LosslabError(
            f"{source}: split column {column!r} holds {int(bad.sum())} value(s) such as {first!r} at row(s) "
            f"{_rows(bad)}; expected 'train', 'val' or 'test'"
        )
    split = {k: np.flatnonzero(mapped == k) for k in ("train", "val", "test") if (mapped == k).any()}
    if "train" not in split:
        raise LosslabError(f"{source}: split column {column!r} names no 'train' row; expected some training rows")
    return [split]


def _from_frame(
    df: Any,
    source: str,
    *,
    name: str,
    target: str | Sequence[str] | None,
    features: Sequence[str] | None,
    trials: str | Sequence[str] | None,
    split: str | None,
    splits: list[dict[str, np.ndarray]] | None = None,
) -> Dataset:
    if len(df.columns) == 0:
        raise LosslabError(f"{source}: the file has no columns; expected a header with a target column")
    if len(df) == 0:
        raise LosslabError(f"{source}: the file has a header but no data rows; expected at least one row")
    df = df.reset_index(drop=True)
    if not all(isinstance(c, str) for c in df.columns):
        df.columns = [str(c) for c in df.columns]
    columns = list(df.columns)
    if target is None:
        listed = ", ".join(map(str, columns[:12])) + (" ..." if len(columns) > 12 else "")
        raise LosslabError(
            f"{source}: no target column given; expected target= (--target on the command line) naming the label "
            f"column, one of: {listed}"
        )
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise LosslabError(f"{source}: target is empty; expected a column name or a list of column names")
    trial_cols: list[str] = []
    if trials is not None:
        trial_cols = [trials] if isinstance(trials, str) else list(trials)
        if len(trial_cols) not in (1, len(targets)):
            raise LosslabError(
                f"{source}: {len(trial_cols)} trials columns for {len(targets)} targets; expected one, or one per target"
            )
    for role, cols in (("target", targets), ("trials", trial_cols), ("split", [split] if split else [])):
        for c in cols:
            if c not in columns:
                raise _missing_column(source, c, columns, role)
    used = set(targets) | set(trial_cols) | ({split} if split else set())
    if features is None:
        feats = [c for c in columns if c not in used]
    else:
        feats = [features] if isinstance(features, str) else list(features)
        for c in feats:
            if c not in columns:
                raise _missing_column(source, c, columns, "feature")
        clash = [c for c in feats if c in used]
        if clash:
            raise LosslabError(f"{source}: column {clash[0]!r} is both a feature and a target/trials/split column")
    if not feats:
        raise LosslabError(f"{source}: no feature column is left besides {sorted(used)}; expected at least one")

    y = np.stack([numeric_column(source, df, c, "target") for c in targets], axis=1)
    blocks, names = [], []
    for c in feats:
        block, block_names = _feature_block(source, df, c)
        blocks.append(block)
        names.extend(block_names)
    X = np.concatenate(blocks, axis=1)
    t = None
    if trial_cols:
        t = np.stack([numeric_column(source, df, c, "trials") for c in trial_cols], axis=1)
        bad = (t <= 0).any(axis=1)
        if bad.any():
            raise LosslabError(
                f"{source}: trials column(s) {trial_cols} hold {int(bad.sum())} row(s) with counts <= 0, first at row(s) "
                f"{_rows(bad)}; expected counts n >= 1"
            )
        frac = (np.abs(t - np.rint(t)) > 1e-6 * np.maximum(t, 1.0)).any(axis=1)
        if frac.any():
            first = t[frac][0]
            raise LosslabError(
                f"{source}: trials column(s) {trial_cols} hold {int(frac.sum())} row(s) with non-integer counts such as "
                f"{first[np.abs(first - np.rint(first)) > 0][0]:g}, first at row(s) {_rows(frac)}; expected whole "
                f"numbers n >= 1 (the number of trials behind each k/n label)"
            )
        out = ((y < 0) | (y > 1)).any(axis=1)
        if out.any():
            raise LosslabError(
                f"{source}: target column(s) {targets} hold {int(out.sum())} row(s) outside [0, 1] although trials are "
                f"given, first at row(s) {_rows(out)}; expected fractions k/n with 0 <= k <= n"
            )
        if t.shape[1] == 1 and y.shape[1] > 1:
            t = np.repeat(t, y.shape[1], axis=1)
    if split is not None:
        splits = _split_from_column(source, df, split)
    return from_arrays(
        X,
        y,
        trials=t,
        name=name,
        kind="table",
        splits=splits,
        feature_names=names,
        target_names=[str(c) for c in targets],
        meta={"source": source},
    )


def check_file(path: Any, what: str) -> Path:
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
    return _from_frame(df, source, name=name, target=target, features=features, trials=trials, split=split, splits=splits)


def _read_tables(path: Any, reader: Any, what: str) -> tuple[Any, str, str, list[dict[str, np.ndarray]] | None]:
    """One table, or a mapping {"train": path, "val": path, "test": path} concatenated with its split."""
    import pandas as pd

    if isinstance(path, Mapping):
        frames, splits, start = [], {}, 0
        for key, p in path.items():
            part = _SPLIT_NAMES.get(str(key).lower())
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
                    f"{_rows(bad)}; expected finite numbers"
                )
    splits = None
    if S is not None:
        import pandas as pd

        splits = _split_from_column(f"{p}", pd.DataFrame({split: S.astype(str)}), split)
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
            raise _missing_column(str(lab), c, list(df.columns), role)
    if len(df) == 0:
        raise LosslabError(f"{lab}: the file has a header but no data rows; expected one row per image")
    y = np.stack([numeric_column(str(lab), df, c, "label") for c in targets], axis=1)
    t = None
    if trials is not None:
        t = numeric_column(str(lab), df, trials, "trials")
    splits = _split_from_column(str(lab), df, "split") if "split" in df.columns else None

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
