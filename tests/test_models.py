"""The model factories: the fast CNN code paths give the values and gradients of the plain NCHW code.

The references are written here independently, the way torch's documentation builds these
nets: ``nn.ReLU`` then ``nn.MaxPool2d(2)`` on NCHW tensors.
"""

import copy

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
