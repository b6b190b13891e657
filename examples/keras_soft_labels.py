"""Soft labels in Keras: soft BCE vs MSE vs Beta laws, with ``losslab.keras`` (any Keras 3 backend).

    pip install 'losslab[keras]'
    python examples/keras_soft_labels.py                 # TensorFlow; KERAS_BACKEND=jax or torch also work

The task is ``digits-inpaint`` (scikit-learn's bundled digits, offline): from the top half of
an 8x8 digit, predict the ink fraction k/16 of each of the 32 pixels of the bottom half.
About half of those labels are exactly 0 and some exactly 1, so a Beta law needs either
a clamp or the zero/one-inflated beta (ZOIB), which puts point masses on 0 and 1.

Each loss trains the same small MLP; its output layer gives every pixel the law's raw
outputs (``raw_dim`` of them), with the bias set to the labels' marginal fit. The table
compares the predicted means on held-out digits:

* test MSE of the predicted mean (every loss predicts a mean);
* the binomial log score of the counts k out of 16 at the predicted mean, a plug-in score
  that every model gets (it ignores the spread a law predicts);
* each law's own NLL, comparable only between laws of the same kind (a soft BCE is not a
  density; a Beta NLL with clamped labels depends on the clamp).

Runs in well under a minute on a CPU.
"""

from __future__ import annotations

import time

import keras
import numpy as np
from scipy.special import gammaln

import losslab
import losslab.keras as llk

N_TRIALS = 16  # each label is k / 16: the ink count of a 4x4 block of the 32x32 scan
EPOCHS = 20

#: title -> (law, options, what its own NLL is)
LOSSES = {
    "soft BCE (bernoulli)": ("bernoulli", {}, "BCE, no density"),
    "MSE (sigmoid-mse)": ("sigmoid-mse", {}, "density on R"),
    "ZOIB (zoib)": ("zoib", {}, "atoms + density"),
    "Beta, labels clamped to [1e-3, 1 - 1e-3]": ("beta", {"clamp": 1e-3}, "clamped density"),
}


def binomial_nll(y: np.ndarray, p: np.ndarray, n: int = N_TRIALS) -> float:
    """Mean ``-log Binomial(k; n, p)`` with ``k = n y``: the counts' log score at the predicted mean ``p``."""
    k = np.rint(y * n)
    p = np.clip(p, 1e-6, 1 - 1e-6)
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return float(np.mean(-(log_choose + k * np.log(p) + (n - k) * np.log1p(-p))))


def build_model(loss: llk.LawLoss, n_features: int, n_targets: int, y_train: np.ndarray) -> keras.Model:
    bias = np.tile(loss.initial_bias(y_train), n_targets)  # the same marginal start for every pixel
    return keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(n_targets * loss.raw_dim, bias_initializer=keras.initializers.Constant(bias)),
            keras.layers.Reshape((n_targets, loss.raw_dim)),  # (N, 32 pixels, raw_dim): one law per pixel
        ]
    )


def main() -> None:
    ds = losslab.data.load("digits-inpaint")
    X, y = ds.X, ds.y  # (1797, 32) each; y in {0, 1/16, ..., 1}
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    test, train = order[:360], order[360:]
    print(
        f"digits-inpaint: {len(train)} train / {len(test)} test digits, 32 pixels each; "
        f"labels exactly 0: {np.mean(y == 0):.0%}, exactly 1: {np.mean(y == 1):.0%}; backend {keras.backend.backend()}"
    )
    rows = []
    for title, (name, opts, kind) in LOSSES.items():
        keras.utils.set_random_seed(0)
        loss = llk.get_loss(name, **opts)
        model = build_model(loss, X.shape[1], y.shape[1], y[train])
        metrics = [llk.BernoulliExcess()] if name == "bernoulli" else []
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=metrics)
        t0 = time.perf_counter()
        model.fit(X[train], y[train], epochs=EPOCHS, batch_size=64, verbose=0)
        seconds = time.perf_counter() - t0
        raw = model.predict(X[test], batch_size=512, verbose=0)  # (360, 32, raw_dim)
        mean = keras.ops.convert_to_numpy(loss.point(raw, "mean"))
        own = float(np.mean(keras.ops.convert_to_numpy(loss.nll(y[test], raw))))
        rows.append((title, float(np.mean((mean - y[test]) ** 2)), binomial_nll(y[test], mean), own, kind, seconds))

    print()
    print(f"{'loss':<42} {'test MSE':>9} {'binomial NLL':>13} {'own NLL':>9}  {'own NLL kind':<15} {'train s':>7}")
    for title, mse, bnll, own, kind, seconds in rows:
        print(f"{title:<42} {mse:>9.5f} {bnll:>13.4f} {own:>9.4f}  {kind:<15} {seconds:>7.1f}")
    print(
        "\nLower is better. Test MSE and the binomial NLL compare every row; the own NLLs are of different kinds "
        "and do not compare\n(the clamped Beta's depends strongly on the clamp)."
    )


if __name__ == "__main__":
    main()
