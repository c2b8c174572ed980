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
deepest level first; :meth:`~ResidualAutoencoder.compress` range-codes them all into one byte
string per item (the stage interface of ``nn/stage.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nwcodec.entropy import FrequencyTable
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
from nwcodec.nn.stage import Coder, Compressed, StageOutput, decode_symbols, encode_symbols


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

    @property
    def stream_hops(self) -> tuple[int, ...]:
        """Input samples per frame of each stream: the main latent, then each skip (level l
        runs at 1 / prod(strides[:l+1]) of the input rate, its skip latent ``skip_stride``
        times slower)."""
        return (self.hop, *(math.prod(self.strides[: lv + 1]) * self.skip_stride
                            for lv in self.skip_levels))

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

    def zero_output(self) -> None:
        """Zero the output convolution, so the stage starts as a no-op (x_hat = 0)."""
        last = self.dec_up[0][-1].conv
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    # -- transforms ---------------------------------------------------------------------------

    def _pad(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"expected (B, 1, T), got {tuple(x.shape)}")
        return F.pad(x, (0, -x.shape[-1] % self.hop))

    def _analysis(self, x: Tensor) -> tuple[Tensor, dict[int, Tensor]]:
        """Main latent (continuous, in (-1, 1)) and the encoder activations that the HARP
        skips code, by level, for a padded input."""
        h, feats = x, []
        for down, blocks in zip(self.enc_down, self.enc_blocks, strict=True):
            h = blocks(down(h))
            feats.append(h)
        return torch.tanh(self.enc_out(h)), {lv: feats[lv] for lv in self.config.skip_levels}

    def _synthesis(self, z_hat: Tensor, added: dict[int, Tensor]) -> Tensor:
        """Decoder from the quantised main latent, adding each skip path's output at its
        level."""
        h = self.dec_in(z_hat)
        for level in range(len(self.dec_blocks) - 1, -1, -1):
            if level in added:
                h = h + added[level]
            h = self.dec_up[level](self.dec_blocks[level](h))
        return h

    def _skip(self, level: int) -> SkipCodec:
        return self.skips[str(level)]

    # -- stage interface (nn/stage.py) --------------------------------------------------------

    def forward(self, x: Tensor, mode: Mode = "soft") -> StageOutput:
        """Training/eval pass on (B, 1, T): reconstruction, estimated bits of all streams for
        the whole batch (differentiable) and the summed hardness penalty."""
        z, feats = self._analysis(self._pad(x))
        main = self.quantizer(z, mode)
        skips = {lv: self._skip(lv)(h, mode) for lv, h in feats.items()}
        x_hat = self._synthesis(main.z_hat, {lv: s.x_hat for lv, s in skips.items()})
        return StageOutput(
            x_hat[..., : x.shape[-1]],
            bits=main.bits + sum(s.bits for s in skips.values()),
            penalty=main.penalty + sum(s.penalty for s in skips.values()),
        )

    def compress(self, x: Tensor) -> Compressed:
        """One byte string per item of ``x`` (B, 1, T): every stream, main latent first, then
        the skips deepest level first, range-coded by one coder."""
        return self.compressor(x)(0.0)

    @torch.no_grad()
    def compressor(self, x: Tensor) -> Coder:
        """:meth:`compress` as a function of the rate weight (``nn/stage.py``): the encoder
        and the skips' analyses run once, here."""
        z, feats = self._analysis(self._pad(x))
        latents = [z, *(self._skip(lv).encode(h) for lv, h in feats.items())]

        def code(rate_weight: float) -> Compressed:
            symbols = [q.symbols(v, rate_weight) for q, v in zip(self.quantizers, latents,
                                                                  strict=True)]
            return Compressed(encode_symbols(list(zip(self.quantizers, symbols, strict=True))),
                              x.shape[-1])

        return code

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: int) -> Tensor:
        """Inverse of :meth:`compress`: (B, 1, shape), equal to ``forward(x, "hard").x_hat``."""
        padded = -(-shape // self.hop) * self.hop
        layout = [(q, padded // hop)
                  for q, hop in zip(self.quantizers, self.config.stream_hops, strict=True)]
        main, *skips = decode_symbols(strings, layout)
        added = {lv: self._skip(lv).reconstruct(s)
                 for lv, s in zip(self.config.skip_levels, skips, strict=True)}
        return self._synthesis(self.quantizer.dequantize(main), added)[..., :shape]

    @torch.no_grad()
    def calibrate(self, x: Tensor) -> Tensor:
        """Add the hard-symbol histograms of ``x`` to every quantiser's running counts;
        return the hard reconstruction (what the decoder will produce)."""
        z, feats = self._analysis(self._pad(x))
        z_hat = self.quantizer.dequantize(self.quantizer.calibrate(z))
        added = {lv: self._skip(lv).calibrate(h) for lv, h in feats.items()}
        return self._synthesis(z_hat, added)[..., : x.shape[-1]]

    def reset_counts(self) -> None:
        for q in self.quantizers:
            q.reset_counts()

    def update(self) -> None:
        """Freeze every stream's tables from its running counts."""
        for q in self.quantizers:
            q.update()

    @property
    def tables(self) -> list[FrequencyTable]:
        """The stage's tables in stream order, one per channel group."""
        return [t for q in self.quantizers for t in q.frozen_tables()]

    def load_tables(self, tables: Iterator[FrequencyTable]) -> None:
        for q in self.quantizers:
            q.load_tables(tables)

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
