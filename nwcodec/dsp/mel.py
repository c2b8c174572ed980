"""The mel scale and its triangular filterbank (HTK formula), shared by the training loss and
the mel-distance metric."""

from __future__ import annotations

import numpy as np


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0) -> np.ndarray:
    """Triangular HTK-mel filterbank ``(n_mels, n_fft // 2 + 1)`` from ``fmin`` to ``sr / 2``:
    band ``k`` rises from edge ``k`` to 1 at edge ``k + 1`` and falls to 0 at edge ``k + 2``,
    the ``n_mels + 2`` edges equally spaced in mel."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(sr / 2), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs - lo) / (mid - lo)
    fall = (hi - freqs) / (hi - mid)
    return np.maximum(0.0, np.minimum(rise, fall))
