"""The registry: the embedded digits entry, the real sets in ../shared/data, checksums, downloads, the cache."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest

from losslab._errors import LosslabError
from losslab.data import DatasetSpec, Remote, cache_dir, dataset_info, fetch, list_datasets, load, read_npz, register_dataset
from losslab.data import registry as reg

from .conftest import needs_shared

UCI = {  # published sizes: rows, features (Hernandez-Lobato & Adams 2015, table 1; UCI pages)
    "boston": (506, 13), "concrete": (1030, 8), "energy": (768, 8), "kin8nm": (8192, 8), "naval": (11934, 16),
    "power": (9568, 4), "protein": (45730, 9), "wine-red": (1599, 11), "yacht": (308, 6),
}  # fmt: skip


def test_registry_lists_the_issue_entries():
    names = list_datasets()
    assert {"digits-inpaint", "retinamnist", "cifar10h-catdog"} <= set(names)
    assert set(list_datasets("uci-*")) == {f"uci-{k}" for k in UCI}


@pytest.mark.parametrize("name", list_datasets())
def test_every_entry_documents_licence_citation_url_and_checksums(name):
    info = dataset_info(name)
    assert info["licence"] and info["citation"] and info["url"].startswith("https://") and info["description"]
    if not info["embedded"]:
        assert info["files"] and all(f["url"] and f["url"].startswith("https://") for f in info["files"])
        assert all(f["checksum"] for f in info["files"][:1])  # the main payload always has its own checksum
        listed = {f["path"] for f in info["files"] if f["checksum"]}
        listed |= {p for b in info["bundles"] for p in b["paths"]}
        assert listed == {f["path"] for f in info["files"]}, "every file is covered by a checksum"


def test_digits_inpaint_works_without_any_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("LOSSLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "nothing-here"))
    from sklearn.datasets import load_digits

    flat, _ = load_digits(return_X_y=True)  # (1797, 64), row-major 8x8 counts 0..16
    ds = load("digits-inpaint")
    assert ds.X.shape == (1797, 32) and ds.y.shape == (1797, 32) and ds.kind == "table"
    # Top half = the first four image rows = the first 32 entries of the row-major vector.
    np.testing.assert_allclose(ds.X, flat[:, :32] / 16, rtol=1e-6)
    np.testing.assert_allclose(ds.y, flat[:, 32:] / 16, rtol=1e-6)
    assert np.all(ds.trials == 16)
    assert 0.4 < float(np.mean(ds.y == 0)) < 0.6  # "about half exactly 0" (shared/data README)
    assert ds.feature_names[:2] == ["px_r0c0", "px_r0c1"] and ds.target_names[0] == "px_r4c0"
    assert not (tmp_path / "nothing-here").exists()
    assert fetch("digits-inpaint").is_file()


@needs_shared
def test_retinamnist(shared_data):
    ds = load("retinamnist")
    assert ds.kind == "image" and ds.X.shape == (1600, 3, 28, 28) and ds.X.min() >= 0 and ds.X.max() <= 1
    s = ds.split(0)
    assert [len(s[k]) for k in ("train", "val", "test")] == [1080, 120, 400]
    # Train counts per grade 486/128/206/194/66, from the shared data README (MedMNIST v2).
    grades = np.round(ds.y[s["train"]] * 4).astype(int)
    assert np.bincount(grades).tolist() == [486, 128, 206, 194, 66]
    with np.load(shared_data / "retinamnist" / "retinamnist.npz") as z:
        np.testing.assert_allclose(ds.X[1200], z["test_images"][0].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert ds.meta["licence"] == "CC BY 4.0" and "MedMNIST" in ds.meta["citation"]


@needs_shared
def test_cifar10h_catdog(shared_data):
    ds = load("cifar10h-catdog")
    probs = np.load(shared_data / "cifar10h" / "cifar10h-probs.npy")
    counts = np.load(shared_data / "cifar10h" / "cifar10h-counts.npy")
    labels = np.load(shared_data / "cifar10h" / "cifar10h_with_images_from_jpeg.npz")["labels"]
    rows = np.flatnonzero(np.isin(labels, [3, 5]) & (counts[:, 3] + counts[:, 5] > 0))
    assert len(ds) == rows.size == 1999 and ds.X.shape == (1999, 3, 32, 32)
    np.testing.assert_array_equal(ds.meta["cifar10_index"], rows)
    np.testing.assert_allclose(ds.y, probs[rows, 3] / (probs[rows, 3] + probs[rows, 5]), atol=1e-6)
    np.testing.assert_array_equal(ds.trials, counts[rows, 3] + counts[rows, 5])
    interior = float(np.mean((ds.y > 0.05) & (ds.y < 0.95)))
    assert 0.15 < interior < 0.25  # "about 20% strictly between 0.05 and 0.95" (shared/data README)


@needs_shared
@pytest.mark.parametrize("short", sorted(UCI))
def test_uci_sets_and_their_fixed_splits(shared_data, short):
    ds = load(f"uci-{short}")
    n, f = UCI[short]
    assert ds.X.shape == (n, f) and ds.y.shape == (n,)
    assert len(ds.splits) == (5 if short == "protein" else 20)
    for s in ds.splits:
        assert not set(s["train"]) & set(s["test"])
        assert s["train"].size + s["test"].size == n
    a = ds.split(3)
    np.testing.assert_array_equal(a["test"], np.sort(ds.splits[3 % len(ds.splits)]["test"]))
    assert not set(a["val"]) & set(a["train"])


@needs_shared
def test_uci_columns_follow_the_index_files(shared_data):
    base = shared_data / "uci_gal" / "UCI_Datasets" / "yacht" / "data"
    raw = np.loadtxt(base / "data.txt")
    ds = load("uci-yacht")
    np.testing.assert_allclose(ds.y, raw[:, 6], rtol=1e-6)
    np.testing.assert_array_equal(ds.splits[0]["test"], np.loadtxt(base / "index_test_0.txt").astype(int))


@needs_shared
def test_fetch_with_everything_present_downloads_nothing(shared_data):
    assert fetch("retinamnist") == shared_data / "retinamnist"
    assert dataset_info("retinamnist")["files"][0]["present"]


def test_checksum_mismatch_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSLAB_DATA", str(tmp_path))
    fake = tmp_path / "retinamnist" / "retinamnist.npz"
    fake.parent.mkdir()
    np.savez(fake, train_images=np.zeros((1, 28, 28, 3), np.uint8))
    with pytest.raises(LosslabError, match=r"retinamnist\.npz: md5 checksum [0-9a-f]{32} does not match the recorded "
                                           r"bd4c0672f1bba3e3a89f0e4e876791e4"):
        load("retinamnist")


def test_missing_file_without_download(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSLAB_DATA", str(tmp_path))
    with pytest.raises(LosslabError, match=r"missing from the cache .*fetch\('uci-yacht'\)"):
        load("uci-yacht", download=False)


def test_unknown_name_suggests_close_names():
    with pytest.raises(LosslabError, match=r"unknown data set 'retinamnst' \(did you mean 'retinamnist'"):
        load("retinamnst")


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSLAB_DATA", str(tmp_path / "d"))
    assert cache_dir() == tmp_path / "d"
    monkeypatch.delenv("LOSSLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if reg.sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "losslab"
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert cache_dir() == tmp_path / "home" / ".cache" / "losslab"


# ------------------------------------------------------------------ downloads (file:// URLs)


@pytest.fixture
def toy_entry(tmp_path, monkeypatch):
    """A temporary entry whose file is "downloaded" from a file:// URL into a fresh cache."""
    src = tmp_path / "remote" / "toy.npz"
    src.parent.mkdir()
    np.savez(src, X=np.arange(8.0).reshape(4, 2), y=np.array([0.0, 0.25, 0.5, 1.0]))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    monkeypatch.setenv("LOSSLAB_DATA", str(cache))

    def make(checksum: str, url: str | None = None) -> DatasetSpec:
        spec = DatasetSpec(
            name="toy-download",
            description="a toy", licence="CC0", citation="none", url="https://example.org",
            loader=lambda root, spec: read_npz(root / spec.files[0].path),
            files=(Remote("toy/toy.npz", url or src.as_uri(), checksum),),
        )  # fmt: skip
        register_dataset(spec)
        return spec

    yield make, sha, src, cache
    reg.unregister_dataset("toy-download")


def test_download_verifies_and_renames_into_the_cache(toy_entry):
    make, sha, src, cache = toy_entry
    make(f"sha256:{sha}")
    ds = load("toy-download")
    assert ds.y.tolist() == [0.0, 0.25, 0.5, 1.0] and (cache / "toy" / "toy.npz").read_bytes() == src.read_bytes()
    assert list((cache / "toy").iterdir()) == [cache / "toy" / "toy.npz"]  # no temporary file left
    src.unlink()  # the second load reads the cache, not the URL
    assert len(load("toy-download")) == 4


def test_download_with_wrong_checksum_keeps_nothing(toy_entry):
    make, sha, src, cache = toy_entry
    make("sha256:" + "0" * 64)
    with pytest.raises(LosslabError, match=r"has sha256 [0-9a-f]{64}, not the recorded 0{64}; the file was not kept"):
        load("toy-download")
    assert not any((cache / "toy").iterdir())


def test_download_failure_names_the_url(toy_entry):
    make, sha, src, cache = toy_entry
    gone = (src.parent / "gone.npz").as_uri()  # fails at once and the same way with or without a network
    make(f"sha256:{sha}", url=gone)
    with pytest.raises(LosslabError, match=rf"cannot download toy-download's toy/toy.npz from {gone} .*LOSSLAB_DATA"):
        fetch("toy-download")
    assert not any((cache / "toy").iterdir())


def test_cifar10h_official_release_path(tmp_path):
    """The network path: images from the CIFAR-10 python tarball, labels from CIFAR-10H (here fabricated)."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (6, 3072), dtype=np.uint8)
    labels = [3, 5, 1, 3, 5, 3]
    buf = pickle.dumps({b"data": data, b"labels": labels})
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(buf)
        tar.addfile(info, io.BytesIO(buf))
    images, got_labels = reg._cifar10_test_from_tar(tar_path)
    assert images.shape == (6, 3, 32, 32) and got_labels.tolist() == labels
    # CIFAR-10 stores each image as 1024 red, then 1024 green, then 1024 blue values, rows first.
    assert images[2, 1, 0, 5] == data[2, 1024 + 5]
    counts = np.zeros((6, 10), dtype=np.int64)
    counts[:, 3] = [40, 10, 0, 0, 5, 50]
    counts[:, 5] = [10, 40, 0, 0, 45, 0]
    counts[:, 0] = 50 - counts[:, 3] - counts[:, 5]
    probs = counts / counts.sum(1, keepdims=True)
    ds = reg._catdog("t", images, got_labels, probs, counts, {})
    # Row 2 is not cat/dog; row 3 is a cat nobody called cat or dog: both dropped.
    assert ds.meta["cifar10_index"].tolist() == [0, 1, 4, 5]
    np.testing.assert_allclose(ds.y, [0.8, 0.2, 0.1, 1.0], rtol=1e-6)
    assert ds.trials.tolist() == [50, 50, 50, 50]
