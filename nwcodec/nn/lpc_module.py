"""Module 0 of the cascade: the LPC stage and its side information.

Per 20 ms frame (at 16 kHz) the encoder sends 16 LSFs, each scalar-quantised with learned
centroids (a :class:`SoftmaxQuantizer`, one centroid set per LSF), and one log-gain of the LPC
residual (uniform 2 dB steps). The decoder rebuilds stable sub-frame filters (sorted LSFs,
minimum spacing, bandwidth expansion) and synthesises through ``1/Â(z)`` then de-emphasis, so
whatever error the networks leave in the residual comes out shaped like the speech envelope.

The residual the networks see is computed with the *quantised* filters and normalised by the
*quantised* gain, so encoder and decoder agree exactly on what ``1/Â(z)`` receives. Each call
codes one chunk on its own (filter states start at zero), which keeps chunks independent.
All of this side information is range-coded with frozen integer tables (see ``cmrl.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from nwcodec.dsp import lpc
from nwcodec.nn.quantizer import SoftmaxQuantizer


@dataclass(frozen=True)
class LpcConfig:
    sample_rate: int = 16000
    order: int = 16
    frame: int = 320
    subframes: int = 4
    preemphasis: float = 0.68
    gamma: float = 0.994
    min_gap: float = 0.012
    lsf_centroids: int = 16
    gain_step_db: float = 2.0
    gain_floor_db: float = -90.0
    gain_levels: int = 48

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LpcAnalysis:
    """What the encoder derives from one chunk (numpy, float64 unless noted)."""

    lsf_symbols: np.ndarray  # (F, order) int64
    gain_symbols: np.ndarray  # (F,) int64
    a_sub: np.ndarray  # (F, S, order+1): the decoder's filters
    gain: np.ndarray  # (F,) dequantised linear gain
    residual: np.ndarray  # (F*frame,) float32, normalised by the gain: what module 1 codes
    target: np.ndarray  # (F*frame,) pre-emphasised input, zero-padded to whole frames


class LpcStage(nn.Module):
    """Trainable LSF quantiser plus the deterministic LPC analysis/synthesis around it."""

    def __init__(self, config: LpcConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LpcConfig()
        # LSFs (radians) of typical speech spread over (0, pi); centroids are refined by fit_lsf.
        self.lsf_quantizer = SoftmaxQuantizer(
            cfg.order, cfg.lsf_centroids, groups=cfg.order, init_range=(0.1, 3.0), hardness=20.0
        )

    # -- geometry ------------------------------------------------------------------------

    def frames(self, n: int) -> int:
        return max(1, math.ceil(n / self.config.frame))

    def side_stream_lengths(self, n: int) -> list[int]:
        """Symbols per side stream for an ``n``-sample chunk: the gain, then each LSF."""
        return [self.frames(n)] * (1 + self.config.order)

    @property
    def side_alphabets(self) -> list[int]:
        return [self.config.gain_levels] + [self.config.lsf_centroids] * self.config.order

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
        sym = torch.from_numpy(symbols.T[None].copy())
        lsf = self.lsf_quantizer.dequantize(sym)[0].T.double().numpy()
        return lpc.stabilize_lsf(lsf, self.config.min_gap)

    def _filters(self, lsf_q: np.ndarray) -> np.ndarray:
        cfg = self.config
        return lpc.lsf_to_subframe_lpc(lsf_q, cfg.subframes, gamma=cfg.gamma)

    # -- coding ----------------------------------------------------------------------------------

    def analyze(self, x: np.ndarray) -> LpcAnalysis:
        """Encoder side of one chunk ``x`` (n,) float: symbols, filters and the residual."""
        cfg = self.config
        n_fr = self.frames(x.shape[0])
        padded = np.zeros(n_fr * cfg.frame, dtype=np.float64)
        padded[: x.shape[0]] = x
        y, _ = lpc.preemphasis(padded, cfg.preemphasis)
        lsf = lpc.lpc_analysis(y, cfg.sample_rate, cfg.order, cfg.frame).lsf
        with torch.no_grad():
            z = torch.from_numpy(lsf.T[None].astype(np.float32).copy())
            lsf_symbols = self.lsf_quantizer.symbols(z)[0].T.numpy().astype(np.int64)
        a_sub = self._filters(self._dequantize_lsf(lsf_symbols))
        e, _ = lpc.residual(y, a_sub)
        rms = np.sqrt(np.mean(e.reshape(n_fr, cfg.frame) ** 2, axis=1))
        gain_symbols = self._gain_symbols(rms)
        gain = self._gain_values(gain_symbols)
        e_norm = (e.reshape(n_fr, cfg.frame) / gain[:, None]).reshape(-1)
        return LpcAnalysis(lsf_symbols, gain_symbols, a_sub, gain, e_norm.astype(np.float32), y)

    def side_symbols(self, an: LpcAnalysis) -> list[np.ndarray]:
        return [an.gain_symbols, *an.lsf_symbols.T]

    def decoder_params(self, streams: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Side streams -> (sub-frame filters (F, S, order+1), linear gains (F,))."""
        gain_symbols, lsf_symbols = streams[0], np.stack(streams[1:], axis=1)
        return self._filters(self._dequantize_lsf(lsf_symbols)), self._gain_values(gain_symbols)

    def synthesize(
        self, residual_hat: np.ndarray, a_sub: np.ndarray, gain: np.ndarray, n: int
    ) -> np.ndarray:
        """Decoder: normalised residual (F*frame,) -> output samples (n,) float32."""
        cfg = self.config
        e = (residual_hat.reshape(-1, cfg.frame).astype(np.float64) * gain[:, None]).reshape(-1)
        y, _ = lpc.synthesize(e, a_sub)
        x, _ = lpc.deemphasis(y, cfg.preemphasis)
        return x[:n].astype(np.float32)

    # -- training --------------------------------------------------------------------------------

    def fit_lsf(
        self, lsf: np.ndarray, steps: int = 300, lam: float = 5e-5, batch: int = 4096, seed: int = 0
    ) -> dict[str, float]:
        """Fit the LSF centroids to training LSFs (N, order): minimise the squared LSF error
        plus ``lam`` x estimated bits, with straight-through hard quantisation, on random
        mini-batches of ``batch`` frames.

        Centroids start at per-dimension quantiles. Returns the final error (rad RMS) and the
        estimated rate (bits per frame) over all of ``lsf``."""
        q = self.lsf_quantizer
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
            out = q(sample, "ste")
            err = (out["z_hat"] - sample).pow(2).mean()
            loss = err + lam * out["entropy"].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        q.sort_()
        q.eval()
        with torch.no_grad():
            out = q(data, "hard")
        return {
            "rms_rad": float((out["z_hat"] - data).pow(2).mean().sqrt()),
            "bits_per_frame": float(q.hard_entropy(out["symbols"]).sum()),
        }

    def analysis_lsf(self, x: np.ndarray) -> np.ndarray:
        """Unquantised LSFs (F, order) of a signal, for fitting the quantiser."""
        cfg = self.config
        y, _ = lpc.preemphasis(x.astype(np.float64), cfg.preemphasis)
        return lpc.lpc_analysis(y, cfg.sample_rate, cfg.order, cfg.frame).lsf
