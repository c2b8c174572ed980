import pytest
import torch

from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.harp import SkipCodec

CFG = AEConfig(strides=(2, 5, 4), channels=(16, 32, 48), blocks=(1, 1, 1),
               latent_channels=4, skips=2, skip_channels=3, skip_stride=4)


def test_skip_codec_shapes_and_own_tables():
    skip = SkipCodec(16, skip_channels=3, stride=5)
    h = torch.randn(2, 16, 50)
    out = skip(h, "hard")
    assert out.x_hat.shape == h.shape and out.bits > 0
    assert skip.symbols(h).shape == (2, 3, 10)
    skip.update()
    assert len(skip.tables) == 3  # one table per skip channel


def test_skip_bits_are_counted_and_reach_the_skip_encoders():
    model = ResidualAutoencoder(CFG)
    assert CFG.skip_levels == (1, 0)
    x = torch.randn(2, 1, 2 * CFG.hop * 6)
    out = model(x, "soft")
    z, feats = model._analysis(x)
    main_bits = model.quantizer(z).bits
    skip_bits = [model.skips[str(lv)](h).bits for lv, h in feats.items()]
    assert all(b > 0 for b in skip_bits)
    assert torch.isclose(out.bits, main_bits + sum(skip_bits))
    out.bits.backward()  # rate gradient reaches the skip encoders
    for level in ("0", "1"):
        assert model.skips[level].analysis[0].weight.grad.abs().sum() > 0
    # main: hop 40; skip at level 1 (rate /10): /4 -> hop 40; level 0 (rate /2): /4 -> hop 8
    assert CFG.stream_hops == (40, 40, 8)
    assert len(model.quantizers) == 3


def test_skip_symbols_reach_the_decoder():
    model = ResidualAutoencoder(CFG).eval()
    x = torch.randn(1, 1, CFG.hop * 4)
    with torch.no_grad():
        z, feats = model._analysis(x)
        main = model.quantizer.dequantize(model.quantizer.symbols(z))
        skips = {lv: model.skips[str(lv)].symbols(h) for lv, h in feats.items()}
        ref = model._synthesis(main, {lv: model.skips[str(lv)].reconstruct(s)
                                      for lv, s in skips.items()})
        for level in skips:
            changed = {lv: (s + 7) % 32 if lv == level else s for lv, s in skips.items()}
            out = model._synthesis(main, {lv: model.skips[str(lv)].reconstruct(s)
                                          for lv, s in changed.items()})
            assert not torch.equal(out, ref)


def test_invalid_skip_config_rejected():
    with pytest.raises(ValueError):
        AEConfig(skips=2)  # two strides leave one intermediate level
    with pytest.raises(ValueError):
        AEConfig(skips=1, skip_stride=3)  # 3 does not divide 5
