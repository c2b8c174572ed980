"""The stage interface (nn/stage.py), for each stage kind: bytes decode to exactly the hard
forward reconstruction, and each item's byte string decodes on its own."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from nwcodec.errors import NwcodecError
from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.blocks import GatedResBlock
from nwcodec.nn.harp import SkipCodec
from nwcodec.nn.lpc_module import LpcConfig, LpcStage

SAMPLE = Path(__file__).parents[2] / "nwcodec" / "data" / "sample.flac"
SMALL = AEConfig(strides=(4, 5), channels=(24, 48), blocks=(1, 2), latent_channels=6,
                 num_centroids=16, skips=1, skip_channels=2, skip_stride=5, skip_centroids=8)


def _speech(n: int, offset: int = 0) -> np.ndarray:
    audio, _ = sf.read(SAMPLE, dtype="float32")
    return audio[offset : offset + n]


def _randomise(model: nn.Module) -> None:
    """Give zero-initialised gated outputs weights so every block reaches the output."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, GatedResBlock):
            nn.init.normal_(m.out.weight, std=0.2)


def _items_decode_alone(stage, x: torch.Tensor, whole: torch.Tensor) -> None:
    """Each item's string decodes by itself to that item (up to float noise: a batch of one
    may take other convolution kernels than the whole batch)."""
    coded = stage.compress(x)
    for b, data in enumerate(coded.strings):
        alone = stage.decompress([data], coded.shape)
        assert torch.allclose(alone, whole[b : b + 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("skips", [0, 1])
def test_autoencoder_round_trip_equals_hard_forward(skips):
    torch.manual_seed(0)
    model = ResidualAutoencoder(AEConfig(**{**SMALL.__dict__, "skips": skips})).eval()
    _randomise(model)
    x = torch.from_numpy(np.stack([_speech(7001, 0), _speech(7001, 16000)]))[:, None] * 4
    model.calibrate(x)
    model.update()  # tables from the counts of x: not uniform
    assert any(len(set(t.freqs.tolist())) > 1 for t in model.tables)
    coded = model.compress(x)
    assert len(coded.strings) == 2 and coded.shape == x.shape[-1]
    whole = model.decompress(coded.strings, coded.shape)
    with torch.no_grad():
        assert torch.equal(whole, model(x, "hard").x_hat)
        assert torch.equal(whole, model.calibrate(x))
    _items_decode_alone(model, x, whole)


def test_autoencoder_compressor_codes_coarser_as_the_rate_weight_grows():
    torch.manual_seed(0)
    model = ResidualAutoencoder(SMALL).eval()
    _randomise(model)
    x = torch.from_numpy(_speech(8000, 4000))[None, None] * 4
    model.calibrate(x)
    model.update()
    code = model.compressor(x)
    assert code(0.0) == model.compress(x)
    plain = model.decompress(code(0.0).strings, x.shape[-1])
    sizes, errors = [], []
    for w in (0.0, 0.001, 0.01):
        coded = code(w)  # any symbols decode, with the same tables
        y = model.decompress(coded.strings, coded.shape)
        sizes.append(len(coded.strings[0]))
        errors.append(float((y - plain).square().mean()))
    assert sizes[0] > sizes[1] > sizes[2]
    assert errors[0] == 0 < errors[1] < errors[2]


def test_skip_codec_round_trip_equals_hard_forward():
    torch.manual_seed(0)
    skip = SkipCodec(12, skip_channels=3, stride=5, num_centroids=8).eval()
    h = torch.randn(3, 12, 60)
    skip.calibrate(h)
    skip.update()
    coded = skip.compress(h)
    whole = skip.decompress(coded.strings, coded.shape)
    with torch.no_grad():
        assert torch.equal(whole, skip(h, "hard").x_hat)
    _items_decode_alone(skip, h, whole)


@pytest.mark.parametrize("side_context", [False, True])
def test_lpc_stage_round_trip_equals_analysis_and_hard_forward(side_context):
    stage = LpcStage(LpcConfig(side_context=side_context))
    x = _speech(9000, 20000).astype(np.float64)  # not a whole number of frames
    stage.count(stage.analyze(x))
    stage.update()
    coded, an = stage.compress(x)
    assert coded.shape == x.shape[0] and len(coded.strings) == 1
    params = stage.decompress(coded.strings, coded.shape)
    assert np.array_equal(params.a_sub, an.a_sub) and np.array_equal(params.gain, an.gain)
    # the decoded LSFs are the quantiser's hard reconstruction, made stable
    padded = np.zeros(stage.frames(x.shape[0]) * stage.config.frame)
    padded[: x.shape[0]] = x
    lsf = torch.from_numpy(stage.analysis_lsf(padded).T[None].astype(np.float32).copy())
    with torch.no_grad():
        hard = stage(lsf, "hard").x_hat[0].T.double().numpy()
    assert np.array_equal(params.lsf, stage.stabilize(hard))


def test_stage_without_tables_or_with_wrong_tables_refuses():
    model = ResidualAutoencoder(SMALL)
    with pytest.raises(NwcodecError, match="update"):
        model.compress(torch.zeros(1, 1, 100))
    other = ResidualAutoencoder(AEConfig(**{**SMALL.__dict__, "num_centroids": 8}))
    other.update()
    with pytest.raises(NwcodecError, match="tables"):
        model.load_tables(iter(other.tables))
    model.update()
    with pytest.raises(NwcodecError, match="tables"):
        model.load_tables(iter(model.tables[:-1]))
