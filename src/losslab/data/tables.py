"""A table's columns as a data set: features (numeric, or categorical one-hot), targets, trial counts and a split column.

Each check names the file, the column, the rows and what was expected: a non-numeric cell, a
missing value, a categorical column that looks like an identifier, a trial count that is not a
whole number, a split value other than train, val or test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import LosslabError, close_matches
from .dataset import Dataset, from_arrays
from .features import MAX_CATEGORIES

__all__ = ["SPLIT_NAMES", "frame_dataset", "missing_column", "numeric_column", "row_list", "split_from_column"]

#: the values a split column may hold (lower case, stripped), and the split each names
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def row_list(mask: np.ndarray, k: int = 5) -> str:
    """The first ``k`` rows where ``mask`` holds, as ``"[3, 7]"`` (``" ..."`` after them when there are more)."""
    idx = np.flatnonzero(mask)[:k].tolist()
    return f"{idx}" + ("" if int(mask.sum()) <= k else " ...")


def missing_column(source: str, column: str, columns: Sequence[str], role: str) -> LosslabError:
    """The error for a column the table lacks: its role, close names, and the columns it has."""
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
            f"at row(s) {row_list(unparsed)}; expected numbers"
        )
    if missing.any():
        raise LosslabError(
            f"{source}: {role} column {column!r} has {int(missing.sum())} missing value(s) (NaN), first at row(s) "
            f"{row_list(missing)}; expected a number in every row"
        )
    inf = np.isinf(values)
    if inf.any():
        raise LosslabError(
            f"{source}: {role} column {column!r} has {int(inf.sum())} infinite value(s), first at row(s) "
            f"{row_list(inf)}; expected finite numbers"
        )
    return values


def _leave_out(column: str, feats: Sequence[str]) -> tuple[str, str]:
    """How to leave ``column`` out of the features ``feats``, as a Python argument and as a command-line option.

    >>> _leave_out("id", ["a", "id", "b"])
    ("features=['a', 'b']", '--features a,b')
    """
    keep = [str(c) for c in feats if c != column]
    python = f"features={keep!r}" if 0 < len(keep) <= 6 else "features=[...]"
    return python, ("--features " + ",".join(keep) if 0 < len(keep) <= 6 else "--features with the columns to keep, comma-separated")


def _feature_block(source: str, df: Any, column: str, feats: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """One feature column: numeric as is, categorical one-hot encoded (pandas.get_dummies); ``feats``: all the features."""
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
            what = (
                f"{source}: feature column {column!r} holds {int(text.sum())} non-numeric value(s) such as "
                f"{present[text].iloc[0]!r} at row(s) {row_list(unparsed)} among {int((~text).sum())} numbers (mixed "
                f"types); expected numbers (fix those cells, or leave the column out with "
            )
            python, cli = _leave_out(column, feats)
            raise LosslabError(f"{what}{python})", cli=f"{what}{cli})")
        return numeric_column(source, df, column, "feature")[:, None], [str(column)]
    missing = col.isna().to_numpy()
    if missing.any():
        raise LosslabError(
            f"{source}: categorical feature column {column!r} has {int(missing.sum())} missing value(s), first at "
            f"row(s) {row_list(missing)}; expected a category in every row"
        )
    n_cat = present.nunique()
    if n_cat > max(MAX_CATEGORIES, len(col) // 2):
        what = (
            f"{source}: categorical feature column {column!r} has {n_cat} distinct values in {len(col)} rows, "
            f"like an identifier; expected a category (leave it out with "
        )
        python, cli = _leave_out(column, feats)
        raise LosslabError(f"{what}{python})", cli=f"{what}{cli})")
    dummies = pd.get_dummies(col.astype(str), prefix=str(column), dtype=np.float64)
    return dummies.to_numpy(), [str(c) for c in dummies.columns]


def split_from_column(source: str, df: Any, column: str) -> list[dict[str, np.ndarray]]:
    """The fixed split a column gives: ``[{"train": rows, "val": rows, "test": rows}]`` (absent parts left out)."""
    raw = df[column]
    names = raw.astype(str).str.strip().str.lower().to_numpy()
    mapped = np.array([SPLIT_NAMES.get(v, "") for v in names])
    bad = (mapped == "") | raw.isna().to_numpy()
    if bad.any():
        first = raw[bad].iloc[0]
        raise LosslabError(
            f"{source}: split column {column!r} holds {int(bad.sum())} value(s) such as {first!r} at row(s) "
            f"{row_list(bad)}; expected 'train', 'val' or 'test'"
        )
    split = {k: np.flatnonzero(mapped == k) for k in ("train", "val", "test") if (mapped == k).any()}
    if "train" not in split:
        raise LosslabError(f"{source}: split column {column!r} names no 'train' row; expected some training rows")
    return [split]


def frame_dataset(
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
    """A :class:`~losslab.data.Dataset` from a DataFrame: the target, trials and split columns by name, the rest (or ``features``) as features."""
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
                raise missing_column(source, c, columns, role)
    used = set(targets) | set(trial_cols) | ({split} if split else set())
    if features is None:
        feats = [c for c in columns if c not in used]
    else:
        feats = [features] if isinstance(features, str) else list(features)
        for c in feats:
            if c not in columns:
                raise missing_column(source, c, columns, "feature")
        clash = [c for c in feats if c in used]
        if clash:
            raise LosslabError(f"{source}: column {clash[0]!r} is both a feature and a target/trials/split column")
    if not feats:
        raise LosslabError(f"{source}: no feature column is left besides {sorted(used)}; expected at least one")

    y = np.stack([numeric_column(source, df, c, "target") for c in targets], axis=1)
    blocks, names = [], []
    for c in feats:
        block, block_names = _feature_block(source, df, c, feats)
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
                f"{row_list(bad)}; expected counts n >= 1"
            )
        frac = (np.abs(t - np.rint(t)) > 1e-6 * np.maximum(t, 1.0)).any(axis=1)
        if frac.any():
            first = t[frac][0]
            raise LosslabError(
                f"{source}: trials column(s) {trial_cols} hold {int(frac.sum())} row(s) with non-integer counts such as "
                f"{first[np.abs(first - np.rint(first)) > 0][0]:g}, first at row(s) {row_list(frac)}; expected whole "
                f"numbers n >= 1 (the number of trials behind each k/n label)"
            )
        out = ((y < 0) | (y > 1)).any(axis=1)
        if out.any():
            raise LosslabError(
                f"{source}: target column(s) {targets} hold {int(out.sum())} row(s) outside [0, 1] although trials are "
                f"given, first at row(s) {row_list(out)}; expected fractions k/n with 0 <= k <= n"
            )
        if t.shape[1] == 1 and y.shape[1] > 1:
            t = np.repeat(t, y.shape[1], axis=1)
    if split is not None:
        splits = split_from_column(source, df, split)
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
