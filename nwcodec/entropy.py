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

A :class:`ContextTable` is a stream's set of tables conditioned on the stream's previous
symbol (a first-order Markov model, still integer tables only): slowly varying side
information such as LPC gains and LSFs costs about a third fewer bits coded this way.

:class:`RowEncoder` / :class:`RowDecoder` code symbols each with its own table row, for
contexts that depend on symbols decoded earlier in the same string (the MDCT layer,
``nwcodec/nn/mdct_stage.py``); the rows are still frozen integer tables.
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


@dataclass(frozen=True, eq=False)
class ContextTable:
    """One stream's tables conditioned on its previous symbol: ``rows[c]`` codes a symbol
    that follows symbol ``c``, the last row (``rows[K]``) the stream's first symbol."""

    rows: tuple[FrequencyTable, ...]

    def __post_init__(self) -> None:
        k = self.rows[0].num_symbols if self.rows else 0
        if len(self.rows) != k + 1 or any(r.num_symbols != k for r in self.rows):
            raise EntropyError(f"a context table over {k} symbols needs {k + 1} rows of {k}")

    @classmethod
    def from_counts(cls, transitions: np.ndarray, prior: int, precision: int = DEFAULT_PRECISION
                    ) -> ContextTable:
        """Tables from transition counts (K+1, K) (row K: first symbols), each row smoothed
        toward the marginal (:func:`smoothed_tables`)."""
        counts = np.asarray(transitions, dtype=np.int64)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1] + 1:
            raise EntropyError(f"transition counts must be (K+1, K), got {counts.shape}")
        return cls(tuple(smoothed_tables(counts, prior, precision)))

    @property
    def num_symbols(self) -> int:
        return self.rows[0].num_symbols

    @cached_property
    def probabilities(self) -> np.ndarray:
        """(K+1, K) float64: each row's frequencies over ``2**precision`` (exact fractions)."""
        return np.stack([r.freqs.astype(np.float64) / float(1 << r.precision) for r in self.rows])


def smoothed_tables(counts: np.ndarray, prior: int, precision: int = DEFAULT_PRECISION
                    ) -> list[FrequencyTable]:
    """One table per row of ``counts`` (C, K), each row smoothed toward the marginal, which
    weighs as much as ``prior`` observations: ``counts[c] * M + prior * marginal`` with ``M``
    the marginal's total (integers only), so a context seen rarely codes close to the
    marginal instead of overfitting."""
    marginal = [int(c) for c in np.asarray(counts, dtype=np.int64).sum(axis=0)]
    total = max(1, sum(marginal))
    return [FrequencyTable.from_counts(
        [int(c) * total + prior * m for c, m in zip(row, marginal, strict=True)], precision)
        for row in np.asarray(counts, dtype=np.int64)]


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
    decoder = _range_decoder(data)
    out = []
    for count, table in streams:
        try:
            decoded = decoder.decode(table._model, count) if count else []
        except (AssertionError, ValueError, RuntimeError) as exc:  # constriction's complaints
            raise EntropyError(f"range-coded data is invalid: {exc}") from None
        out.append(np.asarray(decoded, dtype=np.int64))
    _check_exact(data, encode_streams(list(zip(out, (t for _, t in streams), strict=True))))
    return out


def _contexts(symbols: np.ndarray, k: int) -> np.ndarray:
    """Each symbol's context in its own stream (axis 0): the symbol before it, ``k`` first."""
    return np.concatenate([np.full((1, symbols.shape[1]), k, np.int64), symbols[:-1]])


def _group_probabilities(tables: Sequence[ContextTable]) -> np.ndarray:
    """(G, K+1, K) rows of a group of context tables over one alphabet."""
    if len({t.num_symbols for t in tables}) != 1:
        raise EntropyError("the streams of a context-coded group need one alphabet size")
    return np.stack([t.probabilities for t in tables])


def encode_context_streams(groups: Sequence[tuple[np.ndarray, Sequence[ContextTable]]]) -> bytes:
    """Range-code groups of parallel streams, each symbol in the context of its stream's
    previous symbol. A group is symbols (F, G) — G streams over F steps, stream g with
    ``tables[g]`` — coded step-major (step 0 of every stream, then step 1, …), so a decoder
    decodes one step of the group per call; groups follow each other."""
    encoder = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    for symbols, tables in groups:
        probs = _group_probabilities(tables)
        k = probs.shape[-1]
        sym = np.asarray(symbols, dtype=np.int64).reshape(-1, len(tables))
        if sym.size and (sym.min() < 0 or sym.max() >= k):
            raise EntropyError(f"symbol out of range 0..{k - 1}")
        if sym.size:
            rows = probs[np.arange(len(tables))[None, :], _contexts(sym, k)]  # (F, G, K)
            encoder.encode(sym.astype(np.int32).ravel(), family, rows.reshape(-1, k))
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_context_streams(data: bytes, groups: Sequence[tuple[int, Sequence[ContextTable]]]
                           ) -> list[np.ndarray]:
    """Inverse of :func:`encode_context_streams`; ``groups`` gives each group's step count
    and tables. Returns symbols (F, G) per group. Checked as :func:`decode_streams` is."""
    decoder = _range_decoder(data)
    family = constriction.stream.model.Categorical(perfect=False)
    out = []
    for steps, tables in groups:
        probs = _group_probabilities(tables)
        k, g = probs.shape[-1], len(tables)
        sym = np.zeros((steps, g), np.int64)
        context = np.full(g, k, np.int64)
        try:
            for t in range(steps):
                sym[t] = decoder.decode(family, probs[np.arange(g), context])
                context = sym[t]
        except (AssertionError, ValueError, RuntimeError) as exc:  # constriction's complaints
            raise EntropyError(f"range-coded data is invalid: {exc}") from None
        out.append(sym)
    _check_exact(data, encode_context_streams(
        list(zip(out, (t for _, t in groups), strict=True))))
    return out


def table_probabilities(tables: Sequence[FrequencyTable]) -> np.ndarray:
    """(C, K) float64: the frequencies of tables over one alphabet as exact fractions, one
    row per table (what :class:`RowEncoder` and :class:`RowDecoder` take)."""
    if len({t.num_symbols for t in tables}) != 1:
        raise EntropyError("tables coded as rows need one alphabet size")
    return np.stack([t.freqs.astype(np.float64) / float(1 << t.precision) for t in tables])


class RowEncoder:
    """One range coder fed symbol groups, each symbol with its own table row (rows of
    :func:`table_probabilities`): for symbols whose table depends on symbols coded before
    them, which :class:`RowDecoder` decodes group by group in the same order."""

    def __init__(self) -> None:
        self._coder = constriction.stream.queue.RangeEncoder()
        self._family = constriction.stream.model.Categorical(perfect=False)

    def code(self, symbols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Code ``symbols`` (N,), symbol i with ``rows[i]`` (N, K); return them."""
        sym = np.asarray(symbols, dtype=np.int64)
        if sym.size:
            if sym.min() < 0 or sym.max() >= rows.shape[1]:
                raise EntropyError(f"symbol out of range 0..{rows.shape[1] - 1}")
            self._coder.encode(sym.astype(np.int32), self._family, rows)
        return sym

    def to_bytes(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class RowDecoder:
    """Decodes what :class:`RowEncoder` wrote, given the same rows group by group. A caller
    that has decoded everything checks the data with :meth:`check`: re-coded, the symbols
    must give exactly the data (as :func:`decode_streams` requires)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._coder = _range_decoder(data)
        self._family = constriction.stream.model.Categorical(perfect=False)

    def code(self, _symbols: object, rows: np.ndarray) -> np.ndarray:
        """Decode ``len(rows)`` symbols (the first argument mirrors :meth:`RowEncoder.code`
        and is ignored)."""
        if not len(rows):
            return np.zeros(0, np.int64)
        try:
            return np.asarray(self._coder.decode(self._family, rows), dtype=np.int64)
        except (AssertionError, ValueError, RuntimeError) as exc:  # constriction's complaints
            raise EntropyError(f"range-coded data is invalid: {exc}") from None

    def check(self, recoded: bytes) -> None:
        """Refuse the data unless ``recoded`` (the decoded symbols coded again) equals it."""
        _check_exact(self._data, recoded)


def _range_decoder(data: bytes) -> constriction.stream.queue.RangeDecoder:
    """A decoder over ``data``, which must be whole little-endian 32-bit words."""
    if len(data) % 4:
        raise EntropyError(f"range-coded data must be whole 32-bit words, got {len(data)} bytes")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4")
                                                  .astype(np.uint32))


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
