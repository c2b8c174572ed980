"""The .nwc container, format 1.x: writer, streaming reader and layer stripping.

``bitstream_spec/SPEC.md`` is normative; this module follows it field by field. Everything is
little-endian. The reader is strict: each length is checked against its bound and against what
the file still holds before anything is allocated, and every failure is a
:class:`BitstreamError` naming the problem and the byte offset. Record lengths and the
chunk fields that vary (index, sub-lengths) are minimal unsigned LEB128 varints (SPEC §3).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from nwcodec.errors import NwcodecError
from nwcodec.limits import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

MAGIC = b"\x89NWC\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0

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
    """``value`` as minimal unsigned LEB128: 7 bits per byte, low group first (SPEC §3)."""
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

    def validate(self, offset: int | None = None) -> None:
        checks = [
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
        head = _PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, len(body)) + body
        return head + _CRC.pack(zlib.crc32(head))


@dataclass(frozen=True)
class Chunk:
    """One to two seconds of one channel: side information plus one byte string per layer.

    ``num_samples`` is not stored in the file: the reader fills it from the header (SPEC §2).
    ``damaged`` is set only by a reader in conceal mode, for a chunk whose CRC failed; its
    payload is then empty and the decoder substitutes silence.
    """

    index: int
    channel: int
    num_samples: int
    side_info: bytes
    layers: tuple[bytes, ...]
    damaged: bool = field(default=False, compare=False)

    def body(self) -> bytes:
        lengths = [len(self.side_info), *(len(b) for b in self.layers)]
        return b"".join(
            [
                encode_varint(self.index),
                bytes([self.channel, len(self.layers)]),
                *(encode_varint(n) for n in lengths),
                self.side_info,
                *self.layers,
            ]
        )

    def stripped(self, num_layers: int) -> Chunk:
        return replace(self, layers=self.layers[:num_layers])


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
        stream.write(header.to_bytes())

    def write_chunk(self, chunk: Chunk) -> None:
        h = self.header
        if (chunk.index, chunk.channel) != self._expected:
            raise ValueError(f"chunk ({chunk.index}, {chunk.channel}) out of order")
        if chunk.num_samples != h.chunk_length(chunk.index):
            want = h.chunk_length(chunk.index)
            raise ValueError(f"chunk {chunk.index} must carry {want} samples")
        if not 1 <= len(chunk.layers) <= h.num_layers or chunk.index > MAX_CHUNK_INDEX:
            raise ValueError("chunk layer count or index out of range")
        body = chunk.body()
        if len(body) > MAX_RECORD_BODY:
            raise ValueError("chunk exceeds the 16 MiB record limit")
        self._stream.write(_record(TAG_CHUNK, body))
        self._chunks += 1
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

    ``on_damage="raise"`` (default) raises :class:`CorruptError` on a bad chunk CRC;
    ``"conceal"`` yields the chunk with ``damaged=True`` and goes on, so damage stays local.
    Iteration ends after a valid end record; trailing bytes raise :class:`TrailingDataError`.
    """

    def __init__(self, stream: BinaryIO, on_damage: str = "raise") -> None:
        if on_damage not in ("raise", "conceal"):
            raise ValueError("on_damage must be 'raise' or 'conceal'")
        self._stream = stream
        self._conceal = on_damage == "conceal"
        self.offset = 0
        self.header = self._read_header()

    def _read(self, n: int, what: str) -> bytes:
        """Read exactly ``n`` bytes in bounded blocks, so a lying length cannot balloon memory."""
        parts, need = [], n
        while need:
            part = self._stream.read(min(need, _READ_BLOCK))
            if not part:
                raise TruncatedError(
                    f"file ends inside {what}: {n - need} of {n} bytes", self.offset
                )
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
        if major != FORMAT_MAJOR:
            raise UnsupportedVersionError(
                f"format {major}.{minor} is not supported (this reader implements "
                f"{FORMAT_MAJOR}.x)",
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
        # A newer minor version may append fields; a 1.0 reader skips them (SPEC §3).
        header = StreamHeader(*_HEADER_V1.unpack_from(body), format_minor=minor)
        header.validate(_PREAMBLE.size)
        return header

    def _read_record(self) -> tuple[int, bytes, bool, int]:
        start = self.offset
        head = self._read(1, "a record header")
        while len(head) <= _LENGTH_BYTES and (len(head) == 1 or head[-1] & 0x80):
            head += self._read(1, "a record length")
        body_len, _ = decode_varint(head, 1, MAX_RECORD_BODY, "record length", start)
        tag = head[0]
        body = self._read(body_len, "a record")
        (crc,) = _CRC.unpack(self._read(_CRC.size, "a record CRC"))
        return tag, body, zlib.crc32(head + body) == crc, start

    def __iter__(self) -> Iterator[Chunk]:
        h = self.header
        expected_index, expected_channel, count = 0, 0, 0
        while True:
            tag, body, crc_ok, start = self._read_record()
            if tag == TAG_END:
                if not crc_ok:
                    raise CorruptError("end record CRC mismatch", start)
                self._finish(body, count, expected_index, start)
                return
            if tag != TAG_CHUNK:
                if not crc_ok:
                    raise CorruptError(f"unknown record 0x{tag:02x} with a bad CRC", start)
                if h.format_minor > FORMAT_MINOR:
                    continue  # a newer minor version's record: skippable by design
                raise MalformedError(f"unknown record type 0x{tag:02x}", start)
            if expected_index >= h.chunks_per_channel:
                raise MalformedError("more chunks than the header announces", start)
            if crc_ok:
                chunk = self._parse_chunk(body, start, expected_index, expected_channel)
            elif self._conceal:
                chunk = Chunk(
                    expected_index,
                    expected_channel,
                    h.chunk_length(expected_index),
                    b"",
                    (),
                    damaged=True,
                )
            else:
                raise CorruptError(f"chunk {expected_index} CRC mismatch", start)
            count += 1
            expected_channel += 1
            if expected_channel == h.channels:
                expected_index, expected_channel = expected_index + 1, 0
            yield chunk

    def _parse_chunk(self, body: bytes, start: int, want_index: int, want_channel: int) -> Chunk:
        h = self.header
        at = start + 1 + len(encode_varint(len(body)))  # body[0]: the length is minimal
        index, pos = decode_varint(body, 0, MAX_CHUNK_INDEX, "chunk index", at)
        if pos + 2 > len(body):
            raise MalformedError("chunk record too short", at)
        channel, nlayers = body[pos], body[pos + 1]
        if channel >= h.channels:
            raise MalformedError(f"chunk channel {channel} >= {h.channels}", at + pos)
        if (index, channel) != (want_index, want_channel):
            raise MalformedError(
                f"chunk ({index}, ch {channel}) out of sequence, expected "
                f"({want_index}, ch {want_channel})",
                start,
            )
        if not 1 <= nlayers <= h.num_layers:
            raise MalformedError(
                f"chunk declares {nlayers} layers, header allows {h.num_layers}", at + pos + 1
            )
        pos += 2
        lengths = []
        for k in range(1 + nlayers):
            what = "side info length" if k == 0 else f"layer {k - 1} length"
            n, pos = decode_varint(body, pos, MAX_RECORD_BODY, what, at)
            lengths.append(n)
        if pos + sum(lengths) != len(body):
            raise MalformedError("chunk sub-lengths do not add up to the record length", at)
        parts = []
        for n in lengths:
            parts.append(body[pos : pos + n])
            pos += n
        return Chunk(index, channel, h.chunk_length(index), parts[0], tuple(parts[1:]))

    def _finish(self, body: bytes, count: int, expected_index: int, start: int) -> None:
        if len(body) != _END.size:
            raise MalformedError("end record has the wrong size", start)
        (declared,) = _END.unpack(body)
        if declared != count or expected_index != self.header.chunks_per_channel:
            raise MalformedError(
                f"end record counts {declared} chunks; {count} were read, "
                f"{self.header.chunks_per_channel * self.header.channels} announced",
                start,
            )
        if self._stream.read(1):
            raise TrailingDataError("bytes follow the end record", self.offset)


def strip_layers(src: BinaryIO, dst: BinaryIO, num_layers: int) -> StreamHeader:
    """Copy ``src`` to ``dst`` keeping the first ``num_layers`` layers of every chunk."""
    reader = BitstreamReader(src)
    if not 1 <= num_layers:
        raise ValueError("at least one layer (the base layer) must be kept")
    header = replace(
        reader.header,
        num_layers=min(num_layers, reader.header.num_layers),
        format_minor=FORMAT_MINOR,
    )
    writer = BitstreamWriter(dst, header)
    for chunk in reader:
        writer.write_chunk(chunk.stripped(num_layers))
    writer.close()
    return header
