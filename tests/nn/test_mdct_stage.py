"""The MDCT layer: transform, context coding, rate weights, tables, and its place atop a cascade."""

import numpy as np
import pytest

from nwcodec.dsp.mdct import imdct, mdct, num_frames
from nwcodec.entropy import EntropyError
from nwcodec.errors import NwcodecError
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.mdct_stage import ESCAPE, MdctConfig, MdctStage, step_size

SR = 16000


def _error(n: int = 9000, seed: int = 0) -> np.ndarray:
    """Speech-like coding error: harmonics under a moving envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    voiced = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 6)) / k for k in range(1, 20))
    return 0.02 * (voiced * (1 + np.sin(2 * np.pi * 3 * t)) + 0.3 * rng.standard_normal(n))


def _stage(step_index: int = 81, errors: int = 3) -> MdctStage:
    stage = MdctStage(MdctConfig(step_index=step_index))
    for seed in range(errors):
        stage.calibrate(_error(seed=seed))
    stage.update()
    return stage


@pytest.mark.parametrize("n", [1, 159, 160, 161, 32000])
def test_mdct_reconstructs_perfectly(n):
    x = np.random.default_rng(n).standard_normal(n)
    c = mdct(x, 160)
    assert c.shape == (num_frames(n, 160), 160)
    np.testing.assert_allclose(imdct(c, n), x, atol=1e-10)


def test_payload_decodes_to_the_quantised_error():
    stage = _stage()
    e = _error(seed=7)
    data = stage.compress(e)
    assert data[0] == 81
    decoded = stage.decompress(data, len(e))
    levels = stage.quantise(e, 81)
    np.testing.assert_array_equal(decoded, stage.reconstruct(levels, 81, len(e)))
    # the coding error is at most what the quantiser leaves (≈ step / sqrt(12) per coefficient)
    noise = np.sqrt(np.mean((decoded - e) ** 2))
    assert 0 < noise < step_size(81) * 0.5


def test_large_levels_escape_and_come_back():
    stage = _stage()
    e = _error(seed=1)
    e[4000] += 1500 * step_size(81)  # a click: levels far above the escape symbol
    levels = stage.quantise(e, 81)
    assert np.abs(levels).max() > 4 * ESCAPE
    np.testing.assert_array_equal(stage.decompress(stage.compress(e), len(e)),
                                  stage.reconstruct(levels, 81, len(e)))


def test_rate_weight_raises_the_step_and_lowers_the_bytes():
    stage = _stage()
    code = stage.compressor(_error(seed=3))
    sizes = [len(code(w)) for w in (0.0, 1e-3, 1e-2, 1e-1, 1.0)]
    steps = [stage.step_for(w) for w in (0.0, 1e-3, 1e-2, 1e-1, 1.0)]
    assert steps == sorted(steps) and steps[0] == 81 and steps[1] == 82
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0] / 4
    e = _error(seed=3)
    assert code(1e-2)[0] == stage.step_for(1e-2)
    assert len(stage.decompress(code(1e-2), len(e))) == len(e)


def test_context_tables_pay_for_themselves():
    """Calibrated tables code the error in fewer bytes than uniform-ish ones (no counts)."""
    e = _error(seed=5)
    blank = MdctStage(MdctConfig(step_index=81))
    blank.update()
    assert len(_stage().compress(e)) < 0.8 * len(blank.compress(e))


def test_damaged_or_foreign_payloads_are_refused():
    stage = _stage()
    e = _error(seed=2)
    data = stage.compress(e)
    with pytest.raises(NwcodecError, match="step index"):
        stage.decompress(b"", len(e))
    with pytest.raises(NwcodecError, match="step index"):
        stage.decompress(bytes([200]) + data[1:], len(e))
    with pytest.raises(EntropyError):
        stage.decompress(data[:-4], len(e))  # runs out
    with pytest.raises(EntropyError):
        stage.decompress(data + b"\0\0\0\0", len(e))  # stray words
    with pytest.raises(EntropyError):
        stage.decompress(data, len(e) + 4000)  # more frames than were coded


def test_tables_round_trip_and_are_checked():
    stage = _stage()
    other = MdctStage(stage.config)
    other.load_tables(iter(stage.tables))
    e = _error(seed=4)
    assert other.compress(e) == stage.compress(e)
    with pytest.raises(NwcodecError, match="MDCT tables"):
        MdctStage(stage.config).load_tables(iter(stage.tables[:-1]))
    with pytest.raises(NwcodecError, match="not frozen"):
        MdctStage(stage.config).compress(e)


def test_config_is_checked():
    with pytest.raises(NwcodecError, match="outside"):
        MdctConfig(step_index=128)
    with pytest.raises(NwcodecError, match="bands"):
        MdctConfig(hop=160, band_width=15)


def _with_mdct() -> CascadeModel:
    base = CascadeModel.test_model()
    model = base.prefix(2, MdctConfig(step_index=70))
    tables = iter(base.tables)
    for stage in [model.lpc, *model.stages]:
        stage.load_tables(tables)
    x = _error(SR)
    side, layers = model.encode_chunk(x, 2)
    model.mdct.calibrate(x - model.decode_chunk(side, layers, len(x)))
    model.mdct.update()
    model.load_tables([*base.tables, *model.mdct.tables])
    return model


def test_mdct_layer_tops_a_cascade(tmp_path):
    model = _with_mdct()
    assert model.num_layers == 3
    x = (_error(SR, seed=9) * 5).astype(np.float32)
    side, layers = model.encode_chunk(x)
    assert len(layers) == 3 and layers[2][0] == 70
    below = model.decode_chunk(side, layers[:2], len(x))
    top = model.decode_chunk(side, layers, len(x))
    # the layer codes what the two below leave: the error shrinks
    assert np.mean((top - x) ** 2) < 0.5 * np.mean((below - x) ** 2)
    # prefixes stay decodable, and the weights file keeps the layer
    model.save(tmp_path / "m.pt")
    loaded = CascadeModel.from_file(tmp_path / "m.pt")
    assert loaded.model_hash == model.model_hash and loaded.num_layers == 3
    np.testing.assert_array_equal(loaded.decode_chunk(side, layers, len(x)), top)


def test_cascades_without_the_layer_keep_their_config_and_hash():
    model = CascadeModel.test_model()
    assert "mdct" not in model.config_dict()
    assert CascadeModel.test_model().model_hash == model.model_hash
    assert "mdct" in _with_mdct().config_dict()
