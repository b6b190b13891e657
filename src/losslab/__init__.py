"""losslab: which loss suits your float labels? Each loss is the NLL of a named law."""

from ._errors import LosslabError
from .heads import LawHead
from .laws import Law, get_law, list_laws, register_law
from .data import inspect

__version__ = "0.1.0"

__all__ = ["LosslabError", "Law", "LawHead", "get_law", "list_laws", "register_law", "inspect", "__version__"]
