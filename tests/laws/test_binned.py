"""Tests specific to the ``binned`` law and the :class:`~losslab.distributions.Histogram` distribution.

References: scipy.stats.norm (HL-Gauss targets), the triangle kernel max(0, 1 - |y - c|/w)
(two-hot weights), numpy histograms (bin counts), scipy.integrate.quad of the histogram
density (moments, CDF, entropy) and scipy.special.rel_entr (KL divergence).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, special, stats

import losslab as ll
from losslab.distributions import Histogram

OPTION_SETS = [
    {},
    {"n_bins": 11, "low": -2.0, "high": 3.0},
    {"n_bins": 7, "low": 10.0, "high": 10.5, "sigma_ratio": 2.0},
    {"n_bins": 2, "low": -1.0, "high": 1.0},
]
KINDS = ("hl-gauss", "onehot", "twohot")
# With 201 bins even float64 HL-Gauss targets are computed on a window of bins around the label.
HL_OPTION_SETS = OPTION_SETS + [{"n_bins": 201, "low": -1.0, "high": 4.0}]


def law_for(kind: str, opts: dict):
    return ll.get_law("binned", kind=kind, **opts)


def labels(law, n: int = 400, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """Labels uniform on [low, high], plus both edges exactly."""
    gen = torch.Generator().manual_seed(seed)
    y = law.low + (law.high - law.low) * torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.cat([y, torch.tensor([law.low, law.high], dtype=torch.float64)]).to(dtype)


def centers_np(law) -> np.ndarray:
    return law.low + law.width * (np.arange(law.n_bins) + 0.5)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("opts", HL_OPTION_SETS)
def test_hl_gauss_round_trip(opts):
    law = law_for("hl-gauss", opts)
    y = labels(law)
    back = law.from_probs(law.to_probs(y))
    # The acceptance bound is a tenth of a bin; bisection actually inverts to ~1e-9 of the range.
    assert (back - y).abs().max() < law.width / 10
    assert (back - y).abs().max() < 1e-9 * (law.high - law.low)


def test_hl_gauss_round_trip_float32():
    law = law_for("hl-gauss", {})
    y = labels(law, dtype=torch.float32)
    back = law.from_probs(law.to_probs(y))
    assert back.dtype == torch.float32
    assert (back - y).abs().max() < law.width / 10


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_twohot_round_trip(opts):
    law = law_for("twohot", opts)
    y = labels(law)
    back = law.from_probs(law.to_probs(y))
    c = centers_np(law)
    inside = (y >= c[0]) & (y <= c[-1])
    # Between the first and last centre the two-hot target is mean-preserving: exact inversion.
    assert (back - y)[inside].abs().max() < 1e-12 * max(1.0, abs(law.high))
    # In the end half-bins every label maps to the end bin, decoded as its centre (<= half a bin off).
    ends = ~inside
    assert ends.any()
    assert (back - y)[ends].abs().max() <= law.width / 2 + 1e-12
    np.testing.assert_allclose(back[y < c[0]].numpy(), c[0], atol=1e-12)
    np.testing.assert_allclose(back[y > c[-1]].numpy(), c[-1], atol=1e-12)


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_onehot_round_trip_within_half_a_bin(opts):
    # One-hot targets forget where the label lies inside its bin, so a tenth of a bin is
    # impossible; the decoded value is the bin's centre, at most half a bin away.
    law = law_for("onehot", opts)
    y = labels(law)
    back = law.from_probs(law.to_probs(y))
    assert (back - y).abs().max() <= law.width / 2 + 1e-12
    k = np.clip(np.floor((y.numpy() - law.low) / law.width), 0, law.n_bins - 1).astype(int)
    np.testing.assert_allclose(back.numpy(), centers_np(law)[k], atol=1e-12)


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("opts", OPTION_SETS)
def test_to_probs_is_a_distribution(kind, opts):
    law = law_for(kind, opts)
    y = labels(law, n=60).reshape(2, 31)
    t = law.to_probs(y)
    assert t.shape == (2, 31, law.n_bins)
    assert (t >= 0).all()
    torch.testing.assert_close(t.sum(-1), torch.ones(2, 31, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("opts", HL_OPTION_SETS)
def test_hl_gauss_targets_match_scipy(opts):
    law = law_for("hl-gauss", opts)
    y = labels(law, n=50).numpy()
    edges = np.linspace(law.low, law.high, law.n_bins + 1)
    sigma = law.sigma_ratio * law.width
    # scipy.stats.norm: mass of N(y, sigma) in each bin, renormalised to the mass inside [low, high].
    cdf = stats.norm.cdf(edges[None, :], loc=y[:, None], scale=sigma)
    ref = np.diff(cdf, axis=1) / (cdf[:, -1:] - cdf[:, :1])
    got = law.to_probs(torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-14)


def _scipy_hl_gauss(law, y: np.ndarray) -> np.ndarray:
    # scipy.stats.norm: mass of N(y, sigma) in each bin, renormalised to the mass inside [low, high].
    edges = np.linspace(law.low, law.high, law.n_bins + 1)
    cdf = stats.norm.cdf(edges[None, :], loc=y[:, None], scale=law.sigma_ratio * law.width)
    return np.diff(cdf, axis=1) / (cdf[:, -1:] - cdf[:, :1])


def test_hl_gauss_float32_window_matches_scipy():
    law = law_for("hl-gauss", {})
    y = labels(law, n=100, dtype=torch.float32)
    bins, _ = law._sparse_targets(y)
    assert bins.shape[-1] < law.n_bins  # float32 targets are computed on a window around the label
    ref = _scipy_hl_gauss(law, y.double().numpy())
    np.testing.assert_allclose(law.to_probs(y).numpy(), ref, rtol=0, atol=2e-6)
    gen = torch.Generator().manual_seed(4)
    raw = 3 * torch.randn(y.shape[0], law.n_bins, generator=gen)
    ce = F.cross_entropy(raw.double(), torch.from_numpy(ref), reduction="none") + math.log(law.width)
    np.testing.assert_allclose(law.loss(raw, y, reduction="none").numpy(), ce.numpy(), rtol=2e-5)


def test_hl_gauss_far_tail_is_accurate():
    # Bins far above the label: differences of CDF values near 1 would lose every digit;
    # the reference differences survival functions (scipy.stats.norm.sf) instead.
    law = law_for("hl-gauss", {"n_bins": 21})
    y = np.array([0.01])
    edges = np.linspace(0.0, 1.0, 22)
    sf = stats.norm.sf(edges, loc=y[0], scale=law.sigma)
    ref = (sf[:-1] - sf[1:]) / (sf[0] - sf[-1])
    got = law.to_probs(torch.from_numpy(y))[0].numpy()
    far = slice(8, 21)  # masses down to ~1e-100
    assert ref[far].min() < 1e-80
    np.testing.assert_allclose(got[far], ref[far], rtol=1e-8)


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_twohot_puts_weight_on_two_neighbours(opts):
    law = law_for("twohot", opts)
    c = centers_np(law)
    gen = torch.Generator().manual_seed(1)
    y = c[0] + (c[-1] - c[0]) * torch.rand(50, generator=gen, dtype=torch.float64)
    t = law.to_probs(y).numpy()
    # Linear interpolation weights are the triangle kernel max(0, 1 - |y - c_k| / w).
    ref = np.clip(1 - np.abs(y.numpy()[:, None] - c[None, :]) / law.width, 0, None)
    np.testing.assert_allclose(t, ref, atol=1e-12)
    nonzero = [np.flatnonzero(row > 0) for row in t]
    assert all(len(nz) <= 2 and (len(nz) < 2 or nz[1] == nz[0] + 1) for nz in nonzero)


@pytest.mark.parametrize("kind", KINDS)
def test_edge_labels_go_to_end_bins(kind):
    law = law_for(kind, {"n_bins": 11, "low": -2.0, "high": 3.0})
    t = law.to_probs(torch.tensor([-2.0, 3.0], dtype=torch.float64))
    assert t[0].argmax() == 0 and t[1].argmax() == law.n_bins - 1
    if kind != "hl-gauss":
        assert t[0, 0] == 1 and t[1, -1] == 1


# ----------------------------------------------------------------------------- objective
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("opts", OPTION_SETS[:2] + HL_OPTION_SETS[-1:])
def test_objective_is_cross_entropy_to_the_targets(kind, opts):
    law = law_for(kind, opts)
    y = labels(law, n=30)
    gen = torch.Generator().manual_seed(2)
    raw = 3 * torch.randn(y.shape[0], law.n_bins, generator=gen, dtype=torch.float64)
    target = law.to_probs(y)
    ref = F.cross_entropy(raw, target, reduction="none") + math.log(law.width)
    torch.testing.assert_close(law.loss(raw, y, reduction="none"), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(law.loss(raw, y), ref.mean(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(law.loss(raw, y, reduction="sum"), ref.sum(), rtol=1e-12, atol=1e-12)
    w = torch.rand(y.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(law.loss(raw, y, weight=w), (w * ref).mean(), rtol=1e-12, atol=1e-12)
    nll = law.nll(law.link(raw), y)
    if kind == "onehot":
        torch.testing.assert_close(law.loss(raw, y, reduction="none"), nll, rtol=1e-12, atol=1e-12)
    else:  # the smoothed targets make the objective differ from the density NLL
        assert (law.loss(raw, y, reduction="none") - nll).abs().max() > 1e-3
    # excess = KL(targets || softmax(raw)), computed with scipy.special.rel_entr.
    kl = special.rel_entr(target.numpy(), special.softmax(raw.numpy(), axis=-1)).sum(-1)
    np.testing.assert_allclose(law.excess(law.link(raw), y).numpy(), kl, rtol=1e-8, atol=1e-10)


def test_nll_with_labels_of_two_axes():
    law = law_for("twohot", {"n_bins": 5})
    raw = torch.randn(4, 3, 5, dtype=torch.float64)
    y = torch.rand(4, 3, dtype=torch.float64)
    nll = law.nll(law.link(raw), y)
    flat = law.nll(law.link(raw.reshape(12, 5)), y.reshape(12))
    torch.testing.assert_close(nll, flat.reshape(4, 3))
    assert law.loss(raw, y, reduction="none").shape == (4, 3)


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "opts, match",
    [
        ({"kind": "threehot"}, r"kind='threehot' is unknown; expected one of 'hl-gauss', 'onehot', 'twohot'"),
        ({"n_bins": 1}, "n_bins=1"),
        ({"n_bins": 5.0}, "n_bins=5.0"),
        ({"low": 1.0, "high": 1.0}, "low=1.0, high=1.0; expected low < high"),
        ({"low": 2.0, "high": 1.0}, "expected low < high"),
        ({"high": math.inf}, "high=inf"),
        ({"sigma_ratio": 0.0}, "sigma_ratio=0.0"),
        ({"sigma_ratio": -1.0}, "sigma_ratio=-1.0"),
    ],
)
def test_bad_options_raise_one_line(opts, match):
    with pytest.raises(ll.LosslabError, match=match) as err:
        ll.get_law("binned", **opts)
    assert "\n" not in str(err.value)


def test_options_round_trip():
    law = ll.get_law("binned", kind="twohot", n_bins=11, low=-2, high=3)
    assert law.options() == {"kind": "twohot", "n_bins": 11, "low": -2.0, "high": 3.0, "sigma_ratio": 0.75,
                             "clamp": None}
    assert ll.get_law("binned", **law.options()).options() == law.options()
    assert law.raw_dim == 11 and law.support_bounds == (-2.0, 3.0, True, True)


# ----------------------------------------------------------------------------- init
@pytest.mark.parametrize("kind", KINDS)
def test_init_params_is_a_smoothed_marginal(kind):
    law = law_for(kind, {"n_bins": 11, "low": -2.0, "high": 3.0})
    y = labels(law, n=200, seed=3)
    logits = law.init_params(y)["logits"]
    probs = logits.exp()
    assert probs.shape == (11,) and (probs > 0).all()
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=probs.dtype))
    if kind == "onehot":  # the label histogram (numpy) with add-1/2 pseudo-counts
        counts, _ = np.histogram(y.numpy(), bins=np.linspace(-2.0, 3.0, 12))
        np.testing.assert_allclose(probs.numpy(), (counts + 0.5) / (len(y) + 0.5 * 11), rtol=1e-6)
    raw = law.inverse_link({"logits": logits})
    assert raw.shape == (11,) and abs(float(raw.mean())) < 1e-6
    torch.testing.assert_close(torch.softmax(raw, -1), probs.to(raw.dtype), rtol=1e-5, atol=1e-7)
    with pytest.raises(ll.LosslabError, match=r"logits of shape \(3,\), expected \(11,\)"):
        law.inverse_link({"logits": torch.zeros(3)})


# ----------------------------------------------------------------------------- point predictions
def test_point_references():
    law = law_for("hl-gauss", {"n_bins": 6, "low": -1.0, "high": 2.0})
    c = centers_np(law)
    edges = np.linspace(-1.0, 2.0, 7)
    logits = torch.tensor([[0.1, 2.0, 0.5, -1.0, 0.0, 0.3], [3.0, 1.0, 0.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 0.0, 1.0, 2.5]], dtype=torch.float64)
    p = special.softmax(logits.numpy(), axis=-1)
    params = law.link(logits)
    np.testing.assert_allclose(law.point(params, "mean").numpy(), p @ c, rtol=1e-12)
    np.testing.assert_allclose(law.point(params, "mode").numpy(), c[p.argmax(-1)], rtol=1e-12)
    # Median: invert the piecewise-linear CDF through its values at the edges (np.interp).
    cdf_edges = np.concatenate([np.zeros((3, 1)), np.cumsum(p, -1)], axis=1)
    med = [np.interp(0.5, cdf_edges[i], edges) for i in range(3)]
    np.testing.assert_allclose(law.point(params, "median").numpy(), med, rtol=1e-12)
    # Interp: weighted mean of the mode's centre and its neighbours; only one neighbour at an end.
    ref = []
    for i in range(3):
        k = p[i].argmax()
        js = [j for j in (k - 1, k, k + 1) if 0 <= j < 6]
        ref.append(np.dot(p[i, js], c[js]) / p[i, js].sum())
    np.testing.assert_allclose(law.point(params, "interp").numpy(), ref, rtol=1e-12)


def test_interp_beats_mode_after_training_on_hl_gauss_targets():
    torch.manual_seed(0)
    law = law_for("hl-gauss", {"n_bins": 21})
    c = centers_np(law)
    # Four groups, each label between two centres (0.3 or 0.35 of a bin away from the nearest).
    targets = torch.tensor([c[3] + 0.3 * law.width, c[8] - 0.35 * law.width,
                            c[12] + 0.35 * law.width, c[17] - 0.3 * law.width], dtype=torch.float32)
    x = torch.eye(4).repeat(8, 1)
    y = targets.repeat(8)
    head = ll.LawHead(4, law)
    head.init_bias(y)
    opt = torch.optim.Adam(head.parameters(), lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        law.loss(head(x), y).backward()
        opt.step()
    with torch.no_grad():
        params = law.link(head(torch.eye(4)))
    err_mode = (law.point(params, "mode") - targets).abs()
    err_interp = (law.point(params, "interp") - targets).abs()
    assert (err_mode > 0.29 * law.width).all()  # the mode is a bin centre
    assert (err_interp < 0.5 * err_mode).all(), (err_interp, err_mode)
    # Decoding the whole histogram by inverting the HL-Gauss targets does better still.
    decoded = law.from_probs(torch.softmax(params["logits"], -1))
    assert ((decoded - targets).abs() < 0.05 * law.width).all()


# ----------------------------------------------------------------------------- Histogram
def _hist(seed: int = 0, batch=(3,), n_bins: int = 7, low: float = -1.0, high: float = 2.5) -> Histogram:
    gen = torch.Generator().manual_seed(seed)
    return Histogram(2 * torch.randn(*batch, n_bins, generator=gen, dtype=torch.float64), low, high)


def test_histogram_attributes_and_shapes():
    h = _hist(batch=(2, 3))
    assert h.batch_shape == (2, 3) and h.event_shape == ()
    assert h.edges.shape == (8,) and h.centers.shape == (7,)
    assert float(h.edges[0]) == -1.0 and float(h.edges[-1]) == 2.5 and h.width == 0.5
    np.testing.assert_allclose(h.centers.numpy(), -0.75 + 0.5 * np.arange(7))
    assert h.low == -1.0 and h.high == 2.5
    assert isinstance(h.support, torch.distributions.constraints.interval)
    assert float(h.support.lower_bound) == -1.0 and float(h.support.upper_bound) == 2.5
    torch.testing.assert_close(h.probs.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    assert h.sample((5,)).shape == (5, 2, 3)
    assert h.expand((4, 2, 3)).batch_shape == (4, 2, 3)
    # probs= gives the same distribution
    h2 = Histogram(probs=3 * h.probs, low=-1.0, high=2.5)
    y = torch.tensor(0.3, dtype=torch.float64)
    torch.testing.assert_close(h2.log_prob(y), h.log_prob(y))


def test_histogram_log_prob_edges_and_outside():
    logits = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    h = Histogram(logits, 0.0, 3.0)
    p = special.softmax(logits.detach().numpy())
    y = torch.tensor([0.0, 1.0, 3.0, -0.1, 3.1], dtype=torch.float64)
    lp = h.log_prob(y)
    # Bin [1, 2) holds 1.0; y == high lies in the last bin; outside the density is 0.
    np.testing.assert_allclose(lp[:3].detach().numpy(), np.log([p[0], p[1], p[2]]), rtol=1e-12)
    assert torch.isneginf(lp[3:]).all()
    lp[3:].sum().backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad == 0).all()
    assert torch.isnan(h.log_prob(torch.tensor(float("nan"), dtype=torch.float64)))


def test_histogram_cdf_icdf_inverse():
    h = _hist(seed=1)
    u = torch.linspace(0, 1, 101, dtype=torch.float64).unsqueeze(-1)  # (101, 1) against batch (3,)
    y = h.icdf(u)
    assert y.shape == (101, 3)
    torch.testing.assert_close(h.cdf(y), u.expand(101, 3), rtol=0, atol=1e-12)
    assert (y >= h.low).all() and (y <= h.high).all()
    z = torch.linspace(h.low, h.high, 57, dtype=torch.float64).unsqueeze(-1)
    torch.testing.assert_close(h.icdf(h.cdf(z)), z.expand(57, 3), rtol=0, atol=1e-10)


def test_histogram_moments_cdf_entropy_by_quadrature():
    h = _hist(seed=2, batch=(2,))
    edges = h.edges.numpy()
    for i in range(2):
        def pdf(v, i=i):
            return float(h.log_prob(torch.tensor(v, dtype=torch.float64))[i].exp())

        # scipy.integrate.quad, told where the density jumps.
        kw = dict(points=edges[1:-1], limit=200, epsabs=1e-13)
        total = integrate.quad(pdf, h.low, h.high, **kw)[0]
        mean = integrate.quad(lambda v: v * pdf(v), h.low, h.high, **kw)[0]
        var = integrate.quad(lambda v: (v - mean) ** 2 * pdf(v), h.low, h.high, **kw)[0]
        ent = integrate.quad(lambda v: -pdf(v) * math.log(pdf(v)), h.low, h.high, **kw)[0]
        cdf_at = integrate.quad(pdf, h.low, 0.8, points=edges[(edges > h.low) & (edges < 0.8)], limit=200)[0]
        assert abs(total - 1) < 1e-10
        np.testing.assert_allclose(float(h.mean[i]), mean, rtol=1e-9)
        np.testing.assert_allclose(float(h.variance[i]), var, rtol=1e-9)
        np.testing.assert_allclose(float(h.entropy()[i]), ent, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(float(h.cdf(torch.tensor(0.8, dtype=torch.float64))[i]), cdf_at, rtol=1e-9)
    # the variance formula of the brief, sum p (c^2 + w^2/12) - mean^2, agrees
    alt = (h.probs * (h.centers**2 + h.width**2 / 12)).sum(-1) - h.mean**2
    torch.testing.assert_close(h.variance, alt)


def test_histogram_samples_follow_the_cdf():
    h = Histogram(torch.tensor([0.0, 2.0, -1.0, 1.0], dtype=torch.float64), 0.0, 2.0)
    torch.manual_seed(0)
    s = h.sample((20000,)).numpy()
    # Kolmogorov-Smirnov test (scipy.stats.kstest) against the histogram's own CDF.
    res = stats.kstest(s, lambda v: h.cdf(torch.as_tensor(v, dtype=torch.float64)).numpy())
    assert res.pvalue > 1e-3


def test_histogram_entropy_with_empty_bins():
    h = Histogram(probs=torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64), low=0.0, high=3.0)
    assert math.isclose(float(h.entropy()), math.log(2), rel_tol=1e-12)  # -sum p log p + log w, w = 1
    torch.testing.assert_close(h.icdf(torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)),
                               torch.tensor([0.5, 1.0, 2.5], dtype=torch.float64))


def test_histogram_bad_arguments():
    with pytest.raises(ll.LosslabError, match="exactly one of logits= or probs="):
        Histogram(torch.zeros(3), 0.0, 1.0, probs=torch.ones(3))
    with pytest.raises(ll.LosslabError, match="low < high"):
        Histogram(torch.zeros(3), 1.0, 1.0)
