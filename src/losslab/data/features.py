"""Features as a model takes them: one encoder for tables with categorical columns, and one standardiser.

* :class:`FeatureEncoder` turns a table (a pandas DataFrame, or an array) into a float64 design
  matrix, coding categorical columns as 0/1 indicators with the categories fixed at fit
  (:class:`~losslab.Regressor` uses it).
* :func:`feature_scale`, :func:`floor_std` and :func:`standardize` standardise features with the
  training rows' mean and standard deviation: the Regressor, the comparison's in-memory and
  streamed splits and the predictor a comparison keeps all map features with them, so a
  constant column is treated alike everywhere.
* :data:`MAX_CATEGORIES` is the one rule for a categorical column that is really an identifier,
  shared with the CSV/Parquet reader (:mod:`losslab.data.readers`).

The CSV reader codes categories differently on purpose: one indicator per category
(``pandas.get_dummies``, names ``column_value``), since a comparison's networks need no
reference level; the Regressor drops the first category (treatment coding), so a linear
model with an intercept stays identifiable and its coefficients are those of R or statsmodels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import LosslabError, close_matches

__all__ = [
    "MAX_CATEGORIES",
    "STD_FLOOR",
    "FeatureEncoder",
    "feature_scale",
    "floor_std",
    "standardize",
    "is_frame",
    "is_categorical",
    "categories_of",
    "numeric_array",
]

#: a categorical column with more distinct values than this (and than half the rows) is almost surely an
#: identifier: coding it would add a feature per row (the same rule for the readers and the Regressor)
MAX_CATEGORIES = 50


class FeatureEncoder:
    """Table -> float64 design matrix; categorical columns in treatment coding with categories fixed at fit.

    Treatment coding (one 0/1 column per category except the first, the reference) keeps a
    linear model with an intercept identifiable, as R's default contrasts do; the first
    category is the first of a pandas ``Categorical``'s categories, else the smallest value.
    Categories are matched by their text at transform time; an unseen one is an error.

    >>> import pandas as pd
    >>> enc = FeatureEncoder()
    >>> enc.fit_transform(pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["b", "a", "c"]})).tolist()
    [[1.0, 1.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 1.0]]
    >>> enc.names
    ['x', 'c_b', 'c_c']
    """

    def __init__(self) -> None:
        self.columns: list[str] | None = None  # None: fitted on an array
        self.n_columns = 0
        self.categories: dict[str, list[Any]] = {}
        self.names: list[str] = []

    # ------------------------------------------------------------------ fit
    def fit_transform(self, X: Any) -> np.ndarray:
        """Fix the columns and categories of ``X`` (a DataFrame or a 2-d array) and encode it, ``(rows, design columns)``."""
        if is_frame(X):
            self.columns = [str(c) for c in X.columns]
            self.n_columns = len(self.columns)
            if len(set(self.columns)) != self.n_columns:
                raise LosslabError(f"X has duplicate column names {self.columns}; expected distinct names")
            blocks, names = [], []
            for col, name in zip(X.columns, self.columns):
                if is_categorical(X[col]):
                    self.categories[name] = categories_of(X[col], name)
                block, block_names = self._column(X, col, name)
                blocks.append(block)
                names.extend(block_names)
            self.names = names
            return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(X), 0))
        A = numeric_array(X, "X")
        self.n_columns = A.shape[1]
        self.names = [f"x{i}" for i in range(A.shape[1])]
        return A

    # ------------------------------------------------------------ transform
    def transform(self, X: Any) -> np.ndarray:
        """Encode new rows with the columns and categories fixed at fit (a one-line error for what does not fit)."""
        if is_frame(X):
            cols = [str(c) for c in X.columns]
            if self.columns is None:
                if len(cols) != self.n_columns:
                    raise n_features_error(len(cols), self.n_columns)
                return numeric_array(X.to_numpy(), "X")
            missing = [c for c in self.columns if c not in cols]
            if missing:
                raise LosslabError(
                    f"X lacks column {missing[0]!r}{close_matches(missing[0], cols)}; the model was fitted on "
                    f"columns {self.columns}"
                )
            lookup = dict(zip(cols, X.columns))
            blocks = [self._column(X, lookup[name], name)[0] for name in self.columns]
            return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(X), 0))
        if self.categories:
            raise LosslabError(
                f"X is a {type(X).__name__}; the model was fitted on a DataFrame with categorical column(s) "
                f"{sorted(self.categories)}, so pass a DataFrame with the same columns"
            )
        A = numeric_array(X, "X")
        if A.shape[1] != self.n_columns:
            raise n_features_error(A.shape[1], self.n_columns)
        return A

    def _column(self, df: Any, col: Any, name: str) -> tuple[np.ndarray, list[str]]:
        from .readers import numeric_column  # here: readers imports this module

        if name not in self.categories:
            if is_categorical(df[col]):
                raise LosslabError(f"X column {name!r} holds categories; at fit it held numbers")
            return numeric_column("X", df.rename(columns={col: name})[[name]], name, "feature")[:, None], [name]
        cats = self.categories[name]
        values = df[col]
        if values.isna().any():
            rows = np.flatnonzero(values.isna().to_numpy())[:5].tolist()
            raise LosslabError(f"X column {name!r} has missing categories at row(s) {rows}; expected a category in every row")
        keys = [_key(v) for v in values.to_numpy()]
        index = {_key(c): i for i, c in enumerate(cats)}
        unknown = [v for v, k in zip(values.to_numpy(), keys) if k not in index]
        if unknown:
            raise LosslabError(
                f"X column {name!r} holds category {unknown[0]!r}, unseen at fit; known categories: "
                f"{[str(c) for c in cats][:12]}"
            )
        codes = np.array([index[k] for k in keys], dtype=np.int64)
        # Column j is the indicator of category j + 1: the first category is the reference.
        block = (codes[:, None] == np.arange(1, len(cats))[None, :]).astype(np.float64)
        return block, [f"{name}_{c}" for c in cats[1:]]


def n_features_error(found: int, fitted: int) -> LosslabError:
    """The error for a table of another width than at fit, in scikit-learn's wording (which its estimator checks match)."""
    return LosslabError(f"X has {found} features, but Regressor is expecting {fitted} features as input")


def is_frame(X: Any) -> bool:
    """Whether ``X`` is a DataFrame (duck-typed, so pandas is not imported to ask)."""
    return hasattr(X, "columns") and hasattr(X, "iloc")


def is_categorical(col: Any) -> bool:
    """Whether a DataFrame column holds categories: a pandas ``Categorical``, or values that are neither numbers nor booleans."""
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        return True
    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _key(v: Any) -> str:
    # Categories are matched by their text, so 1, "1" and np.int64(1) name one category.
    return str(v)


def categories_of(col: Any, name: str) -> list[Any]:
    """The categories of a column in coding order (a ``Categorical``'s own, else sorted); an identifier-like column raises."""
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = list(col.cat.categories)
    else:
        present = col.dropna().unique().tolist()
        try:
            cats = sorted(present)
        except TypeError:  # mixed types: order by text
            cats = sorted(present, key=str)
    if len(cats) > max(MAX_CATEGORIES, len(col) // 2):
        raise LosslabError(
            f"X column {name!r} has {len(cats)} distinct values in {len(col)} rows, like an identifier; "
            f"expected a category or numbers (drop the column)"
        )
    return cats


def numeric_array(X: Any, what: str) -> np.ndarray:
    """``X`` as a non-empty, finite float64 table ``(rows, features)``; a one-line error naming ``what`` otherwise."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise LosslabError(f"{what} is a sparse {type(X).__name__}; sparse input is not supported, pass {what}.toarray()")
    raw = np.asarray(X)
    if np.iscomplexobj(raw):
        raise LosslabError(f"{what} holds complex numbers: Complex data not supported; expected real numbers")
    try:
        A = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise LosslabError(f"{what} holds values that are not numbers ({str(exc).splitlines()[0]}); expected numbers") from None
    if A.ndim != 2:
        # "Reshape your data" is the phrase scikit-learn's own checks (and users) look for.
        hint = f"; Reshape your data with {what}.reshape(-1, 1) for a single feature" if A.ndim == 1 else ""
        raise LosslabError(f"{what} has {A.ndim} dimension(s), shape {A.shape}; expected a 2-d table (n_samples, n_features){hint}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise LosslabError(
            f"{what} has 0 sample(s) or 0 feature(s) (shape={A.shape}) while a minimum of 1 is required; expected a non-empty table"
        )
    bad = ~np.isfinite(A)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))[:5].tolist()
        raise LosslabError(f"{what} holds {int(bad.sum())} NaN or infinite value(s), first at row(s) {rows}; expected finite numbers")
    return A



# ---------------------------------------------------------------------------- the standardiser
#: a feature whose standard deviation is at most ``STD_FLOOR * max(1, |mean|)`` is constant: it keeps std 1
STD_FLOOR = 1e-12


def floor_std(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    r"""``std`` with each constant column's replaced by 1, so that standardising only shifts it to 0.

    .. math:: s_j \leftarrow 1 \quad \text{where} \quad s_j \le 10^{-12} \max(1, |\mu_j|)

    A relative floor, so that it depends on the column's units only through its mean:
    a constant column of 1e10 in float64 has a standard deviation of ~1e-6 from the rounding of
    its mean, which the floor catches, while a real feature measured in tiny units (1e-9 with a
    spread of 1e-10) is still standardised to unit spread. Before issue 22 the comparison used an
    absolute floor of 1e-8, which left such a feature at 1e-10 (the network all but ignored it);
    no column of the registry's data sets has a standard deviation between the two floors (their
    constant columns, in digits-inpaint and uci-naval, have std 0 or, from float32 rounding, 4e-5,
    above both), so their comparisons are unchanged. In float32 a constant column's mean can be
    rounded by more than the floor; the column then standardises to a constant ±1, still constant.

    Args:
        mean, std: ``(features,)`` of one dtype (float32 or float64); the result keeps ``std``'s dtype.

    >>> floor_std(np.array([0.0, 1e10, 5.0]), np.array([0.0, 1e-6, 1e-10])).tolist()
    [1.0, 1.0, 1e-10]
    """
    return np.where(std > STD_FLOOR * np.maximum(1.0, np.abs(mean)), std, 1.0)


def feature_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` over the rows of ``X (rows, features)``, in its dtype, with :func:`floor_std` applied.

    numpy's ``X.mean(axis=0)`` and ``X.std(axis=0)`` (population std), so the numbers are the same
    wherever features are scaled (the streamed comparison reproduces them pass by pass).

    >>> mean, std = feature_scale(np.array([[1.0, 3.0], [3.0, 3.0]]))
    >>> mean.tolist(), std.tolist()
    ([2.0, 3.0], [1.0, 1.0])
    """
    mean = X.mean(axis=0)
    return mean, floor_std(mean, X.std(axis=0))


def standardize(X: Any, mean: np.ndarray, std: np.ndarray) -> Any:
    """``(X - mean) / std``: features mapped as the training rows were (arrays or tensors)."""
    return (X - mean) / std
