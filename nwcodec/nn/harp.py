"""HARP skip codec: a small autoencoder on a skip path between mirrored encoder/decoder layers.

HARP-Net (seed-papers §1.9) replaces each U-Net skip by a tiny codec with its own quantiser,
so the skip's information is paid for in bits. Here the encoder activation ``h`` (B, C, L) at
an intermediate rate is projected/down-sampled to ``skip_channels`` latent channels at
``L / stride`` frames, quantised (own symbol stream, one table per channel), and decoded back
to C channels at L frames; the result is *added* to the mirrored decoder activation (the
seed concatenates; adding after a learned projection is the same up to the next layer's
linear mixing, at half the cost).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from nwcodec.entropy import FrequencyTable
from nwcodec.nn.blocks import Conv, Downsample, PixelShuffleUp, Span, spans_of
from nwcodec.nn.quantizer import Mode, SoftmaxQuantizer
from nwcodec.nn.stage import Coder, Compressed, StageOutput, decode_symbols, encode_symbols


class SkipCodec(nn.Module):
    """Hyper-autoencoded skip path ``h -> symbols -> h_skip``: a stage (``nn/stage.py``) on
    activations ``h`` (B, channels, L), L a multiple of ``stride``.

    Inside a residual autoencoder its streams go into the autoencoder's layer (one range
    coder per layer); on its own, :meth:`compress` codes them into bytes of its own.
    """

    def __init__(self, channels: int, skip_channels: int = 4, stride: int = 5,
                 num_centroids: int = 32, hardness: float = 50.0) -> None:
        super().__init__()
        self.stride = stride
        self.analysis = nn.Sequential(
            Conv(channels, channels, 3),
            nn.LeakyReLU(0.2),
            Downsample(channels, skip_channels, stride),
        )
        self.quantizer = SoftmaxQuantizer(skip_channels, num_centroids, groups=skip_channels,
                                          hardness=hardness)
        self.synthesis = nn.Sequential(
            PixelShuffleUp(skip_channels, channels, stride),
            nn.LeakyReLU(0.2),
            Conv(channels, channels, 3),
        )

    def encode(self, h: Tensor) -> Tensor:
        """Continuous skip latent (B, skip_channels, L / stride) in (-1, 1)."""
        return torch.tanh(self.analysis(h))

    def decode(self, z_hat: Tensor) -> Tensor:
        return self.synthesis(z_hat)

    def symbols(self, h: Tensor) -> Tensor:
        """Hard symbols (B, skip_channels, L / stride) of ``h``."""
        return self.quantizer.symbols(self.encode(h))

    def reconstruct(self, symbols: Tensor) -> Tensor:
        """The skip path's output (B, channels, L) for hard ``symbols``."""
        return self.decode(self.quantizer.dequantize(symbols))

    # -- stage interface ---------------------------------------------------------------------

    def forward(self, h: Tensor, mode: Mode = "soft") -> StageOutput:
        q = self.quantizer(self.encode(h), mode)
        return StageOutput(self.decode(q.z_hat), q.bits, q.penalty)

    def compress(self, h: Tensor) -> Compressed:
        return self.compressor(h)(0.0)

    @torch.no_grad()
    def compressor(self, h: Tensor) -> Coder:
        z = self.encode(h)
        return lambda rate_weight: Compressed(
            encode_symbols([(self.quantizer, self.quantizer.symbols(z, rate_weight))]),
            h.shape[-1])

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: int) -> Tensor:
        (symbols,) = decode_symbols(strings, [(self.quantizer, shape // self.stride)])
        return self.reconstruct(symbols)

    @torch.no_grad()
    def calibrate(self, h: Tensor) -> Tensor:
        """Count the hard symbols of ``h``; return the hard reconstruction."""
        return self.reconstruct(self.quantizer.calibrate(self.encode(h)))

    def update(self) -> None:
        self.quantizer.update()

    @property
    def tables(self) -> list[FrequencyTable]:
        return self.quantizer.frozen_tables()

    def load_tables(self, tables: Iterator[FrequencyTable]) -> None:
        self.quantizer.load_tables(tables)

    # -- geometry -----------------------------------------------------------------------------

    def encoder_spans(self) -> list[Span]:
        return spans_of(self.analysis)

    def decoder_spans(self) -> list[Span]:
        return spans_of(self.synthesis)
