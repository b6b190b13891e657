"""Checks run over every metric in losslab.metrics.METRICS (scikit-learn's test_common pattern).

The completeness test fails when a metric is added to METRICS without an entry here, so
every metric gets the invariance, numpy/torch and bad-input checks below.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from losslab import LosslabError
from losslab.metrics import (
    CALIBRATION_METRICS,
    DISTRIBUTIONAL_METRICS,
    METRICS,
    POINT_METRICS,
)

N = 40
RNG = np.random.default_rng(7)
Y = RNG.uniform(0.02, 0.98, size=N)
P = np.clip(Y + RNG.normal(scale=0.15, size=N), 0.0, 1.0)
SCALE = RNG.uniform(0.1, 0.5, size=N)

#: metric -> kind; "dist" metrics are called as f(Normal(P, SCALE), Y), the others as f(Y, P)
KINDS = {
    "mean_squared_error": "point",
    "mean_absolute_error": "point",
    "brier_loss": "point",
    "bernoulli_kl": "point",
    "spearman_score": "point",
    "auroc_score": "point",
    "reliability_curve": "calibration",
    "calibration_error": "calibration",
    "log_score": "dist",
    "crps": "dist",
    "pit": "dist",
    "pit_calibration_error": "dist",
    "interval_coverage": "dist",
    "interval_width": "dist",
    "energy_score": "dist",
}
#: metrics whose inputs must be probabilities in [0, 1]
PROBABILITY_INPUTS = {"brier_loss", "bernoulli_kl", "reliability_curve", "calibration_error"}


def test_every_metric_is_covered_here():
    assert set(KINDS) == set(METRICS)
    assert {k for k, v in KINDS.items() if v == "point"} == set(POINT_METRICS)
    assert {k for k, v in KINDS.items() if v == "calibration"} == set(CALIBRATION_METRICS)
    assert {k for k, v in KINDS.items() if v == "dist"} == set(DISTRIBUTIONAL_METRICS)


def _call(name, y, p, scale=SCALE, **kw):
    f = METRICS[name]
    if KINDS[name] == "dist":
        t = torch.as_tensor
        return f(Normal(t(np.asarray(p, dtype=np.float64)), t(np.asarray(scale, dtype=np.float64))), y, **kw)
    return f(y, p, **kw)


def _as_comparable(v):
    if dataclasses.is_dataclass(v):
        return {k: _as_comparable(x) for k, x in dataclasses.asdict(v).items()}
    if torch.is_tensor(v):
        return v.detach().numpy()
    return v


def _assert_same(a, b):
    a, b = _as_comparable(a), _as_comparable(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (str, int)) and not isinstance(a, bool):
        assert a == b
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_invariant_to_sample_order(name):
    perm = np.random.default_rng(0).permutation(N)
    a = _call(name, Y, P)
    b = _call(name, Y[perm], P[perm], SCALE[perm])
    if name == "pit":
        a = np.asarray(a)[perm]  # per-element values follow the rows
    if name == "energy_score":
        # draws are tied to positions; compare per-row values computed on the same draws
        a = _call(name, Y, P, reduction="none")[perm]
        b = _call(name, Y[perm], P[perm], SCALE[perm], reduction="none")
        np.testing.assert_allclose(a, b, atol=0.05)  # same law, different seeded draws: MC noise only
        return
    _assert_same(a, b)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_numpy_and_torch_inputs_agree(name):
    a = _call(name, Y, P)
    b = _call(name, torch.tensor(Y), P if KINDS[name] == "dist" else torch.tensor(P))
    _assert_same(a, b)


def _raises_one_line(name, y, p, argument, scale=SCALE):
    with pytest.raises(LosslabError) as err:
        _call(name, y, p, scale=scale)
    msg = str(err.value)
    assert "\n" not in msg and argument in msg, msg
    assert isinstance(err.value, ValueError)


def _label_arg(name):
    return "y" if KINDS[name] == "dist" else "y_true"


@pytest.mark.parametrize("name", sorted(METRICS))
def test_nan_labels_are_rejected(name):
    y = Y.copy()
    y[3] = np.nan
    _raises_one_line(name, y, P, _label_arg(name))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_shape_mismatch_is_rejected_not_broadcast(name):
    _raises_one_line(name, Y[:, None], P, _label_arg(name))  # (N, 1) against (N,)
    if KINDS[name] != "dist":
        _raises_one_line(name, Y, P[:, None], "y_pred")
        _raises_one_line(name, Y, P[:-1], "y_pred")


@pytest.mark.parametrize("name", sorted(METRICS))
def test_empty_arrays_are_rejected(name):
    _raises_one_line(name, np.zeros(0), np.zeros(0), _label_arg(name), scale=np.ones(0))


@pytest.mark.parametrize("name", sorted(PROBABILITY_INPUTS))
def test_probabilities_outside_the_unit_interval_are_rejected(name):
    _raises_one_line(name, Y, P + 0.5, "y_pred")
    _raises_one_line(name, Y - 0.5, P, "y_true")


@pytest.mark.parametrize("name", sorted(POINT_METRICS))
def test_bad_sample_weights_are_rejected(name):
    with pytest.raises(LosslabError, match="sample_weight"):
        METRICS[name](Y, P, sample_weight=-np.ones(N))
    with pytest.raises(LosslabError, match="sample_weight"):
        METRICS[name](Y, P, sample_weight=np.ones((N, 1)))


@pytest.mark.parametrize("name", sorted(POINT_METRICS))
def test_unit_weights_equal_no_weights_and_results_are_floats(name):
    a, b = METRICS[name](Y, P), METRICS[name](Y, P, sample_weight=np.ones(N))
    assert isinstance(a, float) and a == pytest.approx(b, abs=1e-12)


def test_core_metrics_import_neither_matplotlib_nor_typer():
    import subprocess
    import sys

    code = "import sys, losslab.metrics; print(any(m in sys.modules for m in ('matplotlib', 'typer')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_every_metric_is_exported():
    import losslab.metrics as M

    assert set(METRICS) <= set(M.__all__)
    assert all(getattr(M, name) is f for name, f in METRICS.items())


def _import_time_imports(tree):
    """Modules imported when the module runs: its top level and class bodies, not functions or ``if TYPE_CHECKING:``."""
    import ast

    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append(node.module)
        todo.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt))
    return out


def test_metrics_import_scipy_and_pandas_only_where_used():
    # `import losslab` must not load scipy.special, scipy.stats or pandas through the metrics (issue 22: ~0.7 s):
    # they are imported inside the functions that need them. Checked on the source, so that another module
    # loading them first cannot hide an eager import here.
    import ast
    import pathlib

    import losslab.metrics as M

    heavy = ("scipy", "pandas", "sklearn", "matplotlib")
    found = {}
    for path in sorted(pathlib.Path(M.__file__).parent.glob("*.py")):
        eager = [m for m in _import_time_imports(ast.parse(path.read_text())) if m.split(".")[0] in heavy]
        if eager:
            found[path.name] = eager
    assert not found, found


def test_the_import_check_sees_an_eager_import():
    # so that the test above can fail: a top-level and a class-level import are seen, a function's is not
    import ast

    src = "import scipy.special as sps\nclass A:\n    from pandas import DataFrame\ndef f():\n    import sklearn\n"
    assert sorted(_import_time_imports(ast.parse(src))) == ["pandas", "scipy.special"]
