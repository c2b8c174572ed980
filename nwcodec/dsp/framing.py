"""Shared framing: cut a signal into overlapping frames, for numpy arrays and torch tensors.

One convention everywhere (PAM-1 threshold, spectral losses): frame ``t`` covers samples
``[t*hop, t*hop + size)``; the signal is zero-padded at the end so that every sample lies in
at least one frame; ``n_frames(T) = max(1, ceil((T - size) / hop) + 1)``.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def n_frames(length: int, size: int, hop: int) -> int:
    """Number of frames covering ``length`` samples (at least one)."""
    return max(1, math.ceil(max(length - size, 0) / hop) + 1)


def frame_signal(x: Array, size: int, hop: int) -> Array:
    """Frame the last axis: ``(..., T) -> (..., n_frames, size)`` (zero-padded at the end)."""
    length = x.shape[-1]
    f = n_frames(length, size, hop)
    pad = (f - 1) * hop + size - length
    if isinstance(x, torch.Tensor):
        if pad:
            x = torch.nn.functional.pad(x, (0, pad))
        return x.unfold(-1, size, hop)
    if pad:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
    return np.lib.stride_tricks.sliding_window_view(x, size, axis=-1)[..., ::hop, :]
