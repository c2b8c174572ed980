"""ISO/IEC 11172-3 psychoacoustic model 1 (Annex D, Layer I): global masking threshold.

Done as the standard describes, per 512-sample frame:

1. Spectrum: periodic Hann window, 512-point FFT, ``P(k) = PN + 10 log10 |X(k)|^2`` (k = 0..256).
   SPL convention (shared with :mod:`nwcodec.losses`): **a full-scale (amplitude 1.0) sine on a
   bin centre peaks at 96 dB SPL**, i.e. ``PN = 96 - 20 log10(512/4)``; an absolute
   calibration, not a per-frame normalisation, so silence stays silent (floor
   :data:`SPL_FLOOR_DB`).
2. Tonal maskers: local maxima (``P(k) > P(k-1)``, ``P(k) >= P(k+1)``) that exceed
   ``P(k +- j)`` by 7 dB for ``j = 2`` (2 < k < 63), ``2..3`` (63 <= k < 127), ``2..6``
   (127 <= k < 250), i.e. over the whole band; level = power sum of ``k-1..k+1``.
3. Non-tonal maskers: power sum, per critical band, of the lines not in any tonal
   neighbourhood, placed at the line nearest the band's geometric-mean line.
4. Decimation: maskers below the absolute threshold are removed; of tonal maskers closer than
   0.5 Bark only the strongest is kept (the standard applies this rule to tonal components;
   it is resolved greedily by strength, as the standard's sliding window does).
5. Individual thresholds on the table's sub-sampled frequency grid:
   ``LT = X + av(z_j) + vf(dz, X)``, ``av_tm = -1.525 - 0.275 z - 4.5``,
   ``av_nm = -1.525 - 0.175 z - 0.5``, ``vf = 17(dz+1) - (0.4X+6)`` for -3 <= dz < -1,
   ``(0.4X+6) dz`` for -1 <= dz < 0, ``-17 dz`` for 0 <= dz < 1,
   ``-(dz-1)(17-0.15X) - 17`` for 1 <= dz < 8, no masking elsewhere.
6. Global threshold: power sum of the absolute threshold and all individual thresholds,
   interpolated (in dB, linearly over the line index) onto the 257 FFT bins.

Tables (frequency grid, Bark, threshold in quiet, critical-band boundaries):

* 44.1 and 48 kHz: the standard's Layer I tables D.1b/D.1c and D.2b/D.2c, held as data
  below (106 and 102 grid lines; lines 1-48, then every 2nd to 96, then every 4th).
* 32 kHz: the D.1a grid (lines 1-48, 50-96 by 2, 100-240 by 4; 108 lines) with Bark and
  threshold in quiet from the construction below, which reproduces D.1b/D.1c to within 0.001
  Bark / 0.01 dB (the standard's tables are Zwicker/Terhardt evaluated at the line
  frequencies); band boundaries are the grid lines nearest integer Bark values.
* Any other rate (notably 16 kHz) uses that generic construction: the same line grid up to
  20 kHz or Nyquist, ``z = 13 atan(0.76 f/kHz) + 3.5 atan((f/7.5 kHz)^2)`` (Zwicker),
  ``Tq = 3.64 f^-0.8 - 6.5 exp(-0.6 (f - 3.3)^2) + 1e-3 f^4`` (Terhardt, f in kHz; capped at
  68 dB as in the tables), boundaries at the grid lines nearest integer Bark.

The tonal neighbourhoods are the standard's bin ranges at every rate (the standard uses the
same bin ranges at 32, 44.1 and 48 kHz). The absolute threshold carries no bit-rate offset.

:func:`pam1` is vectorised numpy over any batch of frames; :func:`global_threshold_torch`
wraps it for training, where the threshold is computed from the clean reference and used as
a constant (no gradient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch

from nwcodec.dsp.framing import frame_signal

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = [
    "N_BINS",
    "N_FFT",
    "SPL_FLOOR_DB",
    "SPL_OFFSET_DB",
    "Pam1Result",
    "Pam1Tables",
    "ath_terhardt",
    "bark_zwicker",
    "global_threshold_torch",
    "pam1",
    "pam1_frames",
    "power_spectrum",
    "spl_spectrum",
    "tables",
]

N_FFT = 512
N_BINS = N_FFT // 2 + 1
SPL_FULL_SCALE_DB = 96.0
#: ``P_dB = SPL_OFFSET_DB + 10 log10 |FFT(hann * x)|^2``; a full-scale bin-centred sine -> 96 dB.
SPL_OFFSET_DB = SPL_FULL_SCALE_DB - 20.0 * math.log10(N_FFT / 4)
#: Spectra are floored here (below every threshold in quiet) so silence stays finite.
SPL_FLOOR_DB = -100.0
TONAL_MARGIN_DB = 7.0
DECIMATION_BARK = 0.5
ATH_CAP_DB = 68.0

# ISO/IEC 11172-3 Table D.1b (Layer I, 44.1 kHz): critical-band rate (Bark), threshold in
# quiet (dB) at the 106 grid lines; Table D.2b: critical-band boundaries (grid indices).
# The standard's values, 10 a line (kept out of the formatter's one-per-line layout).
# fmt: off
_BARK_44K = np.array([
    0.850, 1.694, 2.525, 3.337, 4.124, 4.882, 5.608, 6.301, 6.959, 7.581,
    8.169, 8.723, 9.244, 9.734, 10.195, 10.629, 11.037, 11.421, 11.783, 12.125,
    12.448, 12.753, 13.042, 13.317, 13.577, 13.825, 14.062, 14.288, 14.504, 14.711,
    14.909, 15.100, 15.283, 15.460, 15.631, 15.795, 15.955, 16.110, 16.260, 16.405,
    16.547, 16.685, 16.820, 16.951, 17.079, 17.204, 17.327, 17.447, 17.680, 17.904,
    18.121, 18.331, 18.534, 18.730, 18.922, 19.108, 19.288, 19.464, 19.635, 19.801,
    19.963, 20.120, 20.273, 20.421, 20.565, 20.705, 20.840, 20.971, 21.099, 21.222,
    21.341, 21.457, 21.676, 21.882, 22.074, 22.253, 22.420, 22.575, 22.721, 22.857,
    22.984, 23.102, 23.213, 23.317, 23.414, 23.506, 23.592, 23.673, 23.749, 23.821,
    23.888, 23.952, 24.013, 24.070, 24.124, 24.176, 24.225, 24.271, 24.316, 24.358,
    24.398, 24.436, 24.473, 24.508, 24.541, 24.573,
])
_ATH_44K = np.array([
    25.87, 14.85, 10.72, 8.50, 7.10, 6.11, 5.37, 4.79, 4.32, 3.92,
    3.57, 3.25, 2.95, 2.67, 2.39, 2.11, 1.83, 1.53, 1.23, 0.90,
    0.56, 0.21, -0.17, -0.56, -0.96, -1.37, -1.79, -2.21, -2.63, -3.03,
    -3.41, -3.77, -4.09, -4.37, -4.60, -4.78, -4.91, -4.97, -4.98, -4.92,
    -4.81, -4.65, -4.43, -4.17, -3.87, -3.54, -3.19, -2.82, -2.06, -1.33,
    -0.64, -0.04, 0.47, 0.89, 1.23, 1.51, 1.74, 1.93, 2.11, 2.28,
    2.45, 2.63, 2.82, 3.03, 3.25, 3.49, 3.74, 4.02, 4.32, 4.64,
    4.98, 5.35, 6.15, 7.07, 8.10, 9.25, 10.54, 11.97, 13.56, 15.30,
    17.23, 19.33, 21.64, 24.15, 26.88, 29.84, 33.05, 36.51, 40.24, 44.26,
    48.58, 53.21, 58.17, 63.48, 68.00, 68.00, 68.00, 68.00, 68.00, 68.00,
    68.00, 68.00, 68.00, 68.00, 68.00, 68.00,
])
_BANDS_44K = [
    0, 1, 2, 4, 5, 7, 8, 10, 12, 14,
    16, 19, 22, 26, 31, 36, 44, 49, 54, 60,
    67, 74, 80, 92, 105,
]

# Table D.1c (Layer I, 48 kHz): 102 grid lines; Table D.2c: band boundaries.
_BARK_48K = np.array([
    0.925, 1.842, 2.742, 3.618, 4.463, 5.272, 6.041, 6.770, 7.457, 8.103,
    8.708, 9.275, 9.805, 10.301, 10.765, 11.199, 11.606, 11.988, 12.347, 12.684,
    13.002, 13.302, 13.586, 13.855, 14.111, 14.354, 14.585, 14.807, 15.018, 15.221,
    15.415, 15.602, 15.783, 15.956, 16.124, 16.287, 16.445, 16.598, 16.746, 16.891,
    17.032, 17.169, 17.303, 17.434, 17.563, 17.688, 17.811, 17.932, 18.166, 18.392,
    18.611, 18.823, 19.028, 19.226, 19.419, 19.606, 19.788, 19.964, 20.135, 20.300,
    20.461, 20.616, 20.766, 20.912, 21.052, 21.188, 21.318, 21.445, 21.567, 21.684,
    21.797, 21.906, 22.113, 22.304, 22.482, 22.646, 22.799, 22.941, 23.072, 23.195,
    23.309, 23.415, 23.515, 23.607, 23.694, 23.775, 23.852, 23.923, 23.991, 24.054,
    24.114, 24.171, 24.224, 24.275, 24.322, 24.368, 24.411, 24.452, 24.491, 24.528,
    24.564, 24.597,
])
_ATH_48K = np.array([
    24.17, 13.87, 10.01, 7.94, 6.62, 5.70, 5.00, 4.45, 4.00, 3.61,
    3.26, 2.93, 2.63, 2.32, 2.02, 1.71, 1.38, 1.04, 0.67, 0.29,
    -0.11, -0.54, -0.97, -1.43, -1.89, -2.34, -2.79, -3.22, -3.62, -3.98,
    -4.30, -4.57, -4.77, -4.91, -4.98, -4.97, -4.90, -4.76, -4.55, -4.29,
    -3.99, -3.64, -3.26, -2.86, -2.45, -2.04, -1.63, -1.24, -0.51, 0.12,
    0.64, 1.06, 1.39, 1.66, 1.88, 2.08, 2.27, 2.46, 2.65, 2.86,
    3.09, 3.33, 3.60, 3.89, 4.20, 4.54, 4.91, 5.31, 5.73, 6.18,
    6.67, 7.19, 8.33, 9.63, 11.08, 12.71, 14.53, 16.54, 18.77, 21.23,
    23.94, 26.90, 30.14, 33.67, 37.51, 41.67, 46.17, 51.04, 56.29, 61.94,
    68.00, 68.00, 68.00, 68.00, 68.00, 68.00, 68.00, 68.00, 68.00, 68.00,
    68.00, 68.00,
])
_BANDS_48K = [
    0, 1, 2, 3, 5, 6, 7, 9, 10, 12,
    14, 17, 20, 23, 28, 33, 40, 48, 52, 57,
    64, 72, 78, 90, 101,
]
# fmt: on

# rate -> (last grid line, Bark, threshold in quiet, band boundaries)
_STANDARD = {
    44100: (232, _BARK_44K, _ATH_44K, _BANDS_44K),
    48000: (216, _BARK_48K, _ATH_48K, _BANDS_48K),
}
_LAST_LINE_32K = 240

# Tonal search (standard, 512-point FFT): bins 3..249, neighbourhood half-width by range.
_TONAL_RANGES = ((3, 63, 2), (63, 127, 3), (127, 250, 6))


def bark_zwicker(f_hz: np.ndarray) -> np.ndarray:
    """Critical-band rate (Bark), Zwicker & Terhardt (1980)."""
    f = np.asarray(f_hz, dtype=np.float64)
    return 13.0 * np.arctan(0.00076 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


def ath_terhardt(f_hz: np.ndarray) -> np.ndarray:
    """Threshold in quiet (dB SPL), Terhardt (1979), capped at 68 dB like the ISO tables."""
    k = np.maximum(np.asarray(f_hz, dtype=np.float64), 1.0) / 1000.0
    tq = 3.64 * k**-0.8 - 6.5 * np.exp(-0.6 * (k - 3.3) ** 2) + 1e-3 * k**4
    return np.minimum(tq, ATH_CAP_DB)


def _grid_lines(last: int) -> np.ndarray:
    """The standard's sub-sampled grid: every line to 48, every 2nd to 96, every 4th after."""
    return np.r_[np.arange(1, 49), np.arange(50, 97, 2), np.arange(100, last + 1, 4)]


@dataclass(frozen=True, eq=False)
class Pam1Tables:
    """Frequency tables for one sample rate (grid = the standard's sub-sampled lines)."""

    sr: int
    standard: bool  # True where the values are the standard's tables (44.1, 48 kHz)
    lines: np.ndarray  # (G,) FFT line of each grid point
    bark: np.ndarray  # (G,)
    ath: np.ndarray  # (G,) threshold in quiet, dB SPL
    bands: (
        np.ndarray
    )  # (n_bands + 1,) grid indices; band b = lines[bands[b]] .. < lines[bands[b+1]]
    bin_bark: np.ndarray  # (257,) Bark of every FFT bin (interpolated over the grid)
    bin_ath: np.ndarray  # (257,)
    band_member: np.ndarray  # (257, n_bands) 0/1: bin k belongs to band b
    band_line: np.ndarray  # (n_bands,) line nearest the band's geometric-mean line
    tonal_radius: np.ndarray  # (257,) tonal neighbourhood half-width (0: not searched)
    grid_to_bins: np.ndarray  # (G, 257) linear interpolation over the line index
    spread_gain: np.ndarray  # (257, G): masker at bin k, level X -> ln(power) = X*gain + offset
    spread_offset: np.ndarray  # (2, 257, G) for tonal / non-tonal maskers (-inf: no masking)
    max_close_tonals: int  # tonal maskers that can lie within 0.5 Bark of one another


def _bands_from_bark(bark: np.ndarray) -> np.ndarray:
    """Grid indices nearest every integer Bark value (plus both ends)."""
    edges = np.arange(1, math.floor(bark[-1]) + 1)
    idx = np.abs(bark[None, :] - edges[:, None]).argmin(1)
    return np.unique(np.r_[0, idx, bark.size - 1])


@lru_cache(maxsize=16)
def tables(sr: int) -> Pam1Tables:
    """PAM-1 tables at ``sr`` Hz: the standard's at 44.1/48 kHz, constructed elsewhere."""
    sr = int(sr)
    if sr in _STANDARD:
        last, bark, ath, bands = _STANDARD[sr]
        lines = _grid_lines(last)
        bark, ath, bands = np.asarray(bark), np.asarray(ath), np.asarray(bands)
    else:
        top = min(20000.0, sr / 2 * (N_FFT // 2 - 1) / (N_FFT // 2))
        lines = _grid_lines(_LAST_LINE_32K if sr == 32000 else int(top * N_FFT / sr))
        freqs = lines * sr / N_FFT
        bark, ath = np.round(bark_zwicker(freqs), 3), np.round(ath_terhardt(freqs), 2)
        bands = _bands_from_bark(bark)
    k = np.arange(N_BINS)
    bin_bark = np.interp(k, lines, bark)
    member = np.zeros((N_BINS, bands.size - 1))
    band_line = np.zeros(bands.size - 1, dtype=int)
    for b in range(bands.size - 1):
        lo, hi = lines[bands[b]], lines[bands[b + 1]]
        member[lo:hi, b] = 1.0
        band_line[b] = round(math.exp(np.log(np.arange(lo, hi)).mean()))
    radius = np.zeros(N_BINS, dtype=int)
    for lo, hi, r in _TONAL_RANGES:
        radius[lo:hi] = r
    gain, offset = _spreading_tables(bin_bark, bark)
    eye = np.eye(lines.size)
    grid_to_bins = np.stack([np.interp(k, lines, row) for row in eye])
    # Tonal maskers are >= 3 bins apart (each exceeds its +-2 neighbours by 7 dB).
    close = (np.abs(bin_bark[:, None] - bin_bark[None, :]) < DECIMATION_BARK).sum(1).max()
    return Pam1Tables(
        sr=sr,
        standard=sr in _STANDARD,
        lines=lines,
        bark=bark,
        ath=ath,
        bands=bands,
        bin_bark=bin_bark,
        bin_ath=np.interp(k, lines, ath),
        band_member=member,
        band_line=band_line,
        tonal_radius=radius,
        grid_to_bins=grid_to_bins,
        spread_gain=gain,
        spread_offset=offset,
        max_close_tonals=int(close) // 3 + 1,
    )


# ---------------------------------------------------------------- spectrum (shared SPL scale)
def power_spectrum(frames: Array) -> Array:
    """Hann-windowed 512-point power spectrum ``(..., 512) -> (..., 257)`` in linear SPL
    units: ``10 log10`` of it is dB SPL in the module's convention. Differentiable on tensors."""
    if frames.shape[-1] != N_FFT:
        raise ValueError(f"PAM-1 frames must have {N_FFT} samples")
    gain = 10.0 ** (SPL_OFFSET_DB / 10.0)
    if isinstance(frames, torch.Tensor):
        win = torch.hann_window(N_FFT, periodic=True, dtype=frames.dtype, device=frames.device)
        return torch.fft.rfft(frames * win).abs().square() * gain
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    return np.abs(np.fft.rfft(frames * win)) ** 2 * gain


def spl_spectrum(frames: Array) -> Array:
    """dB SPL spectrum (floored at :data:`SPL_FLOOR_DB`) of 512-sample frames."""
    floor = 10.0 ** (SPL_FLOOR_DB / 10.0)
    p = power_spectrum(frames)
    if isinstance(p, torch.Tensor):
        return 10.0 * torch.log10(p.clamp_min(floor))
    return 10.0 * np.log10(np.maximum(p, floor))


# ---------------------------------------------------------------- the model
@dataclass
class Pam1Result:
    """Per-frame, per-bin results, each ``(..., F, 257)`` in dB SPL; masker arrays hold the
    masker level at its bin and ``-inf`` elsewhere (after decimation)."""

    spl: np.ndarray
    threshold: np.ndarray
    tonal: np.ndarray
    nontonal: np.ndarray


def _tonal_maskers(spl: np.ndarray, t: Pam1Tables) -> tuple[np.ndarray, np.ndarray]:
    """Tonal masker levels (dB, 3-line power sum; -inf elsewhere) and the excluded lines."""
    n = spl.shape[-1]
    padded = np.pad(spl, ((0, 0), (6, 6)), constant_values=-np.inf)

    def sh(j: int) -> np.ndarray:  # view: sh(j)[:, k] = spl[:, k + j]
        return padded[:, 6 + j : 6 + j + n]

    local = (spl > sh(-1)) & (spl >= sh(1))
    nbr = np.maximum(sh(-2), sh(2))
    tonal = np.zeros_like(local)
    is_tonal = {}
    for j in range(2, 7):
        if j > 2:
            nbr = np.maximum(nbr, np.maximum(sh(-j), sh(j)))
        if j in (2, 3, 6):
            is_tonal[j] = local & (t.tonal_radius == j) & (spl - nbr >= TONAL_MARGIN_DB)
            tonal |= is_tonal[j]
    excluded = np.zeros((spl.shape[0], n + 12), dtype=bool)
    for r, is_t in is_tonal.items():
        for j in range(-r, r + 1):
            excluded[:, 6 + j : 6 + j + n] |= is_t
    p = 10.0 ** (padded[:, 5 : n + 7] / 10.0)
    level = 10.0 * np.log10(p[:, :-2] + p[:, 1:-1] + p[:, 2:])
    return np.where(tonal, level, -np.inf), excluded[:, 6 : 6 + n]


def _suppress_close(frame: np.ndarray, z: np.ndarray, level: np.ndarray, span: int) -> np.ndarray:
    """Of tonal maskers closer than 0.5 Bark keep the strongest (greedy by level, ties to the
    lower bin). Inputs are flat masker lists sorted by (frame, bin)."""
    n = frame.size
    pairs_i, pairs_j = [], []
    for d in range(1, span + 1):
        i = np.arange(n - d)
        close = (frame[i] == frame[i + d]) & (z[i + d] - z[i] < DECIMATION_BARK)
        pairs_i.append(i[close])
        pairs_j.append(i[close] + d)
    i, j = np.concatenate(pairs_i), np.concatenate(pairs_j)
    alive = np.ones(n, dtype=bool)
    if i.size == 0:
        return alive
    j_wins = level[j] > level[i]
    winner, loser = np.where(j_wins, j, i), np.where(j_wins, i, j)
    # Fixed-point iteration converges to the greedy result within the longest chain length.
    for _ in range(n + 1):
        new = np.ones(n, dtype=bool)
        new[loser[alive[winner]]] = False
        if np.array_equal(new, alive):
            break
        alive = new
    return alive


def _spreading_tables(z_mask: np.ndarray, z_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The individual threshold is affine in the masker level X for fixed (masker, grid) Bark:
    ``LT = X (1 + b(dz)) + a(dz) + av(z)`` with the standard's piecewise spreading function
    ``vf = a + b X``. Returns the natural-log power ``LT ln(10)/10`` as ``X*gain + offset``."""
    dz = z_grid[None, :] - z_mask[:, None]
    a = np.select(
        [dz < -3, dz < -1, dz < 0, dz < 1, dz < 8],
        [-np.inf, 17.0 * (dz + 1.0) - 6.0, 6.0 * dz, -17.0 * dz, -17.0 * (dz - 1.0) - 17.0],
        -np.inf,
    )
    b = np.select([dz < -1, dz < 0, dz < 1], [-0.4, 0.4 * dz, 0.0], 0.15 * (dz - 1.0))
    av_tonal = -1.525 - 0.275 * z_mask - 4.5
    av_noise = -1.525 - 0.175 * z_mask - 0.5
    ln = math.log(10.0) / 10.0
    offset = np.stack([a + av_tonal[:, None], a + av_noise[:, None]]) * ln
    return ((1.0 + b) * ln).astype(np.float32), offset.astype(np.float32)


def pam1_frames(frames: np.ndarray, sr: int) -> Pam1Result:
    """PAM-1 on 512-sample frames ``(..., 512)`` at sample rate ``sr``."""
    t = tables(sr)
    batch = frames.shape[:-1]
    spl = spl_spectrum(np.asarray(frames, dtype=np.float64).reshape(-1, N_FFT))
    n_fr = spl.shape[0]

    tonal, excluded = _tonal_maskers(spl, t)
    tonal[tonal < t.bin_ath] = -np.inf
    band_pow = np.where(excluded, 0.0, 10.0 ** (spl / 10.0)) @ t.band_member
    with np.errstate(divide="ignore"):
        noise = 10.0 * np.log10(band_pow)
    noise[noise < t.bin_ath[t.band_line]] = -np.inf

    f_t, k_t = np.nonzero(np.isfinite(tonal))
    keep = _suppress_close(f_t, t.bin_bark[k_t], tonal[f_t, k_t], t.max_close_tonals)
    tonal[f_t[~keep], k_t[~keep]] = -np.inf
    f_t, k_t = f_t[keep], k_t[keep]
    f_n, b_n = np.nonzero(np.isfinite(noise))
    k_n = t.band_line[b_n]

    frame_idx = np.concatenate([f_t, f_n])
    order = np.argsort(frame_idx, kind="stable")
    frame_idx = frame_idx[order]
    level = np.concatenate([tonal[f_t, k_t], noise[f_n, b_n]])[order].astype(np.float32)
    k_all = np.concatenate([k_t, k_n])[order]
    kind = np.repeat([0, 1], [k_t.size, k_n.size])[order]
    # float32: the per-masker (n, G) products dominate the cost; dB precision is ample.
    contrib = np.exp(level[:, None] * t.spread_gain[k_all] + t.spread_offset[kind, k_all])
    total = np.zeros((n_fr, t.lines.size))
    if frame_idx.size:
        starts = np.flatnonzero(np.r_[True, frame_idx[1:] != frame_idx[:-1]])
        total[frame_idx[starts]] = np.add.reduceat(contrib, starts, axis=0)
    grid_db = 10.0 * np.log10(10.0 ** (t.ath / 10.0) + total)

    nontonal = np.full_like(spl, -np.inf)
    nontonal[f_n, k_n] = noise[f_n, b_n]
    shape = batch + (N_BINS,)
    return Pam1Result(
        spl=spl.reshape(shape),
        threshold=(grid_db @ t.grid_to_bins).reshape(shape),
        tonal=tonal.reshape(shape),
        nontonal=nontonal.reshape(shape),
    )


def pam1(x: np.ndarray, sr: int, hop: int = N_FFT // 2) -> Pam1Result:
    """PAM-1 of a signal ``(..., T)`` (full scale = 1.0), framed by :func:`frame_signal`."""
    return pam1_frames(frame_signal(np.asarray(x, dtype=np.float64), N_FFT, hop), sr)


def global_threshold_torch(x: torch.Tensor, sr: int, hop: int = N_FFT // 2) -> torch.Tensor:
    """Global masking threshold (dB SPL, ``(..., F, 257)``) of a reference tensor, as a
    constant: computed without gradient (numpy), returned on ``x``'s device and dtype."""
    with torch.no_grad():
        thr = pam1(x.detach().cpu().double().numpy(), sr, hop).threshold
    return torch.as_tensor(thr, dtype=x.dtype, device=x.device)
