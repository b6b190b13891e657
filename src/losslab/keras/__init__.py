"""Keras 3 losses that agree with the PyTorch laws: ``losslab.keras`` (the optional extra ``losslab[keras]``).

Every loss is written with ``keras.ops`` only, so it runs on the TensorFlow, JAX and
PyTorch backends (choose one with ``KERAS_BACKEND`` before importing keras). It uses the
raw-output layout, links and bounds of the PyTorch law of the same name, so the same raw
outputs give the same NLL and gradient:

    import keras, losslab.keras as llk
    loss = llk.get_loss("beta", clamp=1e-3)           # options as for losslab.get_law
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(loss.raw_dim)])
    model.compile("adam", loss=loss)                  # loss(y_true (N,), y_pred (N, raw_dim)) -> mean NLL
    model.fit(X, y)
    loss.point(model.predict(X), "mean")              # the law's point prediction

Names (:func:`get_loss`, :func:`list_losses`, the ``*Loss`` classes, :class:`LawParameters`,
:class:`BernoulliExcess`, :func:`bernoulli_excess`) are loaded on first use: importing
``losslab`` (or this package) never imports Keras, and without Keras installed they raise an
``ImportError`` that says what to install.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "get_loss",
    "list_losses",
    "LawLoss",
    "LawParameters",
    "BernoulliExcess",
    "bernoulli_excess",
    "BernoulliLoss",
    "ContinuousBernoulliLoss",
    "BetaLoss",
    "ZOIBLoss",
    "BinnedLoss",
    "GaussianLoss",
    "SigmoidMSELoss",
    "GaussianHeteroLoss",
    "LaplaceLoss",
    "LaplaceHeteroLoss",
    "StudentTLoss",
    "ExponentialLoss",
    "MVNLoss",
]


def __getattr__(name: str) -> Any:
    # Loaded lazily so that `import losslab.keras` (pytest's doctest collection, `import losslab`) costs nothing
    # and needs no Keras; the first real use imports Keras and its backend. (No module __dir__ listing these
    # names: pytest's fixture discovery calls getattr on every name dir() gives, which would import Keras.)
    if name in __all__:
        return getattr(importlib.import_module(".losses", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
