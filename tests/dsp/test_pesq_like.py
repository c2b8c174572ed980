"""The PESQ-like disturbance: what PESQ forgives, what it punishes, and its agreement with
PESQ-WB itself on a ladder of distortions."""

import numpy as np
import torch

from nwcodec.dsp import pesq_like
from nwcodec.metrics import pesq_wb

SR = 16000


def _d(y: np.ndarray, x: np.ndarray) -> float:
    return float(pesq_like.disturbance(torch.from_numpy(y)[None], torch.from_numpy(x)[None])[0])


def test_bands_cover_100_hz_to_8_khz_once():
    matrix, threshold = pesq_like.band_matrix()
    freqs = np.fft.rfftfreq(pesq_like.N_FFT, 1 / SR)
    covered = matrix.sum(0).numpy()
    assert set(np.unique(covered)) <= {0.0, 1.0}
    assert np.all(covered[(freqs >= 100) & (freqs < 8000)] == 1)
    assert np.all(covered[freqs < 100] == 0)
    assert matrix.shape[0] == threshold.shape[0] > 30
    assert threshold[0] > threshold[len(threshold) // 2]  # the ear is deaf at low frequencies


def test_identical_and_rescaled_signals_are_undisturbed(speech_like):
    assert _d(speech_like, speech_like) < 1e-3
    assert _d(0.3 * speech_like, speech_like) < 1e-3  # PESQ aligns levels


def test_more_noise_more_disturbance(speech_like):
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, speech_like.size).astype(np.float32)
    rms = np.sqrt(np.mean(speech_like**2))
    values = [_d(speech_like + rms * 10 ** (-snr / 20) * noise, speech_like)
              for snr in (40, 30, 20, 10)]
    assert np.all(np.diff(values) > 0), values


def test_noise_in_pauses_costs_more_than_the_same_noise_under_speech(speech_like):
    rng = np.random.default_rng(2)
    t = np.arange(speech_like.size) / SR
    noise = 3e-3 * rng.normal(0, 1, speech_like.size).astype(np.float32)
    in_pauses = ((t % 0.4) >= 0.28) & ((t % 0.4) < 0.37)
    under_speech = ((t % 0.4) >= 0.03) & ((t % 0.4) < 0.12)
    assert _d(speech_like + noise * in_pauses, speech_like) > 2 * _d(
        speech_like + noise * under_speech, speech_like)


def test_added_energy_costs_more_than_the_same_energy_missing(speech_like):
    """Asymmetry: noise the decoder adds disturbs far more than the same noise it leaves out
    of a reference that has it (the symmetric parts of the two are equal)."""
    noise = (3e-3 * np.random.default_rng(5).normal(0, 1, speech_like.size)).astype(np.float32)
    assert _d(speech_like + noise, speech_like) > 2 * _d(speech_like, speech_like + noise)


def test_gradient_is_finite(speech_like):
    y = torch.from_numpy(speech_like + 1e-3 * np.random.default_rng(3).normal(
        0, 1, speech_like.size).astype(np.float32))[None].requires_grad_()
    pesq_like.disturbance(y, torch.from_numpy(speech_like)[None]).sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_ranks_distortions_as_pesq_wb_does(speech_like):
    """Noise at falling SNR and a lowpass: the proxy's order is PESQ-WB's order."""
    rng = np.random.default_rng(4)
    rms = np.sqrt(np.mean(speech_like**2))
    variants = [speech_like + rms * 10 ** (-snr / 20) * rng.normal(0, 1, speech_like.size)
                for snr in (35, 25, 15, 5)]
    variants = [v.astype(np.float32) for v in variants]
    pesq = [float(pesq_wb(speech_like, v, SR)) for v in variants]
    proxy = [float(pesq_like.score(torch.from_numpy(v)[None], torch.from_numpy(speech_like)[None]))
             for v in variants]
    assert np.argsort(pesq).tolist() == np.argsort(proxy).tolist(), (pesq, proxy)

