"""``benchmarks.kernels --primitives``: what it times is what it names, and each law's floor counts functions that suffice.

References, independent of the benchmark's code: numpy and scipy.special for the timed kernels; losslab's own
``law.loss`` and autograd (float64) for the fused forms below, which compute each law's loss and gradient
from the special functions that ``FLOOR_FUNCTIONS`` lists for it, each evaluated as often as it says.
"""

import math
from collections import Counter

import numpy as np
import pytest
import scipy.special as sc
import torch

import losslab as ll
from benchmarks import kernels


def test_each_timed_kernel_computes_the_function_it_is_named_after():
    x = 0.5 + 5 * torch.rand(2000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = {"copy": lambda v: v, "exp": np.exp, "log": np.log, "log1p": np.log1p, "sigmoid": sc.expit, "lgamma": sc.gammaln, "digamma": sc.digamma}
    assert set(kernels.PRIMITIVES) == set(ref)
    for name, fn in kernels.PRIMITIVES.items():
        out = torch.empty_like(x)
        fn(x, out)
        np.testing.assert_allclose(out.numpy(), ref[name](x.numpy()), rtol=1e-10, atol=1e-12, err_msg=name)


class _Counting:
    """torch's special functions, counting the evaluations per label."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, Counter()

    def __getattr__(self, name: str):
        fn = getattr(torch, name)

        def counted(t: torch.Tensor) -> torch.Tensor:
            self.calls[name] += t.numel() / self.n
            return fn(t)

        return counted


def _sig(x, e):
    """sigmoid(x) from e = exp(-|x|), with no further special function."""
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x, e, f):
    return x.clamp(min=0) + f.log1p(e)


def _fused(name: str, raw: torch.Tensor, y: torch.Tensor, f: _Counting):
    """The mean loss and its gradient in raw, from the special functions ``f`` alone (see FLOOR_FUNCTIONS)."""
    n, half_log_2pi = y.numel(), 0.5 * math.log(2 * math.pi)
    x = raw[:, 0]
    if name == "gaussian":
        return (0.5 * (x - y) ** 2).mean() + half_log_2pi, ((x - y) / n)[:, None]
    if name == "laplace":
        return (x - y).abs().mean() + math.log(2.0), (torch.sign(x - y) / n)[:, None]
    if name == "bernoulli":
        e = f.exp(-x.abs())
        return (_softplus(x, e, f) - x * y).mean(), ((_sig(x, e) - y) / n)[:, None]
    if name == "sigmoid-mse":
        s = f.sigmoid(x)
        return (0.5 * (s - y) ** 2).mean() + half_log_2pi, ((s - y) * s * (1 - s) / n)[:, None]
    if name == "exponential":
        e = f.exp(-x.abs())
        rate = _softplus(x, e, f)
        return (rate * y - f.log(rate)).mean(), (_sig(x, e) * (y - 1 / rate) / n)[:, None]
    if name == "gaussian-hetero":
        r = raw[:, 1]
        e = f.exp(-r.abs())
        scale = _softplus(r, e, f) + ll.get_law(name).min_scale
        z = (y - x) / scale
        loss = (0.5 * z**2 + f.log(scale)).mean() + half_log_2pi
        return loss, torch.stack([-z / scale / n, _sig(r, e) * (1 - z**2) / scale / n], 1)
    if name == "beta":
        r1 = raw[:, 1]
        e = f.exp(-x.abs())
        m, m1 = _sig(x, e), _sig(-x, e)  # mean and 1 - mean from the one exp
        prec = f.exp(r1)
        a, b = prec * m, prec * m1
        ly, l1y = f.log(y), f.log1p(-y)
        loss = (f.lgamma(a) + f.lgamma(b) - f.lgamma(a + b) - (a - 1) * ly - (b - 1) * l1y).mean()
        psi_ab = f.digamma(a + b)
        da, db = f.digamma(a) - psi_ab - ly, f.digamma(b) - psi_ab - l1y
        return loss, torch.stack([(da - db) * prec * m * m1 / n, (da * a + db * b) / n], 1)
    raise AssertionError(f"no fused form for {name}")


@pytest.mark.parametrize("name", sorted(kernels.FLOOR_FUNCTIONS))
def test_the_counted_functions_suffice_for_the_loss_and_its_gradient(name):
    law = ll.get_law(name)
    assert kernels.is_elementwise(law)
    gen = torch.Generator().manual_seed(1)
    n = 500
    raw = (1.5 * torch.randn(n, law.raw_dim, generator=gen, dtype=torch.float64)).requires_grad_(True)
    y = 0.01 + 0.98 * torch.rand(n, generator=gen, dtype=torch.float64)  # inside every law's support
    ours = law.loss(raw, y)
    (grad,) = torch.autograd.grad(ours, raw)
    f = _Counting(n)
    with torch.no_grad():
        loss, fused_grad = _fused(name, raw.detach(), y, f)
    torch.testing.assert_close(loss, ours.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused_grad, grad, rtol=1e-9, atol=1e-12)
    assert dict(f.calls) == kernels.FLOOR_FUNCTIONS[name]  # each function as often per label as the floor counts it


def test_special_floor_adds_each_laws_function_costs_and_sets_them_against_its_bound():
    costs = dict.fromkeys(kernels.PRIMITIVES, 1e-9) | {"digamma": 10e-9}
    rows = {r["law"]: r for r in kernels.special_floor(costs, bandwidth=20e9)}
    assert set(rows) == set(kernels.FLOOR_FUNCTIONS)
    # bernoulli: exp + log1p = 2 ns; one raw output, 4 * (3 + 2) = 20 bytes at 20 GB/s = 1 ns
    assert rows["bernoulli"]["floor"] == pytest.approx(2e-9) and rows["bernoulli"]["bound"] == pytest.approx(1e-9)
    assert rows["bernoulli"]["x_bound"] == pytest.approx(2.0)
    # beta: 2 exp + log + log1p + 3 lgamma + 3 digamma = 7 + 30 ns; two raw outputs, 4 * (6 + 2) = 32 bytes = 1.6 ns
    assert rows["beta"]["floor"] == pytest.approx(37e-9) and rows["beta"]["x_bound"] == pytest.approx(37 / 1.6)
    assert rows["gaussian"]["floor"] == 0 and rows["gaussian"]["x_bound"] == 0
