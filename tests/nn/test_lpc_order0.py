"""The order-0 LPC stage (no LSFs: gain-only front end for music): framing, pre-emphasis and
per-frame gain only, side information of gains alone, and an exact synthesis."""

import numpy as np
import pytest
import torch

from nwcodec.dsp import lpc
from nwcodec.errors import NwcodecError
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.lpc_module import LpcConfig, LpcStage

MUSIC = LpcConfig(sample_rate=44100, order=0, frame=882, subframes=6, preemphasis=0.68)


def _music(n: int) -> np.ndarray:
    t = np.arange(n) / 44100
    rng = np.random.default_rng(3)
    # a loud chord, then a quiet noisy tail: the gain follows the level frame by frame
    x = 0.3 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 3520 * t))
    x[n // 2 :] = 0.01 * rng.standard_normal(n - n // 2)
    return x


def _decoded_params(stage: LpcStage, x: np.ndarray):
    stage.count(stage.analyze(x))
    stage.update()
    coded, _ = stage.compress(x)
    return stage.decompress(coded.strings, coded.shape)


def test_orders_are_checked():
    with pytest.raises(ValueError, match="even"):
        LpcConfig(order=3)
    with pytest.raises(ValueError, match="sub-frames"):
        LpcConfig(sample_rate=44100, order=0, frame=882)  # 882 is not a multiple of 4
    assert LpcStage(MUSIC).lsf_quantizer is None


@pytest.mark.parametrize("use_torch", [False, True])
def test_order0_filters_are_a_gain_and_invert_exactly(use_torch):
    x = np.random.default_rng(0).standard_normal((2, 120))
    a = np.full((2, 4, 1), 2.0)  # 4 sub-frames of 30 samples, A(z) = 2
    if use_torch:
        x, a = torch.from_numpy(x), torch.from_numpy(a)
    e, state = lpc.residual(x, a)
    y, _ = lpc.synthesize(e, a)
    assert state.shape[-1] == 0
    assert np.allclose(np.asarray(e), 2 * np.asarray(x))
    assert np.allclose(np.asarray(y), np.asarray(x), atol=1e-12)


def test_order0_residual_is_the_preemphasised_signal_at_unit_level():
    stage = LpcStage(MUSIC)
    x = _music(88200)
    an = stage.analyze(x)
    assert an.lsf_symbols.shape == (100, 0) and an.a_sub.shape == (100, 6, 1)
    y, _ = lpc.preemphasis(x, MUSIC.preemphasis)
    assert np.allclose(an.residual, (y.reshape(100, -1) / an.gain[:, None]).reshape(-1),
                       rtol=1e-5, atol=1e-6)
    rms = np.sqrt(np.mean(an.residual.reshape(100, -1).astype(np.float64) ** 2, axis=1))
    assert np.all(np.abs(20 * np.log10(rms)) <= MUSIC.gain_step_db / 2 + 1e-3)  # ±1 dB steps
    # the decoder undoes it: residual x gain -> de-emphasis gives the input back
    params = _decoded_params(stage, x)
    assert np.allclose(stage.synthesize(an.residual, params, x.shape[0]), x, atol=1e-5)


def test_order0_side_information_is_the_gains_alone():
    stage = LpcStage(MUSIC)
    x = _music(50000)  # not a whole number of frames
    params = _decoded_params(stage, x)
    an = stage.analyze(x)
    assert len(stage.tables) == 1 and len(stage.counts) == 1
    assert np.array_equal(params.gain, an.gain) and np.array_equal(params.a_sub, an.a_sub)
    assert params.lsf.shape == (stage.frames(50000), 0)
    # stationary side information (comfort noise) works too
    quiet = stage.decompress([stage.compress_stationary(x)], 50000, stationary=True)
    assert quiet.gain.shape == (stage.frames(50000),) and np.all(quiet.a_sub == 1.0)
    with pytest.raises(NwcodecError, match="order-0"):
        stage.fit_lsf(np.zeros((10, 0)))


def test_order0_cascade_saves_loads_and_codes(tmp_path):
    small = CascadeModel.test_model().config_dict()["stages"][:1]
    small[0] = {**small[0], "strides": (9, 10), "skip_stride": 10}
    model = CascadeModel.from_config({"lpc": MUSIC.to_dict(), "stages": small})
    x = _music(88200).astype(np.float32)
    model.lpc.count(model.lpc.analyze(x))
    model.calibrate(torch.from_numpy(model.lpc.analyze(x).residual)[None, None])
    model.update()
    model.save(tmp_path / "m.pt")
    again = CascadeModel.from_file(tmp_path / "m.pt")
    assert again.model_hash == model.model_hash and again.sample_rate == 44100
    side, layers = again.encode_chunk(x)
    y = again.decode_chunk(side, layers, x.shape[0])
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.array_equal(y, model.decode_chunk(side, layers, x.shape[0]))
