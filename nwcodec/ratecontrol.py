"""Encoder-side rate control: how many layers each channel of each chunk keeps.

A tier's encoder can code every chunk with all its layers; what that costs depends on the
input (a speech-trained model spends far more on a stereo tone or on music than on speech).
Two rules decide what is written instead, chunk by chunk, so the encoder still streams in
bounded memory and the decoder needs nothing beyond each chunk record (SPEC §3.1):

1. **Content** (:func:`classify`). A channel whose every 20-ms frame is below
   :data:`SILENT_DB` (digital silence, dither) is a *silent* chunk: no side information,
   decoded as zeros. Below :data:`QUIET_DB` (near-silence) it is *stationary comfort noise*:
   one frame's side information (the chunk's mean envelope and level) and no layers; the
   decoder drives the envelope with deterministic noise. Speech pauses inside a chunk are
   never gated: these rules look at a whole chunk (2 s), and a chunk with any frame above the
   thresholds is coded normally. A channel more than :data:`RELATIVE_DB` below the chunk's
   loudest channel (the side of near-mono mid/side) is *weak*: its side information, no
   layers (comfort noise that follows the envelope frame by frame).
2. **Budget**, a leaky bucket. Each chunk adds its duration's worth of the nominal rate to the
   bucket (capped at two chunks' worth plus the reserve, so what quiet chunks save is spent
   soon after, and no chunk spends more than that); a chunk may spend what the bucket holds.
   The bucket starts with the reserve, :data:`RESERVE` of the whole file's nominal bytes but
   at most one chunk's worth, less the header and end record. So a file's bytes never exceed
   ``(1 + RESERVE) ×`` nominal (unless even silent records do not fit, on inputs shorter than
   a few frames), and a long file stays at or below nominal plus one chunk. Within a chunk,
   side information comes first, then layers are added one level at a time, loudest channel
   first, each kept only while the chunk fits; a channel whose next layer does not fit stops
   there (layers are prefixes). If even the side information does not fit, the
   quietest channels become silent.
3. **Coarser before fewer.** A chunk that does not fit with every layer is first coded with
   every channel's top layer coarser (encoder-side rate-distortion quantisation,
   ``nwcodec/nn/quantizer.py``: the decoder is the same), all at one rate weight (the same
   trade of distortion for bytes in every channel), the gentlest of :data:`RATE_WEIGHTS` that
   fits. Only where even the heaviest does not fit does rule 2 drop layers; a channel it
   stopped then still gets its next layer at the gentlest weight that fits what is left,
   loudest channel first. On a one-layer tier this is the difference between a dense chunk
   decoding as music and as envelope-shaped noise: over the 18 whole validation tracks (45
   min, stereo), rule 2 alone left 81, 32 and 8 of 2,649 active chunk records of
   the gain-only one-layer models at 64, 96 and 128 kbit/s (tiers 21–23) without their
   layer; with rule 3, none (`python -m eval.music_rates`).

Why a reserve of 8 %: speech-12kbps codes dev speech at ~12.7 kbit/s with all its layers, so
a tight budget trims many chunks to one layer. Simulated on the first 60 dev files, a reserve
of 5 % trimmed 35 of 140 chunks and gave 11.4 kbit/s, 7 % trimmed 10 (12.3 kbit/s), 8 % 4
(12.45), 9 % 1 (12.5); the other tiers trim nothing from 5 % up. 8 % keeps the dev rate within
±5 % of nominal with few trimmed chunks, and every file within +10 % (the issue's bound).

Why whole layers, and coarser symbols rather than a signalled quantiser scale: the layers
are CMRL refinements the decoder can already take any prefix of, and every chunk record
already says how many it holds; a layer coded coarser is symbols the same tables decode. So the
rate control needs no change to the models or the format and costs the decoder nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial

import numpy as np

from nwcodec.bitstream import Chunk

SILENT_DB = -70.0
QUIET_DB = -50.0
RELATIVE_DB = 30.0
RESERVE = 0.08  # see the module docstring
# Rule 3's rate weights, gentlest first, in squared latent units per bit. Measured on a dense
# chunk of validation music with music-64kbps-v3 (34 kbit/s, layer SNR 13.5 dB at weight 0):
# 1e-3: -1 % bytes, -0.1 dB; 1e-2: -6 %, -0.7 dB; 1e-1: -21 %, -5.9 dB. With music-32kbps
# (LPC; SNR 7.3 dB): 0.09: -11 %, 5.4 dB; 1.0: -20 %, 0.9 dB, where the latent has collapsed
# onto its commonest symbols; the envelope's comfort noise alone: -3.6 dB. Up to 1.0 rather
# than 0.09 left 4 instead of 29 of its 2,649 active chunk records on the whole validation
# tracks without their layer.
RATE_WEIGHTS = tuple(1e-3 * 2 ** (i / 2) for i in range(21))  # 1e-3 .. 1.02
FRAMES_PER_SECOND = 50  # the 20-ms frames the content rules measure
END_RECORD_BYTES = 10  # SPEC §3.2


def loudest_frame_db(x: np.ndarray, sample_rate: int) -> float:
    """RMS level of the loudest 20-ms frame of ``x`` (n,), in dB relative to full scale 1.0
    (−inf for digital silence)."""
    frame = sample_rate // FRAMES_PER_SECOND
    n = -(-x.shape[0] // frame) * frame
    padded = np.zeros(n, np.float64)
    padded[: x.shape[0]] = x
    ms = np.mean(padded.reshape(-1, frame) ** 2, axis=1) if n else np.zeros(1)
    peak = float(ms.max())
    return 10 * np.log10(peak) if peak > 0 else -np.inf


class Content(Enum):
    """How a channel of a chunk is coded, from its level (rule 1 of the module docstring)."""

    SILENT = "silent"  # no side information, no layers
    QUIET = "quiet"  # stationary comfort noise: one frame of side information
    WEAK = "weak"  # side information, no layers
    ACTIVE = "active"  # side information and every layer the budget allows


def classify(levels: list[float]) -> list[Content]:
    """Per channel of a chunk, from its loudest-frame level (:func:`loudest_frame_db`)."""
    loudest = max(levels, default=-np.inf)
    return [
        Content.SILENT if db < SILENT_DB
        else Content.QUIET if db < QUIET_DB
        else Content.WEAK if db < loudest - RELATIVE_DB
        else Content.ACTIVE
        for db in levels
    ]


# recode(channel, k, rate_weight): that channel's chunk with ``k`` layers, the k-th coded at
# ``rate_weight`` (rule 3)
Recode = Callable[[int, int, float], Chunk]


@dataclass
class LeakyBucket:
    """The byte budget of one file (rule 2 of the module docstring). ``kbps`` 0: unlimited."""

    kbps: float
    sample_rate: int
    chunk_samples: int
    total_samples: int
    overhead: int  # header and end record bytes

    def __post_init__(self) -> None:
        self.per_sample = self.kbps * 125 / self.sample_rate  # bytes per sample
        reserve = min(self.chunk_samples, RESERVE * self.total_samples) * self.per_sample
        self.capacity = 2 * self.chunk_samples * self.per_sample + reserve
        self.level = reserve - self.overhead

    def allocate(self, chunks: list[Chunk], priority: list[int],
                 recode: Recode | None = None) -> list[Chunk]:
        """What to write of one chunk's ``chunks`` (one per channel, each with every layer
        the content allows), channels in ``priority`` order (loudest first); spends it.
        ``recode``, if given, offers the coarser layers of rule 3."""
        if not self.kbps:
            return chunks
        self.level = min(self.level + chunks[0].num_samples * self.per_sample, self.capacity)
        out = chunks if _size(chunks) <= self.level else None
        if out is None and recode:
            out = self._gentlest(lambda w: [recode(ch, len(c.layers), w) if c.layers else c
                                            for ch, c in enumerate(chunks)])
        if out is None:
            out = self._fewer_layers(chunks, priority)
            for ch in priority if recode else ():
                k = len(out[ch].layers) + 1
                if out[ch].side_info and k <= len(chunks[ch].layers):
                    out = self._gentlest(partial(_with, out, ch, partial(recode, ch, k))) or out
        self.level -= _size(out)
        return out

    def _fewer_layers(self, chunks: list[Chunk], priority: list[int]) -> list[Chunk]:
        """Rule 2 within the chunk: side information first, then layer by layer, loudest
        channel first, while the chunk fits."""
        out = [c.stripped(0) for c in chunks]
        for ch in reversed(priority):  # the quietest go silent first
            if _size(out) <= self.level:
                break
            out[ch] = Chunk(out[ch].index, ch, out[ch].num_samples, b"", (), flags=out[ch].flags)
        open_ = [ch for ch in priority if out[ch].side_info]
        for k in range(1, max((len(c.layers) for c in chunks), default=0) + 1):
            for ch in list(open_):
                if len(chunks[ch].layers) < k:
                    open_.remove(ch)
                    continue
                trial = out.copy()
                trial[ch] = chunks[ch].stripped(k)
                if _size(trial) <= self.level:
                    out = trial
                else:
                    open_.remove(ch)
        return out

    def _gentlest(self, coded: Callable[[float], list[Chunk]]) -> list[Chunk] | None:
        """``coded`` at the gentlest rate weight at which the chunk fits, or None. Sizes fall
        as the weight grows, so: the heaviest first (does any fit?), then a bisection."""
        lo, hi = 0, len(RATE_WEIGHTS) - 1
        best = coded(RATE_WEIGHTS[hi])
        if _size(best) > self.level:
            return None
        while lo < hi:  # the weight at hi fits, every one below lo overflows
            mid = (lo + hi) // 2
            trial = coded(RATE_WEIGHTS[mid])
            if _size(trial) <= self.level:
                best, hi = trial, mid
            else:
                lo = mid + 1
        return best


def _with(chunks: list[Chunk], ch: int, coded: Callable[[float], Chunk], rate_weight: float
          ) -> list[Chunk]:
    """``chunks`` with channel ``ch``'s chunk ``coded(rate_weight)``."""
    out = chunks.copy()
    out[ch] = coded(rate_weight)
    return out


def _size(chunks: list[Chunk]) -> int:
    return sum(c.record_size() for c in chunks)
