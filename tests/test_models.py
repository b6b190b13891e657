"""The model factories: the fast CNN code paths give the values and gradients of the plain NCHW code.

The references are written here independently, the way torch's documentation builds these
nets: ``nn.ReLU`` then ``nn.MaxPool2d(2)`` on NCHW tensors.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losslab as ll
from losslab.models import DeeperCNN, SmallCNN, build_model, channels_last, relu_max_pool2d


def _no_ties(shape, seed=0, dtype=torch.float64):
    # Continuous random values: ties inside a pooling window have probability 0, so the
    # max-pool gradient is unique and both formulations must route it to the same element.
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (1, 2, 7, 5), (3, 1, 2, 2)])
@pytest.mark.parametrize("memory", ["nchw", "channels_last"])
def test_relu_max_pool2d_matches_maxpool_of_relu(shape, memory):
    x = _no_ties(shape)
    if memory == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    out = relu_max_pool2d(x1)
    ref = nn.MaxPool2d(2)(nn.ReLU()(x2))  # the usual order: activation, then pooling
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    w = _no_ties(ref.shape, seed=1)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=0)


def test_channels_last_keeps_values_and_skips_non_images():
    x = _no_ties((2, 3, 4, 5))
    y = channels_last(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, x)
    flat = _no_ties((4, 5))
    assert channels_last(flat) is flat


def _plain_deeper(m: DeeperCNN) -> nn.Sequential:
    c1, c2, hid = copy.deepcopy(m.conv1), copy.deepcopy(m.conv2), copy.deepcopy(m.hidden)
    return nn.Sequential(
        c1, nn.ReLU(), nn.MaxPool2d(2), c2, nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), hid, nn.ReLU(),
    )  # fmt: skip


def _plain_small(m: SmallCNN) -> nn.Sequential:
    return nn.Sequential(copy.deepcopy(m.conv), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())


@pytest.mark.parametrize("cls, plain, shape", [(DeeperCNN, _plain_deeper, (3, 12, 10)), (SmallCNN, _plain_small, (2, 9, 8))])
def test_cnn_trunks_match_plain_nchw_code(cls, plain, shape):
    torch.manual_seed(0)
    m = cls(shape).double()
    ref = plain(m)
    x = _no_ties((4, *shape), seed=2)
    out, want = m(x), ref(x)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    w = _no_ties(want.shape, seed=3)
    (out * w).sum().backward()
    (want * w).sum().backward()
    for p, q in zip(m.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind", ["cnn", "cnn-small"])
def test_cnn_model_works_under_vmap_over_stacked_replicas(kind, shared):
    # The trainer's replica batching runs functional_call under vmap over stacked weights.
    from torch.func import functional_call, stack_module_state

    law = ll.get_law("bernoulli")
    models = [build_model(kind, (1, 6, 6), law, seed=s) for s in (0, 1)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    # the same rows for every replica (shared), or each replica its own rows
    x = torch.randn(2, 5, 1, 6, 6, generator=torch.Generator().manual_seed(4))

    def one(p, b, xx):
        return functional_call(base, (p, b), (xx,))

    out = torch.vmap(one, in_dims=(0, 0, None if shared else 0))(params, buffers, x[0] if shared else x)
    for i, m in enumerate(models):
        torch.testing.assert_close(out[i], m(x[0] if shared else x[i]), rtol=1e-5, atol=1e-6)


def test_build_model_is_deterministic_in_the_seed():
    law = ll.get_law("gaussian-hetero")
    a = build_model("cnn", (1, 8, 8), law, seed=3).state_dict()
    b = build_model("cnn", (1, 8, 8), law, seed=3).state_dict()
    c = build_model("cnn", (1, 8, 8), law, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["trunk.conv1.weight"], c["trunk.conv1.weight"])


def test_cnn_training_step_equal_to_nchw_step():
    # One Adam step through the channels-last model and through the plain NCHW net from the same
    # weights leaves the same weights (float64: only summation order differs).
    torch.manual_seed(0)
    m = DeeperCNN((3, 8, 8)).double()
    ref = _plain_deeper(m)
    x = _no_ties((6, 3, 8, 8), seed=5)
    for net in (m, ref):
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        F.mse_loss(net(x), torch.zeros(6, m.out_features, dtype=torch.float64)).backward()
        opt.step()
    for p, q in zip(m.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_building_a_model_leaves_the_global_random_state_alone():
    import losslab as ll
    from losslab.models import build_model

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model("mlp", (5,), ll.get_law("bernoulli"), seed=4)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------------ custom trunks: the contract
class _ConvTrunk(nn.Module):
    """A trunk with no ``out_features``: Conv2d(C, 4, 3) -> BatchNorm2d -> ReLU, returned 4-d (N, 4, H-2, W-2)."""

    def __init__(self, shape, channels_last_out=False):
        super().__init__()
        self.conv = nn.Conv2d(shape[0], 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.channels_last_out = channels_last_out

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return h.contiguous(memory_format=torch.channels_last) if self.channels_last_out else h


def conv_trunk(shape):
    return _ConvTrunk(shape)


def test_a_trunk_without_out_features_gets_a_head_of_its_measured_width():
    from losslab.models import feature_width

    law = ll.get_law("gaussian-hetero")
    m = build_model(conv_trunk, (2, 7, 9), law, seed=0)
    # By hand: a 3x3 convolution without padding leaves (7-2) x (9-2) positions, times 4 channels.
    assert m.head.linear.in_features == 4 * 5 * 7
    assert feature_width(_ConvTrunk((2, 7, 9)), (2, 7, 9)) == 140
    assert m(torch.randn(3, 2, 7, 9)).shape == (3, law.raw_dim)
    # Not a single feature map: a 1-d output (N,) is one feature per row.
    m1 = build_model(lambda shape: _Sum(), (5,), ll.get_law("bernoulli"), seed=0)
    assert m1.head.linear.in_features == 1 and m1(torch.randn(4, 5)).shape == (4, 1)


class _Sum(nn.Module):
    def forward(self, x):
        return x.sum(dim=1)  # (N,)


@pytest.mark.parametrize("channels_last_out", [False, True])
def test_a_4d_trunk_output_is_flattened_as_nn_flatten_does(channels_last_out):
    # Reference: the same trunk followed by torch's own nn.Flatten, with the same seed (Flatten has no
    # weights, so both factories draw identical trunk and head weights).
    law = ll.get_law("bernoulli")
    shape = (3, 6, 5)
    ours = build_model(lambda s: _ConvTrunk(s, channels_last_out), shape, law, seed=2)
    ref = build_model(lambda s: nn.Sequential(_ConvTrunk(s, channels_last_out), nn.Flatten()), shape, law, seed=2)
    x = _no_ties((4, *shape), seed=6, dtype=torch.float32)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)


def named_factory_that_raises(shape):
    raise ValueError(f"this factory\nonly takes images, not {shape}")


class _Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(7, 3)  # the wrong input width: fails in the dry pass

    def forward(self, x):
        return self.lin(x)


def broken_factory(shape):
    return _Broken()


@pytest.mark.parametrize(
    "factory, expected",
    [
        (named_factory_that_raises, ["'named_factory_that_raises'", "input_shape=(4,)", "ValueError", "only takes images"]),
        (broken_factory, ["'broken_factory'", "input_shape=(4,)", "(2, 4)", "RuntimeError"]),
        (lambda shape: "not a module", ["returned str", "nn.Module"]),
        (lambda shape: nn.Flatten(0), ["batch axis", "(8,)"]),
    ],
)
def test_errors_from_the_users_factory_or_module_are_one_line(factory, expected):
    with pytest.raises(ll.LosslabError) as info:
        build_model(factory, (4,), ll.get_law("bernoulli"), seed=0)
    msg = str(info.value)
    assert "\n" not in msg
    for part in expected:
        assert part in msg, (part, msg)


def test_a_mismatching_out_features_names_both_widths():
    class Declared(nn.Module):
        out_features = 10  # wrong: the module returns 6 features

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 6)

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(ll.LosslabError, match=r"out_features = 10, but the module returns 6 features"):
        build_model(lambda shape: Declared(), (4,), ll.get_law("bernoulli"), seed=0)
    Declared.out_features = 6  # agreeing: accepted
    assert build_model(lambda shape: Declared(), (4,), ll.get_law("bernoulli"), seed=0).head.linear.in_features == 6


def test_the_dry_pass_leaves_batchnorm_statistics_training_flags_and_random_state_alone():
    from losslab.models import feature_width

    trunk = _ConvTrunk((1, 6, 6))
    with torch.no_grad():
        trunk.conv.bias.fill_(0.5)  # a non-zero BN input, so a pass in training mode would move the running mean
    trunk.bn.running_mean.fill_(0.25)
    trunk.bn.running_var.fill_(2.0)
    trunk.conv.eval()  # a mixed model: one submodule in eval, the rest training
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert feature_width(trunk, (1, 6, 6)) == 4 * 4 * 4
    assert torch.equal(torch.rand(3), expected)
    after = trunk.state_dict()
    for k, v in before.items():
        assert torch.equal(after[k], v), k  # running_mean, running_var, num_batches_tracked, weights
    assert trunk.training and trunk.bn.training and not trunk.conv.training


class _Counting(nn.Module):
    """Keeps state in forward (a count of passes) and draws random numbers there."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x) + 0 * torch.rand(1)


def test_the_dry_pass_leaves_state_kept_in_forward_and_the_seeded_weights_alone():
    from losslab.models import feature_width

    trunk = _Counting()
    torch.manual_seed(9)
    expected = torch.rand(2)
    torch.manual_seed(9)
    assert feature_width(trunk, (3,)) == 2
    assert trunk.calls == 0 and torch.equal(torch.rand(2), expected)
    law = ll.get_law("bernoulli")
    a = build_model(lambda s: _Counting(), (3,), law, seed=1).state_dict()
    b = build_model(lambda s: _Counting(), (3,), law, seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_module_instance_or_one_module_returned_twice_is_refused():
    net = nn.Linear(4, 3)
    with pytest.raises(ll.LosslabError, match="nn.Module instance.*factory"):
        build_model(net, (4,), ll.get_law("bernoulli"), seed=0)
    shared = lambda shape: net  # noqa: E731 - the mistake under test: one module for every run
    build_model(shared, (4,), ll.get_law("bernoulli"), seed=0)
    with pytest.raises(ll.LosslabError, match="returned a module it had returned before"):
        build_model(shared, (4,), ll.get_law("bernoulli"), seed=1)


def small_resnet(shape):
    """A factory of a trunk with BatchNorm and no out_features, returning (N, 8, 1, 1)."""
    return nn.Sequential(nn.Conv2d(shape[0], 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))


def test_a_comparison_runs_with_a_custom_trunk():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 1, 6, 6)).astype("float32")  # images: pixels in [0, 1]
    y = 1 / (1 + np.exp(-(X[:, 0, :3].mean(axis=(1, 2)) - 0.5) * 6))
    res = ll.compare((X, y), model=small_resnet, laws=["bernoulli", "sigmoid-mse"], seeds=2, epochs=2)
    assert {(r["law"], r["seed"]) for r in res.runs} == {(law, s) for law in ("bernoulli", "sigmoid-mse") for s in (0, 1)}
    assert all(r["status"] == "ok" and np.isfinite(r["metrics"]["mean_squared_error"]) for r in res.runs)
    assert res.config.model == "small_resnet"


def test_a_custom_trunk_with_batchnorm_runs_as_replicas():
    # replicas=True on the CPU takes the path replicas='auto' takes on a GPU (vmap over functional_call), where
    # torch refuses to update BatchNorm's unbatched running statistics: such trunks must train one at a time.
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(40, 1, 6, 6)).astype("float32")
    y = X[:, 0].mean(axis=(1, 2))
    res = ll.compare((X, y), model=small_resnet, laws=["bernoulli"], seeds=2, epochs=1, replicas=True)
    assert all(r["status"] == "ok" for r in res.runs)
