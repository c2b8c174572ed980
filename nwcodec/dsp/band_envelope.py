"""The band-energy envelope: the upper bands' energies, frame by frame, sent as side information
and restored at the decoder.

Why: the residual layers are trained on waveform error, so where they cannot match the waveform
(above ~4 kHz on music at 16 kbit/s a layer, band SNR ≈ −2 dB) they put out what minimises that
error: too little energy (−3 dB in 4–8 kHz) with the wrong temporal envelope. Scaling the decoded
bands, frame by frame, to the original's energies raised ViSQOL from 3.77 to 4.45 on music-64
mono (eval/REPORT_music.md, "band-energy oracle"), for about a kbit/s. Opus' CELT layer rests on
the same principle (code each band's energy explicitly, then its shape).

Frames: a sqrt-Hann window of ``2·hop`` samples, 50 % overlap, the first centred on sample 0
(the chunk padded with ``hop`` zeros each side), so ``ceil(n / hop) + 1`` frames cover ``n``
samples, and analysis then synthesis with unit gains gives the input back. A band's energy is
the mean of ``|X|²`` over its DFT bins divided by the window length, in dB, quantised to
``step_db`` and clamped to ``[floor_db, ceil_db]``.

Coding (integers only): index ``q = round(E / step)``; each is coded as its difference from a
prediction — the same band in the frame before, or in the first frame the band below (the
first band: from ``start_db``) — clamped to ``±max_delta`` (the encoder tracks the clamped
values, so encoder and decoder agree), symbol ``delta + max_delta``, one range-coded stream
in frame order with the fixed integer table :data:`DELTA_FREQS`.

Decoder: every bin of band ``b`` in frame ``t`` is scaled by ``sqrt(target / decoded)``,
capped at ``max_gain_db``; bins outside the bands are untouched. The gains depend on the decoded
signal (floating point), the symbols do not: the stream parses identically everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nwcodec.entropy import FrequencyTable, decode_streams, encode_streams

# Counts of the deltas -20 … +20 (3 dB steps) of MUSIC_ENVELOPE over the music training corpus
# (10 random 2-s chunks a track, each channel; 2.16 bit a symbol), one added to each:
# ``python -m nwcodec.train.envelope_table --tsv DATA/music/train.tsv --chunks-per-file 10``
# prints them. A constant of the format: never refit for existing tiers.
DELTA_FREQS: tuple[int, ...] = (
    29, 8, 16, 32, 44, 76, 69, 111, 100, 136, 184, 219, 361, 627, 1242, 2253, 4106, 10512,
    92339, 492800, 884759, 214554, 46965, 25353, 17349, 12134, 9004, 6883, 4849, 3474, 2180,
    1287, 787, 485, 286, 236, 145, 83, 67, 42, 35)
# The same for MUSIC_ENVELOPE_FINE (``--envelope fine``; 2.27 bit a symbol).
FINE_DELTA_FREQS: tuple[int, ...] = (
    31, 22, 55, 107, 126, 173, 211, 272, 318, 360, 467, 643, 1004, 1577, 2856, 5107, 8942,
    27765, 221252, 990006, 1641630, 487020, 107803, 52534, 35169, 24876, 18359, 14159, 10008,
    7068, 4640, 2799, 1699, 1112, 700, 563, 395, 229, 161, 95, 88)


@dataclass(frozen=True)
class BandEnvelope:
    """Per-frame energies of the bands between consecutive ``edges_hz``."""

    sample_rate: int
    hop: int
    edges_hz: tuple[float, ...]
    step_db: float = 3.0
    floor_db: float = -120.0
    ceil_db: float = 0.0
    start_db: float = -60.0
    max_delta: int = 20
    max_gain_db: float = 30.0
    table_counts: tuple[int, ...] = DELTA_FREQS

    def frames(self, n: int) -> int:
        """Frames covering ``n`` samples."""
        return -(-n // self.hop) + 1

    @cached_property
    def _window(self) -> np.ndarray:
        k = np.arange(2 * self.hop)
        return np.sqrt(0.5 - 0.5 * np.cos(np.pi * k / self.hop))

    @cached_property
    def _band_bins(self) -> list[slice]:
        bin_hz = self.sample_rate / (2 * self.hop)
        edges = [min(round(e / bin_hz), self.hop + 1) for e in self.edges_hz]
        return [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]

    @property
    def num_bands(self) -> int:
        return len(self.edges_hz) - 1

    @cached_property
    def table(self) -> FrequencyTable:
        counts = self.table_counts or (1,) * (2 * self.max_delta + 1)
        if len(counts) != 2 * self.max_delta + 1:
            raise ValueError(f"the delta table needs {2 * self.max_delta + 1} counts")
        return FrequencyTable.from_counts(np.array(counts, dtype=np.int64), precision=15)

    def _spectra(self, x: np.ndarray) -> np.ndarray:
        """(frames, hop + 1) windowed spectra of ``x`` (n,)."""
        h, k = self.hop, self.frames(len(x))
        padded = np.zeros((k + 1) * h)
        padded[h : h + len(x)] = x
        idx = np.arange(k)[:, None] * h + np.arange(2 * h)[None, :]
        return np.fft.rfft(padded[idx] * self._window, axis=1)

    def _synthesis(self, spectra: np.ndarray, n: int) -> np.ndarray:
        """Overlap-add of the windowed frames of ``spectra``: ``n`` samples."""
        h = self.hop
        frames = np.fft.irfft(spectra, 2 * h, axis=1) * self._window
        out = np.zeros((len(frames) + 1, h))
        out[:-1] += frames[:, :h]  # frame t covers hops t and t + 1 of the padded signal
        out[1:] += frames[:, h:]
        return out.ravel()[h : h + n]

    def _energies_db(self, spectra: np.ndarray) -> np.ndarray:
        """(frames, bands) band energies in dB."""
        power = np.abs(spectra) ** 2 / (2 * self.hop)
        e = np.stack([power[:, b].mean(axis=1) for b in self._band_bins], axis=1)
        return 10 * np.log10(np.maximum(e, 10 ** (self.floor_db / 10)))

    def _targets(self, x: np.ndarray) -> np.ndarray:
        """(frames, bands) energy indices of ``x`` (n,), clamped to the coded range."""
        lo, hi = round(self.floor_db / self.step_db), round(self.ceil_db / self.step_db)
        e = self._energies_db(self._spectra(np.asarray(x, dtype=np.float64)))
        return np.clip(np.round(e / self.step_db), lo, hi).astype(np.int64)

    def _deltas(self, target: np.ndarray) -> np.ndarray:
        """Clamped prediction differences of ``target`` (frames, bands), tracking the indices
        a decoder will rebuild (a clamped delta leaves the next prediction off target)."""
        deltas = np.zeros_like(target)
        pred = round(self.start_db / self.step_db)
        for b, v in enumerate(target[0]):  # frame 0: each band predicted by the one below
            deltas[0, b] = np.clip(v - pred, -self.max_delta, self.max_delta)
            pred += deltas[0, b]
        q = self._indices(deltas[:1])[0]
        for t in range(1, len(target)):
            deltas[t] = np.clip(target[t] - q, -self.max_delta, self.max_delta)
            q = q + deltas[t]
        return deltas

    def _indices(self, deltas: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_deltas`: the energy indices the decoder uses."""
        first = round(self.start_db / self.step_db) + np.cumsum(deltas[0])
        return np.cumsum(np.vstack([first[None], deltas[1:]]), axis=0)

    def symbols(self, x: np.ndarray) -> np.ndarray:
        """(frames, bands) delta symbols (``delta + max_delta``) of ``x`` (n,): what
        :meth:`compress` codes."""
        return self._deltas(self._targets(x)) + self.max_delta

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """(frames, bands) energy indices of ``x`` (n,) as a decoder rebuilds them."""
        return self._indices(self._deltas(self._targets(x)))

    def compress(self, x: np.ndarray) -> bytes:
        """The range-coded envelope of one channel's chunk ``x`` (n,)."""
        return encode_streams([(self.symbols(x).ravel(), self.table)])

    def decompress(self, data: bytes, n: int) -> np.ndarray:
        """(frames, bands) energy indices of an ``n``-sample chunk from :meth:`compress`'s
        bytes (:class:`~nwcodec.entropy.EntropyError` if they are not a valid coding)."""
        count = self.frames(n) * self.num_bands
        (symbols,) = decode_streams(data, [(count, self.table)])
        return self._indices(symbols.reshape(self.frames(n), self.num_bands) - self.max_delta)

    def apply(self, y: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``y`` (n,) with each band of each frame scaled to the energies ``q``."""
        spectra = self._spectra(np.asarray(y, dtype=np.float64))
        if q.shape != (len(spectra), self.num_bands):
            raise ValueError(f"envelope of shape {q.shape} for {len(spectra)} frames")
        decoded_db = self._energies_db(spectra)
        gain_db = np.minimum(q * self.step_db - decoded_db, self.max_gain_db)
        gains = 10 ** (gain_db / 20)
        for b, bins in enumerate(self._band_bins):
            spectra[:, bins] *= gains[:, b : b + 1]
        return self._synthesis(spectra, len(y)).astype(np.float32)


MUSIC_ENVELOPE = BandEnvelope(
    sample_rate=44100,
    hop=882,
    edges_hz=(4000, 5000, 6000, 7000, 8500, 10000, 12000, 14000, 16500, 22050),
)
"""The music tiers' envelope: 20 ms frames, nine bands from 4 kHz up (below, the layers match
the waveform to 20–30 dB SNR and a band gain buys nothing: +0.01 ViSQOL from 2 kHz)."""

MUSIC_ENVELOPE_FINE = BandEnvelope(
    sample_rate=44100,
    hop=882,
    edges_hz=(4000, 4500, 5000, 5500, 6000, 6500, 7000, 7750, 8500, 9250, 10000, 11000, 12000,
              13000, 14000, 15250, 16500, 19000, 22050),
    table_counts=FINE_DELTA_FREQS,
)
"""The 128 kbit/s tier's envelope: eighteen bands, about twice the resolution for about twice
the rate (~2 kbit/s a channel): +0.11 ViSQOL over :data:`MUSIC_ENVELOPE` on the layers of
that tier, where a fourth layer's 16 kbit/s buy +0.01."""
