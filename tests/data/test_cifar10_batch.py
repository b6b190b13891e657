"""The CIFAR-10 python batch is read without unpickling it, so a tampered tarball cannot run code.

Reference values: ``pickle.loads(..., encoding="bytes")`` on benign batches that this test
wrote itself (never on a file from outside), which is how the CIFAR-10 page says to read them.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import warnings

import numpy as np
import pytest

from losslab._errors import LosslabError
from losslab.data import load
from losslab.data import registry as reg


def _py2_batch(data: np.ndarray, labels: list[int], names: list[bytes]) -> bytes:
    """A batch as Python 2's ``cPickle.dump(d, f, 2)`` wrote the official release: str keys as
    SHORT_BINSTRING, the pixels as one BINSTRING, numpy's ``_reconstruct`` and ``dtype`` reductions."""
    u = lambda b: b"U" + bytes([len(b)]) + b  # noqa: E731 - SHORT_BINSTRING
    out = [b"\x80\x02}q\x01(", u(b"batch_label"), u(b"testing batch 1 of 1")]
    out += [u(b"labels"), b"]q\x02("] + [b"K" + bytes([v]) for v in labels] + [b"e"]
    out += [u(b"data"), b"cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04K\x00\x85", u(b"b"), b"\x87Rq\x05("]
    out += [b"K\x01J" + struct.pack("<i", data.shape[0]) + b"M" + struct.pack("<H", data.shape[1]) + b"\x86"]
    out += [b"cnumpy\ndtype\nq\x06", u(b"u1"), b"K\x00K\x01\x87Rq\x07(K\x03", u(b"|"), b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"]
    out += [b"\x89T" + struct.pack("<I", data.nbytes) + data.tobytes(), b"tb"]
    out += [u(b"filenames"), b"]q\x08("] + [u(n) for n in names] + [b"e", b"u."]
    return b"".join(out)


def _reference(blob: bytes) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core is numpy 2's alias of numpy._core
        return pickle.loads(blob, encoding="bytes")  # noqa: S301 - our own benign bytes, the reference


def _assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, v in want.items():
        if isinstance(v, np.ndarray):
            assert got[k].dtype == v.dtype and got[k].shape == v.shape
            np.testing.assert_array_equal(got[k], v)
        else:
            assert got[k] == v, k


def test_python2_batch_reads_as_pickle_does():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (7, 3072), dtype=np.uint8)
    blob = _py2_batch(data, [3, 5, 0, 9, 3, 1, 5], [b"cat_s_000019.png"] * 7)
    got = reg.read_cifar10_batch(blob)
    want = _reference(blob)
    assert isinstance(want[b"data"], np.ndarray)  # the hand-written stream is a valid pickle of an array
    _assert_same(got, want)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_python3_batches_read_as_pickle_does(protocol):
    rng = np.random.default_rng(protocol)
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": rng.integers(0, 10, 5).tolist(),
        b"data": rng.integers(0, 256, (5, 3072), dtype=np.uint8),
        b"filenames": [b"a.png", b"b.png", b"c.png", b"d.png", b"e.png"],
        "floats": np.linspace(0, 1, 6).reshape(2, 3).T,  # a Fortran-ordered float64 array, and a str key
    }
    blob = pickle.dumps(batch, protocol=protocol)
    _assert_same(reg.read_cifar10_batch(blob), _reference(blob))


class _WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tarball(path, payload: bytes):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


@pytest.fixture
def tampered_cache(tmp_path, monkeypatch):
    """A cache holding CIFAR-10H's files and a CIFAR-10 tarball whose pickle would create ``marker``."""
    cache, marker = tmp_path / "cache", tmp_path / "UNPICKLED"
    (cache / "cifar10h").mkdir(parents=True)
    (cache / "cifar10").mkdir()
    counts = np.zeros((4, 10), dtype=np.int64)
    counts[:, 3] = 50
    np.save(cache / "cifar10h" / "cifar10h-probs.npy", counts / 50.0)
    np.save(cache / "cifar10h" / "cifar10h-counts.npy", counts)
    payload = pickle.dumps({b"data": _WritesMarker(marker), b"labels": [3, 3, 3, 3]}, protocol=2)
    _tarball(cache / "cifar10" / "cifar-10-python.tar.gz", payload)
    # The test is not vacuous: this payload does run code when it is unpickled.
    pickle.loads(payload)  # noqa: S301 - our own payload; it only creates an empty file
    assert marker.exists()
    marker.unlink()
    monkeypatch.setenv("LOSSLAB_DATA", str(cache))
    return cache, marker


def test_unverified_tampered_pickle_is_never_unpickled(tampered_cache):
    _, marker = tampered_cache
    with pytest.raises(LosslabError, match=r"test_batch\): names io\.open, which a CIFAR-10 batch never does") as err:
        load("cifar10h-catdog", verify=False)
    assert not marker.exists()
    msg = str(err.value)
    assert "\n" not in msg and "fetch('cifar10h-catdog')" in msg


def test_verified_tampered_pickle_fails_its_checksum(tampered_cache):
    _, marker = tampered_cache
    with pytest.raises(LosslabError, match=r"does not match the recorded"):
        load("cifar10h-catdog")
    assert not marker.exists()


def test_unverified_benign_tarball_loads(tmp_path, monkeypatch):
    """``verify=False`` still works on a well-formed batch: the reader, not the checksum, is what keeps it safe."""
    cache = tmp_path / "cache"
    (cache / "cifar10h").mkdir(parents=True)
    (cache / "cifar10").mkdir()
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    counts = np.zeros((4, 10), dtype=np.int64)
    counts[:, 3], counts[:, 5] = [40, 10, 0, 25], [10, 40, 0, 25]
    counts[:, 0] = 50 - counts[:, 3] - counts[:, 5]
    np.save(cache / "cifar10h" / "cifar10h-probs.npy", counts / 50.0)
    np.save(cache / "cifar10h" / "cifar10h-counts.npy", counts)
    _tarball(cache / "cifar10" / "cifar-10-python.tar.gz", _py2_batch(data, [3, 5, 3, 5], [b"x.png"] * 4))
    monkeypatch.setenv("LOSSLAB_DATA", str(cache))
    ds = load("cifar10h-catdog", verify=False)
    # Row 2 has no cat or dog vote: dropped. p(cat | cat or dog) = 40/50, 10/50, 25/50.
    assert ds.meta["cifar10_index"].tolist() == [0, 1, 3]
    np.testing.assert_allclose(ds.y, [0.8, 0.2, 0.5], rtol=1e-6)
    # The Dataset scales pixels to [0, 1] by 1/255.
    np.testing.assert_allclose(np.asarray(ds.X)[2].reshape(-1) * 255, data[3], atol=1e-3)


def _evil_reduce(target):
    class Evil:
        def __reduce__(self):
            return target

    return Evil()


@pytest.mark.parametrize(
    "blob, found",
    [
        (pickle.dumps({b"data": _evil_reduce((eval, ("1",)))}, protocol=0), r"names __builtin__\.eval"),
        (b"cos\nsystem\n(S'true'\ntR.", "names os.system"),
        (b"\x80\x04\x8c\x05posix\x8c\x06system\x93.", "names posix.system"),
        (b"(i__main__\nX\n(dp0\nb.", "uses the pickle opcode INST"),
        (pickle.dumps({b"data": np.array([1, "x"], dtype=object)}, protocol=2), "builds a dtype 'O8'"),
        (pickle.dumps({b"data": np.zeros(3)}, protocol=2)[:-7], "not a readable CIFAR-10 batch"),
        (pickle.dumps([1, 2], protocol=2), "instead of one dictionary"),
        (b"", "not a readable CIFAR-10 batch .*before seeing STOP"),
    ],
)
def test_hostile_or_broken_batches_are_refused_in_one_line(blob, found):
    with pytest.raises(LosslabError, match=found) as err:
        reg.read_cifar10_batch(blob, where="t.tar.gz")
    assert "\n" not in str(err.value) and str(err.value).startswith("t.tar.gz")


def test_tarball_problems_are_one_line_errors(tmp_path):
    not_gz = tmp_path / "a.tar.gz"
    not_gz.write_bytes(b"not a tarball")
    with pytest.raises(LosslabError, match="is not a readable .tar.gz"):
        reg._cifar10_test_from_tar(not_gz)
    other = tmp_path / "b.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(LosslabError, match=r"no cifar-10-batches-py/test_batch file inside"):
        reg._cifar10_test_from_tar(other)
    wrong = tmp_path / "c.tar.gz"
    _tarball(wrong, pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [1, 2]}, protocol=2))
    with pytest.raises(LosslabError, match=r"'data' is an array uint8 \(2, 5\); expected a uint8 array \(N, 3072\)"):
        reg._cifar10_test_from_tar(wrong)
    labels = tmp_path / "d.tar.gz"
    _tarball(labels, pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, protocol=2))
    with pytest.raises(LosslabError, match=r"'labels' is not 2 class numbers 0..9"):
        reg._cifar10_test_from_tar(labels)
