"""Data: readers, a registry of real data sets with checksums, label diagnostics, synthetic data.

>>> import losslab.data as data
>>> ds = data.load("digits-inpaint")                 # embedded: scikit-learn's digits, offline
>>> report = data.inspect(ds.y, trials=ds.trials)
>>> report.support_kind, report.has_counts
('unit_interval_closed', True)
"""

from .dataset import Dataset, from_arrays
from .inspect import LabelReport, binned_bounds, default_laws, inspect
from .readers import read_csv, read_image_folder, read_npz, read_parquet
from .streaming import StreamingDataset, from_torch
from .registry import (
    DatasetSpec,
    Remote,
    cache_dir,
    dataset_info,
    fetch,
    list_datasets,
    load,
    register_dataset,
)
from .synthetic import list_synthetic, synthetic

__all__ = [
    "Dataset",
    "DatasetSpec",
    "LabelReport",
    "Remote",
    "StreamingDataset",
    "binned_bounds",
    "cache_dir",
    "dataset_info",
    "default_laws",
    "fetch",
    "from_arrays",
    "from_torch",
    "inspect",
    "list_datasets",
    "list_synthetic",
    "load",
    "read_csv",
    "read_image_folder",
    "read_npz",
    "read_parquet",
    "register_dataset",
    "synthetic",
]
