"""Hand-built .nwc files with valid CRCs (bitstream_spec/SPEC.md §2–§3), for hostile-input tests.

Fields are packed here from the spec, not by ``BitstreamWriter``, which refuses what these
files need to hold (lying headers, empty payloads); only the varint coder is shared.
"""

from __future__ import annotations

import struct
import zlib

from nwcodec.bitstream import encode_varint as varint

MAGIC = b"\x89NWC\r\n\x1a\n"
HEADER_BYTES = 12 + 40 + 4


def header(
    model_hash: bytes,
    *,
    tier_id: int = 1,
    sample_rate: int = 16000,
    original_sample_rate: int = 16000,
    channels: int = 1,
    num_layers: int = 2,
    chunk_samples: int = 32000,
    total_samples: int = 16000,
    original_samples: int | None = None,
) -> bytes:
    """A format 1.0 header (§2) with its CRC."""
    body = struct.pack(
        "<H8sIIBBIQQ",
        tier_id,
        model_hash,
        sample_rate,
        original_sample_rate,
        channels,
        num_layers,
        chunk_samples,
        total_samples,
        total_samples if original_samples is None else original_samples,
    )
    head = MAGIC + bytes([1, 0]) + struct.pack("<H", len(body)) + body
    return head + struct.pack("<I", zlib.crc32(head))


def record(tag: int, body: bytes) -> bytes:
    """One record (§3): tag, varint length, body, CRC-32 of all three."""
    head = bytes([tag]) + varint(len(body)) + body
    return head + struct.pack("<I", zlib.crc32(head))


def chunk(index: int, channel: int, side: bytes, layers: list[bytes]) -> bytes:
    """A chunk record (§3.1)."""
    lengths = b"".join(varint(len(p)) for p in [side, *layers])
    body = varint(index) + bytes([channel, len(layers)]) + lengths + side + b"".join(layers)
    return record(0x43, body)


def end(count: int) -> bytes:
    """The end record (§3.2)."""
    return record(0x45, struct.pack("<I", count))


def patch_header(data: bytes, **fields: int) -> bytes:
    """``data`` with header fields replaced (names as in :func:`header`) and the CRC redone."""
    names = ["tier_id", "model_hash", "sample_rate", "original_sample_rate", "channels",
             "num_layers", "chunk_samples", "total_samples", "original_samples"]
    values = dict(zip(names, struct.unpack_from("<H8sIIBBIQQ", data, 12), strict=True))
    values.update(fields)
    return header(**values) + data[HEADER_BYTES:]


def model_hash_of(data: bytes) -> bytes:
    return data[14:22]
