"""The band-energy envelope (nwcodec/dsp/band_envelope.py): lossless framing, an exact
integer coding of the energies, and a decoder that restores the upper bands' levels."""

import numpy as np
import pytest
import scipy.signal as ss

from nwcodec.dsp.band_envelope import DELTA_FREQS, MUSIC_ENVELOPE, BandEnvelope
from nwcodec.entropy import EntropyError

SR = 44100
ENV = MUSIC_ENVELOPE


def _music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Tones and a decaying noise burst every 0.25 s: energy in every band, changing in time."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = sum(0.1 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 12))
    bursts = rng.standard_normal(t.size) * np.exp(-20 * (t % 0.25)) * 0.05
    return (tones + bursts).astype(np.float32)


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    f = np.fft.rfftfreq(len(x), 1 / SR)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    return 10 * np.log10(spectrum[(f >= lo) & (f < hi)].sum())


def test_analysis_then_synthesis_is_lossless():
    x = _music_like(0.7).astype(np.float64)
    np.testing.assert_allclose(ENV._synthesis(ENV._spectra(x), len(x)), x, atol=1e-12)
    assert len(ENV._spectra(x)) == ENV.frames(len(x)) == -(-len(x) // 882) + 1


def test_coding_is_exact_and_costs_about_a_kbit_per_second():
    x = _music_like(2.0)
    data = ENV.compress(x)
    np.testing.assert_array_equal(ENV.decompress(data, len(x)), ENV.quantize(x))
    assert len(data) * 8 / 2.0 < 2000  # 909 symbols at ~2 bit
    with pytest.raises(EntropyError):
        ENV.decompress(data[:-4], len(x))
    with pytest.raises(EntropyError):
        ENV.decompress(data + data[-4:], len(x))


def test_clamped_deltas_keep_encoder_and_decoder_in_step():
    # Silence then a loud burst: a jump far beyond ±max_delta steps in one frame; the decoder
    # must rebuild exactly the indices the encoder tracked, which catch up within frames.
    x = np.zeros(SR, np.float32)
    x[SR // 2 :] = np.random.default_rng(1).standard_normal(SR - SR // 2)
    q = ENV.decompress(ENV.compress(x), len(x))
    target = ENV._targets(x)
    np.testing.assert_array_equal(q, ENV.quantize(x))
    assert np.abs(q[-5:] - target[-5:]).max() == 0
    assert np.abs(np.diff(q, axis=0)).max() <= ENV.max_delta


def test_restores_the_levels_of_bands_a_decoder_left_low():
    x = _music_like(2.0, seed=2)
    sos = ss.butter(6, 6000, fs=SR, output="sos")
    decoded = (ss.sosfilt(sos, x) + 0.3 * (x - ss.sosfilt(sos, x))).astype(np.float32)  # -10 dB
    restored = ENV.apply(decoded, ENV.decompress(ENV.compress(x), len(x)))
    for lo, hi in ((7000, 8500), (8500, 10000), (10000, 14000)):
        assert abs(_band_db(decoded, lo, hi) - _band_db(x, lo, hi)) > 6
        assert abs(_band_db(restored, lo, hi) - _band_db(x, lo, hi)) < 1.0
    # below the first band edge the decoded signal is untouched
    assert abs(_band_db(restored, 100, 3800) - _band_db(decoded, 100, 3800)) < 0.01


def test_the_shipped_table_fits_the_music_envelope():
    assert len(DELTA_FREQS) == 2 * ENV.max_delta + 1
    assert ENV.table.num_symbols == len(DELTA_FREQS)
    # the most frequent delta is "no change"
    assert int(np.argmax(ENV.table.freqs)) == ENV.max_delta
    with pytest.raises(ValueError, match="counts"):
        _ = BandEnvelope(SR, 882, (4000, 8000), max_delta=3, table_counts=(1, 2)).table
