"""The laws: each loss is the negative log-likelihood of a named distribution.

Importing this package registers every law; :func:`list_laws` and :func:`get_law`
read the registry.
"""

from ._base import Law, LocScaleLaw, ScalarLaw, validation, validation_enabled
from ._registry import get_law, law_class, list_laws, register_law
from ._support import SUPPORTS, Support

# Importing the family modules registers their laws.
from . import (  # noqa: E402,F401  isort: skip
    bernoulli,
    beta,
    binned,
    continuous_bernoulli,
    exponential,
    gaussian,
    laplace,
    logit_normal,
    mixture,
    mvn,
    student_t,
)

__all__ = [
    "Law",
    "LocScaleLaw",
    "ScalarLaw",
    "SUPPORTS",
    "Support",
    "get_law",
    "law_class",
    "list_laws",
    "register_law",
    "validation",
    "validation_enabled",
]
