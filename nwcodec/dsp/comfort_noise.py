"""Deterministic comfort noise: the excitation of a chunk that carries no layers.

A chunk coded with side information only (the LPC envelope and the frame gains, SPEC §3.1) is
decoded by driving the LPC synthesis with this noise instead of a decoded residual. The noise
is unit-variance (the residual the layers code is normalised by the frame gain, so unit
variance restores the coded level) and white; the envelope comes from the side information.

It must be identical on every machine, so it is integer arithmetic: sample ``n`` of chunk
``index``, channel ``channel`` is ``h(key + n)`` with ``key = h(index · 256 + channel)`` (all
modulo 2^32), ``h`` the 32-bit integer hash "lowbias32" (C. Wellons)::

    x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16

and its top 24 bits ``u`` give the sample ``(u - 2^23 + 1/2) · √3 / 2^23``: uniform on
(−√3, √3), variance 1. A counter-based generator (no state from sample to sample) also makes
it vectorised.
"""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFF)


def _hash32(x: np.ndarray) -> np.ndarray:
    """lowbias32 of uint64 values holding 32-bit integers (products taken modulo 2^32)."""
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & _MASK
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & _MASK
    return x ^ (x >> np.uint64(16))


def comfort_noise(length: int, index: int, channel: int) -> np.ndarray:
    """``length`` samples of unit-variance white noise for chunk ``index``, ``channel``."""
    seed = np.array([(index * 256 + channel) & 0xFFFFFFFF], np.uint64)
    key = _hash32(seed)[0]
    u = _hash32((key + np.arange(length, dtype=np.uint64)) & _MASK) >> np.uint64(8)
    return ((u.astype(np.float64) - (1 << 23) + 0.5) * (np.sqrt(3.0) / (1 << 23))).astype(
        np.float32
    )
