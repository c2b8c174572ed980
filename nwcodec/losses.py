"""Differentiable training losses: time-domain, multi-resolution STFT/mel, PAM-1 terms, a
PESQ-like disturbance (:mod:`nwcodec.dsp.pesq_like`) and a ViSQOL-like spectrogram similarity
(:mod:`nwcodec.dsp.visqol_like`).

SPL convention (one for threshold and loss, from :mod:`nwcodec.dsp.pam1`): signals have full
scale 1.0; 512-sample frames (:func:`nwcodec.dsp.framing.frame_signal`, hop ``hop``) are
Hann-windowed and transformed by :func:`nwcodec.dsp.pam1.power_spectrum`, whose output is a
*linear* power on the SPL scale (``10 log10`` of it is dB SPL; a full-scale bin-centred sine
is 96 dB). The masking threshold ``m`` (dB SPL) comes from :func:`pam1.global_threshold_torch`
on the clean reference, on the same frames, and is a constant (no gradient). So:

* ``p_f`` = reference spectrum in dB SPL, ``m_f`` = mask in dB SPL, both per frame and bin;
* priority weight ``w_f = log10(10^(0.1 p_f) / 10^(0.1 m_f) + 1)`` (computed as a softplus);
* :func:`priority_weighted_loss` = mean over frames and bins of ``w_f (P_x - P_xhat)^2`` with
  the level difference in bels (dB / 10, so the term is O(1)); levels use an additive floor of
  :data:`PW_FLOOR_DB` (about the threshold in quiet: smooth, and inaudible differences vanish);
* :func:`noise_to_mask_loss` = mean over frames of ``max_f ReLU(n_f / m_f - 1)``, ``n_f`` the
  power spectrum of the error ``xhat - x`` on the same scale; ``smooth=True`` replaces ReLU by a
  softplus (offset so that zero error gives 0) and the max by a log-sum-exp (temperature
  ``tau``, minus ``tau log F`` so equal values give that value) for smoother gradients.
  Note the ratio is linear power: early in training it can be very large; weight accordingly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from nwcodec.dsp import lpc, pam1, pesq_like, visqol_like
from nwcodec.dsp.framing import frame_signal
from nwcodec.dsp.mel import mel_filterbank

__all__ = [
    "CodecLoss",
    "LossWeights",
    "MultiResolutionSTFTLoss",
    "noise_to_mask_loss",
    "perceptual_time_loss",
    "priority_weighted_loss",
    "priority_weights",
    "time_loss",
]

#: Additive floor (dB SPL) of the levels compared by the priority-weighted loss.
PW_FLOOR_DB = 0.0
_LN10 = math.log(10.0)


def time_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Time-domain error: ``"l1"`` (mean absolute), ``"mse"`` or ``"rmse"`` (seed's L_t)."""
    err = x_hat - x
    if kind == "l1":
        return err.abs().mean()
    if kind == "mse":
        return err.square().mean()
    if kind == "rmse":  # eps keeps the gradient finite at zero error; offset keeps loss(x, x) = 0
        return torch.sqrt(err.square().mean() + 1e-7) - math.sqrt(1e-7)
    raise ValueError(f"unknown time loss {kind!r}")


def perceptual_time_loss(x_hat: torch.Tensor, x: torch.Tensor, a_sub: torch.Tensor,
                         gamma: float = 0.92, kind: str = "rmse") -> torch.Tensor:
    """Time-domain error through CELP's perceptual weighting filter.

    AMR-WB weights the pre-emphasised error by ``W(z) = A(z/γ) / (1 − 0.68 z⁻¹)``; on
    speech-domain signals whose LPC ``a_sub`` (sub-frame coefficients, as :func:`lpc.residual`
    takes them) was fitted after a 0.68 pre-emphasis that is simply ``A(z/γ)``. Error under the
    formant peaks, which the speech there masks, then counts less than error in the spectral
    valleys between them.
    """
    err, _ = lpc.residual(x_hat - x, lpc.bandwidth_expand(a_sub.to(x.dtype), gamma))
    return time_loss(err, torch.zeros_like(err), kind)


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of log-mel L1 + spectral convergence.

    Resolution ``n`` uses a Hann window of ``n`` samples, hop ``n // 4`` and
    ``min(n // 8, max_mels)`` mel bands.
    """

    def __init__(
        self,
        sr: int,
        fft_sizes: tuple[int, ...] = (256, 512, 1024, 2048),
        max_mels: int = 80,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.fft_sizes = fft_sizes
        self.eps = eps
        for n in fft_sizes:
            fb = mel_filterbank(sr, n, min(n // 8, max_mels))
            self.register_buffer(f"mel_{n}", torch.tensor(fb, dtype=torch.float32))
            self.register_buffer(f"win_{n}", torch.hann_window(n))

    def _magnitude(self, sig: torch.Tensor, n: int) -> torch.Tensor:
        win = getattr(self, f"win_{n}").to(sig.dtype)
        return torch.stft(sig, n, n // 4, window=win, return_complex=True).abs()

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        total = x.new_zeros(())
        flat_hat, flat = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
        for n in self.fft_sizes:
            fb = getattr(self, f"mel_{n}").to(x.dtype)
            m_hat, m = self._magnitude(flat_hat, n), self._magnitude(flat, n)
            conv = torch.linalg.vector_norm(m - m_hat) / (torch.linalg.vector_norm(m) + self.eps)
            log_mel = torch.log(fb @ m.square() + self.eps)
            log_mel_hat = torch.log(fb @ m_hat.square() + self.eps)
            total = total + conv + (log_mel - log_mel_hat).abs().mean()
        return total / len(self.fft_sizes)


def _frame_power(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Linear SPL-scale power spectrum of the PAM-1 frames of ``x``: ``(..., F, 257)``."""
    return pam1.power_spectrum(frame_signal(x, pam1.N_FFT, hop))


def priority_weights(ref_spl_db: torch.Tensor, mask_db: torch.Tensor) -> torch.Tensor:
    """``w = log10(10^(0.1 p) / 10^(0.1 m) + 1)``, computed stably as a softplus."""
    return torch.nn.functional.softplus((ref_spl_db - mask_db) * (_LN10 / 10.0)) / _LN10


def priority_weighted_loss(
    x_hat: torch.Tensor, x: torch.Tensor, mask_db: torch.Tensor, hop: int = pam1.N_FFT // 2
) -> torch.Tensor:
    """PAM-1 priority-weighted spectral error (see module docstring); ``mask_db`` from
    :func:`pam1.global_threshold_torch` of ``x`` with the same ``hop``."""
    floor = 10.0 ** (PW_FLOOR_DB / 10.0)
    ref = _frame_power(x, hop)
    ref_db = 10.0 * torch.log10(ref + floor)
    hat_db = 10.0 * torch.log10(_frame_power(x_hat, hop) + floor)
    w = priority_weights(ref_db, mask_db).detach()
    return (w * ((ref_db - hat_db) / 10.0).square()).mean()


def noise_to_mask_loss(
    x_hat: torch.Tensor,
    x: torch.Tensor,
    mask_db: torch.Tensor,
    hop: int = pam1.N_FFT // 2,
    smooth: bool = False,
    tau: float = 1.0,
) -> torch.Tensor:
    """Mean over frames of ``max_f ReLU(n_f / m_f - 1)`` (smooth: softplus + log-sum-exp)."""
    noise = _frame_power(x_hat - x, hop)
    excess = noise / (10.0 ** (mask_db / 10.0)) - 1.0
    if not smooth:
        return torch.relu(excess).amax(-1).mean()
    # Smooth ReLU shifted so that zero error (excess = -1) gives exactly 0.
    soft = tau * (torch.nn.functional.softplus(excess / tau) - math.log1p(math.exp(-1.0 / tau)))
    per_frame = tau * (torch.logsumexp(soft / tau, -1) - math.log(soft.shape[-1]))
    return per_frame.mean()


@dataclass
class LossWeights:
    """Weights of the combined loss (the seed's PAM codec used 50/5/5/5 with RMSE)."""

    time: float = 50.0
    mel: float = 5.0
    priority: float = 5.0
    nmr: float = 5.0
    # :func:`perceptual_time_loss`; needs the batch's LPC (``a_sub``), off by default.
    weighted: float = 0.0
    # :func:`nwcodec.dsp.pesq_like.disturbance` (16 kHz only), off by default.
    pesq: float = 0.0
    # :func:`nwcodec.dsp.visqol_like.loss` (16 kHz only), off by default.
    visqol: float = 0.0


class CodecLoss(nn.Module):
    """Weighted sum of :func:`time_loss`, :class:`MultiResolutionSTFTLoss`,
    :func:`priority_weighted_loss`, :func:`noise_to_mask_loss`, the PESQ-like disturbance and the
    ViSQOL-like dissimilarity.

    ``forward(x_hat, x, mask_db=None, a_sub=None)`` returns ``(total, terms)``; the PAM-1 mask
    is computed from ``x`` (no gradient) unless given, e.g. precomputed by the data loader;
    ``a_sub`` (the signals' LPC) is needed when the weighted time term is on.
    """

    def __init__(
        self,
        sr: int,
        weights: LossWeights | None = None,
        time_kind: str = "rmse",
        hop: int = pam1.N_FFT // 2,
        smooth_nmr: bool = True,
        stft: MultiResolutionSTFTLoss | None = None,
    ) -> None:
        super().__init__()
        self.sr, self.hop, self.time_kind, self.smooth_nmr = sr, hop, time_kind, smooth_nmr
        self.weights = weights or LossWeights()
        for name, rate in (("pesq", pesq_like.SAMPLE_RATE), ("visqol", visqol_like.SAMPLE_RATE)):
            if getattr(self.weights, name) and sr != rate:
                raise ValueError(f"the {name}-like term works at {rate} Hz, not {sr}")
        self.stft = stft or MultiResolutionSTFTLoss(sr)

    def mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """The PAM-1 mask of reference ``x`` (no gradient), or None if no term uses it: to
        compute once when several signals are compared with the same reference."""
        w = self.weights
        return pam1.global_threshold_torch(x, self.sr, self.hop) if w.priority or w.nmr else None

    def forward(
        self, x_hat: torch.Tensor, x: torch.Tensor, mask_db: torch.Tensor | None = None,
        a_sub: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        w = self.weights
        terms = {"time": time_loss(x_hat, x, self.time_kind)}
        if w.weighted:
            if a_sub is None:
                raise ValueError("the weighted time loss needs the signals' LPC (a_sub)")
            terms["weighted"] = perceptual_time_loss(x_hat, x, a_sub, kind=self.time_kind)
        if w.mel:
            terms["mel"] = self.stft(x_hat, x)
        if w.pesq:
            terms["pesq"] = pesq_like.disturbance(x_hat.reshape(-1, x_hat.shape[-1]),
                                                  x.reshape(-1, x.shape[-1])).mean()
        if w.visqol:
            terms["visqol"] = visqol_like.loss(x_hat, x)
        if w.priority or w.nmr:
            if mask_db is None:
                mask_db = self.mask(x)
            if w.priority:
                terms["priority"] = priority_weighted_loss(x_hat, x, mask_db, self.hop)
            if w.nmr:
                terms["nmr"] = noise_to_mask_loss(x_hat, x, mask_db, self.hop, self.smooth_nmr)
        scale = {"time": w.time, "mel": w.mel, "priority": w.priority, "nmr": w.nmr,
                 "weighted": w.weighted, "pesq": w.pesq, "visqol": w.visqol}
        total = sum(scale[k] * v for k, v in terms.items())
        return total, terms
