"""Range coding over frozen integer frequency tables.

A :class:`FrequencyTable` is built once (at model export) from symbol counts with pure integer
arithmetic: every symbol gets a frequency of at least 1 and the frequencies sum to exactly
``2**precision``. The table is what ships with a model, what is hashed, and the only thing the
coder ever sees, on both sides.

Why this decodes identically everywhere: constriction's ``Categorical`` model is given
``freq / 2**precision``, which is an exact binary fraction (``precision`` <= 24), and it turns
that into its own fixed-point model with IEEE arithmetic that has no platform-dependent step.
No probability is ever computed from a network's float output. The test vectors in
``bitstream_spec/vectors`` pin the resulting bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import constriction
import numpy as np

from nwcodec.errors import NwcodecError

DEFAULT_PRECISION = 16
MAX_PRECISION = 24
MAX_SYMBOLS = 1 << 16


class EntropyError(NwcodecError, ValueError):
    """A table or a symbol stream is invalid for coding."""


@dataclass(frozen=True, eq=False)
class FrequencyTable:
    """Integer symbol frequencies summing to ``2**precision``, every symbol at least 1."""

    freqs: np.ndarray
    precision: int = DEFAULT_PRECISION

    def __post_init__(self) -> None:
        freqs = np.asarray(self.freqs)
        if freqs.ndim != 1 or not 2 <= freqs.size <= MAX_SYMBOLS:
            raise EntropyError(f"a table needs 2..{MAX_SYMBOLS} symbols, got shape {freqs.shape}")
        if not 1 <= self.precision <= MAX_PRECISION or freqs.size > (1 << self.precision):
            raise EntropyError(f"precision {self.precision} cannot hold {freqs.size} symbols")
        if freqs.min() < 1 or int(freqs.sum()) != 1 << self.precision:
            raise EntropyError("frequencies must be >= 1 and sum to 2**precision")
        object.__setattr__(self, "freqs", freqs.astype(np.uint32))
        self.freqs.setflags(write=False)

    @classmethod
    def from_counts(
        cls, counts: Sequence[int] | np.ndarray, precision: int = DEFAULT_PRECISION
    ) -> FrequencyTable:
        """Quantise counts to a table with largest-remainder rounding (integers only)."""
        counts_i = [int(c) for c in np.asarray(counts).ravel()]
        if any(c < 0 for c in counts_i):
            raise EntropyError("counts must be non-negative")
        n = len(counts_i)
        spare = (1 << precision) - n
        if n < 2 or spare < 0:
            raise EntropyError(f"cannot build a {precision}-bit table over {n} symbols")
        total = sum(counts_i)
        if total == 0:
            counts_i, total = [1] * n, n
        shares = [spare * c // total for c in counts_i]
        remainders = [spare * c % total for c in counts_i]
        # Hand out what flooring lost, largest remainder first, ties to the lower symbol.
        for i in sorted(range(n), key=lambda k: (-remainders[k], k))[: spare - sum(shares)]:
            shares[i] += 1
        return cls(np.array([s + 1 for s in shares], dtype=np.uint32), precision)

    @classmethod
    def uniform(cls, num_symbols: int, precision: int = DEFAULT_PRECISION) -> FrequencyTable:
        return cls.from_counts(np.ones(num_symbols, dtype=np.int64), precision)

    @property
    def num_symbols(self) -> int:
        return int(self.freqs.size)

    @cached_property
    def _model(self) -> constriction.stream.model.Categorical:
        probabilities = self.freqs.astype(np.float64) / float(1 << self.precision)
        return constriction.stream.model.Categorical(probabilities, perfect=False)

    def code_lengths(self) -> np.ndarray:
        """Ideal code length of each symbol under this table, in bits (float64)."""
        return self.precision - np.log2(self.freqs.astype(np.float64))

    def bits(self, symbols: np.ndarray) -> float:
        """Ideal code length of ``symbols`` under this table, in bits."""
        return float(self.code_lengths()[np.asarray(symbols, dtype=np.int64)].sum())

    def to_bytes(self) -> bytes:
        """``u8 precision, u32 count, count x u32 freq`` (little-endian)."""
        return struct.pack("<BI", self.precision, self.num_symbols) + self.freqs.astype(
            "<u4"
        ).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, offset: int = 0) -> tuple[FrequencyTable, int]:
        """Parse one table at ``offset``; return it and the offset after it."""
        if len(data) - offset < 5:
            raise EntropyError(f"truncated table header at byte {offset}")
        precision, count = struct.unpack_from("<BI", data, offset)
        end = offset + 5 + 4 * count
        if count > MAX_SYMBOLS or end > len(data):
            raise EntropyError(f"table at byte {offset} declares {count} symbols; data too short")
        freqs = np.frombuffer(data, dtype="<u4", count=count, offset=offset + 5)
        return cls(freqs.astype(np.uint32), precision), end

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FrequencyTable)
            and self.precision == other.precision
            and np.array_equal(self.freqs, other.freqs)
        )

    def __hash__(self) -> int:
        return hash(self.to_bytes())


def tables_to_bytes(tables: Sequence[FrequencyTable]) -> bytes:
    return struct.pack("<I", len(tables)) + b"".join(t.to_bytes() for t in tables)


def tables_from_bytes(data: bytes) -> list[FrequencyTable]:
    if len(data) < 4:
        raise EntropyError("truncated table set")
    (count,) = struct.unpack_from("<I", data, 0)
    tables, offset = [], 4
    for _ in range(count):
        table, offset = FrequencyTable.from_bytes(data, offset)
        tables.append(table)
    if offset != len(data):
        raise EntropyError(f"{len(data) - offset} stray bytes after the table set")
    return tables


def tables_digest(tables: Sequence[FrequencyTable]) -> bytes:
    """SHA-256 of the serialised table set: the identity a bitstream's model hash builds on."""
    return hashlib.sha256(tables_to_bytes(tables)).digest()


def _check_symbols(symbols: np.ndarray, table: FrequencyTable) -> np.ndarray:
    sym = np.ascontiguousarray(symbols, dtype=np.int32).ravel()
    if sym.size and (sym.min() < 0 or sym.max() >= table.num_symbols):
        raise EntropyError(f"symbol out of range 0..{table.num_symbols - 1}")
    return sym


def encode_streams(streams: Sequence[tuple[np.ndarray, FrequencyTable]]) -> bytes:
    """Range-code several symbol streams, each with its own table, into one byte string."""
    encoder = constriction.stream.queue.RangeEncoder()
    for symbols, table in streams:
        sym = _check_symbols(symbols, table)
        if sym.size:
            encoder.encode(sym, table._model)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_streams(data: bytes, streams: Sequence[tuple[int, FrequencyTable]]) -> list[np.ndarray]:
    """Inverse of :func:`encode_streams`; ``streams`` gives each stream's length and table.

    The data must be exactly what :func:`encode_streams` writes for the symbols it decodes to.
    constriction pads data that runs out with zero words and cannot itself tell where a stream
    ends, so the decoded symbols are coded again and compared: data that runs out, carries
    stray words or was altered raises :class:`EntropyError` (naming the byte where they part).
    """
    words = np.frombuffer(data[: len(data) - len(data) % 4], dtype="<u4").astype(np.uint32)
    if len(data) % 4:
        raise EntropyError(f"range-coded data must be whole 32-bit words, got {len(data)} bytes")
    decoder = constriction.stream.queue.RangeDecoder(words)
    out = []
    for count, table in streams:
        try:
            decoded = decoder.decode(table._model, count) if count else []
        except (AssertionError, ValueError, RuntimeError) as exc:  # constriction's complaints
            raise EntropyError(f"range-coded data is invalid: {exc}") from None
        out.append(np.asarray(decoded, dtype=np.int64))
    _check_exact(data, encode_streams(list(zip(out, (t for _, t in streams), strict=True))))
    return out


def _check_exact(data: bytes, canonical: bytes) -> None:
    """Refuse ``data`` unless it is the canonical coding of what it decoded to."""
    if data == canonical:
        return
    if len(data) < len(canonical):
        raise EntropyError(
            f"range-coded data runs out: {len(data)} bytes, its symbols need {len(canonical)}"
        )
    pairs = zip(data, canonical, strict=False)
    at = next((i for i, (a, b) in enumerate(pairs) if a != b), len(canonical))
    if at >= len(canonical):
        raise EntropyError(f"{len(data) - len(canonical)} stray bytes after the range-coded data")
    raise EntropyError(f"range-coded data is damaged (it departs from its coding at byte {at})")
