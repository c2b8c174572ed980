"""ISO/IEC 11172-3 psychoacoustic model 1: calibration, maskers, decimation, threshold, tables."""

import numpy as np
import pytest
import torch

from nwcodec.dsp import pam1

SR = 44100


def tone(bin_: float, dbfs: float, sr: int = SR, n: int = 4096) -> np.ndarray:
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * bin_ / pam1.N_FFT * np.arange(n))


def finite_bins(row: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isfinite(row))


def test_full_scale_sine_is_96_db():
    spl = pam1.spl_spectrum(tone(40, 0.0)[:512])
    assert spl.argmax() == 40 and abs(spl.max() - 96.0) < 1e-9


@pytest.mark.parametrize("sr", [16000, 32000, 44100, 48000])
def test_silence_gives_absolute_threshold(sr):
    res = pam1.pam1(np.zeros(2048), sr)
    t = pam1.tables(sr)
    np.testing.assert_allclose(res.threshold, np.broadcast_to(t.bin_ath, res.threshold.shape))
    assert not np.isfinite(res.tonal).any() and not np.isfinite(res.nontonal).any()


def test_pure_tone_single_tonal_masker_and_standard_slopes():
    k0, level = 40, -20.0
    res = pam1.pam1(tone(k0, level), SR)
    row = 3  # a frame fully inside the tone
    assert finite_bins(res.tonal[row]).tolist() == [k0]
    x_tm = res.tonal[row, k0]
    assert abs(x_tm - (96 + level + 10 * np.log10(1.5))) < 1e-6  # Hann: k0 +- 1 at -6 dB
    thr = res.threshold[row]
    assert abs(int(thr[:150].argmax()) - k0) <= 1  # above ~13 kHz quiet threshold > 67 dB
    # Bins 30..48 are grid lines: compare with the standard's formulas (tone + quiet).
    t = pam1.tables(SR)
    z = t.bin_bark[30:49]
    dz = z - t.bin_bark[k0]
    vf = np.where(dz < 0, (0.4 * x_tm + 6) * dz, -17 * dz)
    vf = np.where(dz < -1, 17 * (dz + 1) - (0.4 * x_tm + 6), vf)
    vf = np.where(dz >= 1, -(dz - 1) * (17 - 0.15 * x_tm) - 17, vf)
    lt = x_tm - 1.525 - 0.275 * t.bin_bark[k0] - 4.5 + vf
    expected = 10 * np.log10(10 ** (lt / 10) + 10 ** (t.bin_ath[30:49] / 10))
    np.testing.assert_allclose(thr[30:49], expected, atol=1e-3)
    # Falls on both sides (steeper below than above), down to the threshold in quiet.
    assert np.all(np.diff(thr[25 : k0 + 1]) > 0) and np.all(np.diff(thr[k0 : k0 + 60]) < 0)
    assert thr[k0] - thr[k0 - 6] > thr[k0] - thr[k0 + 6]
    np.testing.assert_allclose(thr[5], t.bin_ath[5], atol=0.01)


def test_white_noise_has_nontonal_maskers_in_every_band():
    rng = np.random.default_rng(0)
    res = pam1.pam1(rng.normal(0, 0.3, 44100), SR)
    t = pam1.tables(SR)
    present = np.isfinite(res.nontonal[:, t.band_line])  # (frames, bands)
    assert present.shape[1] == 24
    assert present.mean(0).min() > 0.6  # every band, in most frames
    assert np.isfinite(res.nontonal).sum(-1).mean() > 20


def test_decimation_keeps_stronger_of_close_tonals_and_drops_inaudible():
    t = pam1.tables(SR)
    assert abs(t.bin_bark[106] - t.bin_bark[100]) < 0.5 < abs(t.bin_bark[46] - t.bin_bark[40])
    close = pam1.pam1(tone(100, -20) + tone(106, -26), SR)
    assert finite_bins(close.tonal[3]).tolist() == [100]
    swapped = pam1.pam1(tone(100, -26) + tone(106, -20), SR)
    assert finite_bins(swapped.tonal[3]).tolist() == [106]
    apart = pam1.pam1(tone(40, -20) + tone(46, -26), SR)
    assert finite_bins(apart.tonal[3]).tolist() == [40, 46]
    # 17.2 kHz tone at 60 dB SPL: a tonal peak, but under the 68 dB threshold in quiet.
    quiet = pam1.pam1(tone(200, 60 - 96), SR)
    assert quiet.spl[3].argmax() == 200 and not np.isfinite(quiet.tonal[3]).any()


def test_tables_match_the_standard():
    t44 = pam1.tables(44100)
    assert t44.standard and t44.lines.size == 106
    for line, z, tq in [
        (1, 0.850, 25.87),
        (39, 16.260, -4.98),
        (48, 17.447, -2.82),
        (52, 17.904, -1.33),
        (100, 21.676, 6.15),
        (232, 24.573, 68.0),
    ]:
        i = int(np.flatnonzero(t44.lines == line)[0])
        assert (t44.bark[i], t44.ath[i]) == (z, tq)
    assert t44.lines[t44.bands].tolist() == [
        1,
        2,
        3,
        5,
        6,
        8,
        9,
        11,
        13,
        15,
        17,
        20,
        23,
        27,
        32,
        37,
        45,
        52,
        62,
        74,
        88,
        108,
        132,
        180,
        232,
    ]
    t48 = pam1.tables(48000)
    assert t48.lines.size == 102 and t48.lines[-1] == 216
    for line, z, tq in [
        (1, 0.925, 24.17),
        (32, 15.602, -4.57),
        (48, 17.932, -1.24),
        (216, 24.597, 68.0),
    ]:
        i = int(np.flatnonzero(t48.lines == line)[0])
        assert (t48.bark[i], t48.ath[i]) == (z, tq)
    t32 = pam1.tables(32000)
    assert not t32.standard and t32.lines.size == 108 and t32.lines[-1] == 240
    assert (t32.bark[0], t32.ath[0]) == (0.617, 33.44)
    # The generic construction reproduces the standard's tables to the last printed digit.
    for t in (t44, t48):
        f = t.lines * t.sr / pam1.N_FFT
        assert np.abs(pam1.bark_zwicker(f) - t.bark).max() < 1.5e-3
        assert np.abs(pam1.ath_terhardt(f) - t.ath).max() < 1.5e-2


def test_generic_16k_tables_cover_the_band():
    t = pam1.tables(16000)
    assert t.lines[-1] * 16000 / 512 < 8000 and t.lines[-1] > 240
    assert np.all(np.diff(t.bark) > 0) and t.bands.size - 1 >= 20
    res = pam1.pam1(tone(64, -10, sr=16000), 16000)
    assert finite_bins(res.tonal[3]).tolist() == [64]


def test_torch_wrapper_is_constant_and_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.1, (2, 3000))
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    thr = pam1.global_threshold_torch(xt, 16000)
    assert not thr.requires_grad and thr.dtype == torch.float32
    np.testing.assert_allclose(thr.numpy(), pam1.pam1(x, 16000).threshold, atol=1e-3)
    assert thr.shape == (2, pam1.pam1(x[0], 16000).threshold.shape[0], 257)
