"""Readers: CSV, Parquet, npz and image folders written into tmp_path; every bad input names its culprit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from losslab._errors import LosslabError
from losslab.data import load, read_csv, read_image_folder, read_npz, read_parquet


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------ CSV


def test_csv_numeric_and_categorical_features(tmp_path):
    p = _write(tmp_path / "t.csv", "a,colour,label\n1.5,red,0.25\n2,blue,1\n-3,red,0\n")
    ds = read_csv(p, target="label")
    assert ds.kind == "table" and ds.name == "t"
    assert ds.feature_names == ["a", "colour_blue", "colour_red"]  # pandas.get_dummies names, sorted categories
    np.testing.assert_array_equal(ds.X, np.array([[1.5, 0, 1], [2, 1, 0], [-3, 0, 1]], dtype=np.float32))
    np.testing.assert_array_equal(ds.y, np.array([0.25, 1, 0], dtype=np.float32))
    assert ds.trials is None and ds.splits is None and ds.target_names == ["label"]


def test_csv_trials_targets_features_and_split_column(tmp_path):
    p = _write(
        tmp_path / "t.csv",
        "x1,x2,k1,k2,n,part\n0,1,0.5,0.25,4,train\n1,0,1,0,4,val\n2,2,0.75,0.5,4,TEST\n3,1,0,1,2,train\n",
    )
    ds = read_csv(p, target=["k1", "k2"], features=["x2"], trials="n", split="part")
    assert ds.y.shape == (4, 2) and ds.X.shape == (4, 1) and ds.feature_names == ["x2"]
    assert ds.trials.shape == (4, 2) and ds.trials[:, 0].tolist() == [4, 4, 4, 2]
    s = ds.split(0)
    assert s["train"].tolist() == [0, 3] and s["val"].tolist() == [1] and s["test"].tolist() == [2]


def test_csv_split_files_are_concatenated_with_shared_one_hot(tmp_path):
    tr = _write(tmp_path / "train.csv", "c,y\na,0.1\nb,0.2\n")
    te = _write(tmp_path / "test.csv", "c,y\nc,0.3\n")
    ds = read_csv({"train": tr, "test": te}, target="y")
    assert ds.feature_names == ["c_a", "c_b", "c_c"] and len(ds) == 3
    assert ds.split(5)["test"].tolist() == [2]
    assert ds.split(5)["train"].size + ds.split(5)["val"].size == 2


def test_csv_pandas_options_pass_through(tmp_path):
    p = _write(tmp_path / "t.csv", "x;y\n1,5;0,5\n2,0;0,25\n")
    ds = read_csv(p, target="y", sep=";", decimal=",")
    assert ds.X[:, 0].tolist() == [1.5, 2.0] and ds.y.tolist() == [0.5, 0.25]


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        ("x,label\n1,0.5\n2,abc\n3,0.1\n", {}, r"t\.csv: target column 'label' holds 1 non-numeric value\(s\) such as 'abc' at row\(s\) \[1\]"),
        ("x,lable\n1,0.5\n", {}, r"no target column 'label' \(did you mean 'lable'\?\)"),
        ("x,label\n1,0.5\n2,\n3,\n", {}, r"target column 'label' has 2 missing value\(s\) \(NaN\), first at row\(s\) \[1, 2\]"),
        ("x,label\n1,0.5\ninf,0.1\n", {}, r"feature column 'x' has 1 infinite value\(s\), first at row\(s\) \[1\]"),
        ("x,label\n1,0.5\n,0.1\n", {}, r"feature column 'x' has 1 missing value"),
        ("x,label\n1,0.5\n2,inf\n", {}, r"target column 'label' has 1 infinite"),
        ("c,label\nred,0.5\n,0.1\n", {}, r"categorical feature column 'c' has 1 missing value\(s\), first at row\(s\) \[1\]"),
        ("x,label\n1.5,0.5\n2.5,0.1\n3.1,0.1\n4,0.1\n5,0.1\n6,0.1\n7,0.1\n8,0.1\n9,0.1\n1O,0.2\n", {},
         r"feature column 'x' holds 1 non-numeric value\(s\) such as '1O' at row\(s\) \[9\]"),
        ("x,label\n", {}, "header but no data rows"),
        ("x,label,n\n1,0.5,4\n2,0.5,0\n", {"trials": "n"}, r"counts <= 0, first at row\(s\) \[1\]"),
        ("x,label,n\n1,0.5,4\n2,3,4\n", {"trials": "n"}, r"outside \[0, 1\].*\[1\]"),
        ("x,label,s\n1,0.5,train\n2,0.5,holdout\n", {"split": "s"}, r"split column 's' holds 1 value\(s\) such as 'holdout'"),
        ("x,label\n1,0.5\n", {"features": ["xx"]}, r"no feature column 'xx' \(did you mean 'x'\?\)"),
        ("label\n0.5\n", {}, "no feature column is left"),
    ],
)
def test_csv_bad_input_names_the_culprit(tmp_path, text, kwargs, match):
    p = _write(tmp_path / "t.csv", text)
    with pytest.raises(LosslabError, match=match) as exc:
        read_csv(p, target="label", **kwargs)
    assert "\n" not in str(exc.value)


def test_csv_identifier_column_refused(tmp_path):
    rows = "\n".join(f"id{i},{i % 7 / 7}" for i in range(120))
    p = _write(tmp_path / "t.csv", "name,label\n" + rows + "\n")
    with pytest.raises(LosslabError, match="'name' has 120 distinct values in 120 rows, like an identifier"):
        read_csv(p, target="label")


def test_csv_empty_and_missing_files(tmp_path):
    with pytest.raises(LosslabError, match="the file is empty"):
        read_csv(_write(tmp_path / "e.csv", ""), target="y")
    _write(tmp_path / "data.csv", "x,y\n1,0\n")
    with pytest.raises(LosslabError, match=r"does not exist \(did you mean 'data.csv'"):
        read_csv(tmp_path / "dat.csv", target="y")


# ------------------------------------------------------------------ Parquet


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is the optional 'parquet' extra")
    df = pd.DataFrame({"a": [0.5, 1.5, 2.5], "kind": ["u", "v", "u"], "y": [0.0, 0.5, 1.0], "n": [2, 4, 4]})
    p = tmp_path / "t.parquet"
    df.to_parquet(p)
    ds = read_parquet(p, target="y", trials="n")
    assert ds.feature_names == ["a", "kind_u", "kind_v"]
    np.testing.assert_array_equal(ds.X[:, 0], df["a"].to_numpy(np.float32))
    assert ds.trials.tolist() == [2, 4, 4] and load(p, target="y").y.tolist() == [0.0, 0.5, 1.0]


def test_parquet_corrupt_file(tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is the optional 'parquet' extra")
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"this is not parquet at all")
    with pytest.raises(LosslabError, match=r"bad\.parquet: cannot be read as Parquet"):
        read_parquet(p, target="y")


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    with pytest.raises(LosslabError, match=r"pip install 'losslab\[parquet\]'"):
        read_parquet(tmp_path / "t.parquet", target="y")


# ------------------------------------------------------------------ npz


def test_npz_table_and_images(tmp_path):
    p = tmp_path / "t.npz"
    np.savez(p, X=np.arange(6.0).reshape(3, 2), y=np.array([0.0, 0.5, 1.0]), n=np.array([2, 2, 4]))
    ds = read_npz(p, trials="n")
    assert ds.kind == "table" and ds.trials.tolist() == [2, 2, 4] and ds.name == "t"
    imgs = np.random.default_rng(0).integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    q = tmp_path / "img.npz"
    np.savez(q, images=imgs, labels=np.linspace(0, 1, 4), part=np.array(["train", "train", "val", "test"]))
    ds = read_npz(q, x="images", y="labels", split="part")
    assert ds.kind == "image" and ds.X.shape == (4, 3, 5, 6)
    np.testing.assert_allclose(ds.X[1], np.moveaxis(imgs[1], -1, 0) / 255.0, rtol=1e-6)
    assert ds.split(0)["val"].tolist() == [2]


def test_npz_bad_input(tmp_path):
    p = tmp_path / "t.npz"
    np.savez(p, X=np.zeros((3, 2)), labels=np.zeros(3))
    with pytest.raises(LosslabError, match=r"no label array 'label' \(did you mean 'labels'\?\)"):
        read_npz(p, y="label")
    q = tmp_path / "nan.npz"
    np.savez(q, X=np.zeros((3, 2)), y=np.array([0.0, np.nan, 0.5]))
    with pytest.raises(LosslabError, match=r"array 'y' has 1 row\(s\) with NaN or inf, first at row\(s\) \[1\]"):
        read_npz(q)
    r = tmp_path / "broken.npz"
    r.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(LosslabError, match=r"broken\.npz: cannot be read"):
        read_npz(r)


# ------------------------------------------------------------------ image folders


def _png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(arr).save(path)


def test_image_folder_grayscale_with_trials_and_split(tmp_path):
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    b = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    _png(tmp_path / "a.png", a)
    _png(tmp_path / "b.png", b)
    _write(tmp_path / "labels.csv", "filename,label,trials,split\na.png,0.25,4,train\nb.png,1,4,test\n")
    ds = read_image_folder(tmp_path)
    assert ds.kind == "image" and ds.X.shape == (2, 1, 6, 5)
    # PNG is lossless: the pixels read back are the ones written, over 255.
    np.testing.assert_allclose(ds.X[1, 0], b / 255.0, rtol=1e-6)
    assert ds.y.tolist() == [0.25, 1.0] and ds.trials.tolist() == [4, 4]
    assert ds.split(0)["test"].tolist() == [1]
    assert load(tmp_path).X.shape == (2, 1, 6, 5)


def test_image_folder_mixed_gray_and_rgb_jpeg(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    Image.fromarray(np.full((4, 4, 3), 200, dtype=np.uint8)).save(tmp_path / "c.jpg", quality=95)
    _png(tmp_path / "g.png", np.full((4, 4), 100, dtype=np.uint8))
    _write(tmp_path / "lab.csv", "filename,label\nc.jpg,0.5\ng.png,0.0\n")
    ds = read_image_folder(tmp_path, labels="lab.csv")
    assert ds.X.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(ds.X[1], 100 / 255.0, rtol=1e-6)  # gray repeated over RGB
    assert abs(float(ds.X[0].mean()) - 200 / 255.0) < 3 / 255  # JPEG is lossy by a little


def test_image_folder_bad_input(tmp_path):
    pytest.importorskip("PIL")
    _png(tmp_path / "a.png", np.zeros((4, 4), dtype=np.uint8))
    _png(tmp_path / "big.png", np.zeros((5, 4), dtype=np.uint8))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    cases = [
        ("filename,label\na.png,0.1\nbad.png,0.2\n", r"bad\.png: cannot be read as an image"),
        ("filename,label\na.png,0.1\nbig.png,0.2\n", r"big\.png: image of size 4x5 \(WxH\) but 'a.png' is 4x4"),
        ("filename,label\na.pgn,0.1\n", r"row 0 names 'a.pgn', which is not a file in .*\(did you mean 'a.png'"),
        ("file,label\na.png,0.1\n", r"no required column 'filename' \(did you mean 'file'\?\)"),
        ("filename,label\na.png,high\n", r"label column 'label' holds 1 non-numeric value\(s\) such as 'high' at row\(s\) \[0\]"),
        ("filename,label\na.png,\n", r"label column 'label' has 1 missing value"),
        ("", "the file is empty"),
    ]
    for text, match in cases:
        _write(tmp_path / "labels.csv", text)
        with pytest.raises(LosslabError, match=match):
            read_image_folder(tmp_path)


# ------------------------------------------------------------------ load() dispatch


def test_load_dispatches_by_suffix(tmp_path):
    _write(tmp_path / "t.csv", "x,y\n1,0.5\n")
    _write(tmp_path / "t.tsv", "x\ty\n1\t0.5\n")
    np.savez(tmp_path / "t.npz", X=np.zeros((2, 1)), y=np.zeros(2))
    assert load(tmp_path / "t.csv", target="y").y.tolist() == [0.5]
    assert load(str(tmp_path / "t.tsv"), target="y").y.tolist() == [0.5]
    assert len(load(tmp_path / "t.npz")) == 2
    (tmp_path / "t.xlsx").write_bytes(b"")
    with pytest.raises(LosslabError, match="unknown file type '.xlsx'"):
        load(tmp_path / "t.xlsx")
    with pytest.raises(LosslabError, match="does not exist"):
        load(tmp_path / "missing.csv", target="y")
