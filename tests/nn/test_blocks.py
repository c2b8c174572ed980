import pytest
import torch
from torch import nn

from nwcodec.nn.blocks import (
    Conv,
    Downsample,
    GatedResBlock,
    PixelShuffleUp,
    SeparableConv,
    Span,
    decoder_field,
    encoder_field,
    pixel_shuffle_1d,
    spans_of,
)


def test_pixel_shuffle_interleaves_phases():
    x = torch.arange(12.0).view(1, 6, 2)  # 2 output channels x 3 phases x 2 frames
    y = pixel_shuffle_1d(x, 3)
    assert y.shape == (1, 2, 6)
    assert y[0, 0].tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]


@pytest.mark.parametrize("stride", [2, 4, 5, 8, 10])
def test_down_and_up_lengths(stride):
    x = torch.randn(2, 3, 7 * stride)
    assert Downsample(3, 5, stride)(x).shape == (2, 5, 7)
    assert PixelShuffleUp(3, 4, stride)(x).shape == (2, 4, 7 * stride * stride)


def test_gated_block_starts_as_identity_and_keeps_shape():
    block = GatedResBlock(8, 5, dilation=4, hidden=6)
    x = torch.randn(2, 8, 30)
    assert torch.equal(block(x), x)
    nn.init.normal_(block.out.weight)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_separable_conv_is_depthwise_then_pointwise():
    conv = SeparableConv(4, 6, 5, dilation=2)
    assert conv[0].groups == 4 and conv[1].kernel_size == (1,)
    assert spans_of(conv) == [Span(5, 2, 1, 4)]


def test_field_formulas_on_small_stack():
    enc = nn.Sequential(Conv(1, 2, 5, dilation=2), Downsample(2, 2, 4), Conv(2, 1, 3))
    lo, hi, hop = encoder_field(spans_of(enc))
    # conv k5 d2: [-4, 4]; down x4 (k8, pad 2): [-2, 5] -> [-6, 9]; conv k3 at hop 4: [-4, 4]
    assert (lo, hi, hop) == (-10, 13, 4)
    with torch.no_grad():
        for p in enc.parameters():
            p.uniform_(0.1, 1.0)  # positive weights: every path contributes
    x = torch.zeros(1, 1, 64)
    base = enc(x)
    for pos in range(64):
        x2 = x.clone()
        x2[..., pos] = 1.0
        changed = (enc(x2) != base)[0, 0].nonzero().flatten().tolist()
        expect = [n for n in range(16) if n * hop + lo <= pos <= n * hop + hi]
        assert changed == expect

    dec = nn.Sequential(Conv(1, 2, 3), PixelShuffleUp(2, 1, 4, kernel=3))
    left, right, dhop = decoder_field(spans_of(dec))
    assert dhop == 4 and (left, right) == (8, 8)


def test_pointwise_conv_matches_plain_conv():
    conv = Conv(6, 5, 1)
    x = torch.randn(2, 6, 33)
    ref = nn.functional.conv1d(x, conv.weight, conv.bias)
    assert torch.allclose(conv(x), ref, atol=1e-6)
    assert conv.spans() == []


@pytest.mark.parametrize("dilation", [1, 2, 4])
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_fast_paths_match_plain_conv(dilation, batch):
    """Without gradient, depthwise and single-item 1x1 convs take their own arithmetic
    (blocks.Conv); it must agree with torch's convolution (bit-exactly on the machine the
    golden streams were made on: tests/test_golden.py checks that)."""
    depthwise, pointwise = Conv(6, 6, 5, dilation, groups=6), Conv(6, 4, 1)
    x = torch.randn(batch, 6, 40)
    with torch.no_grad():
        fast = depthwise(x), pointwise(x)
    ref = (nn.functional.conv1d(x, depthwise.weight, depthwise.bias, padding=2 * dilation,
                                dilation=dilation, groups=6),
           nn.functional.conv1d(x, pointwise.weight, pointwise.bias))
    for got, want in zip(fast, ref, strict=True):
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-6)
