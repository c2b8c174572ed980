from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.blocks import GatedResBlock, decoder_field, encoder_field

SMALL = AEConfig(strides=(4, 5), channels=(24, 48), blocks=(1, 2), latent_channels=6)


def _randomise(model: nn.Module) -> None:
    """Give zero-initialised gated outputs weights so every block reaches the output."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, GatedResBlock):
            nn.init.normal_(m.out.weight, std=0.2)


def _speech(seconds: float = 1.0) -> torch.Tensor:
    path = Path(__file__).parents[2] / "nwcodec" / "data" / "sample.flac"
    audio, sr = sf.read(path, dtype="float32")
    assert sr == 16000
    return torch.from_numpy(audio[: int(seconds * sr)]).view(1, 1, -1)


@pytest.mark.parametrize("length", [1, 19, 20, 41, 1003])
def test_any_length_shapes(length):
    model = ResidualAutoencoder(SMALL)
    model.update()
    x = torch.randn(2, 1, length)
    assert model(x).x_hat.shape == x.shape
    comp = model.compress(x)
    assert len(comp.strings) == 2 and comp.shape == length
    assert model.decompress(comp.strings, comp.shape).shape == x.shape


@pytest.mark.parametrize("skips", [0, 1])
def test_stream_hops_match_the_encoder_geometry(skips):
    model = ResidualAutoencoder(AEConfig(**{**SMALL.__dict__, "skips": skips}))
    assert model.config.stream_hops == tuple(encoder_field(e)[2] for e, _ in model.stream_spans())


def test_default_config_geometry():
    model = ResidualAutoencoder()
    assert model.hop == 40
    params = sum(p.numel() for p in model.parameters())
    assert 300_000 < params < 600_000


def test_deterministic_across_runs_and_threads():
    """Same bytes and bit-identical decoded output with 1 or 2 threads and on re-runs."""
    model = ResidualAutoencoder(AEConfig(skips=1)).eval()
    _randomise(model)
    model.update()
    x = _speech(2.0)
    old = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            comp = model.compress(x)
            runs.append((comp.strings, model.decompress(comp.strings, comp.shape)))
    finally:
        torch.set_num_threads(old)
    (ref_s, ref_x), *others = runs
    for strings, x_hat in others:
        assert strings == ref_s
        assert torch.equal(x_hat, ref_x)


@pytest.mark.parametrize("skips", [0, 1])
def test_receptive_field_is_exact(skips):
    """Perturb one input sample / one latent frame: exactly the claimed region changes.

    float64, so that the tiny contributions at the field's edge are not lost to rounding.
    """
    model = ResidualAutoencoder(AEConfig(**{**SMALL.__dict__, "skips": skips})).double().eval()
    _randomise(model)
    frames, pos = 40, 20 * SMALL.hop + 3
    x = 0.1 * torch.randn(1, 1, frames * SMALL.hop, dtype=torch.float64)
    x2 = x.clone()
    x2[..., pos] += 1.0
    skips = [model.skips[str(lv)] for lv in model.config.skip_levels]

    def latents(signal: torch.Tensor) -> list[torch.Tensor]:
        z, feats = model._analysis(signal)
        return [z, *(s.encode(h) for s, h in zip(skips, feats.values(), strict=True))]

    def synthesis(lats: list[torch.Tensor]) -> torch.Tensor:
        added = {lv: s.decode(z) for lv, s, z in zip(model.config.skip_levels, skips, lats[1:],
                                                       strict=True)}
        return model._synthesis(lats[0], added)

    with torch.no_grad():
        lats, moved = latents(x), latents(x2)
        ref = synthesis(lats)
    fields = [(encoder_field(e), decoder_field(d)) for e, d in model.stream_spans()]
    for i, ((lo, hi, hop), (left, right, _)) in enumerate(fields):
        changed = (lats[i] != moved[i]).any(dim=1)[0].nonzero().flatten().tolist()
        claim = [n for n in range(lats[i].shape[-1]) if n * hop + lo <= pos <= n * hop + hi]
        assert changed == claim

        bumped = [t.clone() for t in lats]
        n = bumped[i].shape[-1] // 2
        bumped[i][..., n] += 0.5
        with torch.no_grad():
            out = synthesis(bumped)
        t_changed = (out != ref)[0, 0].nonzero().flatten()
        assert int(t_changed.min()) == n * hop - right
        assert int(t_changed.max()) == n * hop + hop - 1 + left

    # end to end (continuous latents): the moved input sample reaches only output samples
    # within the claimed total bound
    with torch.no_grad():
        t_changed = (synthesis(moved) != ref)[0, 0].nonzero().flatten()
    left, right = model.receptive_field.total
    assert t_changed.numel() and pos - left <= int(t_changed.min())
    assert int(t_changed.max()) <= pos + right


@pytest.fixture
def one_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP spinning makes 2 threads ~10x
    slower than 1 for a model this small."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_training_smoke_loss_falls(one_thread):
    torch.manual_seed(0)
    model = ResidualAutoencoder(SMALL)
    x = _speech(1.0)
    crops = torch.stack([x[0, :, i * 4000 : i * 4000 + 2000] for i in range(4)])
    crops = crops / crops.abs().max()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        out = model(crops, "soft")
        mse = (out.x_hat - crops).pow(2).mean() / crops.pow(2).mean()
        loss = mse + 1e-7 * out.bits + 0.01 * out.penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert model.quantizer.export_counts().sum() == 30 * 4 * 6 * 2000 // model.hop
