"""Decoder-side bass postfilter: removes the noise between pitch harmonics below ~1 kHz.

A waveform codec at low rate leaves noise between the harmonics of voiced speech, and PESQ
punishes it most below 1 kHz (eval/REPORT.md, oracle table). AMR-WB keeps that region clean
with its pitch predictor; we clean it after decoding, with no bits: the pitch is estimated
from the decoded signal itself.

For a signal periodic with lag T, ``x[n] - (x[n-T] + x[n+T]) / 2`` cancels the harmonics and
keeps what lies between them. Its low-passed part, scaled by a voicing-dependent gain, is
subtracted from the signal (the "bass postfilter" idea of AMR-WB+ / EVS):

    y = x - alpha(n) * LP(x - (x[n-T] + x[n+T]) / 2)

Everything is computed within one chunk (chunks stay independently decodable); at the chunk
edges the missing side of the comb is replaced by the available one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class BassPostfilter:
    """Parameters, tuned by ``eval/tune_postfilter.py`` on 60 training files of many speakers
    that the shipped model never saw: the strongest setting that leaves ViSQOL within 0.005 of
    where it was (stronger ones buy more PESQ-WB and lose ViSQOL)."""

    strength: float = 0.3  # 0.5 removes the inter-harmonic band entirely (the comb gains 2)
    voicing_power: float = 3.0  # gain = strength * voicing**power: spare weakly voiced frames
    cutoff_hz: float = 1000.0  # upper edge of the cleaned band
    min_hz: float = 60.0  # pitch search range
    max_hz: float = 400.0
    hop_ms: float = 5.0  # pitch and gain update interval
    window_ms: float = 20.0  # correlation window

    def __call__(self, x: np.ndarray, sr: int, kbps: float | None = None) -> np.ndarray:
        """Postfilter one decoded chunk; ``kbps`` (its coded rate) is not needed here."""
        if self.strength <= 0 or len(x) < int(sr * self.window_ms / 500):
            return x
        inter, _, voicing = self.comb_residual(x, sr)
        hop = int(sr * self.hop_ms / 1000)
        centres = np.arange(len(voicing)) * hop + hop // 2
        gain = np.interp(np.arange(len(x)), centres, self.strength * voicing**self.voicing_power)
        from scipy.signal import oaconvolve  # scipy.signal is slow to import: only on use

        low = oaconvolve(inter, _lowpass(sr, self.cutoff_hz), "same")
        return (x - gain * low).astype(x.dtype, copy=False)

    def comb_residual(self, x: np.ndarray, sr: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What lies between the pitch harmonics, ``x[n] - (x[n-T] + x[n+T]) / 2`` (float64,
        as long as ``x``), and the per-hop lag and voicing of :meth:`pitch`."""
        lag, voicing = self.pitch(x, sr)
        hop = int(sr * self.hop_ms / 1000)
        n = np.arange(len(x))
        t = lag[np.minimum(n // hop, len(lag) - 1)]  # held per hop: see pitch()
        back, ahead = _delayed(x, n - t), _delayed(x, n + t)
        has_back, has_ahead = n - t >= 0, n + t <= len(x) - 1
        pred = np.where(has_back & has_ahead, 0.5 * (back + ahead),
                        np.where(has_back, back, ahead))
        return x - pred, lag, voicing

    def pitch(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-hop pitch lag (fractional, in samples at ``sr``) and voicing (normalised
        correlation at that lag), searched at half the rate with a parabolic peak fit."""
        hop = int(sr * self.hop_ms / 1000)
        frames = -(-len(x) // hop)
        half = x[: len(x) // 2 * 2].reshape(-1, 2).mean(1)  # a crude 2:1 decimation suffices
        lo, hi = int(sr / 2 / self.max_hz), int(sr / 2 / self.min_hz)
        win = int(sr / 2 * self.window_ms / 1000)
        corr = _normalised_correlation(half, np.arange(frames) * hop // 2, win, lo, hi)
        rows = np.arange(frames)
        # The shortest lag that correlates nearly as well as the best one: a comb at any
        # multiple of the period cancels the harmonics, but neighbouring frames must agree on
        # which multiple, or the comb between them is at no period at all.
        peak = corr.max(1, keepdims=True)
        best = (corr >= 0.9 * peak).argmax(1)
        width = corr.shape[1]
        for _ in range(3):  # climb to the top of that first peak
            up = corr[rows, np.minimum(best + 1, width - 1)] > corr[rows, best]
            best = np.where(up, np.minimum(best + 1, width - 1), best)
        left = corr[rows, np.maximum(best - 1, 0)]
        mid = corr[rows, best]
        right = corr[rows, np.minimum(best + 1, corr.shape[1] - 1)]
        curv = left - 2 * mid + right
        offset = np.where(curv < 0, 0.5 * (left - right) / np.where(curv < 0, curv, -1), 0.0)
        lag = 2 * (best + lo + np.clip(offset, -0.5, 0.5))
        return lag, np.clip(mid, 0.0, 1.0)


@lru_cache(maxsize=8)
def _lowpass(sr: int, cutoff_hz: float) -> np.ndarray:
    from scipy.signal import firwin

    return firwin(int(sr * 0.008) | 1, cutoff_hz, fs=sr)


def _delayed(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """x at fractional positions (linear interpolation, clamped to the ends)."""
    pos = np.clip(pos, 0, len(x) - 1)
    i = np.minimum(pos.astype(int), len(x) - 2)
    f = pos - i
    return (1 - f) * x[i] + f * x[i + 1]


def _normalised_correlation(x: np.ndarray, starts: np.ndarray, win: int, lo: int,
                            hi: int) -> np.ndarray:
    """(frames, hi-lo+1) normalised correlation of each window with its copies lo..hi
    samples earlier, computed for all frames at once with one batched FFT."""
    pad = np.concatenate([np.zeros(hi), x, np.zeros(win)])
    span = np.lib.stride_tricks.sliding_window_view(pad, hi + win)[starts]  # (F, hi+win)
    cur = span[:, hi:]
    size = 1 << int(np.ceil(np.log2(hi + win)))
    xc = np.fft.irfft(np.fft.rfft(span, size) * np.conj(np.fft.rfft(cur, size)), size)
    num = xc[:, hi - lo :: -1][:, : hi - lo + 1]  # index k = hi - t, for t = lo..hi
    energy = np.concatenate([[0.0], np.cumsum(pad**2)])
    e_cur = energy[starts + hi + win] - energy[starts + hi]
    at = starts[:, None] + hi - np.arange(lo, hi + 1)[None, :]
    e_lag = energy[at + win] - energy[at]
    return num / (np.sqrt(e_cur[:, None] * e_lag) + 1e-9)
