"""Law-specific checks of laplace, laplace-hetero, student-t, exponential, mvn and mixture-gaussian.

The common suite (test_laws_common.py) already checks every example against scipy; these
tests check each family's own promises against independent references (numpy, scipy,
closed forms, other laws of the package that the family reduces to).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats

import losslab as ll

F64 = torch.float64


def _lbfgs(raw: torch.Tensor, objective, steps: int = 3) -> torch.Tensor:
    raw = raw.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([raw], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(raw)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return raw.detach()


# ----------------------------------------------------------------------------- laplace
def test_laplace_minimiser_is_the_label_median():
    # Skewed labels, so mean and median differ by far more than the grid step.
    gen = torch.Generator().manual_seed(0)
    y = torch.distributions.Exponential(1.0).sample((101,)).to(F64) + 0.01 * torch.rand(101, generator=gen, dtype=F64)
    law = ll.get_law("laplace", scale=0.7)
    grid = torch.linspace(float(y.min()), float(y.max()), 4001, dtype=F64)
    losses = torch.stack([law.loss(torch.full((101, 1), float(c), dtype=F64), y) for c in grid])
    best = float(grid[losses.argmin()])
    step = float(grid[1] - grid[0])
    median = float(np.median(y.numpy()))  # reference: numpy
    assert abs(best - median) <= step
    assert abs(float(y.mean()) - median) > 10 * step


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_laplace_fused_reduction_equals_the_elementwise_loss(reduction):
    law = ll.get_law("laplace", scale=2.5)
    gen = torch.Generator().manual_seed(1)
    raw = torch.randn(50, 1, generator=gen, dtype=F64, requires_grad=True)
    y = 3 * torch.randn(50, generator=gen, dtype=F64)
    fused = law.loss(raw, y, reduction=reduction)
    per = law.loss(raw, y, reduction="none")
    # Independent closed form: |y - loc| / b + log 2b.
    ref = (y - raw[:, 0]).abs() / 2.5 + math.log(5.0)
    torch.testing.assert_close(per, ref)
    torch.testing.assert_close(fused, per.mean() if reduction == "mean" else per.sum())
    (g_fused,) = torch.autograd.grad(fused, raw)
    (g_ref,) = torch.autograd.grad(ref.mean() if reduction == "mean" else ref.sum(), raw)
    torch.testing.assert_close(g_fused, g_ref)
    w = torch.rand(50, generator=gen, dtype=F64)
    torch.testing.assert_close(law.loss(raw, y, weight=w, reduction="sum"), (w * ref).sum())


def test_laplace_excess_is_the_scaled_absolute_error():
    law = ll.get_law("laplace", scale=0.5)
    loc = torch.tensor([0.0, 1.0, -2.0], dtype=F64)
    y = torch.tensor([0.0, 3.0, -1.0], dtype=F64)
    torch.testing.assert_close(law.excess({"loc": loc}, y), (y - loc).abs() / 0.5)


def test_laplace_fixed_scale_equals_hetero_at_that_scale():
    fixed, hetero = ll.get_law("laplace", scale=1.7), ll.get_law("laplace-hetero")
    gen = torch.Generator().manual_seed(2)
    loc = torch.randn(20, generator=gen, dtype=F64)
    y = torch.randn(20, generator=gen, dtype=F64)
    torch.testing.assert_close(
        fixed.nll({"loc": loc}, y), hetero.nll({"loc": loc, "scale": torch.full_like(loc, 1.7)}, y)
    )


def test_laplace_hetero_init_is_the_marginal_mle():
    # Closed-form MLE of a Laplace law: median and mean absolute deviation from it
    # (Johnson, Kotz & Balakrishnan); checked here as a minimum over a grid of perturbations.
    law = ll.get_law("laplace-hetero")
    y = torch.distributions.Gumbel(1.0, 2.0).sample((301,)).to(F64)
    init = law.init_params(y)
    assert float(init["loc"]) == pytest.approx(float(np.median(y.numpy())))
    mle = stats.laplace.fit(y.numpy())  # scipy's own fit: (loc, scale)
    assert float(init["scale"]) == pytest.approx(mle[1], rel=1e-6)


def test_laplace_options_are_validated():
    with pytest.raises(ll.LosslabError, match="scale=-1"):
        ll.get_law("laplace", scale=-1.0)
    with pytest.raises(ll.LosslabError, match="min_scale=0"):
        ll.get_law("laplace-hetero", min_scale=0.0)


# ---------------------------------------------------------------------------- student-t
def test_student_t_with_huge_df_approaches_the_gaussian():
    gauss = ll.get_law("gaussian-hetero")
    gen = torch.Generator().manual_seed(3)
    raw = torch.randn(40, 2, generator=gen, dtype=F64)
    y = raw[:, 0] + 2 * torch.randn(40, generator=gen, dtype=F64)
    ref = gauss.nll(gauss.link(raw), y)
    near = ll.get_law("student-t", df=1e6)
    far = ll.get_law("student-t", df=5.0)
    # Expanding log1p and the lgamma ratio (Stirling): nll_t - nll_N = (1 + 2 z^2 - z^4) / (4 df) + O(z^6 / df^2).
    z = (y - raw[:, 0]) / near.link(raw)["scale"]
    first_order = (1 + 2 * z**2 - z**4) / 4e6
    gap = near.nll(near.link(raw), y) - ref
    torch.testing.assert_close(gap, first_order, rtol=0.05, atol=1e-8)
    assert (far.nll(far.link(raw), y) - ref).abs().max() > 0.1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_student_t_tail_free_shortcut_equals_the_selected_branches(dtype):
    """Without a far-tail label the NLL skips its branch selection: same values and gradients, bit for bit.

    The reference is the same rows computed next to one far-tail label (and one raw output that
    puts df past the asymptotic series' threshold), which takes the selecting code path.
    """
    law = ll.get_law("student-t")
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(64, 3, generator=g, dtype=dtype)
    y = torch.randn(64, generator=g, dtype=dtype) * 3
    extra_raw = torch.tensor([[0.0, 0.0, 500.0]], dtype=dtype)  # df = 2 + softplus(500) > 100: the series
    extra_y = torch.tensor([1e25], dtype=dtype)  # |y - loc| / (scale sqrt df) > 1e4: the far branch

    def nll_and_grad(r, t):
        r = r.clone().requires_grad_(True)
        out = law.nll(law.link(r), t)
        out.sum().backward()
        return out.detach(), r.grad

    v_fast, g_fast = nll_and_grad(raw, y)
    v_sel, g_sel = nll_and_grad(torch.cat([raw, extra_raw]), torch.cat([y, extra_y]))
    assert torch.equal(v_fast, v_sel[:64]) and torch.equal(g_fast, g_sel[:64])
    assert torch.isfinite(v_sel).all() and torch.isfinite(g_sel).all()


def test_student_t_fixed_df_equals_learned_df_at_that_value():
    learned, fixed = ll.get_law("student-t"), ll.get_law("student-t", df=4.0)
    gen = torch.Generator().manual_seed(4)
    raw2 = torch.randn(30, 2, generator=gen, dtype=F64)
    # df = min_df + softplus(r) = 4 at r = log(e^2 - 1).
    r_df = torch.full((30, 1), math.log(math.expm1(2.0)), dtype=F64)
    y = torch.randn(30, generator=gen, dtype=F64)
    p_learned = learned.link(torch.cat([raw2, r_df], dim=1))
    torch.testing.assert_close(p_learned["df"], torch.full((30,), 4.0, dtype=F64))
    torch.testing.assert_close(learned.nll(p_learned, y), fixed.nll(fixed.link(raw2), y))
    assert fixed.raw_dim == 2 and learned.raw_dim == 3


def test_student_t_gradient_in_loc_is_bounded():
    # |d nll / d loc| = (df + 1) |z| / (scale (df + z^2)) <= (df + 1) / (2 sqrt(df) scale), at |z| = sqrt(df).
    law = ll.get_law("student-t", df=3.0)
    loc = torch.zeros(2001, dtype=F64, requires_grad=True)
    scale = torch.full((2001,), 0.5, dtype=F64)
    y = torch.linspace(-1e3, 1e3, 2001, dtype=F64)
    law.nll({"loc": loc, "scale": scale}, y).sum().backward()
    bound = 4.0 / (2 * math.sqrt(3.0) * 0.5)
    assert float(loc.grad.abs().max()) <= bound * (1 + 1e-12)
    assert float(loc.grad.abs()[[0, -1]].max()) < 0.01  # outliers barely pull


def test_student_t_df_floor_holds_at_extreme_raw_outputs():
    law = ll.get_law("student-t", min_df=2.5)
    raw = torch.tensor([[0.0, 0.0, -1e4], [0.0, 0.0, 1e4]], dtype=torch.float32)
    df = law.link(raw)["df"]
    assert float(df[0]) == 2.5 and float(df[1]) == pytest.approx(1e4 + 2.5)


def test_student_t_cauchy_has_no_mean():
    law = ll.get_law("student-t", df=1.0)
    params = law.link(torch.zeros(3, 2))
    with pytest.raises(ll.LosslabError, match="point kind 'mean'"):
        law.point(params, "mean")
    torch.testing.assert_close(law.point(params, "median"), torch.zeros(3))


def test_student_t_init_beats_zero_raw_on_heavy_tailed_labels():
    law = ll.get_law("student-t")
    y = torch.distributions.StudentT(2.5, 10.0, 0.1).sample((500,)).to(F64)
    fit = law.link(law.inverse_link(law.init_params(y)).to(F64).expand(500, -1))
    zero = law.link(torch.zeros(500, 3, dtype=F64))
    assert float(law.nll(fit, y).mean()) < float(law.nll(zero, y).mean()) - 1.0


def test_student_t_options_are_validated():
    with pytest.raises(ll.LosslabError, match="df=0"):
        ll.get_law("student-t", df=0.0)
    with pytest.raises(ll.LosslabError, match="min_df=0.5"):
        ll.get_law("student-t", min_df=0.5)


# -------------------------------------------------------------------------- exponential
def test_exponential_excess_vanishes_at_rate_one_over_y():
    law = ll.get_law("exponential")
    y = torch.tensor([0.01, 0.5, 1.0, 7.0, 300.0], dtype=F64)
    raw = torch.stack([law.inverse_link({"rate": 1.0 / v}) for v in y.tolist()]).to(F64)
    params = law.link(raw)
    torch.testing.assert_close(params["rate"], 1.0 / y)
    assert float(law.excess(params, y).max()) < 1e-10
    # Elsewhere the excess is rate y - 1 - log(rate y) > 0 (closed form).
    other = {"rate": 2.0 / y}
    torch.testing.assert_close(law.excess(other, y), torch.full_like(y, 1.0 - math.log(2.0)))


def test_exponential_excess_is_refused_at_zero_labels():
    law = ll.get_law("exponential")
    params = {"rate": torch.ones(3, dtype=F64)}
    with pytest.raises(ll.LosslabError, match=r"undefined at labels y = 0 \(1 of 3"):
        law.excess(params, torch.tensor([1.0, 0.0, 2.0], dtype=F64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exponential_at_zero_label_is_minus_log_rate(dtype):
    law = ll.get_law("exponential")
    raw = torch.tensor([[-1e4], [-20.0], [0.0], [1e4]], dtype=dtype, requires_grad=True)
    y = torch.zeros(4, dtype=dtype)
    nll = law.loss(raw, y, reduction="none")
    ref = torch.tensor([1e4, 20.0, -math.log(math.log(2.0)), -math.log(1e4)], dtype=dtype)
    torch.testing.assert_close(nll, ref, rtol=1e-6, atol=1e-6)
    nll.sum().backward()
    assert torch.isfinite(raw.grad).all()


def test_exponential_points_match_scipy():
    law = ll.get_law("exponential")
    params = law.link(torch.tensor([[-3.0], [0.0], [2.0], [40.0]], dtype=F64))
    scale = 1.0 / params["rate"].numpy()
    np.testing.assert_allclose(law.point(params, "mean").numpy(), stats.expon.mean(scale=scale))
    np.testing.assert_allclose(law.point(params, "median").numpy(), stats.expon.median(scale=scale))
    assert (law.point(params, "mode") == 0).all()


def test_exponential_nll_accepts_params_without_log_rate():
    law = ll.get_law("exponential")
    rate = torch.tensor([0.1, 1.0, 5.0], dtype=F64)
    y = torch.tensor([0.0, 2.0, 0.3], dtype=F64)
    np.testing.assert_allclose(-law.nll({"rate": rate}, y).numpy(), stats.expon.logpdf(y, scale=1 / rate.numpy()))


# ---------------------------------------------------------------------------------- mvn
def test_mvn_with_dim_one_equals_gaussian_hetero():
    mvn, gauss = ll.get_law("mvn", dim=1), ll.get_law("gaussian-hetero")
    gen = torch.Generator().manual_seed(5)
    raw = 2 * torch.randn(25, 2, generator=gen, dtype=F64)
    y = 3 * torch.randn(25, generator=gen, dtype=F64)
    torch.testing.assert_close(mvn.nll(mvn.link(raw), y.unsqueeze(-1)), gauss.nll(gauss.link(raw), y))


@pytest.mark.parametrize("dim", [3, 5])
def test_mvn_larger_dims_match_scipy_and_stay_finite_in_float64(dim):
    # dim >= 3 is not in the common suite: its float32 loss overflows at raw outputs of ±1e4 (documented).
    # dim = 3 runs the unrolled substitution, dim = 5 torch.linalg.solve_triangular.
    law = ll.get_law("mvn", dim=dim)
    gen = torch.Generator().manual_seed(6)
    raw = torch.randn(20, law.raw_dim, generator=gen, dtype=F64)
    y = torch.randn(20, dim, generator=gen, dtype=F64)
    p = law.link(raw)
    ref = [
        stats.multivariate_normal.logpdf(y[i].numpy(), p["loc"][i].numpy(), (p["scale_tril"][i] @ p["scale_tril"][i].T).numpy())
        for i in range(20)
    ]
    np.testing.assert_allclose(-law.nll(p, y).numpy(), ref, rtol=1e-9)
    extreme = (1e4 * torch.sign(torch.randn(16, law.raw_dim, generator=gen, dtype=F64))).requires_grad_(True)
    loss = law.loss(extreme, y[:16], reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(extreme.grad).all()


def test_mvn_link_builds_a_lower_triangular_factor_with_a_floored_diagonal():
    law = ll.get_law("mvn", dim=3, min_scale=0.01)
    raw = torch.tensor([[0.0, 0.0, 0.0, -1e4, 5.0, -1e4, 6.0, 7.0, -1e4]], dtype=F64)
    tril = law.link(raw)["scale_tril"][0]
    expected = torch.tensor([[0.01, 0, 0], [5.0, 0.01, 0], [6.0, 7.0, 0.01]], dtype=F64)
    torch.testing.assert_close(tril, expected)


def test_mvn_init_recovers_the_sample_mean_and_covariance():
    law = ll.get_law("mvn", dim=3)
    gen = torch.Generator().manual_seed(7)
    y = torch.randn(400, 3, generator=gen, dtype=F64) @ torch.tensor([[2.0, 0, 0], [1.0, 0.5, 0], [-1.0, 0.3, 1.0]], dtype=F64) + 3
    init = law.init_params(y)
    p = law.link(law.inverse_link(init).to(F64).unsqueeze(0))
    np.testing.assert_allclose(p["loc"][0].numpy(), y.numpy().mean(0), rtol=1e-6)
    cov = (p["scale_tril"][0] @ p["scale_tril"][0].T).numpy()
    # numpy's biased covariance = the Gaussian MLE; the init adds a ridge of (10 min_scale)^2.
    np.testing.assert_allclose(cov, np.cov(y.numpy().T, bias=True) + 1e-4 * np.eye(3), rtol=1e-5, atol=1e-7)
    from_cov = law.inverse_link({"loc": init["loc"], "covariance_matrix": torch.as_tensor(cov)})
    torch.testing.assert_close(from_cov.to(F64), law.inverse_link(init).to(F64), rtol=1e-5, atol=1e-6)


def test_mvn_minimiser_is_the_mean_and_covariance():
    law = ll.get_law("mvn", dim=2)
    gen = torch.Generator().manual_seed(8)
    y = torch.randn(300, 2, generator=gen, dtype=F64) @ torch.tensor([[1.0, 0.8], [0.0, 0.6]], dtype=F64) - 1
    raw = _lbfgs(torch.zeros(1, law.raw_dim, dtype=F64), lambda r: law.loss(r.expand(300, -1), y))
    p = law.link(raw)
    np.testing.assert_allclose(law.point(p, "mean")[0].numpy(), y.numpy().mean(0), atol=1e-6)
    cov = (p["scale_tril"][0] @ p["scale_tril"][0].T).numpy()
    np.testing.assert_allclose(cov, np.cov(y.numpy().T, bias=True), atol=1e-6)


def test_mvn_shapes_and_heads():
    law = ll.get_law("mvn", dim=2)
    params = law.link(torch.zeros(4, law.raw_dim))
    assert params["loc"].shape == (4, 2) and params["scale_tril"].shape == (4, 2, 2)
    assert law.nll(params, torch.zeros(4, 2)).shape == (4,)
    with pytest.raises(ll.LosslabError, match=r"shape \(4,\)"):
        law.nll(params, torch.zeros(4))
    with pytest.raises(ll.LosslabError, match="expected \\(N, 2\\)"):
        law.init_params(torch.zeros(10, 3))
    with pytest.raises(ll.LosslabError, match="n_targets=1"):
        ll.LawHead(3, law, n_targets=2)
    assert law.predictive(params).event_shape == (2,)


# ------------------------------------------------------------------------------ mixture
def test_mixture_with_one_component_equals_gaussian_hetero():
    mix, gauss = ll.get_law("mixture-gaussian", n_components=1), ll.get_law("gaussian-hetero")
    gen = torch.Generator().manual_seed(9)
    raw = 2 * torch.randn(25, 3, generator=gen, dtype=F64)  # [logit, loc, scale]
    y = 3 * torch.randn(25, generator=gen, dtype=F64)
    torch.testing.assert_close(mix.nll(mix.link(raw), y), gauss.nll(gauss.link(raw[:, 1:]), y))


def test_mixture_is_invariant_to_the_order_of_components():
    law = ll.get_law("mixture-gaussian", n_components=4)
    gen = torch.Generator().manual_seed(10)
    raw = torch.randn(10, 12, generator=gen, dtype=F64)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = torch.cat([raw[:, :4][:, perm], raw[:, 4:8][:, perm], raw[:, 8:][:, perm]], dim=1)
    y = torch.randn(10, generator=gen, dtype=F64)
    torch.testing.assert_close(law.nll(law.link(raw), y), law.nll(law.link(permuted), y))


def _random_mixtures(k: int, n: int, seed: int):
    law = ll.get_law("mixture-gaussian", n_components=k)
    gen = torch.Generator().manual_seed(seed)
    raw = torch.cat(
        [torch.randn(n, k, generator=gen, dtype=F64), 3 * torch.randn(n, k, generator=gen, dtype=F64),
         torch.randn(n, k, generator=gen, dtype=F64)], dim=1
    )
    return law, law.link(raw)


def test_mixture_median_solves_cdf_one_half():
    law, p = _random_mixtures(3, 12, seed=11)
    med = law.point(p, "median").numpy()
    w = torch.softmax(p["logits"], -1).numpy()
    for i in range(12):
        # Reference: scipy brentq on the mixture cdf written with scipy.stats.norm.cdf.
        cdf = lambda x: float(np.sum(w[i] * stats.norm.cdf(x, p["loc"][i].numpy(), p["scale"][i].numpy()))) - 0.5
        assert med[i] == pytest.approx(optimize.brentq(cdf, -50, 50, xtol=1e-13), abs=1e-9)


def test_mixture_mode_is_the_highest_density_point():
    law, p = _random_mixtures(3, 12, seed=12)
    mode = law.point(p, "mode")
    w = torch.softmax(p["logits"], -1).numpy()
    grid = np.linspace(-20, 20, 400001)
    for i in range(12):
        # Reference: the mixture pdf (scipy.stats.norm.pdf) on a grid of step 1e-4.
        dens = lambda x: np.sum(w[i] * stats.norm.pdf(np.atleast_1d(x)[:, None], p["loc"][i].numpy(), p["scale"][i].numpy()), axis=1)
        best = grid[np.argmax(dens(grid))]
        assert float(dens(float(mode[i]))[0]) >= float(dens(best)[0]) * (1 - 1e-9)
        assert float(mode[i]) == pytest.approx(best, abs=2e-4)


def test_mixture_mean_matches_torch():
    law, p = _random_mixtures(4, 8, seed=13)
    torch.testing.assert_close(law.point(p, "mean"), law.predictive(p).mean)


def test_mixture_init_finds_two_clusters():
    law = ll.get_law("mixture-gaussian", n_components=2)
    gen = torch.Generator().manual_seed(14)
    y = torch.cat([torch.randn(300, generator=gen, dtype=F64) * 0.3 - 4, torch.randn(200, generator=gen, dtype=F64) * 0.5 + 3])
    init = law.init_params(y)
    locs = sorted(init["loc"].tolist())
    assert locs[0] == pytest.approx(-4, abs=0.1) and locs[1] == pytest.approx(3, abs=0.15)
    fit = law.link(law.inverse_link(init).to(F64).expand(500, -1))
    # A single Gaussian MLE (scipy.stats.norm.fit) is much worse on two clusters.
    single = stats.norm.logpdf(y.numpy(), *stats.norm.fit(y.numpy())).mean()
    assert -float(law.nll(fit, y).mean()) > single + 1.0


def test_mixture_rejects_parameters_without_a_component_axis():
    law = ll.get_law("mixture-gaussian", n_components=3)
    params = law.link(torch.zeros(5, 9))
    with pytest.raises(ll.LosslabError, match="n_components=3"):
        law.nll({k: v[:, :2] for k, v in params.items()}, torch.zeros(5))
    with pytest.raises(ll.LosslabError, match="n_components=0"):
        ll.get_law("mixture-gaussian", n_components=0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_exponential_fused_reduction_equals_the_elementwise_loss(reduction):
    # The mean/sum path is a hand-written autograd Function: check value and gradient against
    # the elementwise composite, including raw outputs where softplus underflows.
    law = ll.get_law("exponential")
    gen = torch.Generator().manual_seed(15)
    raw = torch.cat([3 * torch.randn(40, 1, generator=gen, dtype=F64), torch.tensor([[-1e4], [-800.0], [-16.0], [1e4]], dtype=F64)])
    y = torch.cat([torch.rand(40, generator=gen, dtype=F64) * 4, torch.tensor([0.0, 1.0, 2.0, 0.5], dtype=F64)])
    raw.requires_grad_(True)
    fused = law.loss(raw, y, reduction=reduction)
    per = law.loss(raw, y, reduction="none")
    ref = per.mean() if reduction == "mean" else per.sum()
    torch.testing.assert_close(fused, ref)
    torch.testing.assert_close(torch.autograd.grad(fused, raw)[0], torch.autograd.grad(ref, raw)[0])
    moderate = raw[:40].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r: law.loss(r, y[:40], reduction=reduction), (moderate,))
    for dtype in (torch.float32, torch.float64):
        r = raw.detach().to(dtype).requires_grad_(True)
        loss = law.loss(r, y.to(dtype), reduction=reduction)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(r.grad).all()
