"""Training losses: zero on identical signals, PAM-1 weighting and noise-to-mask behaviour."""

import numpy as np
import pytest
import torch

from nwcodec import losses
from nwcodec.dsp import pam1
from nwcodec.dsp.mel import mel_filterbank

SR = 16000


@pytest.fixture(scope="module")
def signal() -> torch.Tensor:
    rng = np.random.default_rng(0)
    n = np.arange(8000)
    x = 0.3 * np.sin(2 * np.pi * 1000 * n / SR) + rng.normal(0, 0.01, (2, n.size))
    return torch.tensor(x, dtype=torch.float32)


@pytest.mark.parametrize("smooth", [False, True])
def test_zero_for_identical_signals(signal, smooth):
    total, terms = losses.CodecLoss(SR, smooth_nmr=smooth)(signal, signal.clone())
    assert set(terms) == {"time", "mel", "priority", "nmr"}
    for value in terms.values():
        assert abs(float(value)) < 1e-6
    assert abs(float(total)) < 1e-5
    for kind in ("l1", "mse", "rmse"):
        assert float(losses.time_loss(signal, signal, kind)) == 0.0


def test_all_terms_positive_and_differentiable_for_distorted_signal(signal):
    x_hat = (signal + 0.05 * torch.randn_like(signal)).requires_grad_()
    total, terms = losses.CodecLoss(SR)(x_hat, signal)
    assert all(float(v.detach()) > 0 for v in terms.values())
    total.backward()
    assert x_hat.grad is not None and torch.isfinite(x_hat.grad).all()
    assert x_hat.grad.abs().sum() > 0


def test_priority_weights_larger_in_audible_than_masked_bins(signal):
    mask = pam1.global_threshold_torch(signal, SR)
    ref_db = 10 * torch.log10(losses._frame_power(signal, 256) + 1e-10)
    w = losses.priority_weights(ref_db, mask)
    tone_bin = round(1000 / SR * pam1.N_FFT)  # 32: the audible 1 kHz tone
    inner = slice(0, -1)  # the last frame is zero-padded
    audible = w[..., inner, tone_bin]
    above = slice(tone_bin + 3, tone_bin + 6)  # noise bins right above a loud tone
    masked = w[..., inner, above]
    assert (ref_db[..., inner, above] < mask[..., inner, above]).all()
    assert audible.min() > 0.6 and masked.max() < 0.1
    w_pm = losses.priority_weights(torch.tensor([30.0, 0.0, -30.0]), torch.zeros(3))
    np.testing.assert_allclose(w_pm.numpy(), np.log10(10 ** np.array([3.0, 0.0, -3.0]) + 1), 1e-5)


@pytest.mark.parametrize("smooth", [False, True])
def test_noise_to_mask_zero_under_mask_positive_above(signal, smooth):
    mask = pam1.global_threshold_torch(signal, SR)
    quiet = signal + 1e-6 * torch.randn_like(signal)  # ~ -120 dBFS: far under the mask
    loud = signal + 0.05 * torch.randn_like(signal)
    nmr_quiet = float(losses.noise_to_mask_loss(quiet, signal, mask, smooth=smooth))
    nmr_loud = float(losses.noise_to_mask_loss(loud, signal, mask, smooth=smooth))
    if smooth:
        assert nmr_quiet < 1e-3
    else:
        assert nmr_quiet == 0.0
    assert nmr_loud > 1.0


def test_mel_filterbank_shape_and_coverage():
    fb = mel_filterbank(SR, 512, 64)
    assert fb.shape == (64, 257) and fb.max() <= 1.0
    assert (fb.sum(1) > 0).all()


def test_perceptual_weighting_counts_error_under_a_formant_less_than_in_a_valley():
    r, theta = 0.95, 2 * np.pi * 500 / SR  # one formant at 500 Hz
    a = torch.tensor([1.0, -2 * r * np.cos(theta), r * r], dtype=torch.float32)
    a_sub = a.expand(1, 50, 3)  # 50 sub-frames over 8000 samples
    x = torch.zeros(1, 8000)
    n = torch.arange(8000)

    def weighted(freq: float) -> float:
        err = 0.01 * torch.sin(2 * np.pi * freq * n / SR)[None]
        return losses.perceptual_time_loss(x + err, x, a_sub).item()

    assert losses.perceptual_time_loss(x, x, a_sub).item() == pytest.approx(0.0, abs=1e-6)
    assert weighted(500) < 0.5 * weighted(3000)


def test_codec_loss_weighted_term_needs_lpc(signal):
    loss = losses.CodecLoss(SR, losses.LossWeights(weighted=10.0))
    with pytest.raises(ValueError, match="a_sub"):
        loss(signal * 0.9, signal)
    a_sub = torch.tensor([1.0, -0.9]).expand(2, 40, 2)
    total, terms = loss(signal * 0.9, signal, a_sub=a_sub)
    assert terms["weighted"].item() > 0 and torch.isfinite(total)


@pytest.mark.parametrize(("name", "upper"), [("pesq", float("inf")), ("visqol", 1.0)])
def test_metric_proxy_terms_are_off_by_default_and_16_khz_only(name, upper):
    """The PESQ-like and ViSQOL-like terms (nwcodec.dsp.pesq_like / visqol_like)."""
    from tests.dsp.conftest import vowels

    x = torch.from_numpy(vowels())[None, None]
    y = x + 1e-3 * torch.randn_like(x)
    _, terms = losses.CodecLoss(16000)(y, x)
    assert name not in terms
    _, terms = losses.CodecLoss(16000, losses.LossWeights(**{name: 1.0}))(y, x)
    assert 0 < terms[name] < upper
    with pytest.raises(ValueError, match=f"{name}-like term works at 16000 Hz"):
        losses.CodecLoss(44100, losses.LossWeights(**{name: 1.0}))
