"""Context-coded LPC side information (``LpcConfig.side_context``): each gain and LSF symbol
coded with the table its stream's previous symbol selects."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from nwcodec.entropy import tables_from_bytes, tables_to_bytes
from nwcodec.errors import NwcodecError
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.lpc_module import LpcConfig, LpcStage

SAMPLE = Path(__file__).parents[2] / "nwcodec" / "data" / "sample.flac"


def _chunks() -> list[np.ndarray]:
    audio, _ = sf.read(SAMPLE, dtype="float64")
    return [audio[i : i + 32000] for i in range(0, audio.shape[0] - 32000 + 1, 32000)]


def _trained(config: LpcConfig) -> LpcStage:
    stage = LpcStage(config)
    for x in _chunks():
        stage.count(stage.analyze(x))
    stage.update()
    return stage


def test_counts_are_transitions_whose_rows_sum_to_the_histogram():
    stage = LpcStage(LpcConfig())
    an = stage.analyze(_chunks()[0])
    stage.count(an)
    gain = stage.counts[0]
    assert gain.shape == (49, 48) and gain[48].sum() == 1  # one first frame per chunk
    assert gain[48, an.gain_symbols[0]] == 1
    assert np.array_equal(gain.sum(axis=0), np.bincount(an.gain_symbols, minlength=48))
    assert gain[an.gain_symbols[0], an.gain_symbols[1]] >= 1


def test_context_side_information_round_trips_and_costs_less():
    plain = _trained(LpcConfig())
    context = _trained(LpcConfig(side_context=True))
    assert len(context.tables) == 49 + 16 * 17  # (K+1) rows per stream, 16 centroids
    sizes = {}
    for name, stage in (("plain", plain), ("context", context)):
        sizes[name] = 0
        for x in _chunks():
            coded, an = stage.compress(x)
            params = stage.decompress(coded.strings, coded.shape)
            assert np.array_equal(params.a_sub, an.a_sub) and np.array_equal(params.gain, an.gain)
            sizes[name] += len(coded.strings[0])
    # the same symbols (same quantiser), fewer bytes: speech frames resemble their neighbours
    assert sizes["context"] < 0.85 * sizes["plain"]


def test_context_tables_reload_and_stationary_side_information_decodes():
    stage = _trained(LpcConfig(side_context=True))
    again = LpcStage(stage.config)
    again.load_state_dict(stage.state_dict())
    again.load_tables(iter(tables_from_bytes(tables_to_bytes(stage.tables))))
    x = _chunks()[1]
    coded, _ = stage.compress(x)
    assert np.array_equal(again.decompress(coded.strings, coded.shape).lsf,
                          stage.decompress(coded.strings, coded.shape).lsf)
    quiet = again.decompress([stage.compress_stationary(x)], x.shape[0], stationary=True)
    assert quiet.gain.shape == (stage.frames(x.shape[0]),)
    with pytest.raises(NwcodecError, match="context table"):
        again.load_tables(iter(stage.tables[:-1]))


def test_order0_stage_context_codes_its_gains():
    config = LpcConfig(sample_rate=44100, order=0, frame=882, subframes=6, side_context=True)
    stage = LpcStage(config)
    x = np.random.default_rng(0).standard_normal(44100) * np.linspace(0.01, 0.5, 44100)
    stage.count(stage.analyze(x))
    stage.update()
    coded, an = stage.compress(x)
    assert np.array_equal(stage.decompress(coded.strings, coded.shape).gain, an.gain)
    assert len(stage.tables) == 49


def test_config_without_side_context_keeps_its_old_form():
    # models written before side_context existed hash their config without the key
    assert "side_context" not in LpcConfig().to_dict()
    assert LpcConfig(**LpcConfig(side_context=True).to_dict()).side_context


def test_context_coded_cascade_saves_loads_and_decodes(tmp_path):
    base = CascadeModel.test_model().config_dict()
    model = CascadeModel.from_config({"lpc": {**base["lpc"], "side_context": True},
                                      "stages": base["stages"][:1]})
    for x in _chunks():
        model.lpc.count(model.lpc.analyze(x))
    model.update()
    model.save(tmp_path / "m.pt")
    again = CascadeModel.from_file(tmp_path / "m.pt")
    assert again.model_hash == model.model_hash != CascadeModel.test_model().model_hash
    x = _chunks()[0].astype(np.float32)
    side, layers = again.encode_chunk(x)
    assert np.array_equal(again.decode_chunk(side, layers, x.shape[0]),
                          model.decode_chunk(side, layers, x.shape[0]))
