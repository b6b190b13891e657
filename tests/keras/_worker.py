"""Runs the Keras losses on one backend and saves what they compute: ``python _worker.py OUT.npz``.

Started by ``test_keras_losses.py`` in a fresh process per backend, with ``KERAS_BACKEND`` set
(Keras reads it once, at import). It compares nothing itself: it evaluates every case of
``vectors.npz`` (value, per-label values, gradient w.r.t. the raw outputs, parameters, point
predictions) in float32 and float64, runs the modules' doctests, collects the one-line
errors of bad inputs, and trains a small model with every loss; the test compares.
"""

from __future__ import annotations

import doctest
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

BACKEND = os.environ.get("KERAS_BACKEND", "")  # .get: pytest imports this module to look for doctests
VECTORS = Path(__file__).with_name("vectors.npz")


def value_and_grad(fn, raw, dtype):
    """``(fn(raw), d fn / d raw)`` with the backend's own autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(raw, dtype=dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return value, tape.gradient(value, x)
    if BACKEND == "jax":
        import jax

        return jax.value_and_grad(fn)(raw)
    import torch

    x = torch.tensor(raw, dtype=getattr(torch, dtype), requires_grad=True)
    value = fn(x)
    (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


def case_outputs(m, y, raw, dtype, full):
    """Everything the Keras side computes for one case, as a dict of tensors (one jitted call on JAX)."""
    import keras

    import losslab.keras as llk

    law, opts = m["law"], m["options"]
    loss = llk.get_loss(law, dtype=dtype, **opts)
    per = llk.get_loss(law, dtype=dtype, reduction=None, **opts)
    out = {}
    if dtype == "float32":  # the loss as Keras calls it: its own reduction to the mean
        out["loss"], out["grad"] = value_and_grad(lambda r: loss(y, r), raw, dtype)
    else:  # Keras' mean reduces float64 in float32 (torch and JAX backends, Keras 3.15): sum, then divide
        n = raw.shape[0]  # one loss per row in every case
        out["loss"], out["grad"] = value_and_grad(lambda r: keras.ops.sum(per(y, r)) / n, raw, dtype)
    out["objective"] = per(y, raw)
    out["nll"] = loss.nll(y, raw)
    if not full:
        return out
    if y.ndim == 1:  # Keras' label column (N, 1) gives the same mean
        out["loss_column"] = loss(y[:, None], raw)
    out.update({f"param/{k}": v for k, v in loss.params(raw).items()})
    out.update({f"layer/{k}": v for k, v in llk.LawParameters(law, opts)(raw).items()})
    out.update({f"point/{kind}": loss.point(raw, kind) for kind in loss.point_kinds})
    if law == "binned":
        out["targets"] = loss.targets(y)
    if law == "bernoulli":
        out["excess"] = llk.bernoulli_excess(y, raw)
    out["loss_from_config"] = type(loss).from_config(loss.get_config())(y, raw)
    return out


def evaluate(vec, meta, out):
    import keras

    jobs = []  # (case meta, dtype, labels, raw outputs, full)
    for m in meta:
        raw, y = vec[f"{m['case']}/raw"], vec[f"{m['case']}/y"]
        moderate = m["group"] == "moderate"
        for dtype in ("float32", "float64") if moderate else ("float32",):
            jobs.append((m, dtype, y.astype(dtype), raw.astype(dtype), moderate and dtype == "float32"))

    def run_all(raws):
        return [case_outputs(m, y, r, dtype, full) for (m, dtype, y, _, full), r in zip(jobs, raws)]

    raws = [job[3] for job in jobs]
    if BACKEND == "jax":
        import jax

        # Eager JAX compiles every primitive for every new shape: one jitted call for all cases is much faster.
        results = jax.jit(run_all)(raws)
    else:
        results = run_all(raws)
    for (m, dtype, *_), res in zip(jobs, results):
        suffix = "" if dtype == "float32" else "_f64"
        for key, v in res.items():
            out[f"{m['case']}/{key}{suffix}"] = keras.ops.convert_to_numpy(v)


def errors(out_json):
    """The messages of bad inputs (the test checks that each is a one-line LosslabError naming the culprit)."""
    import losslab.keras as llk
    from losslab import LosslabError

    f32 = lambda *s: np.zeros(s, dtype="float32")  # noqa: E731
    attempts = {
        "raw_dim": lambda: llk.get_loss("beta")(f32(4) + 0.5, f32(4, 3)),
        "label_shape": lambda: llk.get_loss("gaussian")(f32(5), f32(4, 1)),
        "label_columns": lambda: llk.get_loss("zoib")(f32(4, 32) + 0.5, f32(4, 128)),
        "mvn_labels": lambda: llk.get_loss("mvn")(f32(4), f32(4, 5)),
        "support": lambda: llk.get_loss("beta")(f32(4), f32(4, 2)),
        "unknown": lambda: llk.get_loss("betta"),
        "no_keras_loss": lambda: llk.get_loss("binomial"),
        "option": lambda: llk.get_loss("beta", clmap=1e-3),
        "point_kind": lambda: llk.get_loss("beta").point(f32(4, 2), "median"),
    }
    for key, fn in attempts.items():
        try:
            fn()
        except LosslabError as err:
            out_json["errors"][key] = str(err)
        except Exception as err:  # noqa: BLE001 - report the wrong kind of error to the test
            out_json["errors"][key] = f"NOT A LosslabError: {type(err).__name__}: {err}"
        else:
            out_json["errors"][key] = "NO ERROR"


#: the cases whose losses train together in one model: one per law, plus the other binned kinds and beta-NLL
TRAIN_CASES = (
    "bernoulli", "continuous-bernoulli", "beta", "beta-clamp", "zoib", "sigmoid-mse", "binned-hl-gauss", "binned-twohot",
    "binned-onehot", "gaussian", "gaussian-hetero", "gaussian-hetero-beta", "laplace", "laplace-hetero", "student-t",
    "exponential", "mvn",
)


def train(vec, meta, out_json):
    """One model with a head per loss, trained 8 steps on all of them at once (one compilation per backend)."""
    import keras

    import losslab.keras as llk

    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    n = 64
    by_case = {m["case"]: m for m in meta}
    inp = keras.Input((4,))
    h = keras.layers.Dense(8, activation="tanh")(inp)
    outputs, losses, ys = {}, {}, {}
    for case in TRAIN_CASES:
        m, key = by_case[case], case.replace("-", "_")
        loss = llk.get_loss(m["law"], **m["options"])
        outputs[key] = keras.layers.Dense(loss.raw_dim, name=key)(h)
        losses[key] = loss
        y = vec[f"{case}/y"]  # the case's labels, edges included, drawn with replacement
        ys[key] = y[rng.randint(0, len(y), n)]
    model = keras.Model(inp, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=losses)
    X = rng.normal(size=(n, 4)).astype("float32")
    steps = []
    count = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    hist = model.fit(X, ys, batch_size=16, epochs=2, verbose=0, callbacks=[count])
    out_json["train"] = {
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
        "steps": len(steps),
        "weights_finite": all(bool(np.all(np.isfinite(keras.ops.convert_to_numpy(w)))) for w in model.weights),
    }


def run_doctests(out_json):
    if BACKEND == "jax":
        # Eager JAX compiles every primitive for every new shape (~10 s here); the doctests check the docs, and
        # the vectors check JAX's numbers.
        return
    import losslab.keras._ops as ops_mod
    import losslab.keras.losses as losses_mod
    import losslab.keras.real as real_mod
    import losslab.keras.unit as unit_mod

    # the loss classes' doctests live in unit.py and real.py since losses.py was split (issue 22)
    for mod in (ops_mod, losses_mod, unit_mod, real_mod):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=False, verbose=False)
        out_json["doctests"][mod.__name__] = [res.failed, res.attempted]


def eager_label_check(out_json):
    """Labels outside the support raise when the loss runs eagerly (validate=True)."""
    import losslab.keras as llk
    from losslab import LosslabError

    try:
        llk.get_loss("exponential")(np.array([-1.0, 2.0], "float32"), np.zeros((2, 1), "float32"))
        out_json["eager_check"] = "NO ERROR"
    except LosslabError as err:
        out_json["eager_check"] = str(err)


def main() -> None:
    t0 = time.perf_counter()
    import keras

    assert keras.backend.backend() == BACKEND, keras.backend.backend()
    import losslab.keras as llk

    timings = {"import": time.perf_counter() - t0}
    with np.load(VECTORS, allow_pickle=False) as z:
        vec = {k: z[k] for k in z.files}
    meta = json.loads(str(vec.pop("__meta__")))
    out: dict[str, np.ndarray] = {}
    out_json: dict = {"backend": BACKEND, "losses": llk.list_losses(), "errors": {}, "doctests": {}, "failures": []}
    for name, fn in (
        ("evaluate", lambda: evaluate(vec, meta, out)),
        ("errors", lambda: errors(out_json)),
        ("eager_check", lambda: eager_label_check(out_json)),
        ("doctests", lambda: run_doctests(out_json)),
        ("train", lambda: train(vec, meta, out_json)),
    ):
        t = time.perf_counter()
        try:
            fn()
        except Exception:  # noqa: BLE001 - the test reports the traceback
            out_json["failures"].append(f"{name}: {traceback.format_exc()}")
        timings[name] = time.perf_counter() - t
    out_json["timings"] = timings
    np.savez(sys.argv[1], __json__=np.array(json.dumps(out_json)), **out)


if __name__ == "__main__":
    main()
