"""Every class of bad input, through the library and the command line.

The contract (issues 5 and 7): the library raises :class:`losslab.LosslabError` with ONE line that names
the culprit (argument, file, column, row, law) with what was found and what was expected; the CLI
prints that line after ``error:`` and exits 2, without a traceback unless ``--debug``.

Each class is one entry of :data:`CASES`: it writes its data into ``tmp_path`` and returns the library
call and the CLI arguments that must fail, plus the substrings each message must hold.
``docs/_make_errors_table.py`` runs the same entries to write ``docs/errors.md``, so the messages shown
there are the ones users see. The substrings are read off the data each case writes (the rows where it
put a NaN, the column it misspelt), not copied from the code's output.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import losslab as ll
from losslab.cli import app

runner = CliRunner()
N = 20  # rows of every table written here: tiny, nothing trains unless a case needs it


# ----------------------------------------------------------------------------- data writers
def _frame(**columns: Any) -> pd.DataFrame:
    """Two numeric features a, b and labels 'score' in (0, 1); keyword arguments replace or add columns."""
    rng = np.random.default_rng(0)
    df = {"a": rng.normal(size=N), "b": rng.normal(size=N), "score": rng.uniform(0.05, 0.95, N)}
    df.update(columns)
    return pd.DataFrame(df)


def _csv(tmp: Path, name: str = "data.csv", **columns: Any) -> str:
    path = tmp / name
    _frame(**columns).to_csv(path, index=False)
    return str(path)


def _with(values: np.ndarray | None = None, at: dict[int, Any] | None = None, dtype: Any = float) -> np.ndarray:
    """A copy of ``values`` (default: the 'score' column) with cells ``at`` replaced."""
    out = np.array(_frame()["score"] if values is None else values, dtype=dtype)
    for i, v in (at or {}).items():
        out[i] = v
    return out


def _npz(tmp: Path, name: str = "data.npz", **arrays: np.ndarray) -> str:
    path = tmp / name
    np.savez(path, **arrays)
    return str(path)


def _image_folder(tmp: Path, n: int = 6, size: tuple[int, int] = (8, 8)) -> Path:
    from PIL import Image

    folder = tmp / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(folder / f"{i}.png")
    pd.DataFrame({"filename": [f"{i}.png" for i in range(n)], "label": rng.uniform(0.05, 0.95, n)}).to_csv(
        folder / "labels.csv", index=False
    )
    return folder


def _store_with_version(tmp: Path, version: int) -> str:
    from losslab.experiment.store import Store

    path = tmp / "old.sqlite"
    Store(path).close()
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    con.close()
    return str(path)


def _legacy_store(tmp: Path) -> str:
    """A SQLite file whose ``runs`` table has another layout and no schema version (an older losslab)."""
    path = tmp / "legacy.sqlite"
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, law TEXT, loss REAL)")
        con.execute("INSERT INTO runs VALUES (1, 'beta', 0.5)")
    con.close()
    return str(path)


# ----------------------------------------------------------------------------- the cases
Build = Callable[[Path], tuple[Callable[[], Any] | None, list[str] | None]]


@dataclass
class Case:
    id: str  # the test id: test_bad_input[<id>]
    bad: str  # the bad input, in words (docs/errors.md)
    build: Build  # tmp_path -> (library call, CLI arguments); either may be None
    expect: tuple[str, ...]  # substrings of the library message
    cli_expect: tuple[str, ...] | None = None  # substrings of the CLI line (default: expect)
    xfail: str | None = None  # a known gap, with the change that closes it


def _compare(data: str, *more: str) -> list[str]:
    return ["compare", data, *more]


def _lib_compare(data: Any, **kw: Any) -> Callable[[], Any]:
    opts = dict(seeds=1, epochs=1, model="linear")
    opts.update(kw)
    return lambda: ll.compare(data, **opts)


def _nan_labels(t: Path):
    p = _csv(t, score=_with(at={3: np.nan, 7: np.nan}))
    return (lambda: ll.data.load(p, target="score")), _compare(p, "--target", "score")


def _nan_labels_arrays(t: Path):
    X, y = _frame()[["a", "b"]].to_numpy(), _with(at={3: np.nan, 7: np.nan})
    p = _npz(t, X=X, y=y)
    return (lambda: ll.data.from_arrays(X, y)), _compare(p)


def _nan_labels_law(t: Path):
    y = torch.as_tensor(_with(at={3: np.nan, 7: np.nan}))
    return (lambda: ll.get_law("bernoulli").loss(torch.zeros(N, 1, dtype=y.dtype), y)), None


def _inf_labels(t: Path):
    p = _csv(t, score=_with(at={5: np.inf}))
    return (lambda: ll.data.load(p, target="score")), ["inspect", p, "--target", "score"]


def _nan_features(t: Path):
    p = _csv(t, b=_with(_frame()["b"], at={2: np.nan, 4: np.nan}))
    return (lambda: ll.data.load(p, target="score")), _compare(p, "--target", "score")


def _inf_features_arrays(t: Path):
    X = _frame()[["a", "b"]].to_numpy(copy=True)
    X[2, 1] = X[4, 1] = np.inf
    p = _npz(t, X=X, y=_with())
    return (lambda: ll.data.from_arrays(X, _with(), feature_names=["a", "b"])), _compare(p)


def _edge_labels(t: Path):
    y = _with(at={1: 1.0, 4: 1.0})
    p = _csv(t, score=y)
    return (lambda: ll.get_law("beta").loss(torch.zeros(N, 2, dtype=torch.float64), torch.as_tensor(y))), _compare(
        p, "--target", "score", "--laws", "beta"
    )


def _outside_labels(t: Path):
    y = _with(at={6: 1.5, 9: -0.2})
    p = _csv(t, score=y)
    return _lib_compare(p, target="score", laws=["continuous-bernoulli"]), _compare(
        p, "--target", "score", "--laws", "continuous-bernoulli"
    )


def _outside_every_law(t: Path):
    p = _csv(t, score=_with(at={1: 1.0, 4: 0.0}))
    return _lib_compare(p, target="score", laws=["beta", "logit-normal"]), _compare(
        p, "--target", "score", "--laws", "beta,logit-normal"
    )


def _shape_n1_loss(t: Path):
    return (lambda: ll.get_law("gaussian").loss(torch.zeros(N, 1), torch.zeros(N, 1))), None


def _shape_n_vs_vector(t: Path):
    law = ll.get_law("mvn", dim=2)
    return (lambda: law.loss(torch.zeros(N, law.raw_dim), torch.zeros(N))), None


def _shape_raw_outputs(t: Path):
    return (lambda: ll.get_law("beta").loss(torch.zeros(N, 3), torch.full((N,), 0.5))), None


def _shape_weight(t: Path):
    law = ll.get_law("bernoulli")
    return (lambda: law.loss(torch.zeros(N, 1), torch.full((N,), 0.5), weight=torch.ones(N, 1))), None


def _shape_3d_labels(t: Path):
    X, y = np.zeros((N, 2)), np.zeros((N, 1, 1))
    return (lambda: ll.data.from_arrays(X, y)), _compare(_npz(t, X=X, y=y))


def _rows_differ(t: Path):
    X, y = np.zeros((N, 2)), np.full(N - 1, 0.5)
    return (lambda: ll.data.from_arrays(X, y)), _compare(_npz(t, X=X, y=y))


def _empty_csv(t: Path):
    p = t / "empty.csv"
    p.write_text("")
    return (lambda: ll.data.load(p, target="score")), _compare(str(p), "--target", "score")


def _header_only_csv(t: Path):
    p = t / "header.csv"
    p.write_text("a,b,score\n")
    return (lambda: ll.data.load(p, target="score")), _compare(str(p), "--target", "score")


def _empty_arrays(t: Path):
    X, y = np.zeros((0, 2)), np.zeros(0)
    return (lambda: ll.data.from_arrays(X, y)), _compare(_npz(t, X=X, y=y))


def _single_row(t: Path):
    p = t / "one.csv"
    _frame().iloc[:1].to_csv(p, index=False)
    return _lib_compare(str(p), target="score", laws=["bernoulli"]), _compare(str(p), "--target", "score")


def _missing_file(t: Path):
    _csv(t)  # data.csv exists; the user typed date.csv
    p = str(t / "date.csv")
    return (lambda: ll.data.load(p, target="score")), _compare(p, "--target", "score")


def _misspelt_target(t: Path):
    p = _csv(t)
    return (lambda: ll.data.load(p, target="scor")), _compare(p, "--target", "scor")


def _no_target(t: Path):
    p = _csv(t)
    return (lambda: ll.data.load(p)), ["inspect", p]


def _non_numeric_target(t: Path):
    p = _csv(t, score=_with(at={2: "high", 11: "low"}, dtype=object))
    return (lambda: ll.data.load(p, target="score")), _compare(p, "--target", "score")


def _mixed_types(t: Path):
    p = _csv(t, a=_with(_frame()["a"], at={4: "oops"}, dtype=object))
    return (lambda: ll.data.load(p, target="score")), _compare(p, "--target", "score")


def _mixed_types_arrays(t: Path):
    y = [0.1, "0.5x", 0.2]
    return (lambda: ll.data.from_arrays(np.zeros((3, 1)), y)), None


def _corrupt_image(t: Path):
    folder = _image_folder(t)
    (folder / "3.png").write_bytes(b"\x89PNG but not really an image")
    return (lambda: ll.data.load(folder)), _compare(str(folder))


def _image_sizes(t: Path):
    from PIL import Image

    folder = _image_folder(t)
    Image.fromarray(np.zeros((9, 8), dtype=np.uint8)).save(folder / "3.png")
    return (lambda: ll.data.load(folder)), _compare(str(folder))


def _missing_image(t: Path):
    folder = _image_folder(t)
    (folder / "4.png").unlink()
    return (lambda: ll.data.load(folder)), _compare(str(folder))


def _missing_labels_csv(t: Path):
    folder = _image_folder(t)
    (folder / "labels.csv").unlink()
    return (lambda: ll.data.load(folder)), _compare(str(folder))


def _unknown_law(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("bernouli")), _compare(p, "--target", "score", "--laws", "bernouli")


def _unknown_law_option(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("beta", clamps=1e-6)), _compare(p, "--target", "score", "--laws", "beta:clamps=1e-6")


def _bad_law_option_value(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("beta", clamp=0.7)), _compare(p, "--target", "score", "--laws", "beta:clamp=0.7")


def _unknown_data_set(t: Path):
    return (lambda: ll.data.load("digts-inpaint")), _compare("digts-inpaint")


def _unknown_file_type(t: Path):
    p = t / "data.xlsx"
    p.write_bytes(b"PK")
    return (lambda: ll.data.load(p, target="score")), _compare(str(p), "--target", "score")


def _unknown_model(t: Path):
    p = _csv(t)
    return _lib_compare(p, target="score", laws=["bernoulli"], model="mpl"), _compare(
        p, "--target", "score", "--laws", "bernoulli", "--model", "mpl"
    )


def _split_fractions(t: Path):
    return _lib_compare(_csv(t), target="score", laws=["bernoulli"], val=0.5, test=0.5), None


def _cnn_on_table(t: Path):
    p = _csv(t)
    return _lib_compare(p, target="score", laws=["bernoulli"], model="cnn"), _compare(
        p, "--target", "score", "--laws", "bernoulli", "--model", "cnn"
    )


def _law_needs_trials(t: Path):
    p = _csv(t)
    return _lib_compare(p, target="score", laws=["binomial"]), _compare(p, "--target", "score", "--laws", "binomial")


def _feature_is_target(t: Path):
    p = _csv(t)
    return (lambda: ll.data.load(p, target="score", features=["a", "score"])), _compare(
        p, "--target", "score", "--features", "a,score"
    )


def _option_not_for_source(t: Path):
    p = _npz(t, X=np.zeros((N, 2)), y=_with())
    return (lambda: ll.data.load(p, target="score")), _compare(p, "--target", "score")


def _seeds_zero(t: Path):
    p = _csv(t)
    return _lib_compare(p, target="score", laws=["bernoulli"], seeds=0), _compare(
        p, "--target", "score", "--laws", "bernoulli", "--seeds", "0"
    )


def _seeds_not_integer(t: Path):
    return _lib_compare(_csv(t), target="score", laws=["bernoulli"], seeds=1.5), None


def _epochs_zero(t: Path):
    p = _csv(t)
    return _lib_compare(p, target="score", laws=["bernoulli"], epochs=0), _compare(
        p, "--target", "score", "--laws", "bernoulli", "--epochs", "0"
    )


def _unknown_metric(t: Path):
    p = _csv(t)
    return _lib_compare(p, target="score", laws=["bernoulli"], primary_metric="mean_squared_eror"), _compare(
        p, "--target", "score", "--laws", "bernoulli", "--metric", "mean_squared_eror"
    )


def _store_version(t: Path):
    from losslab.experiment.store import SCHEMA_VERSION

    p, store = _csv(t), _store_with_version(t, SCHEMA_VERSION + 1)
    return _lib_compare(p, target="score", laws=["bernoulli"], store=store), ["report", store]


def _store_legacy(t: Path):
    p, store = _csv(t), _legacy_store(t)
    return _lib_compare(p, target="score", laws=["bernoulli"], store=store), _compare(
        p, "--target", "score", "--laws", "bernoulli", "--store", store
    )


def _not_a_store(t: Path):
    store = t / "notes.sqlite"
    store.write_text("these are my notes, not a database\n" * 50)
    return (lambda: ll.experiment.store.Store(store)), ["report", str(store)]


def _trials_not_integer(t: Path):
    k = np.arange(N) % 5
    p = _csv(t, score=k / 4, n=_with(np.full(N, 4.0), at={18: 2.5}))
    return (lambda: ll.data.load(p, target="score", trials="n")), _compare(
        p, "--target", "score", "--trials", "n", "--laws", "binomial"
    )


def _trials_k_above_n(t: Path):
    p = _csv(t, score=_with(np.full(N, 0.5), at={19: 1.5}), n=np.full(N, 4.0))
    return (lambda: ll.data.load(p, target="score", trials="n")), _compare(
        p, "--target", "score", "--trials", "n", "--laws", "binomial"
    )


def _trials_column_missing(t: Path):
    p = _csv(t, n=np.full(N, 4.0))
    return (lambda: ll.data.load(p, target="score", trials="m")), _compare(p, "--target", "score", "--trials", "m")


def _markup_in_name(t: Path):
    p = _csv(t)
    return (lambda: ll.data.load(p, target="[/bold]score")), _compare(p, "--target", "[/bold]score")


# --- law arguments, numeric options, metrics and synthetic data (issue 21, items 2, 6, 7, 11, 12)
def _clamp_real_support(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("gaussian", clamp=1e-6)), _compare(p, "--target", "score", "--laws", "gaussian:clamp=1e-6")


def _clamp_below_resolution(t: Path):
    law = ll.get_law("beta", clamp=1e-8)
    y = torch.as_tensor(_with(at={2: 1.0}), dtype=torch.float32)
    return (lambda: law.loss(torch.zeros(N, 2), y)), None


def _option_wrong_type(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("gaussian-hetero", beta="0.5")), _compare(
        p, "--target", "score", "--laws", "gaussian-hetero:beta=half"
    )


def _option_not_integer(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("binned", n_bins=2.5)), _compare(p, "--target", "score", "--laws", "binned:n_bins=2.5")


def _option_breaks_float(t: Path):
    p = _csv(t)
    return (lambda: ll.get_law("gaussian", sigma=1e-200)), _compare(p, "--target", "score", "--laws", "gaussian:sigma=1e-200")


def _law_name_not_string(t: Path):
    return (lambda: ll.get_law(None)), None


def _unknown_reduction(t: Path):
    law = ll.get_law("binned", kind="onehot")
    return (lambda: law.loss(torch.zeros(N, law.raw_dim), torch.as_tensor(_with()), reduction="bogus")), None


def _negative_weight(t: Path):
    w = _with(np.ones(N), at={3: -1.0, 8: np.nan})
    return (lambda: ll.get_law("bernoulli").loss(torch.zeros(N, 1, dtype=torch.float64), torch.as_tensor(_with()), weight=w)), None


def _labels_not_numbers(t: Path):
    return (lambda: ll.get_law("gaussian").loss(torch.zeros(3, 1), "0.1 0.5 0.9")), None


def _labels_complex(t: Path):
    y = _with().astype(np.complex128) + 1j
    return (lambda: ll.get_law("gaussian").loss(torch.zeros(N, 1, dtype=torch.float64), y)), None


def _raw_not_tensor(t: Path):
    return (lambda: ll.get_law("gaussian").loss(3, torch.zeros(1))), None


def _raw_integer(t: Path):
    return (lambda: ll.get_law("beta").loss(torch.zeros(N, 2, dtype=torch.int64), torch.as_tensor(_with()))), None


def _params_not_dict(t: Path):
    return (lambda: ll.get_law("gaussian").nll([0.0] * N, torch.as_tensor(_with()))), None


def _evaluate_level(t: Path):
    law = ll.get_law("beta")
    params = law.link(torch.zeros(N, 2, dtype=torch.float64))
    return (lambda: ll.metrics.evaluate(law, params, torch.as_tensor(_with()), level=1.5)), None


def _metric_n_samples(t: Path):
    law = ll.get_law("logit-normal")
    dist = law.predictive(law.link(torch.zeros(N, 2, dtype=torch.float64)))
    return (lambda: ll.metrics.crps(dist, torch.as_tensor(_with()), n_samples=0)), None


def _synthetic_not_integer(t: Path):
    return (lambda: ll.data.synthetic("gaussian", n=2.7)), None


def _synthetic_bad_scale(t: Path):
    return (lambda: ll.data.synthetic("gaussian", n=N, scale=-1)), None


CASES: list[Case] = [
    # --- labels: NaN / inf, outside the law's support, trials
    Case("nan-labels", "NaN labels in a CSV target column", _nan_labels, ("data.csv", "target column 'score'", "2 missing", "[3, 7]")),
    Case("nan-labels-arrays", "NaN labels in arrays (from_arrays) / an npz file", _nan_labels_arrays,
         ("y", "2 non-finite", "[3, 7]"), cli_expect=("data.npz", "'y'", "2 row(s) with NaN", "[3, 7]")),
    Case("nan-labels-law", "NaN labels passed to law.loss", _nan_labels_law, ("bernoulli", "labels y", "2 non-finite", "[3, 7]")),
    Case("inf-labels", "inf labels in a CSV target column", _inf_labels, ("data.csv", "target column 'score'", "1 infinite", "[5]")),
    Case("nan-features", "NaN in a CSV feature column", _nan_features, ("data.csv", "feature column 'b'", "2 missing", "[2, 4]")),
    Case("inf-features-arrays", "inf features in arrays / an npz file", _inf_features_arrays,
         ("X", "2 non-finite", "column(s) 'b'", "[2, 4]"), cli_expect=("data.npz", "'X'", "column(s) 1", "[2, 4]")),
    Case("labels-on-open-edge", "labels exactly 1.0 for beta, whose support (0, 1) is open", _edge_labels,
         ("beta", "(0, 1)", "2 of 20", "[1, 4]", "clamp=1e-6")),
    Case("labels-outside-support", "labels 1.5 and -0.2 for continuous-bernoulli ([0, 1])", _outside_labels,
         ("continuous-bernoulli", "[0, 1]", "2 of 20", "[6, 9]")),
    Case("labels-outside-every-law", "labels 0 and 1 with --laws beta,logit-normal (no chosen law admits them)", _outside_every_law,
         ("beta", "(0, 1)", "outside the support", "[1, 4]")),
    Case("labels-outside-every-law-names-all", "labels 0 and 1 with --laws beta,logit-normal: one line naming both laws",
         _outside_every_law, ("beta", "logit-normal", "no chosen law admits")),
    Case("trials-not-integer", "a trials column holding 2.5", _trials_not_integer, ("data.csv", "trials column(s) ['n']", "non-integer", "2.5", "[18]")),
    Case("trials-k-above-n", "labels k/n above 1 (k > n) with a trials column", _trials_k_above_n,
         ("data.csv", "target column(s) ['score']", "outside [0, 1]", "[19]", "k <= n")),
    Case("trials-column-missing", "--trials naming a column that does not exist", _trials_column_missing,
         ("data.csv", "no trials column 'm'", "n")),
    # --- shapes
    Case("shape-n1-vs-n", "labels (N, 1) for parameters (N,) in law.loss: never broadcast", _shape_n1_loss,
         ("gaussian", "(20, 1)", "(20,)", "no broadcasting", "squeeze")),
    Case("shape-vector-law", "labels (N,) for a vector law (mvn, dim=2)", _shape_n_vs_vector, ("mvn", "(20,)", "(20, 2)")),
    Case("shape-raw-outputs", "raw outputs (N, 3) for beta (raw_dim=2)", _shape_raw_outputs, ("beta", "(20, 3)", "raw_dim=2")),
    Case("shape-weight", "weight (N, 1) for a loss of shape (N,)", _shape_weight, ("bernoulli", "weight", "(20, 1)", "(20,)")),
    Case("shape-3d-labels", "labels of shape (N, 1, 1)", _shape_3d_labels, ("y", "(20, 1, 1)", "(N,) or (N, T)"),
         cli_expect=("data.npz", "'y'", "(20, 1, 1)")),
    Case("rows-differ", "X with 20 rows, y with 19", _rows_differ, ("19 rows", "20"), cli_expect=("data.npz", "19 rows", "20")),
    # --- empty and tiny data
    Case("empty-csv", "an empty CSV file", _empty_csv, ("empty.csv", "the file is empty")),
    Case("header-only-csv", "a CSV with a header and no rows", _header_only_csv, ("header.csv", "no data rows")),
    Case("empty-arrays", "arrays with 0 rows", _empty_arrays, ("no rows",), cli_expect=("data", "no rows")),
    Case("single-row", "a CSV with one data row", _single_row, ("1 row(s)", "at least 3")),
    # --- files and columns
    Case("missing-file", "a data path that does not exist", _missing_file, ("date.csv", "does not exist", "did you mean 'data.csv'")),
    Case("misspelt-target", "--target scor (the column is score)", _misspelt_target, ("data.csv", "'scor'", "did you mean 'score'")),
    Case("no-target", "a CSV without --target", _no_target, ("data.csv", "no target column given", "a, b, score")),
    Case("non-numeric-target", "a target column holding words", _non_numeric_target,
         ("data.csv", "target column 'score'", "2 non-numeric", "'high'", "[2, 11]")),
    Case("mixed-types", "a feature column of numbers with one word", _mixed_types,
         ("data.csv", "feature column 'a'", "'oops'", "[4]", "mixed types")),
    Case("mixed-types-arrays", "a label list mixing numbers and a string", _mixed_types_arrays, ("y", "expected numbers")),
    Case("feature-is-target", "--features naming the target column", _feature_is_target, ("data.csv", "'score'", "both a feature and a target")),
    Case("option-not-for-source", "--target for an npz file (whose arrays are named by x=, y=)", _option_not_for_source,
         ("target=", "data.npz", "y=")),
    Case("unknown-file-type", "a .xlsx file", _unknown_file_type, ("data.xlsx", "'.xlsx'", ".csv")),
    Case("unknown-data-set", "a misspelt registry name", _unknown_data_set, ("'digts-inpaint'", "did you mean 'digits-inpaint'")),
    Case("markup-in-column-name", "a column name that looks like rich markup", _markup_in_name, ("'[/bold]score'", "did you mean 'score'")),
    # --- images
    Case("corrupt-image", "an image file that is not an image", _corrupt_image, ("3.png", "cannot be read as an image")),
    Case("image-sizes", "images of different sizes in one folder", _image_sizes, ("3.png", "8x9", "'0.png'", "8x8", "one size")),
    Case("missing-image", "labels.csv naming an image that is not there", _missing_image, ("labels.csv", "row 4", "'4.png'")),
    Case("missing-labels-csv", "an image folder without labels.csv", _missing_labels_csv, ("labels.csv", "does not exist")),
    # --- laws and options
    Case("unknown-law", "a misspelt law name", _unknown_law, ("'bernouli'", "did you mean 'bernoulli'")),
    Case("unknown-law-option", "a misspelt law option", _unknown_law_option, ("'beta'", "'clamps'", "did you mean 'clamp'")),
    Case("bad-law-option-value", "a law option out of range (clamp=0.7)", _bad_law_option_value, ("beta", "clamp=0.7", "small positive")),
    Case("law-needs-trials", "binomial without a trials column", _law_needs_trials, ("'binomial'", "needs trials", "trials="),
         cli_expect=("'binomial'", "needs trials", "--trials COLUMN")),
    Case("model-needs-images", "--model cnn with a table", _cnn_on_table, ("model='cnn'", "image inputs", "(2,)")),
    Case("unknown-model", "a misspelt model name", _unknown_model, ("'mpl'", "mlp")),
    Case("split-fractions", "val + test >= 1", _split_fractions, ("val + test = 1", "less than 1")),
    Case("seeds-zero", "seeds = 0", _seeds_zero, ("seeds",), cli_expect=("--seeds 0", "1 or more")),
    Case("seeds-not-integer", "seeds = 1.5", _seeds_not_integer, ("seeds", "1.5")),
    Case("epochs-zero", "epochs = 0", _epochs_zero, ("epochs=0", "integer >= 1"), cli_expect=("--epochs 0", "1 or more")),
    Case("unknown-metric", "a misspelt --metric", _unknown_metric, ("'mean_squared_eror'", "mean_squared_error")),
    Case("clamp-real-support", "clamp= for a law on the real line (gaussian)", _clamp_real_support,
         ("gaussian", "clamp=1e-06", "no edge", "drop clamp=")),
    Case("clamp-below-resolution", "clamp=1e-8 for beta with float32 labels (1 - 1e-8 rounds to 1)", _clamp_below_resolution,
         ("beta", "clamp=1e-08", "float32", "rounds to 1", "clamp >= 1.19e-07")),
    Case("law-option-wrong-type", "a law option of the wrong type (beta='0.5')", _option_wrong_type,
         ("gaussian-hetero", "beta='0.5'", "a number in [0, 1]", "str"),
         cli_expect=("gaussian-hetero", "beta='half'", "a number in [0, 1]")),
    Case("law-option-not-integer", "a count option that is not an integer (n_bins=2.5)", _option_not_integer,
         ("binned", "n_bins=2.5", "an integer >= 2")),
    Case("law-option-breaks-float", "a scale option float32 cannot use (sigma=1e-200)", _option_breaks_float,
         ("gaussian", "sigma=1e-200", "[1e-09, 1e+09]")),
    Case("law-name-not-string", "get_law(None)", _law_name_not_string, ("law name None", "expected a string", "gaussian")),
    Case("unknown-reduction", "reduction='bogus' in law.loss", _unknown_reduction,
         ("binned", "reduction='bogus'", "'mean', 'sum', 'none'")),
    Case("negative-weight", "a negative and a NaN weight in law.loss", _negative_weight,
         ("bernoulli", "weight", "2 negative or non-finite", "[3, 8]", "finite weights >= 0")),
    Case("labels-not-numbers", "labels given as a string to law.loss", _labels_not_numbers, ("gaussian", "labels y", "expected numbers")),
    Case("labels-complex", "complex labels", _labels_complex, ("gaussian", "labels y", "complex", "real numbers")),
    Case("raw-not-tensor", "raw outputs given as a Python int", _raw_not_tensor, ("gaussian", "raw outputs", "int", "floating-point tensor")),
    Case("raw-integer-dtype", "raw outputs of an integer dtype", _raw_integer, ("beta", "raw outputs", "int64", "float32 or float64")),
    Case("params-not-dict", "law.nll given a list instead of law.link's parameters", _params_not_dict, ("params is list", "law.link(raw)")),
    Case("evaluate-level", "evaluate(level=1.5)", _evaluate_level, ("level=1.5", "(0, 1)")),
    Case("metric-n-samples", "crps(n_samples=0) (the logit-normal's quantile grid)", _metric_n_samples, ("n_samples=0", "integer >= 2")),
    Case("synthetic-not-integer", "synthetic(n=2.7)", _synthetic_not_integer, ("synthetic", "n=2.7", "integer >= 1")),
    Case("synthetic-bad-option", "synthetic(scale=-1)", _synthetic_bad_scale, ("synthetic", "scale=-1", "> 0")),
    # --- stores
    Case("store-newer-version", "a run store written by another schema version", _store_version, ("old.sqlite", "schema version")),
    Case("store-legacy", "a SQLite file whose runs table has another layout and no version", _store_legacy,
         ("legacy.sqlite",)),
    Case("not-a-store", "a text file given as the store", _not_a_store, ("notes.sqlite", "not a losslab store")),
    # --- damaged stores and tampered data files (issue 21, items 12 and 15); builders defined below the list
    Case("store-damaged-metrics", "a stored run whose metrics are not JSON", lambda t: _damaged_store(t, "metrics"),
         ("damaged.sqlite", "law 'bernoulli', seed 0", "metrics column is not JSON", "retrain it")),
    Case("store-damaged-arrays", "a stored run whose arrays blob is not an .npz", lambda t: _damaged_store(t, "arrays"),
         ("damaged.sqlite", "law 'bernoulli', seed 0", "arrays blob is not an .npz archive", "retrain it")),
    Case("store-other-layout", "a store of this schema version whose runs table lacks a column", lambda t: _other_layout_store(t),
         ("other-layout.sqlite", "table runs has columns", "use a new --store file")),
    Case("cifar-tampered-pickle", "a CIFAR-10 tarball whose pickle names os.system, loaded with verify=False",
         lambda t: _tampered_cifar(t), ("test_batch", "names os.system", "fetch('cifar10h-catdog')")),
]


def _damaged_store(t: Path, column: str):
    """A store of one finished run whose ``column`` was overwritten (a crash of another program, a bad disk)."""
    p, store = _csv(t), str(t / "damaged.sqlite")
    ll.compare(p, target="score", laws=["bernoulli"], seeds=1, epochs=1, model="linear", store=store)
    con = sqlite3.connect(store)
    with con:
        con.execute(f"UPDATE runs SET {column}=?", ("{" if column == "metrics" else b"garbage",))
    con.close()
    return (lambda: ll.experiment.load_result(store)), ["report", store]


def _other_layout_store(t: Path):
    path = t / "other-layout.sqlite"
    ll.experiment.Store(path).close()
    con = sqlite3.connect(path)
    with con:
        con.execute("ALTER TABLE runs DROP COLUMN arrays")
    con.close()
    return (lambda: ll.experiment.Store(path)), ["report", str(path)]


def _tampered_cifar(t: Path):
    import io
    import tarfile

    cache = t / "cache"
    (cache / "cifar10h").mkdir(parents=True)
    (cache / "cifar10").mkdir()
    for name in ("probs", "counts"):
        np.save(cache / "cifar10h" / f"cifar10h-{name}.npy", np.zeros((2, 10)))
    payload = b"(dp0\nS'data'\np1\ncos\nsystem\np2\n(S'true'\np3\ntp4\nRp5\ns."  # unpickled, it runs a shell command
    with tarfile.open(cache / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))

    def call():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LOSSLAB_DATA", str(cache))
            return ll.data.load("cifar10h-catdog", verify=False)

    return call, None


# ----------------------------------------------------------------------------- runners
def library_message(call: Callable[[], Any]) -> str:
    """The message of the LosslabError ``call`` raises; fails the test on any other outcome."""
    with pytest.raises(ll.LosslabError) as info:
        call()
    msg = str(info.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg


def cli_line(args: list[str], out: Path) -> str:
    """The one line the CLI prints for ``args`` (after ``error: ``); fails unless it exits 2 with that line."""
    if args[0] == "compare":
        # Tiny defaults unless the case sets the option itself (seeds-zero, epochs-zero).
        defaults = [x for k, v in (("--seeds", "1"), ("--epochs", "1")) if k not in args for x in (k, v)]
        args = args + defaults + ["--quiet", "--out", str(out)]
    elif args[0] == "report":
        args = args + ["--out", str(out)]
    res = runner.invoke(app, args)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2, f"exit {res.exit_code}: {res.output!r} {res.exception!r}"
    assert len(lines) == 1, f"not one line: {res.output!r}"
    assert lines[0].startswith("error: ") and "Traceback" not in res.output
    return lines[0][len("error: ") :]


def run_case(case: Case, tmp: Path) -> tuple[str | None, str | None]:
    """(library message, CLI line) of one case; each checked for one line and, for the CLI, exit 2."""
    call, args = case.build(tmp)
    msg = library_message(call) if call is not None else None
    line = cli_line(args, tmp / "out") if args is not None else None
    return msg, line


def _params() -> list[Any]:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.xfail, strict=False)] if c.xfail else [])
        for c in CASES
    ]


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: Case, tmp_path: Path) -> None:
    if case.id in ("corrupt-image", "image-sizes", "missing-image", "missing-labels-csv"):
        pytest.importorskip("PIL")
    msg, line = run_case(case, tmp_path)
    if msg is not None:
        missing = [s for s in case.expect if s not in msg]
        assert not missing, f"library message lacks {missing}: {msg!r}"
    if line is not None:
        want = case.cli_expect or case.expect
        missing = [s for s in want if s not in line]
        assert not missing, f"CLI line lacks {missing}: {line!r}"


# ----------------------------------------------------------------------------- not errors
CONSTANT = 0.25  # inside every law's support (binned defaults to [0, 1]); k = 1 of n = 4 for the count laws


def constant_labels_note(tmp: Path) -> tuple[str, str]:
    """What inspect says about constant labels (library message, CLI line); used by the docs table too."""
    y = np.full(N, CONSTANT)
    rep = ll.inspect(y)
    assert rep.modality == "constant"
    note = next(m for m in rep.messages if "constant" in m)
    p = _csv(tmp, score=y)
    res = runner.invoke(app, ["inspect", p, "--target", "score"])
    assert res.exit_code == 0, res.output
    line = next(line for line in res.output.splitlines() if "constant" in line and "labels" in line)
    return note, line.strip()


def test_constant_labels_are_noted_not_refused(tmp_path: Path) -> None:
    # Constant labels are inside every law's support, and every law has a finite NLL there (the scale
    # floors keep densities bounded), so no law refuses them; inspect says that a comparison is moot.
    note, line = constant_labels_note(tmp_path)
    assert f"all {N} labels equal {CONSTANT:g}" in note and "constant" in line
    y = torch.full((N,), CONSTANT, dtype=torch.float64)
    for name in ll.list_laws():
        law = ll.get_law(name, dim=2) if name == "mvn" else ll.get_law(name)
        yy = y[:, None].expand(N, 2).contiguous() if law.event_dim else y
        trials = torch.full_like(y, 4.0) if law.needs_trials else None
        law.check_labels(yy, trials=trials)  # must not raise
        raw = torch.zeros(N, law.raw_dim, dtype=torch.float64, requires_grad=True)
        loss = law.loss(raw, yy, trials=trials)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(raw.grad).all(), name


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    # With --debug the LosslabError propagates (Typer prints its traceback) instead of the one line.
    res = runner.invoke(app, ["--debug", "compare", str(tmp_path / "nope.csv"), "--target", "y", "--out", str(tmp_path)])
    assert isinstance(res.exception, ll.LosslabError) and res.exit_code != 0


def test_docs_table_lists_every_case() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
    if not doc.exists():
        pytest.fail("docs/errors.md is missing: run python docs/_make_errors_table.py")
    text = doc.read_text()
    missing = [c.id for c in CASES if f"test_bad_input[{c.id}]" not in text]
    assert not missing, f"docs/errors.md lacks {missing}: run python docs/_make_errors_table.py"
    assert len({c.id for c in CASES}) == len(CASES)
