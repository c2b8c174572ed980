"""Module 0 of the cascade: the LPC stage and its side information.

Per 20 ms frame (at 16 kHz) the encoder sends 16 LSFs, each scalar-quantised with learned
centroids (a :class:`SoftmaxQuantizer`, one centroid set per LSF), and one log-gain of the LPC
residual (uniform 2 dB steps). A stage with ``side_context`` codes each of these 17 symbols
with a table chosen by the same stream's symbol in the frame before (about 1.6 instead of 2.5
kbit/s at 16 kHz); the first stages shipped code each stream with one table. The decoder
rebuilds stable sub-frame filters (sorted LSFs, minimum spacing, bandwidth expansion) and
synthesises through ``1/Â(z)`` then de-emphasis, so whatever error the networks leave in the
residual comes out shaped like the speech envelope.

The residual the networks see is computed with the *quantised* filters and normalised by the
*quantised* gain, so encoder and decoder agree exactly on what ``1/Â(z)`` receives. Each call
codes one chunk on its own (filter states start at zero), which keeps chunks independent.

As a stage (``nn/stage.py``): :meth:`LpcStage.forward` is the LSF quantiser's training pass,
:meth:`~LpcStage.compress` range-codes the side information of a chunk (and hands back the
residual the autoencoders code), :meth:`~LpcStage.decompress` returns the decoder's filters
and gains, and :meth:`~LpcStage.update` freezes the gain table and one table per LSF (or
their context tables) from the symbol counts gathered by :meth:`~LpcStage.count`.

Order 0 (no LPC) exists for material where the speech tool may not pay: music at 44.1 kHz,
where 24-32 LSFs a frame cost kilobits per second of side information and the envelope is
not the source-filter shape LPC models. The stage then keeps only the framing, the fixed
pre-emphasis and the per-frame gain: the networks code the pre-emphasised signal at unit level
and the decoder's de-emphasis alone shapes their noise (a spectral tilt; ``preemphasis`` 0
gives a plain, gain-normalised residual coder). Its side information is the gains alone, so
a recipe can measure whether LPC earns its bits by changing ``order``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from nwcodec.dsp import lpc
from nwcodec.entropy import (
    ContextTable,
    FrequencyTable,
    decode_context_streams,
    decode_streams,
    encode_context_streams,
    encode_streams,
)
from nwcodec.errors import NwcodecError
from nwcodec.nn.quantizer import Mode, SoftmaxQuantizer
from nwcodec.nn.stage import Compressed, StageOutput

# The marginal's weight, in observations, in each context table row (entropy.ContextTable):
# it keeps rarely seen contexts from overfitting. With rows counted on the 2,500 training files
# the dev side information costs the same (1.61 kbit/s, 2.47 with one table per stream) for
# any prior from 1 to 32; it matters only for small training sets.
SIDE_CONTEXT_PRIOR = 4


@dataclass(frozen=True)
class LpcConfig:
    """The LPC stage's constants (defaults for 16 kHz wideband speech, as in AMR-WB where a
    value is shared with it)."""

    sample_rate: int = 16000
    order: int = 16  # 16 poles model the formants up to 8 kHz (AMR-WB uses 16 too)
    frame: int = 320  # 20 ms: the spectral envelope of speech changes little within it
    subframes: int = 4  # filters interpolated every 5 ms, so formant moves stay smooth
    preemphasis: float = 0.68  # AMR-WB's tilt: flattens speech's low-pass spectrum first
    gamma: float = 0.994  # bandwidth expansion a_k·γ^k: widens sharp peaks by ~30 Hz
    min_gap: float = 0.012  # rad (~30 Hz at 16 kHz) between LSFs: keeps 1/Â(z) stable
    lsf_centroids: int = 16  # learned levels per LSF (the shipped tier uses 32)
    gain_step_db: float = 2.0  # log-gain step: ±1 dB error, near the loudness JND
    gain_floor_db: float = -90.0  # lowest gain: one 16-bit LSB (2^-15); below is silence
    gain_levels: int = 48  # 48 × 2 dB cover -90 … +4 dB (a residual may exceed full scale)
    side_context: bool = False  # code each side symbol given its stream's previous symbol

    def __post_init__(self) -> None:
        if self.order < 0 or self.order % 2:
            raise ValueError(f"LPC order must be even and >= 0 (0: no LPC), got {self.order}")
        if self.frame % self.subframes:
            raise ValueError(f"frame {self.frame} is not a multiple of {self.subframes} sub-frames")

    def to_dict(self) -> dict:
        # Without side_context the dict is what models written before it hold, so their
        # model hashes (which cover the config) stay what their files carry.
        d = asdict(self)
        if not self.side_context:
            del d["side_context"]
        return d


@dataclass
class LpcParams:
    """What the decoder rebuilds from one chunk's side information (numpy, float64)."""

    lsf: np.ndarray  # (F, order) stabilised quantised LSFs
    a_sub: np.ndarray  # (F, S, order+1) sub-frame filters
    gain: np.ndarray  # (F,) linear gains of the normalised residual


@dataclass
class LpcAnalysis:
    """What the encoder derives from one chunk (numpy, float64 unless noted)."""

    lsf_symbols: np.ndarray  # (F, order) int64
    gain_symbols: np.ndarray  # (F,) int64
    a_sub: np.ndarray  # (F, S, order+1): the decoder's filters
    gain: np.ndarray  # (F,) dequantised linear gain
    residual: np.ndarray  # (F*frame,) float32, normalised by the gain: what module 1 codes


class LpcStage(nn.Module):
    """Trainable LSF quantiser plus the deterministic LPC analysis/synthesis around it."""

    def __init__(self, config: LpcConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LpcConfig()
        # LSFs (radians) of typical speech spread over (0, pi); centroids are refined by fit_lsf.
        # Order 0 has no LSFs, hence no quantiser.
        self.lsf_quantizer = SoftmaxQuantizer(
            cfg.order, cfg.lsf_centroids, groups=cfg.order, init_range=(0.1, 3.0), hardness=20.0
        ) if cfg.order else None
        self.gain_table: FrequencyTable | None = None
        self.context_tables: list[ContextTable] | None = None  # with side_context: per stream
        # Side-symbol transition counts (gain, then each LSF): counts[s][c, k] counts symbol k
        # after symbol c in stream s, row K the first frame of a chunk; summed over rows, the
        # marginal histogram a stage without side_context freezes.
        self.counts: list[np.ndarray] = []
        self.reset_counts()

    # -- geometry ------------------------------------------------------------------------

    def frames(self, n: int) -> int:
        return max(1, math.ceil(n / self.config.frame))

    def _zero_counts(self) -> list[np.ndarray]:
        cfg = self.config
        return [np.zeros((k + 1, k), np.int64)
                for k in [cfg.gain_levels] + [cfg.lsf_centroids] * cfg.order]

    # -- gain --------------------------------------------------------------------------------

    def _gain_symbols(self, rms: np.ndarray) -> np.ndarray:
        cfg = self.config
        db = 20 * np.log10(np.maximum(rms, 1e-12))
        idx = np.round((db - cfg.gain_floor_db) / cfg.gain_step_db)
        return np.clip(idx, 0, cfg.gain_levels - 1).astype(np.int64)

    def _gain_values(self, symbols: np.ndarray) -> np.ndarray:
        cfg = self.config
        return 10.0 ** ((cfg.gain_floor_db + cfg.gain_step_db * symbols) / 20.0)

    # -- LSF quantisation ----------------------------------------------------------------------

    @torch.no_grad()
    def _dequantize_lsf(self, symbols: np.ndarray) -> np.ndarray:
        """(F, order) symbols -> stable LSFs (F, order), float64."""
        if self.lsf_quantizer is None:
            return np.zeros(symbols.shape)
        sym = torch.from_numpy(symbols.T[None].copy())
        lsf = self.lsf_quantizer.dequantize(sym)[0].T.double().numpy()
        return self.stabilize(lsf)

    def stabilize(self, lsf: np.ndarray) -> np.ndarray:
        """Ordered LSFs at least ``min_gap`` apart: the decoder's filters are stable."""
        return lpc.stabilize_lsf(lsf, self.config.min_gap)

    def _filters(self, lsf_q: np.ndarray) -> np.ndarray:
        """(F, order) LSFs -> sub-frame filters (F, S, order+1); ``A(z) = 1`` at order 0."""
        cfg = self.config
        if not cfg.order:
            return np.ones((lsf_q.shape[0], cfg.subframes, 1))
        return lpc.lsf_to_subframe_lpc(lsf_q, cfg.subframes, gamma=cfg.gamma)

    # -- coding ----------------------------------------------------------------------------------

    def analyze(self, x: np.ndarray) -> LpcAnalysis:
        """Encoder side of one chunk ``x`` (n,) float: symbols, filters and the residual."""
        cfg = self.config
        n_fr = self.frames(x.shape[0])
        padded = np.zeros(n_fr * cfg.frame, dtype=np.float64)
        padded[: x.shape[0]] = x
        y, _ = lpc.preemphasis(padded, cfg.preemphasis)
        lsf_symbols = self._lsf_symbols(self._lsf(y))
        a_sub = self._filters(self._dequantize_lsf(lsf_symbols))
        e, _ = lpc.residual(y, a_sub)
        rms = np.sqrt(np.mean(e.reshape(n_fr, cfg.frame) ** 2, axis=1))
        gain_symbols = self._gain_symbols(rms)
        gain = self._gain_values(gain_symbols)
        e_norm = (e.reshape(n_fr, cfg.frame) / gain[:, None]).reshape(-1)
        return LpcAnalysis(lsf_symbols, gain_symbols, a_sub, gain, e_norm.astype(np.float32))

    def analyze_stationary(self, x: np.ndarray) -> LpcAnalysis:
        """One frame standing for the whole chunk ``x`` (n,): the mean of its frames' LSFs and
        the level of its whole residual, for stationary comfort noise (``residual`` empty)."""
        cfg = self.config
        n_fr = self.frames(x.shape[0])
        padded = np.zeros(n_fr * cfg.frame, dtype=np.float64)
        padded[: x.shape[0]] = x
        y, _ = lpc.preemphasis(padded, cfg.preemphasis)
        lsf_symbols = self._lsf_symbols(self._lsf(y).mean(axis=0, keepdims=True))
        a_sub = self._filters(self._dequantize_lsf(lsf_symbols))
        e, _ = lpc.residual(y, np.repeat(a_sub, n_fr, axis=0))
        gain_symbols = self._gain_symbols(np.sqrt(np.mean(e[: x.shape[0]] ** 2, keepdims=True)))
        return LpcAnalysis(lsf_symbols, gain_symbols, a_sub, self._gain_values(gain_symbols),
                           np.zeros(0, np.float32))

    def _lsf(self, y: np.ndarray) -> np.ndarray:
        """Unquantised LSFs (F, order) of the pre-emphasised ``y``."""
        cfg = self.config
        if not cfg.order:
            return np.zeros((self.frames(y.shape[-1]), 0))
        return lpc.lpc_analysis(y, cfg.sample_rate, cfg.order, cfg.frame).lsf

    def _lsf_symbols(self, lsf: np.ndarray) -> np.ndarray:
        """Hard symbols (F, order) of LSFs (F, order)."""
        if self.lsf_quantizer is None:
            return np.zeros(lsf.shape, np.int64)
        with torch.no_grad():
            z = torch.from_numpy(lsf.T[None].astype(np.float32).copy())
            return self.lsf_quantizer.symbols(z)[0].T.numpy().astype(np.int64)

    def side_symbols(self, an: LpcAnalysis) -> list[np.ndarray]:
        """The side streams: the gain symbols, then each LSF's symbols, over the frames."""
        return [an.gain_symbols, *an.lsf_symbols.T]

    def synthesize(self, residual_hat: np.ndarray, params: LpcParams, n: int) -> np.ndarray:
        """Decoder: normalised residual (F*frame,) -> output samples (n,) float32."""
        cfg = self.config
        e = (residual_hat.reshape(-1, cfg.frame).astype(np.float64) * params.gain[:, None])
        y, _ = lpc.synthesize(e.reshape(-1), params.a_sub)
        x, _ = lpc.deemphasis(y, cfg.preemphasis)
        return x[:n].astype(np.float32)

    # -- stage interface (nn/stage.py) -----------------------------------------------------------

    def forward(self, lsf: Tensor, mode: Mode = "soft") -> StageOutput:
        """Training pass of the LSF quantiser on LSFs (B, order, F): quantised LSFs,
        estimated bits, hardness penalty. (The gain quantiser is fixed: nothing to train.)"""
        q = self._quantizer()(lsf, mode)
        return StageOutput(q.z_hat, q.bits, q.penalty)

    def compress(self, x: np.ndarray) -> tuple[Compressed, LpcAnalysis]:
        """One chunk ``x`` (n,) -> its range-coded side information (shape: n), and the
        encoder's analysis, whose ``residual`` the autoencoder stages code."""
        an = self.analyze(x)
        return Compressed([self._encode_side(an)], x.shape[0]), an

    def compress_stationary(self, x: np.ndarray) -> bytes:
        """The side information of :meth:`analyze_stationary`: one frame's symbols."""
        return self._encode_side(self.analyze_stationary(x))

    def _encode_side(self, an: LpcAnalysis) -> bytes:
        if self.config.side_context:
            return encode_context_streams(self._context_groups(an.gain_symbols[:, None],
                                                               an.lsf_symbols))
        streams = [(an.gain_symbols, self._gain_table())]
        if self.lsf_quantizer is not None:
            streams += self.lsf_quantizer.streams(torch.from_numpy(an.lsf_symbols.T))
        return encode_streams(streams)

    def decompress(self, strings: list[bytes], shape: int, stationary: bool = False
                   ) -> LpcParams:
        """Side information of one ``shape``-sample chunk -> the decoder's parameters. A
        ``stationary`` side information holds one frame, repeated over the chunk."""
        (data,) = strings
        frames = self.frames(shape)
        if stationary:
            one = self.decompress(strings, self.config.frame)
            lsf_q = np.repeat(one.lsf, frames, axis=0)
            return LpcParams(lsf_q, self._filters(lsf_q), np.repeat(one.gain, frames))
        if self.config.side_context:
            gain_symbols, lsf_symbols = self._decode_context_side(data, frames)
        else:
            gain_symbols, lsf_symbols = self._decode_side(data, frames)
        lsf_q = self._dequantize_lsf(lsf_symbols)
        return LpcParams(lsf_q, self._filters(lsf_q), self._gain_values(gain_symbols))

    def _decode_side(self, data: bytes, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Gain (F,) and LSF (F, order) symbols of side information coded stream by stream."""
        q = self.lsf_quantizer
        gain_symbols, *lsf_streams = decode_streams(
            data, [(frames, self._gain_table()), *(q.stream_specs(frames) if q else [])]
        )
        lsf_symbols = (q.from_streams(lsf_streams, frames).numpy().T if q
                       else np.zeros((frames, 0), np.int64))
        return gain_symbols, lsf_symbols

    def _decode_context_side(self, data: bytes, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Gain (F,) and LSF (F, order) symbols of context-coded side information."""
        gains, *lsf = decode_context_streams(data, self._context_groups(frames, frames))
        return gains[:, 0], (lsf[0] if lsf else np.zeros((frames, 0), np.int64))

    def _context_groups(self, gain: np.ndarray | int, lsf: np.ndarray | int) -> list[tuple]:
        """The context-coded groups — the gains, then the LSFs frame by frame (none at order
        0) — with their tables, around symbols (to encode) or frame counts (to decode)."""
        if self.context_tables is None:
            raise NwcodecError("entropy tables are not frozen; call update() first")
        gain_table, *lsf_tables = self.context_tables
        return [(gain, [gain_table]), *([(lsf, lsf_tables)] if lsf_tables else [])]

    def reset_counts(self, counts: list[np.ndarray] | None = None) -> None:
        """Start the histograms afresh, from zero or from ``counts`` (a saved histogram)."""
        self.counts = [c.copy() for c in counts] if counts is not None else self._zero_counts()

    def count(self, an: LpcAnalysis) -> None:
        """Add a chunk's side-symbol transitions to the stage's counts (for :meth:`update`)."""
        for c, sym in zip(self.counts, self.side_symbols(an), strict=True):
            previous = np.concatenate([[c.shape[1]], sym[:-1]])
            np.add.at(c, (previous, sym), 1)

    def update(self) -> None:
        """Freeze the side tables from :attr:`counts`: one context table per stream with
        ``side_context``, else the gain table and one table per LSF."""
        if self.config.side_context:
            self.context_tables = [ContextTable.from_counts(c, SIDE_CONTEXT_PRIOR)
                                   for c in self.counts]
            return
        self.gain_table = FrequencyTable.from_counts(self.counts[0].sum(axis=0))
        if self.lsf_quantizer is not None:
            self.lsf_quantizer.update(np.stack([c.sum(axis=0) for c in self.counts[1:]]))

    def _quantizer(self) -> SoftmaxQuantizer:
        if self.lsf_quantizer is None:
            raise NwcodecError("an order-0 LPC stage has no LSFs to quantise")
        return self.lsf_quantizer

    def _gain_table(self) -> FrequencyTable:
        if self.gain_table is None:
            raise NwcodecError("entropy tables are not frozen; call update() first")
        return self.gain_table

    @property
    def tables(self) -> list[FrequencyTable]:
        """The gain table, then one table per LSF; with ``side_context`` each of these is
        its context table's rows (K+1 tables, row K last)."""
        if self.config.side_context:
            if self.context_tables is None:
                raise NwcodecError("entropy tables are not frozen; call update() first")
            return [row for table in self.context_tables for row in table.rows]
        lsf = self.lsf_quantizer.frozen_tables() if self.lsf_quantizer is not None else []
        return [self._gain_table(), *lsf]

    def load_tables(self, tables: Iterator[FrequencyTable]) -> None:
        if self.config.side_context:
            self.context_tables = [self._load_context_table(tables, c.shape[1])
                                   for c in self._zero_counts()]
            return
        gain = next(tables, None)
        if gain is None or gain.num_symbols != self.config.gain_levels:
            raise NwcodecError(f"expected a gain table of {self.config.gain_levels} symbols")
        self.gain_table = gain
        if self.lsf_quantizer is not None:
            self.lsf_quantizer.load_tables(tables)

    @staticmethod
    def _load_context_table(tables: Iterator[FrequencyTable], k: int) -> ContextTable:
        rows = [next(tables, None) for _ in range(k + 1)]
        if any(r is None or r.num_symbols != k for r in rows):
            raise NwcodecError(f"expected a context table of {k + 1} tables of {k} symbols")
        return ContextTable(tuple(rows))

    # -- training --------------------------------------------------------------------------------

    def fit_lsf(
        self, lsf: np.ndarray, steps: int = 300, lam: float = 5e-5, batch: int = 4096, seed: int = 0
    ) -> dict[str, float]:
        """Fit the LSF centroids to training LSFs (N, order): minimise the squared LSF error
        plus ``lam`` x estimated bits, with straight-through hard quantisation, on random
        mini-batches of ``batch`` frames.

        Centroids start at per-dimension quantiles. Returns the final error (rad RMS) and the
        estimated rate (bits per frame) over all of ``lsf``."""
        q = self._quantizer()
        k = q.num_centroids
        with torch.no_grad():
            levels = (np.arange(k) + 0.5) / k
            q.centroids.copy_(torch.from_numpy(np.quantile(lsf, levels, axis=0).T.copy()))
        data = torch.from_numpy(lsf.T[None].astype(np.float32).copy())
        opt = torch.optim.Adam([q.centroids], lr=2e-3)
        q.train()
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            pick = torch.from_numpy(rng.integers(0, data.shape[-1], batch))
            sample = data[..., pick]
            out = self(sample, "ste")
            err = (out.x_hat - sample).pow(2).mean()
            loss = err + lam * out.bits / batch  # bits per frame
            opt.zero_grad()
            loss.backward()
            opt.step()
        q.sort_()
        q.eval()
        with torch.no_grad():
            out = q(data, "hard")
        return {
            "rms_rad": float((out.z_hat - data).pow(2).mean().sqrt()),
            "bits_per_frame": float(q.hard_entropy(out.symbols).sum()),
        }

    def analysis_lsf(self, x: np.ndarray) -> np.ndarray:
        """Unquantised LSFs (F, order) of a signal, for fitting the quantiser."""
        y, _ = lpc.preemphasis(x.astype(np.float64), self.config.preemphasis)
        return self._lsf(y)
