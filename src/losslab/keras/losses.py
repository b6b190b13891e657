r"""Keras 3 losses, one per law, written with ``keras.ops`` only (TensorFlow, JAX and PyTorch backends).

Each loss is the negative log-likelihood of the PyTorch law of the same name in
:mod:`losslab.laws`, with the same raw-output layout, the same link functions and
the same bounds (``MAX_LOGIT``, ``MAX_LOG_PRECISION``, ``min_scale``, ``min_df``), so the
same raw network outputs give the same loss and the same gradient in both
frameworks. The options (and their one-line errors) are the laws' own: every loss
holds the PyTorch law as :attr:`LawLoss.law` and reads its layout and support from it.

Called Keras-style, ``loss(y_true, y_pred)``: ``y_pred`` are the raw outputs
``(..., raw_dim)``, ``y_true`` the labels ``(...)`` (``(..., 1)`` is accepted) or, for
``mvn``, ``(..., dim)``. Keras' default reduction, ``"sum_over_batch_size"``, is the mean
over labels, as ``law.loss(raw, y)`` in PyTorch.

>>> loss = get_loss("beta")
>>> raw = np.array([[0.0, math.log(4.0)]], dtype="float32")    # mu = 0.5, phi = 4: Beta(2, 2)
>>> round(float(loss(np.array([0.25], dtype="float32"), raw)), 5)  # -log(6 * 0.25 * 0.75)
-0.11778
>>> loss.raw_dim, list(loss.raw_layout)
(2, ['mean', 'precision'])
"""

from __future__ import annotations

import math  # noqa: F401  the module docstring's doctest uses it
from typing import Any

import numpy as np  # noqa: F401  the doctests use it

from ._ops import keras
from .._errors import LosslabError, close_matches
from ..laws import list_laws
from ._base import LOSSES, LawLoss
from .real import (  # noqa: F401  importing the family modules registers their losses
    ExponentialLoss,
    GaussianHeteroLoss,
    GaussianLoss,
    LaplaceHeteroLoss,
    LaplaceLoss,
    MVNLoss,
    SigmoidMSELoss,
    StudentTLoss,
)
from .unit import BernoulliLoss, BetaLoss, BinnedLoss, ContinuousBernoulliLoss, ZOIBLoss  # noqa: F401

__all__ = [
    "LawLoss",
    "LawParameters",
    "BernoulliExcess",
    "bernoulli_excess",
    "get_loss",
    "list_losses",
]


# =========================================================================== registry, layer, metric
def list_losses() -> list[str]:
    """Sorted law names that have a Keras loss.

    >>> "beta" in list_losses() and "mvn" in list_losses()
    True
    """
    return sorted(LOSSES)


def get_loss(name: str, **opts: Any) -> LawLoss:
    """The Keras loss of the law ``name``; options are the law's and Keras' ``name``, ``reduction``, ``dtype``, ``validate``.

    >>> get_loss("binned", kind="twohot", n_bins=11).raw_dim
    11
    """
    if name not in LOSSES:
        if name in list_laws():
            raise LosslabError(
                f"law {name!r} has no Keras loss yet; Keras losses: {', '.join(list_losses())} "
                f"(use it from PyTorch with losslab.get_law({name!r}))"
            )
        raise LosslabError(
            f"unknown loss {name!r}{close_matches(name, LOSSES)}; Keras losses: {', '.join(list_losses())}"
        )
    return LOSSES[name](**opts)


@keras.saving.register_keras_serializable(package="losslab")
class LawParameters(keras.layers.Layer):
    """A layer that maps raw outputs ``(..., raw_dim)`` to the law's parameters (a dict), with the law's links.

    For prediction models: the same links and floors as the loss uses in training.

    Args:
        law: the law's name (see :func:`list_losses`).
        law_options: the law's options, e.g. ``{"min_scale": 1e-2}``.

    >>> layer = LawParameters("gaussian-hetero")
    >>> p = layer(np.array([[0.5, np.log(np.expm1(0.999))]], "float32"))
    >>> sorted(p), round(float(p["scale"][0]), 5)
    (['loc', 'scale'], 1.0)
    """

    def __init__(self, law: str, law_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.law = law
        self.law_options = dict(law_options or {})
        self._loss = get_loss(law, validate=False, **self.law_options)

    def call(self, inputs):
        return self._loss.params(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "law": self.law, "law_options": dict(self.law_options)}


_BERNOULLI = None


@keras.saving.register_keras_serializable(package="losslab")
def bernoulli_excess(y_true, y_pred):
    """Per-label ``BCE - H(y) = KL(y || sigmoid(x))`` of raw logits ``y_pred (..., 1)``: 0 at a perfect fit.

    >>> round(float(bernoulli_excess(np.array([0.75], "float32"), np.zeros((1, 1), "float32"))[0]), 4)
    0.1308
    """
    global _BERNOULLI
    if _BERNOULLI is None:
        _BERNOULLI = BernoulliLoss(validate=False)
    return _BERNOULLI.excess(y_true, y_pred)


@keras.saving.register_keras_serializable(package="losslab")
class BernoulliExcess(keras.metrics.MeanMetricWrapper):
    """Mean ``KL(y || sigmoid(x))`` over labels: soft BCE less its floor ``H(y)``, for ``compile(metrics=[...])``.

    Soft BCE never reaches 0 on soft labels; its excess over the label entropy does, at ``sigmoid(x) = y``.
    """

    def __init__(self, name: str = "kl_excess", dtype: Any = None) -> None:
        super().__init__(fn=bernoulli_excess, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}
