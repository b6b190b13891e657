"""The Keras losses agree with the PyTorch laws on every installed Keras backend.

The reference is ``vectors.npz``, made by ``make_vectors.py`` from the PyTorch laws in
float64 (those laws are checked against scipy.stats and closed forms in ``tests/laws``).
Keras reads ``KERAS_BACKEND`` once, at import, so each backend runs in its own process:
``_worker.py`` evaluates the Keras losses there and saves what they compute, and this
module compares. The processes start together on first use (they spend most of their
time compiling, which two cores share well).

Tolerances: float32 values and per-label gradients (``N * d mean / d raw``) within
``1e-5 * max(1, |reference|)`` (1e-5 absolute, relative above 1); float64 within
``1e-10 * max(1, |reference|)``, which only the same formula can meet. At extreme raw outputs
(±1e4, ±100, ±31) float32 itself loses digits, so there the Keras error may also reach 4x the
PyTorch law's own float32 error (``loss32`` etc. in the vectors); values and gradients must be finite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("keras") is None:
    pytest.skip(
        "Keras is not installed, so losslab.keras is not tested: pip install 'losslab[keras]'", allow_module_level=True
    )

HERE = Path(__file__).resolve().parent
#: the backends whose package is installed (Keras' torch backend needs only torch, a losslab dependency)
BACKENDS = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]
TOL32, TOL64 = 1e-5, 1e-10
#: at extreme raw outputs, the Keras float32 error may reach this multiple of the PyTorch law's float32 error
EXTREME_FACTOR = 4.0

_PROCS: dict[str, tuple[subprocess.Popen, Path, float]] = {}


def _start(backend: str, tmp: Path) -> None:
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's start-up chatter
        "CUDA_VISIBLE_DEVICES": "",  # CPU only: no probing for GPUs
        "JAX_ENABLE_X64": "1",  # float64 on JAX (float32 stays the default dtype)
        # XLA's compilation dominates the JAX run; its LLVM optimisation level does not change IEEE results.
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    }
    out = tmp / f"{backend}.npz"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_worker.py"), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _PROCS[backend] = (proc, out, time.perf_counter())


@pytest.fixture(scope="module")
def vectors():
    with np.load(HERE / "vectors.npz", allow_pickle=False) as z:
        vec = {k: z[k] for k in z.files}
    return vec, json.loads(str(vec.pop("__meta__")))


@pytest.fixture(scope="module", params=BACKENDS)
def run(request, tmp_path_factory):
    """``(backend, arrays, info)`` from the worker run on ``backend``."""
    if not _PROCS:
        # Start every backend the selected tests need at once (not those a -k filter left out).
        wanted = {item.callspec.params["run"] for item in request.session.items
                  if "run" in getattr(getattr(item, "callspec", None), "params", {})}
        tmp = tmp_path_factory.mktemp("keras")
        for b in BACKENDS:
            if b in wanted:
                _start(b, tmp)
    proc, out, started = _PROCS[request.param]
    try:
        log, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    wall = time.perf_counter() - started
    assert proc.returncode == 0, f"the {request.param} worker failed:\n{log[-4000:]}"
    with np.load(out, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    info = json.loads(str(arrays.pop("__json__")))
    info["wall"] = wall
    return request.param, arrays, info


def _excess_error(actual, ref) -> np.ndarray:
    """``|actual - ref| / max(1, |ref|)`` elementwise (inf where ``actual`` is not finite)."""
    actual = np.asarray(actual, dtype=np.float64)
    err = np.abs(actual - ref) / np.maximum(1.0, np.abs(ref))
    return np.where(np.isfinite(actual), err, np.inf)


def _per_label_grad(arr, case: str, vec) -> np.ndarray:
    # d mean / d raw is 1/N of each label's gradient: compare each label's own gradient.
    return arr * vec[f"{case}/raw"].shape[0]


def test_worker_ran_every_part(run):
    backend, _, info = run
    assert info["backend"] == backend
    assert not info["failures"], "\n".join(info["failures"])


def test_every_keras_loss_has_vectors(run, vectors):
    """Completeness: a new Keras loss fails here until make_vectors.py covers it (moderate and extreme cases)."""
    _, _, info = run
    _, meta = vectors
    for group in ("moderate", "extreme"):
        covered = {m["law"] for m in meta if m["group"] == group}
        assert set(info["losses"]) <= covered, f"no {group} vectors for {sorted(set(info['losses']) - covered)}"


@pytest.mark.parametrize("quantity", ["loss", "objective", "nll", "grad"])
def test_float32_agrees_with_pytorch(run, vectors, quantity):
    backend, arrays, _ = run
    vec, meta = vectors
    bad = []
    for m in meta:
        c = m["case"]
        ref, actual = vec[f"{c}/{quantity}"], arrays[f"{c}/{quantity}"]
        if quantity == "grad":
            ref, actual = _per_label_grad(ref, c, vec), _per_label_grad(actual, c, vec)
        assert actual.shape == ref.shape, f"{c}: {quantity} has shape {actual.shape}, expected {ref.shape}"
        err = _excess_error(actual, ref)
        allowed = np.full(ref.shape, TOL32)
        if m["group"] == "extreme":
            ref32 = vec[f"{c}/{quantity}32"]
            if quantity == "grad":
                ref32 = _per_label_grad(ref32, c, vec)
            allowed = np.maximum(allowed, EXTREME_FACTOR * _excess_error(ref32, ref))
        if not np.all(err <= allowed):
            i = np.unravel_index(np.argmax(err - allowed), err.shape)
            bad.append(f"{c}: {quantity}[{i}] = {actual[i]!r}, PyTorch float64 {ref[i]!r} (error {err[i]:.2e})")
    assert not bad, f"{backend}: " + "; ".join(bad)


def test_float64_gives_the_same_numbers(run, vectors):
    """In float64 only the very same formulas agree to 1e-10: this catches a branch or a constant that differs."""
    backend, arrays, _ = run
    vec, meta = vectors
    bad = []
    for m in meta:
        if m["group"] != "moderate":
            continue
        c = m["case"]
        for q in ("loss", "objective", "nll", "grad"):
            ref, actual = vec[f"{c}/{q}"], arrays[f"{c}/{q}_f64"]
            if q == "grad":
                ref, actual = _per_label_grad(ref, c, vec), _per_label_grad(actual, c, vec)
            err = _excess_error(actual, ref)
            if not np.all(err <= TOL64):
                bad.append(f"{c}: {q} off by {err.max():.2e}")
    assert not bad, f"{backend}: " + "; ".join(bad)


def test_parameters_points_and_targets_agree(run, vectors):
    """``params`` (and the LawParameters layer), every point kind, binned targets, the bernoulli excess."""
    backend, arrays, _ = run
    vec, meta = vectors
    bad = []
    for m in meta:
        if m["group"] != "moderate":
            continue
        c = m["case"]
        ref_keys = {k[len(c) + 1 :] for k in vec if k.startswith(f"{c}/param/") or k.startswith(f"{c}/point/")}
        ref_keys |= {k for k in ("targets", "excess") if f"{c}/{k}" in vec}
        got_keys = {k[len(c) + 1 :] for k in arrays if k.startswith(f"{c}/param/") or k.startswith(f"{c}/point/")}
        got_keys |= {k for k in ("targets", "excess") if f"{c}/{k}" in arrays}
        if got_keys != ref_keys:
            bad.append(f"{c}: Keras gives {sorted(got_keys)}, PyTorch {sorted(ref_keys)}")
            continue
        for key in sorted(ref_keys):
            ref = vec[f"{c}/{key}"]
            for got in (key, key.replace("param/", "layer/")) if key.startswith("param/") else (key,):
                err = _excess_error(np.broadcast_to(arrays[f"{c}/{got}"], ref.shape), ref)
                if not np.all(err <= TOL32):
                    bad.append(f"{c}: {got} off by {err.max():.2e}")
    assert not bad, f"{backend}: " + "; ".join(bad)


def test_label_column_and_config_round_trip(run, vectors):
    """Labels as Keras' (N, 1) column give the same mean; ``from_config(get_config())`` rebuilds the same loss."""
    backend, arrays, _ = run
    vec, meta = vectors
    for m in meta:
        if m["group"] != "moderate":
            continue
        c = m["case"]
        if vec[f"{c}/y"].ndim == 1:
            assert float(arrays[f"{c}/loss_column"]) == pytest.approx(float(arrays[f"{c}/loss"]), rel=1e-6), c
        assert float(arrays[f"{c}/loss_from_config"]) == pytest.approx(float(arrays[f"{c}/loss"]), rel=1e-6), c


# The worker's bad inputs and the words each one-line error must contain (see _worker.errors).
EXPECTED_ERRORS = {
    "raw_dim": ["beta", "(4, 3)", "raw_dim=2"],
    "label_shape": ["gaussian", "y_true has shape (5,)", "(4,)"],
    "label_columns": ["zoib", "(4, 128)", "raw_dim=4"],
    "mvn_labels": ["mvn", "(4,)", "(4, 2)"],
    "support": ["beta", "outside the support (0, 1)", "clamp="],
    "unknown": ["'betta'", "did you mean 'beta'"],
    "no_keras_loss": ["'binomial'", "no Keras loss"],
    "option": ["'clmap'", "did you mean 'clamp'"],
    "point_kind": ["'median'", "['mean', 'mode']"],
}


def test_bad_inputs_raise_one_line_errors(run):
    backend, _, info = run
    assert set(info["errors"]) == set(EXPECTED_ERRORS)
    for key, words in EXPECTED_ERRORS.items():
        msg = info["errors"][key]
        assert "\n" not in msg and not msg.startswith(("NOT A", "NO ERROR")), f"{backend} {key}: {msg}"
        for w in words:
            assert w in msg, f"{backend} {key}: {w!r} not in {msg!r}"


def test_labels_outside_the_support_raise_when_eager(run):
    backend, _, info = run
    assert "exponential" in info["eager_check"] and "outside the support [0, inf)" in info["eager_check"], backend


def test_a_model_trains_with_every_loss(run):
    """One model, one head per loss, 8 Adam steps: every loss stays finite and the total goes down."""
    backend, _, info = run
    train = info["train"]
    hist = train["history"]
    assert train["steps"] == 8 and train["weights_finite"], backend
    heads = [k for k in hist if k.endswith("_loss")]
    assert len(heads) >= 17, f"{backend}: per-head losses missing from the history: {sorted(hist)}"
    bad = {k: v for k, v in hist.items() if not np.all(np.isfinite(v))}
    assert not bad, f"{backend}: non-finite training losses {bad}"
    assert hist["loss"][-1] < hist["loss"][0], f"{backend}: the total loss did not go down: {hist['loss']}"


def test_doctests_pass(run):
    backend, _, info = run
    if backend == "jax":
        pytest.skip("doctests run on the other backends (eager JAX compiles each primitive: ~10 s)")
    for mod, (failed, attempted) in info["doctests"].items():
        assert attempted > 0 and failed == 0, f"{backend}: {failed} of {attempted} doctests of {mod} failed"
