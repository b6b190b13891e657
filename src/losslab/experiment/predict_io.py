"""Reading new rows for a kept model (``losslab predict``) and writing its predictions as a table."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .._errors import LosslabError, close_matches, listing

if TYPE_CHECKING:  # the predictor is only read here; importing it at run time would circle back (predictor re-exports this module)
    from .predictor import Predictor

__all__ = ["Inputs", "predict_frame", "read_inputs"]


@dataclass
class Inputs:
    """New rows to predict: ``X`` (a DataFrame of a table's columns, or an array), their ids and their trials."""

    X: Any
    ids: Any = None  # a pandas Series named after its column, kept as the first column of the predictions
    trials: Any = None


def read_inputs(source: Any, predictor: Predictor, *, trials: Any = None, id_column: str | None = None, x: str = "X") -> Inputs:
    """The rows of a CSV/TSV/Parquet table, an ``.npz`` archive, an image folder or a registry data set, as ``predictor`` takes them.

    The same files ``losslab compare`` reads; the target column may be absent (and is ignored when
    present). A table keeps its columns (the predictor picks the training features by name);
    ``id_column`` (default: the table's first column when the model does not use it, e.g. an id)
    is kept to label the rows. An image folder lists its images in the order of its
    ``labels.csv`` (``filename`` column) when there is one, else by file name; the file names are the ids.

    Args:
        source: a path or a registry name.
        predictor: the model that will predict (its input kind and feature names guide the reading).
        trials: for laws of k/n labels: a number, or the name of a column holding each row's count.
        id_column: the column that names the rows.
        x: the key of the features in an ``.npz`` archive.
    """
    import os

    import pandas as pd

    from ..data.readers import check_file, first_line

    if not isinstance(source, (str, os.PathLike)):
        raise LosslabError(f"data is a {type(source).__name__}; expected a path or a registry name")
    p = Path(source).expanduser()
    frame = None
    if p.is_dir():
        X, ids = _read_image_folder(p, predictor)
        return Inputs(X, ids, _trial_values(trials, None, len(X)))
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix in (".csv", ".txt", ".tsv"):
            try:
                frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
            except pd.errors.EmptyDataError:
                raise LosslabError(f"{p}: the file is empty; expected a header row and data rows") from None
            except (pd.errors.ParserError, UnicodeDecodeError) as e:
                raise LosslabError(f"{p}: cannot be parsed as CSV ({first_line(e)})") from None
        elif suffix in (".parquet", ".pq"):
            try:
                frame = pd.read_parquet(p)
            except ImportError:
                raise LosslabError("reading Parquet needs pyarrow, which is not installed: pip install 'losslab[parquet]'") from None
            except (OSError, ValueError) as e:
                raise LosslabError(f"{p}: cannot be read as Parquet ({first_line(e)})") from None
        elif suffix == ".npz":
            return Inputs(_read_npz(p, x), None, _trial_values(trials, None, None))
        else:
            raise LosslabError(f"{p}: unknown file type {suffix!r}; expected .csv, .tsv, .parquet, .npz or an image folder")
    else:
        from .. import data as lldata

        if isinstance(source, str) and source in lldata.list_datasets():
            ds = lldata.load(source)
            X: Any = ds.X
            if ds.kind == "table" and ds.feature_names:
                X = pd.DataFrame(ds.X, columns=ds.feature_names)
            return Inputs(X, None, _trial_values(trials, None, len(ds)))
        check_file(p, "data file")  # one line: does not exist, with close names
    if frame is None or len(frame.columns) == 0 or len(frame) == 0:
        raise LosslabError(f"{p}: no rows or no columns; expected a header and at least one data row")
    frame.columns = [str(c) for c in frame.columns]
    used = set(predictor.feature_names or [])
    ids = None
    if id_column is not None:
        if id_column not in frame.columns:
            raise LosslabError(f"--id {id_column!r}: {p} has no such column{close_matches(id_column, list(frame.columns))}; its columns: {listing(list(frame.columns))}")
        ids = frame[id_column]
    elif frame.columns[0] not in used and frame.columns[0] not in (predictor.target_names or []) and not any(n.startswith(frame.columns[0] + "_") for n in used):
        ids = frame[frame.columns[0]]
    return Inputs(frame, ids, _trial_values(trials, frame, len(frame)))


def _trial_values(trials: Any, frame: Any, n: int | None) -> Any:
    if trials is None or not isinstance(trials, str):
        return trials
    try:
        return float(trials)
    except ValueError:
        pass
    if frame is None:
        raise LosslabError(f"--trials {trials!r} names a column, and this data has no columns; pass a number")
    if trials not in frame.columns:
        raise LosslabError(f"--trials {trials!r}: no such column{close_matches(trials, list(frame.columns))}; pass a column of counts or a number")
    from ..data.readers import numeric_column

    return numeric_column("data", frame, trials, "trials")


def _read_npz(p: Path, key: str) -> np.ndarray:
    try:
        archive = np.load(p, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise LosslabError(f"{p}: cannot be read as a numpy .npz archive ({type(e).__name__}: {e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise LosslabError(f"{p}: holds a single array, not an .npz archive of named arrays; expected a key {key!r}")
    with archive:
        if key not in archive.files:
            raise LosslabError(f"{p}: no feature array {key!r}{close_matches(key, archive.files)}; its keys: {', '.join(archive.files)}")
        try:
            return archive[key]
        except ValueError as e:
            raise LosslabError(f"{p}: array {key!r} cannot be read without pickle ({e})") from None


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _read_image_folder(root: Path, predictor: Predictor) -> tuple[np.ndarray, Any]:
    import pandas as pd

    from ..data.readers import load_image

    if predictor.data_kind != "image":
        raise LosslabError(f"data {str(root)!r} is a folder of images; this model takes table rows of {predictor.input_shape[0]} features")
    labels = root / "labels.csv"
    if labels.is_file():
        try:
            listed = pd.read_csv(labels, dtype={"filename": str})
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
            raise LosslabError(f"{labels}: cannot be parsed as CSV ({e})") from None
        if "filename" not in listed.columns:
            raise LosslabError(f"{labels}: no column 'filename'; expected one file name per row (or remove labels.csv to read every image)")
        files = listed["filename"].astype(str).str.strip().tolist()
    else:
        files = sorted(f.name for f in root.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise LosslabError(f"folder {str(root)!r} holds no image ({', '.join(_IMAGE_SUFFIXES)})")
    images = []
    for i, name in enumerate(files):
        f = root / name
        if not f.is_file():
            raise LosslabError(f"{labels}: row {i} names {name!r}, which is not a file in {root}")
        a = load_image(f)
        if a.shape[0] == 1 and predictor.input_shape[0] == 3:
            a = np.repeat(a, 3, axis=0)
        if a.shape != predictor.input_shape:
            raise LosslabError(f"{f}: image of shape {a.shape} (C, H, W); the model takes {predictor.input_shape} (resize it, or convert its colours)")
        images.append(a)
    return np.stack(images), pd.Series(files, name="filename")


def predict_frame(predictor: Predictor, inputs: Inputs, *, level: float | None = 0.9, quantiles: Sequence[float] = ()) -> Any:
    """Predictions as a table, one row per input row: ids (if any), then per target ``<t>_pred``, ``<t>_low``,
    ``<t>_high`` (the central ``level`` interval) and ``<t>_q<q>`` for each quantile.

    A law without quantiles (``bernoulli``: soft BCE is not a density over a float label) gets no
    interval columns; ``frame.attrs["notes"]`` says why. Quantiles asked of such a law raise.
    """
    import pandas as pd

    point = predictor.predict(inputs.X)
    n = point.shape[0]
    names = _target_names(predictor, point)
    cols: dict[str, np.ndarray] = {}
    notes = []

    def put(suffix: str, values: np.ndarray) -> None:
        flat = values.reshape(n, -1)
        for j, name in enumerate(names):
            cols[f"{name}_{suffix}"] = flat[:, j]

    put("pred", point)
    if level is not None:
        try:
            low, high = predictor.predict_interval(inputs.X, level, trials=inputs.trials)
        except LosslabError as e:
            if quantiles:
                raise
            notes.append(f"no interval columns: {e}")
        else:
            put("low", low)
            put("high", high)
    for q in quantiles:
        put(f"q{q:g}", predictor.quantile(inputs.X, float(q), trials=inputs.trials))
    frame = pd.DataFrame(cols)
    if inputs.ids is not None:
        frame.insert(0, str(inputs.ids.name), np.asarray(inputs.ids))
    frame.attrs["notes"] = notes
    return frame


def _target_names(predictor: Predictor, point: np.ndarray) -> list[str]:
    width = int(np.prod(point.shape[1:], dtype=int))
    names = predictor.target_names
    if names and len(names) == width:
        return [str(t) for t in names]
    return ["y"] if width == 1 else [f"y{j}" for j in range(width)]
