"""The slow lane (``pytest -m slow``, run by .ci/run): known-truth recovery and the benchmarks' smoke mode."""

import math

import pytest

from losslab.data import synthetic
from losslab.experiment import compare

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "generator, laws",
    [
        # Each candidate set holds laws of one likelihood kind, so their log scores are comparable.
        ("beta", ["beta", "logit-normal", "gaussian-hetero"]),
        ("gaussian-hetero", ["gaussian-hetero", "gaussian", "laplace-hetero"]),
        ("bernoulli-fraction", ["binomial", "beta-binomial"]),
    ],
)
def test_true_law_is_recommended_or_tied_on_log_score(generator, laws):
    ds = synthetic(generator, n=1500, seed=1)
    true = ds.meta["law"]
    res = compare(ds, laws=laws, seeds=3, model="mlp", primary_metric="log_score", epochs=40, patience=8)
    rec = res.recommend()
    assert true == rec.law or true in rec.tied, rec.reason


def test_kernel_benchmark_smoke():
    from benchmarks import kernels

    results = kernels.main(["--quick"])
    import losslab as ll

    assert {r["law"] for r in results} == set(ll.list_laws())
    assert all(math.isfinite(r["ours"]) and r["ours"] > 0 for r in results)
    assert all(r["ratio"] is None or math.isfinite(r["ratio"]) for r in results)


def test_kernel_benchmark_primitives_smoke():
    from benchmarks import kernels

    out = kernels.main(["--primitives", "--quick"])
    for costs in out["costs"].values():
        assert set(costs) == set(kernels.PRIMITIVES)
        assert all(math.isfinite(v) and v > 0 for v in costs.values())
    assert [r["law"] for r in out["floor"]] == list(kernels.FLOOR_FUNCTIONS)
    assert all(math.isfinite(r["x_bound"]) and r["bound"] > 0 for r in out["floor"])
