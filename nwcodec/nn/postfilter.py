"""A learned decoder postfilter: the bass postfilter's comb, with filters that a small network
chooses every 5 ms (adaptive filtering in the manner of Opus 1.5's LACE, on our own features).

    d = x - (x[n-T] + x[n+T]) / 2                   what lies between the pitch harmonics
    y = x - Σ_f w_f · (c_f ∗ d) + Σ_f w_f · (s_f ∗ x)

For every frame f (5 ms) a feature network predicts a *cleaning* kernel ``c_f`` applied to the
inter-harmonic part ``d`` and a *shaping* kernel ``s_f`` applied to the signal; ``w_f`` are
overlapping sin² windows, so the filters cross-fade from frame to frame. The network sees
only what the decoder has: log band energies of ``x`` and of ``d``, the pitch voicing and lag
(estimated from ``x`` by :class:`~nwcodec.dsp.postfilter.BassPostfilter`) and the chunk's
coded rate, so one network serves every tier and every layer count the rate control picks.

At initialisation ``c_f`` is the bass postfilter's rule (gain ``strength · voicing³`` on a
1 kHz low-pass) and ``s_f`` is zero, so training starts from the hand-tuned decoder and can
only move away from it where the loss says so. A chunk is filtered on its own: chunks stay
independently decodable. It changes decoded samples, never the bitstream.

Weights files are plain ``torch.save`` dicts (format ``nwcodec-postfilter-1``: config as JSON,
state dict), loaded with ``weights_only=True``.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nwcodec.dsp.mel import mel_filterbank
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.errors import NwcodecError

FORMAT = "nwcodec-postfilter-1"
RATE_SCALES = (0.5, 1.0, 2.0)  # sinusoidal embedding of log2(kbit/s), as LACE embeds its rate


@dataclass(frozen=True)
class PostfilterConfig:
    sample_rate: int = 16000
    hop_ms: float = 5.0  # one set of filters per 5 ms, the bass postfilter's pitch hop
    bands: int = 16  # mel bands of each log-energy feature
    hidden: int = 64
    context: int = 5  # frames each feature convolution sees (two layers: ±20 ms)
    taps: int = 33  # length of both adaptive kernels (2 ms at 16 kHz)

    @property
    def hop(self) -> int:
        return int(self.sample_rate * self.hop_ms / 1000)

    @property
    def features(self) -> int:
        return 2 * self.bands + 2 + 2 * len(RATE_SCALES)


class LearnedPostfilter(nn.Module):
    """Feature network plus the two adaptive filters; :meth:`forward` runs on batches of
    prepared inputs (:meth:`prepare`), ``process`` on one decoded chunk."""

    def __init__(self, config: PostfilterConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PostfilterConfig()
        self.comb = BassPostfilter()
        pad = cfg.context // 2
        self.net = nn.Sequential(
            nn.Conv1d(cfg.features, cfg.hidden, cfg.context, padding=pad), nn.Tanh(),
            nn.Conv1d(cfg.hidden, cfg.hidden, cfg.context, padding=pad), nn.Tanh(),
        )
        self.gain_head = nn.Conv1d(cfg.hidden, 1, 1)
        self.clean_head = nn.Conv1d(cfg.hidden, cfg.taps, 1)
        self.shape_head = nn.Conv1d(cfg.hidden, cfg.taps, 1)
        for head in (self.gain_head, self.clean_head, self.shape_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        from scipy.signal import firwin

        lowpass = firwin(cfg.taps, self.comb.cutoff_hz, fs=cfg.sample_rate)
        self.register_buffer("lowpass", torch.tensor(lowpass, dtype=torch.float32))
        n = 2 * cfg.hop
        self.register_buffer("window", torch.sin(math.pi * (torch.arange(n) + 0.5) / n) ** 2)
        self.register_buffer("stft_window", torch.hann_window(4 * cfg.hop))
        fb = mel_filterbank(cfg.sample_rate, 4 * cfg.hop, cfg.bands)
        self.register_buffer("mel", torch.tensor(fb, dtype=torch.float32))

    # -- inputs -------------------------------------------------------------------------

    def prepare(self, x: np.ndarray, kbps: float) -> tuple[Tensor, Tensor, Tensor]:
        """One decoded chunk (n,) -> (x, d, features): ``x`` and the inter-harmonic part
        ``d`` zero-padded to whole frames (T,), and the features (C, T / hop + 1)."""
        cfg = self.config
        d, lag, voicing = self.comb.comb_residual(x.astype(np.float64), cfg.sample_rate)
        length = -(-len(x) // cfg.hop) * cfg.hop
        xt = F.pad(torch.from_numpy(np.asarray(x, np.float32)), (0, length - len(x)))
        dt = F.pad(torch.from_numpy(d.astype(np.float32)), (0, length - len(x)))
        frames = length // cfg.hop + 1
        at = np.minimum(np.arange(frames), len(voicing) - 1)
        pitch = torch.from_numpy(np.stack([voicing[at], lag[at] * 50.0 / cfg.sample_rate]))
        r = math.log2(max(kbps, 1.0)) - 4.0
        rate = torch.tensor([f(r * s) for s in RATE_SCALES for f in (math.sin, math.cos)])
        feats = torch.cat([self._bands(xt), self._bands(dt), pitch.float(),
                           rate[:, None].expand(-1, frames).float()])
        return xt, dt, feats

    def _bands(self, x: Tensor) -> Tensor:
        """Log mel-band energies (bands, T / hop + 1), roughly unit-scaled."""
        hop = self.config.hop
        spec = torch.stft(x, 4 * hop, hop, window=self.stft_window, return_complex=True)
        return (torch.log10(self.mel @ spec.abs().square() + 1e-7) + 3.0) / 3.0

    # -- filtering ----------------------------------------------------------------------

    def forward(self, x: Tensor, d: Tensor, feats: Tensor) -> Tensor:
        """(B, T), (B, T), (B, C, T / hop + 1) -> postfiltered (B, T)."""
        return self.apply_filters(x, d, *self.filters(feats))

    def filters(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Features (B, C, F) -> the cleaning and shaping kernels of every frame (B, F, K)."""
        h = self.net(feats)
        voicing = feats[:, 2 * self.config.bands]
        base = self.comb.strength * voicing.clamp(0, 1) ** self.comb.voicing_power
        gain = torch.relu(base + torch.tanh(self.gain_head(h)[:, 0]))
        clean = gain[..., None] * (self.lowpass + self.clean_head(h).transpose(1, 2))
        return clean, self.shape_head(h).transpose(1, 2)

    def apply_filters(self, x: Tensor, d: Tensor, clean: Tensor, shape: Tensor) -> Tensor:
        """``x`` and ``d`` (B, T) whose frames' kernels are ``clean`` and ``shape``
        (B, T / hop + 1, K) -> postfiltered (B, T)."""
        return x - self._adaptive_fir(d, clean) + self._adaptive_fir(x, shape)

    def _adaptive_fir(self, sig: Tensor, kernels: Tensor) -> Tensor:
        """``sig`` (B, T) through frame f's kernel (B, F, K) around sample f·hop, cross-faded
        with sin² windows of two hops (they sum to one)."""
        hop, (b, frames, taps) = self.config.hop, kernels.shape
        length = sig.shape[-1]
        padded = F.pad(sig, (hop + taps // 2, hop + taps // 2))
        seg = padded.unfold(-1, 2 * hop + taps - 1, hop)  # (B, F, 2hop + K - 1)
        # every segment through its own kernel: one depthwise convolution
        out = F.conv1d(seg.reshape(1, b * frames, -1), kernels.reshape(b * frames, 1, taps),
                       groups=b * frames).reshape(b, frames, 2 * hop) * self.window
        summed = F.fold(out.transpose(1, 2), (1, length + 2 * hop), (1, 2 * hop),
                        stride=(1, hop))
        return summed[:, 0, 0, hop : hop + length]

    @torch.inference_mode()
    def process(self, x: np.ndarray, kbps: float) -> np.ndarray:
        """One decoded chunk (n,) float32 at the model rate -> postfiltered (n,)."""
        if len(x) < 4 * self.config.hop:  # shorter than one analysis window: nothing to do
            return x
        xt, dt, feats = self.prepare(x, kbps)
        y = self(xt[None], dt[None], feats[None])[0, : len(x)]
        return y.numpy().astype(x.dtype, copy=False)

    # -- files --------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        blob = {"format": FORMAT, "config": json.dumps(asdict(self.config)),
                "state": self.state_dict()}
        buf = io.BytesIO()
        torch.save(blob, buf)
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def from_file(cls, path: str | Path) -> LearnedPostfilter:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(blob, dict) or blob.get("format") != FORMAT:
                raise NwcodecError(f"not an {FORMAT} file")
            model = cls(PostfilterConfig(**json.loads(blob["config"])))
            model.load_state_dict(blob["state"])
        except Exception as exc:  # torch and json raise many kinds for a bad file
            raise NwcodecError(f"cannot load postfilter {path}: {exc}") from None
        return model.eval()


@lru_cache(maxsize=4)
def load_postfilter(path: Path) -> LearnedPostfilter:
    """One loaded postfilter per weights file, shared by every codec that uses it."""
    return LearnedPostfilter.from_file(path)
