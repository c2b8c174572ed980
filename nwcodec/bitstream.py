"""The .nwc container, formats 2.x and 1.x: writer, streaming reader and layer stripping.

``bitstream_spec/SPEC.md`` is normative; this module follows it field by field. Everything is
little-endian. The reader is strict: each length is checked against its bound and against what
the file still holds before anything is allocated, and every failure is a
:class:`BitstreamError` naming the problem and the byte offset. Record lengths and the
chunk fields that vary (index, sub-lengths) are minimal unsigned LEB128 varints (defined
before SPEC §1; used in §3 and §3.1). In conceal mode the reader resynchronises after damage
on the next record whose CRC checks (SPEC §4), so damage stays local.

Format 2.0 (the one the encoder writes) differs from 1.0 only in the chunk record: a chunk may
carry zero layers (side information only, or nothing at all: a silent chunk) and a flags byte
marks mid/side channel pairs (SPEC §3.1). The reader reads both; the writer and
:func:`strip_layers` write the version the header names, so stripping a 1.0 file keeps it 1.0.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from nwcodec.errors import NwcodecError
from nwcodec.limits import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

MAGIC = b"\x89NWC\r\n\x1a\n"
FORMAT_MAJOR = 2  # what the encoder writes
FORMAT_MINOR = 0
READABLE_MAJORS = (1, 2)

# Chunk record flags (format 2.0, SPEC §3.1), stored in the top 3 bits of the num_layers byte
# (MAX_LAYERS = 16 needs the low 5): a mid/side pair is two consecutive channels c (flagged
# MID) and c + 1 (flagged SIDE); left = mid + side, right = mid - side.
FLAG_MID = 0x01
FLAG_SIDE = 0x02
# The side information describes one frame that stands for the whole chunk (no layers):
# stationary comfort noise, for near-silence.
FLAG_STATIONARY = 0x04
_FLAGS = FLAG_MID | FLAG_SIDE | FLAG_STATIONARY
_FLAGS_SHIFT = 5
_LAYERS_MASK = (1 << _FLAGS_SHIFT) - 1

TAG_CHUNK = 0x43  # 'C'
TAG_END = 0x45  # 'E'

_PREAMBLE = struct.Struct("<8sBBH")  # magic, major, minor, header body length
_HEADER_V1 = struct.Struct("<H8sIIBBIQQ")  # body fields of format 1.0
_CRC = struct.Struct("<I")
_END = struct.Struct("<I")

MODEL_HASH_BYTES = 8
MAX_HEADER_BODY = 4096
MAX_RECORD_BODY = 1 << 24
MAX_CHUNK_INDEX = (1 << 32) - 1
_LENGTH_BYTES = 4  # a varint <= MAX_RECORD_BODY takes at most 4 bytes
MAX_LAYERS = 16
MAX_CHUNK_SAMPLES = 1 << 20
_READ_BLOCK = 1 << 16
# The smallest chunk record (SPEC §3.1): tag, length, index, channel, num_layers, side and one
# layer length (1 byte each), CRC; in 2.0 a silent record has no layer length, so 10 bytes.
# Resynchronisation conceals at most one record per this many skipped bytes, so concealed
# silence stays bounded by the damaged bytes.
MIN_CHUNK_RECORD = {1: 11, 2: 10}


class BitstreamError(NwcodecError):
    """Any problem with a .nwc byte stream. ``offset`` is where it was found."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte {offset})")


class NotNwcError(BitstreamError):
    """The data does not start with the .nwc magic."""


class UnsupportedVersionError(BitstreamError):
    """The file's format major version is not one this reader implements."""


class TruncatedError(BitstreamError):
    """The data ends before the structure it announced."""


class CorruptError(BitstreamError):
    """A CRC-32 does not match: the bytes were damaged."""


class MalformedError(BitstreamError):
    """A field holds a value the spec does not allow."""


class TrailingDataError(BitstreamError):
    """Bytes follow the end record."""


def encode_varint(value: int) -> bytes:
    """``value`` as minimal unsigned LEB128: 7 bits per byte, low group first (SPEC, before §1)."""
    if value < 0:
        raise ValueError(f"varint cannot hold {value}")
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(
    data: bytes, pos: int, max_value: int, what: str = "varint", origin: int = 0
) -> tuple[int, int]:
    """Read the varint at ``data[pos]``; return it and the position after it.

    Refuses (:class:`MalformedError`, at byte ``origin + pos``) a varint that runs past
    ``data``, is longer than ``max_value`` needs, is not minimal, or exceeds ``max_value``.
    """
    max_bytes = max(1, -(-max_value.bit_length() // 7))
    value = shift = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise MalformedError(f"{what} runs past the end of its data", origin + pos)
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise MalformedError(f"{what} is not minimally encoded", origin + pos)
            if value > max_value:
                raise MalformedError(f"{what} {value} exceeds {max_value}", origin + pos)
            return value, pos + i + 1
    raise MalformedError(f"{what} is longer than {max_bytes} bytes", origin + pos)


@dataclass(frozen=True)
class StreamHeader:
    """Everything a decoder must know before the first chunk."""

    tier_id: int
    model_hash: bytes
    sample_rate: int
    original_sample_rate: int
    channels: int
    num_layers: int
    chunk_samples: int
    total_samples: int
    original_samples: int
    format_minor: int = FORMAT_MINOR
    format_major: int = FORMAT_MAJOR

    def validate(self, offset: int | None = None) -> None:
        checks = [
            (self.format_major in READABLE_MAJORS, f"format {self.format_major} unknown"),
            (len(self.model_hash) == MODEL_HASH_BYTES, "model hash must be 8 bytes"),
            (0 <= self.tier_id <= 0xFFFF, f"tier id {self.tier_id} out of range"),
            (
                MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE
                and MIN_SAMPLE_RATE <= self.original_sample_rate <= MAX_SAMPLE_RATE,
                f"sample rate {self.sample_rate}/{self.original_sample_rate} Hz out of range",
            ),
            (1 <= self.channels <= MAX_CHANNELS, f"channel count {self.channels} invalid"),
            (1 <= self.num_layers <= MAX_LAYERS, f"layer count {self.num_layers} invalid"),
            (
                1 <= self.chunk_samples <= MAX_CHUNK_SAMPLES,
                f"chunk length {self.chunk_samples} samples out of range",
            ),
            (0 <= self.total_samples < 1 << 48, "total length out of range"),
            (0 <= self.original_samples < 1 << 48, "original length out of range"),
        ]
        for ok, message in checks:
            if not ok:
                raise MalformedError(f"header: {message}", offset)
        if self.original_samples > self.max_original_samples:
            raise MalformedError(
                f"header: original length {self.original_samples} exceeds the "
                f"{self.max_original_samples} samples that {self.total_samples} coded samples "
                f"give at {self.original_sample_rate} Hz",
                offset,
            )

    @property
    def max_original_samples(self) -> int:
        """The most original samples the coded ones can restore: ``total_samples`` taken to
        ``original_sample_rate``, rounded up (SPEC §2)."""
        return -(-self.total_samples * self.original_sample_rate // self.sample_rate)

    @property
    def min_layers(self) -> int:
        """The fewest layers a chunk record may carry: 0 from format 2.0 on, 1 in 1.0."""
        return 0 if self.format_major >= 2 else 1

    @property
    def chunks_per_channel(self) -> int:
        return -(-self.total_samples // self.chunk_samples)

    def chunk_length(self, index: int) -> int:
        """Samples carried by chunk ``index`` (the last one may be short)."""
        return min(self.chunk_samples, self.total_samples - index * self.chunk_samples)

    def to_bytes(self) -> bytes:
        body = _HEADER_V1.pack(
            self.tier_id,
            self.model_hash,
            self.sample_rate,
            self.original_sample_rate,
            self.channels,
            self.num_layers,
            self.chunk_samples,
            self.total_samples,
            self.original_samples,
        )
        head = _PREAMBLE.pack(MAGIC, self.format_major, FORMAT_MINOR, len(body)) + body
        return head + _CRC.pack(zlib.crc32(head))


@dataclass(frozen=True)
class Chunk:
    """One chunk (2 s in the codec's tiers) of one channel: side information plus one byte
    string per layer.

    ``num_samples`` is not stored in the file: the reader fills it from the header (SPEC §2).
    ``flags`` (format 2.0) marks mid/side pairs (:data:`FLAG_MID`, :data:`FLAG_SIDE`) and
    stationary side information (:data:`FLAG_STATIONARY`). A chunk with no layers carries side
    information only (the decoder synthesises it without a residual), or nothing at all
    (:attr:`silent`). ``damaged`` is set only by a reader in
    conceal mode, for a chunk whose record was damaged or lost; its payload is then empty and
    the decoder substitutes silence.
    """

    index: int
    channel: int
    num_samples: int
    side_info: bytes
    layers: tuple[bytes, ...]
    damaged: bool = field(default=False, compare=False)
    flags: int = 0

    @property
    def silent(self) -> bool:
        """No side information and no layers: the chunk decodes to zeros (format 2.0)."""
        return not self.side_info and not self.layers

    def body(self, major: int = FORMAT_MAJOR) -> bytes:
        """The record body in format ``major`` (1.0 has no flags)."""
        lengths = [len(self.side_info), *(len(b) for b in self.layers)]
        flags = self.flags << _FLAGS_SHIFT if major >= 2 else 0
        return b"".join(
            [
                encode_varint(self.index),
                bytes([self.channel, len(self.layers) | flags]),
                *(encode_varint(n) for n in lengths),
                self.side_info,
                *self.layers,
            ]
        )

    def record_size(self, major: int = FORMAT_MAJOR) -> int:
        """Bytes of this chunk's whole record: tag, length, body, CRC (SPEC §3)."""
        n = len(self.body(major))
        return 1 + len(encode_varint(n)) + n + _CRC.size

    def stripped(self, num_layers: int) -> Chunk:
        return replace(self, layers=self.layers[:num_layers])


def flags_problem(flags: int, channel: int, channels: int, previous: int | None,
                  layers: int, side_length: int) -> str | None:
    """Why ``flags`` on a record of ``channel`` with ``layers`` layers and ``side_length``
    bytes of side information is invalid (SPEC §3.1), or None. ``previous`` is the flags of
    the record of ``channel - 1`` in the same chunk, None if unknown."""
    if flags & ~_FLAGS or flags & FLAG_MID and flags & FLAG_SIDE:
        return f"chunk flags 0x{flags:02x} invalid"
    if flags & FLAG_STATIONARY and (layers or not side_length):
        return "a stationary chunk must have side information and no layers"
    if flags & FLAG_MID and channel + 1 >= channels:
        return f"channel {channel} is flagged mid but no channel follows it"
    if previous is not None and bool(flags & FLAG_SIDE) != bool(previous & FLAG_MID):
        return f"channel {channel}'s side flag does not match channel {channel - 1}'s mid flag"
    if channel == 0 and flags & FLAG_SIDE:
        return "channel 0 is flagged side"
    return None


def _record(tag: int, body: bytes) -> bytes:
    head = bytes([tag]) + encode_varint(len(body)) + body
    return head + _CRC.pack(zlib.crc32(head))


class BitstreamWriter:
    """Writes a header, then chunks in (index, channel) order, then the end record."""

    def __init__(self, stream: BinaryIO, header: StreamHeader) -> None:
        header.validate()
        self._stream = stream
        self.header = header
        self._expected = (0, 0)
        self._chunks = 0
        self._flags = 0  # of the previous record
        stream.write(header.to_bytes())

    def write_chunk(self, chunk: Chunk) -> None:
        h = self.header
        if (chunk.index, chunk.channel) != self._expected:
            raise ValueError(f"chunk ({chunk.index}, {chunk.channel}) out of order")
        if chunk.num_samples != h.chunk_length(chunk.index):
            want = h.chunk_length(chunk.index)
            raise ValueError(f"chunk {chunk.index} must carry {want} samples")
        if not h.min_layers <= len(chunk.layers) <= h.num_layers or chunk.index > MAX_CHUNK_INDEX:
            raise ValueError("chunk layer count or index out of range")
        previous = self._flags if chunk.channel else None
        problem = flags_problem(chunk.flags, chunk.channel, h.channels, previous,
                                len(chunk.layers), len(chunk.side_info))
        if problem or (h.format_major < 2 and chunk.flags):
            raise ValueError(problem or "format 1.0 has no chunk flags")
        body = chunk.body(h.format_major)
        if len(body) > MAX_RECORD_BODY:
            raise ValueError("chunk exceeds the 16 MiB record limit")
        self._stream.write(_record(TAG_CHUNK, body))
        self._chunks += 1
        self._flags = chunk.flags
        nxt = chunk.channel + 1
        self._expected = (chunk.index + 1, 0) if nxt == h.channels else (chunk.index, nxt)

    def close(self) -> None:
        """Write the end record; the stream itself is left open."""
        if self._expected != (self.header.chunks_per_channel, 0):
            raise ValueError(
                f"stream ended after {self._chunks} chunks; the header announces "
                f"{self.header.chunks_per_channel * self.header.channels}"
            )
        self._stream.write(_record(TAG_END, _END.pack(self._chunks)))


class BitstreamReader:
    """Streaming, strict reader: ``reader.header``, then iterate to get :class:`Chunk` s.

    ``on_damage="raise"`` (default) raises :class:`CorruptError` on a bad CRC. ``"conceal"``
    resynchronises instead (SPEC §4): after a record whose CRC fails or whose framing is broken
    (a damaged length, a cut), it scans on for the next chunk or end record whose CRC checks and
    that continues the sequence, yields the chunks in between with ``damaged=True`` (at most
    one per :data:`MIN_CHUNK_RECORD` bytes skipped) and says what it did in :attr:`damage`.
    Data that ends early still raises :class:`TruncatedError`, after the chunks read (the last
    chunk index completed with silence), with :attr:`truncated` set: a decoder may keep what
    it has; the missing tail is reported, not invented. Iteration ends after a valid end
    record; trailing bytes raise :class:`TrailingDataError`.
    """

    def __init__(self, stream: BinaryIO, on_damage: str = "raise") -> None:
        if on_damage not in ("raise", "conceal"):
            raise ValueError("on_damage must be 'raise' or 'conceal'")
        self._stream = stream
        self.on_damage = on_damage
        self._conceal = on_damage == "conceal"
        self.chunk_offset = 0  # where the record of the chunk last yielded starts
        self._pending = bytearray()  # read ahead while resynchronising; consumed first
        self._capture: bytearray | None = None  # conceal mode: the current record's bytes
        self._last: tuple[int, int, int] | None = None  # index, channel, flags: last record read
        self.damage: list[str] = []
        self.truncated = False
        self.offset = 0
        self.header = self._read_header()

    def _pull(self, n: int) -> bytes:
        if self._pending:
            part = bytes(self._pending[:n])
            del self._pending[:n]
            return part
        return self._stream.read(n)

    def _read(self, n: int, what: str) -> bytes:
        """Read exactly ``n`` bytes in bounded blocks, so a lying length cannot balloon memory."""
        parts, need = [], n
        while need:
            part = self._pull(min(need, _READ_BLOCK))
            if not part:
                raise TruncatedError(
                    f"file ends inside {what}: {n - need} of {n} bytes", self.offset
                )
            if self._capture is not None:
                self._capture += part
            parts.append(part)
            need -= len(part)
        self.offset += n
        return b"".join(parts)

    def _read_header(self) -> StreamHeader:
        start = self._stream.read(_PREAMBLE.size)
        if len(start) < len(MAGIC) or start[: len(MAGIC)] != MAGIC:
            raise NotNwcError("not an .nwc file (bad magic)", 0)
        if len(start) < _PREAMBLE.size:
            raise TruncatedError("file ends inside the preamble", len(start))
        self.offset = _PREAMBLE.size
        _, major, minor, body_len = _PREAMBLE.unpack(start)
        if major not in READABLE_MAJORS:
            raise UnsupportedVersionError(
                f"format {major}.{minor} is not supported (this reader implements "
                f"{' and '.join(f'{m}.x' for m in READABLE_MAJORS)})",
                len(MAGIC),
            )
        if not _HEADER_V1.size <= body_len <= MAX_HEADER_BODY or (
            minor <= FORMAT_MINOR and body_len != _HEADER_V1.size
        ):
            raise MalformedError(f"header body length {body_len} invalid", len(MAGIC) + 2)
        body = self._read(body_len, "the header")
        (crc,) = _CRC.unpack(self._read(_CRC.size, "the header CRC"))
        if zlib.crc32(start + body) != crc:
            raise CorruptError("header CRC mismatch", self.offset - _CRC.size)
        # A newer minor version may append fields; an x.0 reader skips them (SPEC §2, §4).
        header = StreamHeader(*_HEADER_V1.unpack_from(body), format_minor=minor,
                              format_major=major)
        header.validate(_PREAMBLE.size)
        return header

    def _read_record(self) -> tuple[int, bytes, bool]:
        head = self._read(1, "a record header")
        while len(head) <= _LENGTH_BYTES and (len(head) == 1 or head[-1] & 0x80):
            head += self._read(1, "a record length")
        start = self.offset - len(head)
        body_len, _ = decode_varint(head, 1, MAX_RECORD_BODY, "record length", start)
        body = self._read(body_len, "a record")
        (crc,) = _CRC.unpack(self._read(_CRC.size, "a record CRC"))
        return head[0], body, zlib.crc32(head + body) == crc

    def __iter__(self) -> Iterator[Chunk]:
        h = self.header
        total = h.chunks_per_channel * h.channels
        done = 0  # chunk records read or concealed; the next is divmod(done, channels)
        while True:
            start = self.offset
            self._capture = bytearray() if self._conceal else None
            try:
                tag, body, crc_ok = self._read_record()
                problem = _crc_problem(tag, done // h.channels)
            except (TruncatedError, MalformedError) as exc:
                if not self._conceal:
                    raise
                tag, body, crc_ok, problem = -1, b"", False, str(exc)
            if tag == TAG_CHUNK and done >= total:
                raise MalformedError("more chunks than the header announces", start)
            if crc_ok:
                if tag == TAG_END:
                    self._finish(body, done, start)
                    return
                if tag == TAG_CHUNK:
                    chunk = self._parse_chunk(body, start, *divmod(done, h.channels))
                    self.chunk_offset = start
                    yield chunk
                    done += 1
                    continue
                if h.format_minor > FORMAT_MINOR:
                    continue  # a newer minor version's record: skippable by design
                raise MalformedError(f"unknown record type 0x{tag:02x}", start)
            if not self._conceal:
                raise CorruptError(problem, start)
            resume = self._resync(start, done, total)
            upto = -(-done // h.channels) * h.channels if resume is None else resume
            if upto > done:
                self.damage.append(
                    f"{problem.split(' (at byte')[0]} at byte {start}: concealed "
                    f"{self._span(done, upto)}"
                )
            self.chunk_offset = start
            for k in range(done, upto):
                index, channel = divmod(k, h.channels)
                yield Chunk(index, channel, h.chunk_length(index), b"", (), damaged=True)
            done = upto
            if resume is None:
                self.truncated = True
                lost = f"; {self._span(done, total)} missing" if done < total else ""
                self.damage.append(f"the data ends at byte {self.offset}{lost}")
                raise TruncatedError(f"the data ends early{lost}", self.offset)

    def _span(self, first: int, end: int) -> str:
        """Chunk records ``first`` .. ``end - 1`` in words, with their duration."""
        h = self.header
        a, b = first // h.channels, (end - 1) // h.channels
        samples = sum(h.chunk_length(i) for i in range(a, b + 1))
        which = f"chunk {a}" if a == b else f"chunks {a}-{b}"
        return f"{which} ({samples / h.sample_rate:.2f} s)"

    def _resync(self, start: int, done: int, total: int) -> int | None:
        """After damage at ``start``: position the reader on the next record that checks and
        return its place in the sequence (``total`` for the end record), or None if the data
        ends first."""
        assert self._capture is not None
        buf = self._capture[1:] + self._pending  # every byte read past the damaged tag
        self._capture, self._pending = None, bytearray()
        base, i = start + 1, 0  # file offset of buf[0]; where the scan goes on

        def fill(n: int) -> bool:
            while len(buf) < n:
                part = self._stream.read(_READ_BLOCK)
                if not part:
                    return False
                buf.extend(part)
            return True

        while True:
            found = [j for j in (buf.find(TAG_CHUNK, i), buf.find(TAG_END, i)) if j >= 0]
            if not found:
                base, i = base + len(buf), 0
                buf.clear()
                if not fill(1):
                    self.offset = base
                    return None
                continue
            j = min(found)
            k = self._candidate(buf, j, fill, base + j - start, done, total)
            if k is not None:
                self._pending, self.offset = buf[j:], base + j
                return k
            i = j + 1
            if i > _READ_BLOCK:
                del buf[:i]
                base, i = base + i, 0

    def _candidate(
        self, buf: bytearray, j: int, fill: Callable[[int], bool], skipped: int, done: int,
        total: int,
    ) -> int | None:
        """The sequence place of a record at ``buf[j]`` that continues the stream after
        ``done`` records, within what ``skipped`` bytes can have held, with a good CRC."""
        h = self.header
        fill(j + 1 + _LENGTH_BYTES)
        try:
            body_len, p = decode_varint(buf, j + 1, MAX_RECORD_BODY)
            if buf[j] == TAG_END:
                k = total if body_len == _END.size else -1
            else:
                fill(p + 7)
                index, q = decode_varint(buf, p, MAX_CHUNK_INDEX)
                if q + 2 > p + body_len or q + 2 > len(buf):
                    return None
                channel, nlayers = buf[q], buf[q + 1]
                if h.format_major >= 2:
                    nlayers &= _LAYERS_MASK
                ok = index < h.chunks_per_channel and channel < h.channels
                ok = ok and h.min_layers <= nlayers <= h.num_layers
                k = index * h.channels + channel if ok else -1
        except MalformedError:
            return None
        if k < done or (k - done) * MIN_CHUNK_RECORD[h.format_major] > skipped:
            return None
        end = p + body_len + _CRC.size
        if not fill(end):
            return None
        with memoryview(buf) as view:
            crc_ok = zlib.crc32(view[j : end - _CRC.size]) == _CRC.unpack_from(view, end - 4)[0]
            if not crc_ok or (k == total and _END.unpack_from(view, p)[0] != total):
                return None
        return k

    def _parse_chunk(self, body: bytes, start: int, want_index: int, want_channel: int) -> Chunk:
        h = self.header
        at = start + 1 + len(encode_varint(len(body)))  # body[0]: the length is minimal
        index, pos = decode_varint(body, 0, MAX_CHUNK_INDEX, "chunk index", at)
        if pos + 2 > len(body):
            raise MalformedError("chunk record too short", at)
        channel, nlayers, flags = body[pos], body[pos + 1], 0
        if h.format_major >= 2:
            nlayers, flags = nlayers & _LAYERS_MASK, nlayers >> _FLAGS_SHIFT
        if channel >= h.channels:
            raise MalformedError(f"chunk channel {channel} >= {h.channels}", at + pos)
        if (index, channel) != (want_index, want_channel):
            raise MalformedError(
                f"chunk ({index}, ch {channel}) out of sequence, expected "
                f"({want_index}, ch {want_channel})",
                start,
            )
        if not h.min_layers <= nlayers <= h.num_layers:
            raise MalformedError(
                f"chunk declares {nlayers} layers, header allows {h.min_layers}..{h.num_layers}",
                at + pos + 1,
            )
        flags_at = at + pos + 1
        pos += 2
        lengths = []
        for k in range(1 + nlayers):
            what = "side info length" if k == 0 else f"layer {k - 1} length"
            n, pos = decode_varint(body, pos, MAX_RECORD_BODY, what, at)
            lengths.append(n)
        last = self._last
        previous = last[2] if last is not None and last[:2] == (index, channel - 1) else None
        problem = flags_problem(flags, channel, h.channels, previous, nlayers, lengths[0])
        if problem:
            raise MalformedError(problem, flags_at)
        if pos + sum(lengths) != len(body):
            raise MalformedError("chunk sub-lengths do not add up to the record length", at)
        parts = []
        for n in lengths:
            parts.append(body[pos : pos + n])
            pos += n
        self._last = (index, channel, flags)
        return Chunk(index, channel, h.chunk_length(index), parts[0], tuple(parts[1:]),
                     flags=flags)

    def _finish(self, body: bytes, count: int, start: int) -> None:
        if len(body) != _END.size:
            raise MalformedError("end record has the wrong size", start)
        (declared,) = _END.unpack(body)
        if declared != count or count != self.header.chunks_per_channel * self.header.channels:
            raise MalformedError(
                f"end record counts {declared} chunks; {count} were read, "
                f"{self.header.chunks_per_channel * self.header.channels} announced",
                start,
            )
        if self._pending or self._stream.read(1):
            raise TrailingDataError("bytes follow the end record", self.offset)


def _crc_problem(tag: int, index: int) -> str:
    if tag == TAG_END:
        return "end record CRC mismatch"
    if tag == TAG_CHUNK:
        return f"chunk {index} CRC mismatch"
    return f"unknown record 0x{tag:02x} with a bad CRC"


def strip_layers(src: BinaryIO, dst: BinaryIO, num_layers: int) -> StreamHeader:
    """Copy ``src`` to ``dst`` keeping the first ``num_layers`` layers of every chunk, in
    ``src``'s format major version (chunks with fewer layers keep theirs).

    Asking for more layers than ``src`` has is an error, as it is for encoding and decoding.
    """
    reader = BitstreamReader(src)
    check_layers(num_layers, reader.header.num_layers, "the stream")
    header = replace(reader.header, num_layers=num_layers, format_minor=FORMAT_MINOR)
    writer = BitstreamWriter(dst, header)
    for chunk in reader:
        writer.write_chunk(chunk.stripped(num_layers))
    writer.close()
    return header


class LayersError(NwcodecError, ValueError):
    """More layers (or fewer than one) were asked for than there are."""


def check_layers(wanted: int, available: int, what: str) -> None:
    """The one rule for ``--layers`` / ``layers=`` everywhere: 1 .. what is available."""
    if not 1 <= wanted <= available:
        raise LayersError(f"{what} has layers 1..{available}; {wanted} asked for")
