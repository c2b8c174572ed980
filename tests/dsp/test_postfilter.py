"""The bass postfilter finds the pitch, cleans between the harmonics and spares the rest."""

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from nwcodec.dsp.postfilter import BassPostfilter

SR = 16000


def _voiced(f0: float, seconds: float = 2.0, first_harmonic: int = 1) -> np.ndarray:
    n = np.arange(int(SR * seconds))
    return 0.1 * sum(np.sin(2 * np.pi * k * f0 * n / SR) / k
                     for k in range(first_harmonic, int(4000 / f0)))


def _low_band_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(sosfiltfilt(butter(6, 1000, fs=SR, output="sos"), x) ** 2))


@pytest.mark.parametrize("f0", [80.0, 123.4, 210.0, 390.0])
def test_pitch_lag_is_the_period_or_a_multiple(f0):
    lag, voicing = BassPostfilter().pitch(_voiced(f0), SR)
    period = SR / f0
    multiple = np.rint(lag / period)
    assert (multiple >= 1).all()
    assert np.median(np.abs(lag - multiple * period)) < 0.5  # within half a sample
    assert np.median(voicing) > 0.9


def test_weak_fundamental_does_not_halve_the_period():
    # harmonics 2.. only: the lag at half the period correlates well, but combing there would
    # remove the odd harmonics
    lag, _ = BassPostfilter().pitch(_voiced(140.0, first_harmonic=2), SR)
    period = SR / 140.0
    assert np.median(lag) > 0.9 * period


def test_noise_between_harmonics_is_removed_and_the_harmonics_kept():
    clean = _voiced(150.0)
    noise = np.random.default_rng(0).standard_normal(clean.size) * 0.01
    y = BassPostfilter(strength=0.5)(clean + noise, SR)  # 0.5: the full inter-harmonic removal
    assert _low_band_db(y - clean) < _low_band_db(noise) - 3
    assert _low_band_db(BassPostfilter()(clean, SR) - clean) < _low_band_db(clean) - 30


def test_unvoiced_input_is_left_nearly_alone():
    noise = np.random.default_rng(1).standard_normal(SR) * 0.1
    y = BassPostfilter()(noise, SR)
    assert 10 * np.log10(np.sum(noise**2) / np.sum((y - noise) ** 2)) > 20


def test_off_and_too_short_inputs_pass_through_unchanged():
    x = _voiced(150.0, 0.02)
    assert BassPostfilter()(x, SR) is x
    long = _voiced(150.0)
    assert BassPostfilter(strength=0.0)(long, SR) is long
