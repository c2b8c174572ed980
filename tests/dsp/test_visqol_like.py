"""The ViSQOL-like similarity: what ViSQOL ignores (level), what it sees (spectrogram texture),
and its agreement with ViSQOL itself on a ladder of distortions."""

import numpy as np
import pytest
import torch

from nwcodec.dsp import visqol_like
from nwcodec.metrics import visqol_speech

SR = 16000


def _s(y: np.ndarray, x: np.ndarray) -> float:
    return float(visqol_like.similarity(torch.from_numpy(y), torch.from_numpy(x)))


def _noisy(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 1, x.size)
    return (x + np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20) * noise).astype(np.float32)


def test_bands_rise_on_the_erb_scale_from_50_hz_to_8_khz():
    matrix = visqol_like.band_matrix().numpy()
    freqs = np.fft.rfftfreq(visqol_like.WINDOW, 1 / SR)
    peaks = freqs[matrix.argmax(1)]
    assert matrix.shape == (visqol_like.BANDS, freqs.size)
    assert np.allclose(matrix.max(1), 1, atol=0.1)  # peak 1, sampled every 12.5 Hz
    assert abs(peaks[0] - 50) < 10 and abs(peaks[-1] - 6775) < 20  # top centre below 8 kHz
    assert np.all(np.diff(peaks) > 0) and np.all(np.diff(np.diff(np.log(peaks))) < 0.05)


def test_identical_and_rescaled_signals_are_alike(speech_like):
    assert _s(speech_like, speech_like) == pytest.approx(1, abs=1e-6)
    assert _s(0.3 * speech_like, speech_like) == pytest.approx(1, abs=1e-4)  # levels matched


def test_more_noise_less_similar(speech_like):
    values = [_s(_noisy(speech_like, snr), speech_like) for snr in (40, 30, 20, 10)]
    assert np.all(np.diff(values) < 0), values


def test_gradient_is_finite(speech_like):
    y = torch.from_numpy(_noisy(speech_like, 30)).requires_grad_()
    visqol_like.loss(y[None], torch.from_numpy(speech_like)[None]).backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_ranks_noise_as_visqol_does(speech_like):
    """Noise at falling SNR: the proxy's order is ViSQOL's order. (Not every distortion: on
    this vowel ViSQOL prefers a 2 kHz lowpass to 35 dB-SNR noise, the proxy the reverse; on
    decoded speech the two agree with Pearson 0.88, nwcodec.dsp.visqol_like.)"""
    variants = [_noisy(speech_like, snr, seed) for seed, snr in enumerate((35, 25, 15, 5))]
    visqol = [float(visqol_speech(speech_like, v, SR)) for v in variants]
    proxy = [_s(v, speech_like) for v in variants]
    assert np.argsort(visqol).tolist() == np.argsort(proxy).tolist(), (visqol, proxy)

