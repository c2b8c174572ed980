"""Mutations of valid .nwc files for fuzzing readers: the CI test in tests/test_bitstream.py
and the long campaign of eval/fuzz_bitstream.py draw from the same mutators.

A conforming reader given any of these inputs either reads it or raises its format error (in
this package :class:`nwcodec.bitstream.BitstreamError`), in bounded time and memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

from nwcodec.bitstream import BitstreamReader


def mutations(base: bytes, rng: np.random.Generator, count: int) -> Iterator[bytes]:
    """``count`` single mutations of ``base``: a flipped bit, a random byte, truncation, an
    inserted run of 1-8 random bytes, a random file of up to 200 bytes, or a 4-byte field set
    to the largest positive int32."""
    for _ in range(count):
        data = bytearray(base)
        kind = rng.integers(0, 6)
        if kind == 0:
            pos = rng.integers(0, len(data))
            data[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            pos = rng.integers(0, len(data))
            data[pos] = int(rng.integers(0, 256))
        elif kind == 2:
            del data[int(rng.integers(0, len(data))) :]
        elif kind == 3:
            pos = int(rng.integers(0, len(data)))
            data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        elif kind == 4:
            data = bytearray(rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8))
        else:
            pos = int(rng.integers(0, len(data) - 4))
            data[pos : pos + 4] = b"\xff\xff\xff\x7f"
        yield bytes(data)


def read_all(data: bytes, on_damage: str = "raise") -> None:
    """Read every chunk of ``data`` with the reference reader, discarding them."""
    reader = BitstreamReader(io.BytesIO(data), on_damage=on_damage)
    for _ in reader:
        pass
