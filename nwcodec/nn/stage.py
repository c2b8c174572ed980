"""The interface every coding stage offers, CompressAI style, and the byte coding it shares.

A *stage* turns a signal into bytes and back:

- ``forward(x, mode)`` for training: a :class:`StageOutput` (reconstruction, estimated bits,
  hardness penalty);
- ``compress(x)``: a :class:`Compressed`, one byte string per batch item plus the shape
  :meth:`decompress` needs; ``compressor(x)`` is the same split at the quantiser: it runs the
  network on ``x`` once and returns the rest as a :data:`Coder`, a function of the *rate
  weight* (0: ``compress``; more: fewer bytes at some distortion, symbols picked by rate as
  well as distance under the same tables, ``SoftmaxQuantizer.symbols``; the decoder is the
  same), so the rate control can code a layer again, coarser, without the network;
- ``decompress(strings, shape)``: the reconstruction, equal to ``forward(x, "hard").x_hat``;
- ``update()``: freeze the stage's *own* integer entropy tables from its own symbol counts;
  ``tables`` / ``load_tables`` serialise them (in a fixed order) with the weights.

The stages: the residual autoencoder (``autoencoder.py``, one bitstream layer each), the HARP
skip codec inside it (``harp.py``), and the LPC side-information stage (``lpc_module.py``,
whose ``forward`` trains the LSF quantiser and whose ``decompress`` returns the decoder's
filters and gains). The cascade (``cmrl.py``) is the LPC stage, a list of residual stages and
one closed loop. Each stage's streams are range-coded by one coder per item: a stage's byte
string decodes on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from nwcodec.entropy import FrequencyTable, decode_streams, encode_streams
from nwcodec.nn.quantizer import Mode, SoftmaxQuantizer


@dataclass
class StageOutput:
    """A stage's training pass over a batch."""

    x_hat: Tensor  # reconstruction, shaped like the input
    bits: Tensor  # estimated bits of all the stage's streams for the whole batch
    penalty: Tensor  # summed hardness penalty of the stage's quantisers


@dataclass(frozen=True)
class Compressed:
    """A stage's coded batch: one byte string per item and the input length (samples or
    frames) from which the stage derives every stream's size."""

    strings: list[bytes]
    shape: int


Coder = Callable[[float], Compressed]  # rate weight -> the coded batch (``compressor``)


class Stage(Protocol):
    """What the cascade's closed loop needs of a stage (the autoencoder and the skip codec
    offer it as is; the LPC stage speaks the same verbs with its own types)."""

    def forward(self, x: Tensor, mode: Mode = "soft") -> StageOutput: ...

    def compress(self, x: Tensor) -> Compressed: ...

    def compressor(self, x: Tensor) -> Coder: ...

    def decompress(self, strings: list[bytes], shape: int) -> Tensor: ...

    def calibrate(self, x: Tensor) -> Tensor:
        """Count ``x``'s hard symbols for :meth:`update`; return the hard reconstruction."""
        ...

    def update(self) -> None: ...

    @property
    def tables(self) -> list[FrequencyTable]: ...

    def load_tables(self, tables: Iterator[FrequencyTable]) -> None: ...


def encode_symbols(coded: Sequence[tuple[SoftmaxQuantizer, Tensor]]) -> list[bytes]:
    """Range-code quantised symbols (B, C, L), one tensor per quantiser: per batch item, all
    quantisers' streams in the given order through one coder."""
    batch = coded[0][1].shape[0]
    return [encode_streams([s for q, sym in coded for s in q.streams(sym[b])])
            for b in range(batch)]


def decode_symbols(strings: Sequence[bytes],
                   layout: Sequence[tuple[SoftmaxQuantizer, int]]) -> list[Tensor]:
    """Inverse of :func:`encode_symbols` given each quantiser's frame count: symbols
    (B, C, L) per quantiser."""
    specs = [spec for q, frames in layout for spec in q.stream_specs(frames)]
    per_item = []
    for data in strings:
        flat, pos, symbols = decode_streams(data, specs), 0, []
        for q, frames in layout:
            symbols.append(q.from_streams(flat[pos : pos + q.groups], frames))
            pos += q.groups
        per_item.append(symbols)
    return [torch.stack(s) for s in zip(*per_item, strict=True)]
