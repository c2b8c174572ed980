import pytest
import torch

from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.harp import SkipCodec

CFG = AEConfig(strides=(2, 5, 4), channels=(16, 32, 48), blocks=(1, 1, 1),
               latent_channels=4, skips=2, skip_channels=3, skip_stride=4)


def test_skip_codec_shapes_and_own_stream():
    skip = SkipCodec(16, skip_channels=3, stride=5)
    h = torch.randn(2, 16, 50)
    out, q = skip(h, "hard")
    assert out.shape == h.shape
    assert q["symbols"].shape == (2, 3, 10) and q["bits"] > 0
    assert skip.quantizer.groups == 3  # one table per skip channel


def test_streams_present_in_order_and_bits_counted():
    model = ResidualAutoencoder(CFG)
    assert CFG.skip_levels == (1, 0)
    x = torch.randn(2, 1, 2 * CFG.hop * 6)
    out = model(x, "soft")
    assert len(out["streams"]) == 3
    stream_bits = [s["bits"] for s in out["streams"]]
    assert all(b > 0 for b in stream_bits[1:])
    assert torch.isclose(out["bits"], sum(stream_bits))
    out["bits"].backward()  # rate gradient reaches the skip encoders
    for level in ("0", "1"):
        assert model.skips[level].analysis[0].weight.grad.abs().sum() > 0

    symbols = model.compress(x)["symbols"]
    # main: hop 40; skip at level 1 (rate /10): /4 -> hop 40; level 0 (rate /2): /4 -> hop 8
    assert [tuple(s.shape) for s in symbols] == [(2, 4, 12), (2, 3, 12), (2, 3, 60)]
    assert len(model.quantizers) == 3


def test_skip_symbols_reach_the_decoder():
    model = ResidualAutoencoder(CFG).eval()
    x = torch.randn(1, 1, CFG.hop * 4)
    comp = model.compress(x)
    ref = model.decompress(comp["symbols"], x.shape[-1])
    for i in (1, 2):
        changed = [s.clone() for s in comp["symbols"]]
        changed[i] = (changed[i] + 7) % 32
        assert not torch.equal(model.decompress(changed, x.shape[-1]), ref)


def test_invalid_skip_config_rejected():
    with pytest.raises(ValueError):
        AEConfig(skips=2)  # two strides leave one intermediate level
    with pytest.raises(ValueError):
        AEConfig(skips=1, skip_stride=3)  # 3 does not divide 5
