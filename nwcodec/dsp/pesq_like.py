"""A differentiable disturbance in the structure of PESQ (ITU-T P.862 / P.862.2), for training.

PESQ-WB is the metric the speech tiers lose on while their waveform SNR is ahead of the codecs
that beat them (eval/REPORT.md): it does not score the error's energy but its *audibility as
added or missing loudness*, after forgiving what a listener adapts to. This module follows
that structure with constants of our own (not the standard's tables), differentiably:

1. **Level and bands.** Each signal is scaled so that its mean frame power is one (PESQ aligns
   both to a fixed listening level), Hann frames of 32 ms (hop 16 ms) are summed into bands of
   equal width on the Bark scale, 100 Hz – 8 kHz, and placed on an SPL scale where a frame of
   mean power is :data:`LEVEL_DB`.
2. **Forgiveness.** The reference is equalised band by band by the ratio of the two signals'
   mean spectra over its audible frames, clipped to ±20 dB (a static linear filter costs
   little), and every frame of the decoded signal is scaled to the reference's audible power,
   the factor clipped as PESQ clips it (short gain changes cost little).
3. **Loudness** per band by Zwicker's law above the threshold in quiet (Terhardt's formula).
4. **Disturbance** per band: the loudness difference minus a dead zone of a quarter of the
   smaller loudness; the *asymmetric* copy weighs it by ``((P_dec + c) / (P_ref + c))^1.2``,
   zero below 3 and capped at 12, so added energy (noise in pauses and valleys) costs far more
   than lost energy.
5. **Pooling.** Frames are weighted up when quiet, a frame's symmetric disturbance is the RMS
   over bands and its asymmetric one the mean, frames are pooled by an L6 norm over windows of
   20 frames (bursts dominate) and the windows by an L2 norm.

The result ``0.1 · D_sym + 0.0309 · D_asym`` is what PESQ subtracts from 4.5 before its MOS
mapping: lower is better. It tracks PESQ-WB's ranking; its values are not PESQ scores.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["band_matrix", "band_powers", "bark", "disturbance", "loudness", "score"]

SAMPLE_RATE = 16000  # PESQ-WB's
N_FFT = 512
HOP = 256
LEVEL_DB = 79.0  # SPL of a frame at the signal's mean power (PESQ's listening level)
BARK_STEP = 0.45  # band width in Bark (about PESQ-WB's)
GAMMA = 0.23  # Zwicker's loudness exponent
SYM_WEIGHT, ASYM_WEIGHT = 0.1, 0.0309  # PESQ's combination of the two disturbances


def bark(f: np.ndarray) -> np.ndarray:
    """Zwicker's critical-band rate (Bark) of frequencies in Hz."""
    return 13.0 * np.arctan(0.00076 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


@lru_cache(maxsize=1)
def band_matrix() -> tuple[torch.Tensor, torch.Tensor]:
    """(bands, bins) 0/1 matrix summing FFT power bins into bands of :data:`BARK_STEP` Bark
    from 100 Hz to 8 kHz, and each band's threshold in quiet (dB SPL) at its centre."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    use = (freqs >= 100.0) & (freqs < SAMPLE_RATE / 2)
    z = bark(freqs)
    index = np.floor((z - bark(np.array(100.0))) / BARK_STEP).astype(int)
    bands = np.unique(index[use])
    matrix = np.stack([(index == b) & use for b in bands]).astype(np.float32)
    centre = (matrix * freqs).sum(1) / matrix.sum(1) / 1000.0
    threshold = (3.64 * centre**-0.8 - 6.5 * np.exp(-0.6 * (centre - 3.3) ** 2)
                 + 1e-3 * centre**4)
    return torch.from_numpy(matrix), torch.from_numpy(threshold.astype(np.float32))


def band_powers(x: torch.Tensor) -> torch.Tensor:
    """(B, T) signals -> (B, frames, bands) band powers on the SPL scale (linear), each signal
    first scaled to unit mean frame power."""
    matrix, _ = band_matrix()
    window = torch.hann_window(N_FFT, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, N_FFT, HOP, window=window, center=False, return_complex=True)
    power = spec.abs().square().transpose(1, 2) / window.square().sum()  # (B, F, bins)
    frame_power = power.sum(-1, keepdim=True)
    power = power / (frame_power.mean(1, keepdim=True) + 1e-12)
    return power @ matrix.to(x.device).T * 10 ** (LEVEL_DB / 10)


def loudness(power: torch.Tensor, threshold_db: torch.Tensor) -> torch.Tensor:
    """Zwicker's specific loudness of band powers above the threshold in quiet (sone-like)."""
    p0 = 10 ** (threshold_db / 10)
    return ((p0 / 0.5) ** GAMMA * ((0.5 + 0.5 * power / p0) ** GAMMA - 1.0)).clamp_min(0.0)


def disturbance(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PESQ-like disturbance (B,) of decoded ``x_hat`` against reference ``x``, both (B, T) at
    16 kHz and at least one frame long."""
    _, threshold = band_matrix()
    threshold = threshold.to(x.device)
    ref, dec = band_powers(x), band_powers(x_hat)
    p0 = 10 ** (threshold / 10)
    ref_total = ref.sum(-1, keepdim=True)
    audible = (ref_total > 1e2 * p0.sum()).to(ref.dtype)  # frames well above the threshold
    # static equalisation of the reference toward the decoded spectrum
    n_audible = audible.sum(1, keepdim=True).clamp_min(1.0)
    eq = ((dec * audible).sum(1, keepdim=True) / n_audible + 1e3 * p0) / (
        (ref * audible).sum(1, keepdim=True) / n_audible + 1e3 * p0)
    ref = ref * eq.clamp(0.01, 100.0)
    # frame gain of the decoded signal toward the reference
    gain = (ref.sum(-1, keepdim=True) + 5e3 * p0.sum()) / (dec.sum(-1, keepdim=True)
                                                             + 5e3 * p0.sum())
    dec = dec * gain.clamp(3e-4, 5.0)
    l_ref, l_dec = loudness(ref, threshold), loudness(dec, threshold)
    diff = l_dec - l_ref
    dead = 0.25 * torch.minimum(l_ref, l_dec)
    d = torch.sign(diff) * F.relu(diff.abs() - dead)
    c = 50.0 * p0
    ratio = ((dec + c) / (ref + c)) ** 1.2
    asym = torch.where(ratio < 3.0, torch.zeros_like(ratio), ratio.clamp_max(12.0))
    weight = (ref_total / ref_total.mean(1, keepdim=True) + 0.01) ** 0.04  # quiet frames count more
    d_sym = d.square().mean(-1).add(1e-12).sqrt() / weight[..., 0]
    d_asym = (d.abs() * asym).mean(-1) / weight[..., 0]
    return SYM_WEIGHT * _pool(d_sym) + ASYM_WEIGHT * _pool(d_asym)


def _pool(frames: torch.Tensor, span: int = 20) -> torch.Tensor:
    """(B, F) frame disturbances -> (B,): L6 over windows of ``span`` frames that overlap by
    half, then L2 over the windows."""
    span = min(span, frames.shape[1])
    windows = frames.unfold(1, span, max(span // 2, 1))  # (B, W, span)
    l6 = windows.pow(6).mean(-1).add(1e-24).pow(1 / 6)
    return l6.square().mean(-1).add(1e-24).sqrt()


def score(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """4.5 minus the disturbance: PESQ's raw scale (not its MOS-LQO mapping), for reports."""
    return 4.5 - disturbance(x_hat, x)

