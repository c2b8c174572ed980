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

import torch
from torch import Tensor, nn

from nwcodec.nn.blocks import Conv, Downsample, PixelShuffleUp, Span, spans_of
from nwcodec.nn.quantizer import Mode, SoftmaxQuantizer


class SkipCodec(nn.Module):
    """Hyper-autoencoded skip path: ``h -> symbols -> h_skip`` with its own quantiser."""

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

    def forward(self, h: Tensor, mode: Mode | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        q = self.quantizer(self.encode(h), mode)
        return self.decode(q["z_hat"]), q

    def encoder_spans(self) -> list[Span]:
        return spans_of(self.analysis)

    def decoder_spans(self) -> list[Span]:
        return spans_of(self.synthesis)
