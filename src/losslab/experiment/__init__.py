"""Comparisons: train under each law and seed, store every run, test, recommend."""

from .compare import ComparisonResult, CompareConfig, Recommendation, compare, law_label, parse_law_spec
from .stats import higher_is_better, mean_ci, paired_test
from .store import Store
from .trainer import Split, TrainConfig, TrainResult, resolve_device, train

__all__ = [
    "ComparisonResult",
    "CompareConfig",
    "Recommendation",
    "Split",
    "Store",
    "TrainConfig",
    "TrainResult",
    "compare",
    "higher_is_better",
    "law_label",
    "mean_ci",
    "paired_test",
    "parse_law_spec",
    "resolve_device",
    "train",
]
