"""Residual CNN autoencoder: one CMRL coding module (one bitstream layer).

Shape (default config, 16 kHz)::

    x (B,1,T) -> fold 8 phases + conv -> gated blocks [2 kHz, 64 ch] -> strided conv x5
      -> gated blocks [400 Hz, 112 ch] -> conv -> tanh -> quantiser -> symbols (B,16,T/40)
    z_hat -> conv -> gated blocks [400 Hz] -> pixel-shuffle x5 (+ HARP skip) -> gated blocks
      [2 kHz] -> conv to 8 phases + pixel-shuffle x8 -> x_hat (B,1,T)

Padding rule: the input is zero-padded on the right to a multiple of ``hop`` (``ceil(T/hop)``
latent frames) and the output cropped back to T. All convolutions are centred with zero
padding, so the receptive field (:attr:`ResidualAutoencoder.receptive_field`) is bounded.

Streams (one quantiser each, in this order): 0 = main latent, then one per HARP skip,
deepest level first. :meth:`~ResidualAutoencoder.compress` returns one LongTensor per stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nwcodec.nn.blocks import (
    Conv,
    Downsample,
    PixelShuffleUp,
    PixelUnshuffleDown,
    Span,
    decoder_field,
    encoder_field,
    gated_stack,
    spans_of,
)
from nwcodec.nn.harp import SkipCodec
from nwcodec.nn.quantizer import Mode, SoftmaxQuantizer


@dataclass(frozen=True)
class AEConfig:
    """Architecture of one module. Level l runs at the input rate / prod(strides[:l+1]) with
    ``channels[l]`` channels and ``blocks[l]`` gated blocks; the first stride is a
    space-to-depth fold, so no layer runs at the input rate."""

    strides: tuple[int, ...] = (8, 5)
    channels: tuple[int, ...] = (64, 112)
    blocks: tuple[int, ...] = (2, 3)
    kernel: int = 5
    io_kernel: int = 5
    latent_channels: int = 16
    num_centroids: int = 32
    hardness: float = 50.0
    skips: int = 0
    skip_channels: int = 4
    skip_stride: int = 5
    skip_centroids: int = 32

    @property
    def hop(self) -> int:
        return math.prod(self.strides)

    @property
    def skip_levels(self) -> tuple[int, ...]:
        """Levels carrying a HARP skip, deepest intermediate level first."""
        return tuple(range(len(self.strides) - 2, -1, -1))[: self.skips]

    def __post_init__(self) -> None:
        n = len(self.strides)
        if len(self.channels) != n or len(self.blocks) != n:
            raise ValueError("strides, channels and blocks need the same length")
        if self.skips > n - 1:
            raise ValueError(f"at most {n - 1} skips with {n} strides")
        for level in self.skip_levels:
            if math.prod(self.strides[level + 1 :]) % self.skip_stride:
                raise ValueError(f"skip_stride must divide prod(strides[{level + 1}:])")


@dataclass(frozen=True)
class ReceptiveField:
    """Context in samples, maximised over streams.

    Encoder: latent frame n depends on input samples
    [n*hop - encoder_left, n*hop + hop - 1 + encoder_right].
    Decoder: output sample t depends only on latent frames whose span [n*hop, n*hop + hop)
    meets [t - decoder_left, t + decoder_right].
    """

    encoder_left: int
    encoder_right: int
    decoder_left: int
    decoder_right: int
    max_hop: int = 1

    @property
    def total(self) -> tuple[int, int]:
        """(left, right) bound: output t depends only on input within [t - left, t + right]."""
        hop_slack = self.max_hop - 1
        return (self.encoder_left + self.decoder_left + hop_slack,
                self.encoder_right + self.decoder_right + hop_slack)


class ResidualAutoencoder(nn.Module):
    """CompressAI-style coding module: ``forward`` / ``compress`` / ``decompress``."""

    def __init__(self, config: AEConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or AEConfig()
        ch, st, n = cfg.channels, cfg.strides, len(cfg.strides)
        act = nn.LeakyReLU
        self.enc_down = nn.ModuleList([PixelUnshuffleDown(1, ch[0], st[0], cfg.io_kernel)])
        self.enc_down.extend(nn.Sequential(act(0.2), Downsample(ch[i - 1], ch[i], st[i]))
                             for i in range(1, n))
        self.enc_blocks = nn.ModuleList(
            nn.Sequential(*gated_stack(ch[i], cfg.blocks[i], cfg.kernel)) for i in range(n)
        )
        self.enc_out = nn.Sequential(act(0.2), Conv(ch[-1], cfg.latent_channels, 3))
        self.quantizer = SoftmaxQuantizer(cfg.latent_channels, cfg.num_centroids,
                                          groups=cfg.latent_channels, hardness=cfg.hardness)
        self.dec_in = Conv(cfg.latent_channels, ch[-1], 3)
        self.dec_blocks = nn.ModuleList(
            nn.Sequential(*gated_stack(ch[i], cfg.blocks[i], cfg.kernel)) for i in range(n)
        )
        self.dec_up = nn.ModuleList([nn.Sequential(act(0.2),
                                                   PixelShuffleUp(ch[0], 1, st[0], cfg.io_kernel))])
        self.dec_up.extend(nn.Sequential(act(0.2), PixelShuffleUp(ch[i], ch[i - 1], st[i]))
                           for i in range(1, n))
        self.skips = nn.ModuleDict({
            str(level): SkipCodec(ch[level], cfg.skip_channels, cfg.skip_stride,
                                  cfg.skip_centroids, cfg.hardness)
            for level in cfg.skip_levels
        })

    @property
    def hop(self) -> int:
        """Input samples per main latent frame."""
        return self.config.hop

    @property
    def quantizers(self) -> list[SoftmaxQuantizer]:
        """One quantiser per stream, in stream order."""
        return [self.quantizer, *(self.skips[str(lv)].quantizer for lv in self.config.skip_levels)]

    def set_mode(self, mode: Mode) -> None:
        for q in self.quantizers:
            q.mode = mode

    # -- transforms ---------------------------------------------------------------------------

    def _pad(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"expected (B, 1, T), got {tuple(x.shape)}")
        return F.pad(x, (0, -x.shape[-1] % self.hop))

    def _analysis(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Continuous latents of all streams (main first) for a padded input."""
        h, feats = x, []
        for down, blocks in zip(self.enc_down, self.enc_blocks, strict=True):
            h = blocks(down(h))
            feats.append(h)
        z = torch.tanh(self.enc_out(h))
        return z, [self.skips[str(lv)].encode(feats[lv]) for lv in self.config.skip_levels]

    def _synthesis(self, z_hat: Tensor, skip_hat: list[Tensor]) -> Tensor:
        added = {lv: self.skips[str(lv)].decode(s)
                 for lv, s in zip(self.config.skip_levels, skip_hat, strict=True)}
        h = self.dec_in(z_hat)
        for level in range(len(self.dec_blocks) - 1, -1, -1):
            if level in added:
                h = h + added[level]
            h = self.dec_up[level](self.dec_blocks[level](h))
        return h

    # -- CompressAI-style API -----------------------------------------------------------------

    def forward(self, x: Tensor, mode: Mode | None = None) -> dict:
        """Training/eval pass on (B, 1, T).

        Returns ``x_hat`` (B, 1, T); ``bits``: estimated total bits of all streams for the
        whole batch (differentiable); ``penalty``: summed hardness penalty; ``streams``: the
        per-quantiser dicts (``bits``, ``entropy`` bits/symbol per group, ``symbols``, ...).
        """
        length = x.shape[-1]
        z, skip_z = self._analysis(self._pad(x))
        streams = [q(latent, mode) for q, latent in zip(self.quantizers, [z, *skip_z], strict=True)]
        x_hat = self._synthesis(streams[0]["z_hat"], [s["z_hat"] for s in streams[1:]])
        return {
            "x_hat": x_hat[..., :length],
            "bits": sum(s["bits"] for s in streams),
            "penalty": sum(s["penalty"] for s in streams),
            "streams": streams,
        }

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        """Hard symbols, one LongTensor (B, channels, frames) per stream, and the length T."""
        z, skip_z = self._analysis(self._pad(x))
        latents = [z, *skip_z]
        symbols = [q.symbols(lat) for q, lat in zip(self.quantizers, latents, strict=True)]
        return {"symbols": symbols, "length": x.shape[-1]}

    @torch.no_grad()
    def decompress(self, symbols: list[Tensor], length: int) -> Tensor:
        """Inverse of :meth:`compress`: (B, 1, length). Equals ``forward(x, "hard")["x_hat"]``."""
        hats = [q.dequantize(s) for q, s in zip(self.quantizers, symbols, strict=True)]
        return self._synthesis(hats[0], hats[1:])[..., :length]

    @torch.no_grad()
    def calibrate(self, x: Tensor) -> None:
        """Add the hard-symbol histograms of ``x`` to every quantiser's running counts."""
        z, skip_z = self._analysis(self._pad(x))
        for q, latent in zip(self.quantizers, [z, *skip_z], strict=True):
            q.calibrate(latent)

    # -- geometry -----------------------------------------------------------------------------

    def stream_spans(self) -> list[tuple[list[Span], list[Span]]]:
        """(encoder spans, decoder spans) of each stream, input->latent and latent->output."""
        n = len(self.config.strides)
        out = [(spans_of([*self._enc_stages(n), self.enc_out]),
                spans_of([self.dec_in, *self._dec_stages(n - 1)]))]
        for lv in self.config.skip_levels:
            skip = self.skips[str(lv)]
            out.append((spans_of(self._enc_stages(lv + 1)) + skip.encoder_spans(),
                        skip.decoder_spans() + spans_of(self._dec_stages(lv))))
        return out

    def _enc_stages(self, levels: int) -> list[nn.Module]:
        """Encoder modules from the input through level ``levels - 1``."""
        return [m for lv in range(levels) for m in (self.enc_down[lv], self.enc_blocks[lv])]

    def _dec_stages(self, level: int) -> list[nn.Module]:
        """Decoder modules from level ``level``'s blocks to the output."""
        return [m for lv in range(level, -1, -1) for m in (self.dec_blocks[lv], self.dec_up[lv])]

    @property
    def receptive_field(self) -> ReceptiveField:
        """Exact receptive field in samples (see :class:`ReceptiveField`), max over streams."""
        enc_l = enc_r = dec_l = dec_r = 0
        max_hop = 1
        for enc, dec in self.stream_spans():
            lo, hi, hop = encoder_field(enc)
            left, right, dhop = decoder_field(dec)
            assert hop == dhop
            enc_l, enc_r = max(enc_l, -lo), max(enc_r, hi - (hop - 1))
            dec_l, dec_r = max(dec_l, left), max(dec_r, right)
            max_hop = max(max_hop, hop)
        return ReceptiveField(enc_l, enc_r, dec_l, dec_r, max_hop)
