"""The kernels that ``benchmarks.ablations floor`` times are the ones a cnn-small training step runs.

Reference: autograd through losslab's own trunk layers (``Conv2d``, ``relu_max_pool2d``) on the same
inputs; each timed kernel must return the same values and gradients.
"""

import torch

from benchmarks.ablations import image_kernels
from losslab.models import relu_max_pool2d


def test_timed_kernels_compute_what_training_computes():
    k = image_kernels(batch=4)
    t = k["inputs"]
    w = t["weight"].clone().requires_grad_()
    b = t["bias"].clone().requires_grad_()
    h = torch.nn.functional.conv2d(t["x"], w, b, padding=1)
    torch.testing.assert_close(k["conv forward"](), h, rtol=0, atol=0)
    _, gw, gb = k["conv backward"]()
    ref_w, ref_b = torch.autograd.grad(h, (w, b), t["grad_h"])
    torch.testing.assert_close(gw, ref_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gb, ref_b, rtol=1e-5, atol=1e-5)

    hh = t["h"].clone().requires_grad_()
    pooled = torch.nn.functional.max_pool2d(hh, 2)
    out, _ = k["pool forward"]()
    torch.testing.assert_close(out, pooled, rtol=0, atol=0)
    (ref_h,) = torch.autograd.grad(pooled, hh, t["grad_pooled"])
    torch.testing.assert_close(k["pool backward"](), ref_h, rtol=0, atol=0)
    # losslab's trunk pools before its relu: the pooled values it feeds forward are these, clipped at 0
    torch.testing.assert_close(relu_max_pool2d(t["h"]), out.clamp_min(0), rtol=0, atol=0)
    # the timed tensors are in the layout losslab trains in on the CPU
    assert t["x"].is_contiguous(memory_format=torch.channels_last) and h.is_contiguous(memory_format=torch.channels_last)
