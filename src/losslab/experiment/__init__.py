"""Comparisons: train under each law and seed, store every run, test, recommend."""

from ..laws.spec import law_label, parse_law_spec
from .compare import compare
from .plan import CompareConfig
from .predictor import EqualMixture, Predictor, load_model
from .result import ComparisonResult, Recommendation, load_result
from .stats import higher_is_better, mean_ci, paired_test
from .store import Store
from .trainer import Split, TrainConfig, TrainResult, resolve_device, train

__all__ = [
    "ComparisonResult",
    "CompareConfig",
    "EqualMixture",
    "Predictor",
    "Recommendation",
    "Split",
    "Store",
    "TrainConfig",
    "TrainResult",
    "compare",
    "higher_is_better",
    "law_label",
    "load_model",
    "load_result",
    "mean_ci",
    "paired_test",
    "parse_law_spec",
    "resolve_device",
    "train",
]
