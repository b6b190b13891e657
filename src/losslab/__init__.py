"""losslab: which loss suits your float labels? Each loss is the NLL of a named law."""

from typing import Any

from ._version import __version__
from ._errors import LosslabError
from .heads import LawHead
from .laws import Law, get_law, list_laws, register_law
from .data import inspect
from .experiment import compare
from .experiment.predictor import Predictor, load_model
from . import data, experiment, metrics  # noqa: E402  the subpackages as ll.data, ll.experiment, ll.metrics

__all__ = ["LosslabError", "Law", "LawHead", "get_law", "list_laws", "register_law", "inspect", "compare", "Predictor", "load_model", "Regressor", "data", "experiment", "metrics", "__version__"]


def __getattr__(name: str) -> Any:
    # Regressor is a scikit-learn estimator: importing it imports scikit-learn (~0.5 s), so it is loaded on first use
    # and `import losslab` stays light (tests/test_architecture.py checks what it loads).
    if name == "Regressor":
        from .estimator import Regressor

        return Regressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Regressor"})
