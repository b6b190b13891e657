"""losslab: which loss suits your float labels? Each loss is the NLL of a named law."""

from ._version import __version__
from ._errors import LosslabError
from .heads import LawHead
from .laws import Law, get_law, list_laws, register_law
from .data import inspect
from .experiment import compare
from .experiment.predictor import Predictor, load_model
from .estimator import Regressor
from . import data, experiment, metrics  # noqa: E402  the subpackages as ll.data, ll.experiment, ll.metrics

__all__ = ["LosslabError", "Law", "LawHead", "get_law", "list_laws", "register_law", "inspect", "compare", "Predictor", "load_model", "Regressor", "data", "experiment", "metrics", "__version__"]
