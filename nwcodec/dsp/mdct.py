"""The MDCT with a sine window: critically sampled, perfectly reconstructing (TDAC).

``mdct(x, hop)`` gives ``ceil(n / hop) + 1`` frames of ``hop`` coefficients for an ``n``-sample
signal: frame ``f`` covers samples ``(f - 1)·hop … (f + 1)·hop - 1`` (zeros outside the
signal), so every sample lies in two frames and ``imdct(mdct(x, hop), n)`` returns ``x`` to
rounding error. The basis is orthonormal (window folded in), so white noise of variance σ² in
the coefficients comes out as noise of variance σ² in the samples.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=4)
def basis(hop: int) -> np.ndarray:
    """(2·hop, hop) float64: the windowed MDCT basis, one column per coefficient."""
    t = np.arange(2 * hop)[:, None] + 0.5 + hop / 2
    k = np.arange(hop)[None, :] + 0.5
    window = np.sin(np.pi * (np.arange(2 * hop) + 0.5) / (2 * hop))[:, None]
    out = window * np.cos(np.pi / hop * t * k) * np.sqrt(2.0 / hop)
    out.setflags(write=False)
    return out


def num_frames(n: int, hop: int) -> int:
    """Frames :func:`mdct` gives for an ``n``-sample signal."""
    return -(-n // hop) + 1


def mdct(x: np.ndarray, hop: int) -> np.ndarray:
    """Signal (n,) -> coefficients (frames, hop), float64."""
    n = x.shape[0]
    padded = np.zeros((num_frames(n, hop) + 1) * hop)
    padded[hop : hop + n] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, 2 * hop)[::hop]
    return frames @ basis(hop)


def imdct(coeffs: np.ndarray, n: int) -> np.ndarray:
    """Coefficients (frames, hop) -> the first ``n`` samples of their overlap-add, float64."""
    frames, hop = coeffs.shape
    blocks = coeffs @ basis(hop).T  # (frames, 2·hop)
    out = np.zeros((frames + 1) * hop)
    # Overlap-add: first halves land on hops 0 … F-1, second halves on hops 1 … F.
    out[: frames * hop] += blocks[:, :hop].reshape(-1)
    out[hop : (frames + 1) * hop] += blocks[:, hop:].reshape(-1)
    return out[hop : hop + n]
