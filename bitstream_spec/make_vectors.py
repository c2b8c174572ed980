"""Regenerate the conformance vectors (provenance; the committed files are normative).

    python bitstream_spec/make_vectors.py [OUT_DIR]      # default: bitstream_spec/vectors

Symbols are drawn from fixed-seed distributions; tables are built from their counts with
``FrequencyTable.from_counts``. Changing the coder or the container changes the bytes, which
the pinned SHA-256 values and ``tests/test_make_vectors.py`` (regenerate, compare bytes) catch.

The vectors' tier id is 0 (no model), so their ``model_hash`` covers the only model data they
have, the table set: the first 8 bytes of SHA-256 over the serialised tables (SPEC.md §2).

The first vectors are format 1.0 (made before 2.0 and kept: readers still read 1.0); the
``v2_*`` vectors are format 2.0, with chunks of no layers, silent, stationary and mid/side
chunks.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from nwcodec.bitstream import (
    FLAG_MID,
    FLAG_SIDE,
    FLAG_STATIONARY,
    MAX_RECORD_BODY,
    BitstreamWriter,
    Chunk,
    StreamHeader,
    decode_varint,
    encode_varint,
    strip_layers,
)
from nwcodec.entropy import FrequencyTable, encode_streams, tables_digest

VECTORS = Path(__file__).parent / "vectors"
CONFORMANCE_TIER = 0  # reserved: test vectors only, never a codec


def _tables(rng: np.random.Generator) -> list[FrequencyTable]:
    sizes = [2, 16, 33, 256]
    return [FrequencyTable.from_counts(rng.integers(0, 1000, n) ** 2) for n in sizes]


def _v2_shape(rng: np.random.Generator, channel: int, channels: int, layers: int,
              pair: bool) -> tuple[int, int, bool]:
    """Format 2.0 vectors: (layer count, flags, side information present) of one record;
    ``pair``: this chunk codes channels 0 and 1 as mid/side."""
    flags = (FLAG_MID if channel == 0 else FLAG_SIDE if channel == 1 else 0) if pair else 0
    kind = int(rng.integers(0, 4))  # silent, side only, stationary, layers
    if kind == 2:
        return 0, flags | FLAG_STATIONARY, True
    if kind == 3:
        return int(rng.integers(1, layers + 1)), flags, True
    return 0, flags, kind == 1


def make(out_dir: Path, name: str, seed: int, channels: int, layers: int, total: int,
         chunk: int, major: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    tables = _tables(rng)
    header = StreamHeader(
        tier_id=CONFORMANCE_TIER,
        model_hash=tables_digest(tables)[:8],
        sample_rate=16000,
        original_sample_rate=16000,
        channels=channels,
        num_layers=layers,
        chunk_samples=chunk,
        total_samples=total,
        original_samples=total,
        format_major=major,
    )
    out = io.BytesIO()
    writer = BitstreamWriter(out, header)
    record = []
    for index in range(header.chunks_per_channel):
        pair = major >= 2 and channels >= 2 and bool(rng.integers(0, 2))
        for channel in range(channels):
            count, flags, has_side = layers, 0, True
            if major >= 2:
                count, flags, has_side = _v2_shape(rng, channel, channels, layers, pair)
            payloads, streams_json = [], []
            for _ in range(count):
                streams = []
                for t in rng.integers(0, len(tables), rng.integers(0, 4)):
                    p = tables[t].freqs / tables[t].freqs.sum()
                    symbols = rng.choice(tables[t].num_symbols, rng.integers(0, 200), p=p)
                    streams.append((symbols, tables[t], int(t)))
                payloads.append(encode_streams([(s, tab) for s, tab, _ in streams]))
                streams_json.append([{"table": t, "symbols": s.tolist()} for s, _, t in streams])
            side = rng.integers(0, 256, rng.integers(0, 6), dtype=np.uint8).tobytes()
            if major >= 2:
                side = rng.integers(0, 256, rng.integers(1, 6), dtype=np.uint8).tobytes() * has_side
            writer.write_chunk(
                Chunk(index, channel, header.chunk_length(index), side, tuple(payloads),
                      flags=flags)
            )
            record.append(
                {"index": index, "channel": channel, "side_info_hex": side.hex(),
                 "flags": flags, "layers": streams_json}
            )
    writer.close()
    data = out.getvalue()
    meta = {
        "header": {"tier_id": CONFORMANCE_TIER, "total_samples": total, "format_major": major},
        "tables": [{"precision": t.precision, "freqs": t.freqs.tolist()} for t in tables],
        "chunks": record,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (out_dir / f"{name}.nwc").write_bytes(data)
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return data


def make_stripped(out_dir: Path, src_name: str, name: str, keep: int) -> None:
    out = io.BytesIO()
    strip_layers(io.BytesIO((out_dir / f"{src_name}.nwc").read_bytes()), out, keep)
    meta = json.loads((out_dir / f"{src_name}.json").read_text())
    for c in meta["chunks"]:
        c["layers"] = c["layers"][:keep]
    meta["sha256"] = hashlib.sha256(out.getvalue()).hexdigest()
    (out_dir / f"{name}.nwc").write_bytes(out.getvalue())
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def _padded_first_length(base: bytes) -> bytes:
    """``base`` with the first chunk's record length re-encoded one byte too long (non-minimal)
    and the record CRC recomputed, so only the varint rule refuses it."""
    start = 12 + struct.unpack_from("<H", base, 10)[0] + 4  # first record (SPEC §2)
    length, body_at = decode_varint(base, start + 1, MAX_RECORD_BODY)
    padded = bytearray(encode_varint(length))
    padded[-1] |= 0x80
    head = base[start : start + 1] + bytes(padded) + b"\x00" + base[body_at : body_at + length]
    return base[:start] + head + struct.pack("<I", zlib.crc32(head)) + base[body_at + length + 4 :]


def _with_layer_byte(data: bytes, record: int, value: int) -> bytes:
    """``data`` with the layer byte (SPEC §3.1) of chunk record number ``record`` set to
    ``value`` and that record's CRC recomputed, so only the layer byte's rules refuse it."""
    out = bytearray(data)
    start = 12 + struct.unpack_from("<H", data, 10)[0] + 4
    for _ in range(record):
        length, body_at = decode_varint(data, start + 1, MAX_RECORD_BODY)
        start = body_at + length + 4
    length, body_at = decode_varint(data, start + 1, MAX_RECORD_BODY)
    _, channel_at = decode_varint(data, body_at, MAX_RECORD_BODY)
    out[channel_at + 1] = value
    struct.pack_into("<I", out, body_at + length, zlib.crc32(out[start : body_at + length]))
    return bytes(out)


def _v2_pair_base() -> bytes:
    """A 2.0 stereo stream of one chunk: channel 0 with one layer, channel 1 side info only."""
    header = StreamHeader(
        tier_id=CONFORMANCE_TIER, model_hash=bytes(8), sample_rate=16000,
        original_sample_rate=16000, channels=2, num_layers=2, chunk_samples=16000,
        total_samples=16000, original_samples=16000,
    )
    out = io.BytesIO()
    writer = BitstreamWriter(out, header)
    writer.write_chunk(Chunk(0, 0, 16000, b"s0", (b"layer",)))
    writer.write_chunk(Chunk(0, 1, 16000, b"s1", ()))
    writer.close()
    return out.getvalue()


def make_invalid(out_dir: Path, base: bytes) -> None:
    inv = out_dir / "invalid"
    inv.mkdir(exist_ok=True)
    end = 1 + len(encode_varint(4)) + 4 + 4  # end record: tag, length, chunk_count, CRC
    last_body_byte = len(base) - end - 4 - 1  # just before the last chunk's CRC
    cases = {
        "bad_magic.nwc": (b"RIFF" + base[4:], "NotNwcError"),
        "major_3.nwc": (base[:8] + b"\x03" + base[9:], "UnsupportedVersionError"),
        "header_crc.nwc": (base[:20] + bytes([base[20] ^ 1]) + base[21:], "CorruptError"),
        "truncated.nwc": (base[: len(base) // 2], "TruncatedError"),
        "chunk_crc.nwc": (
            base[:last_body_byte] + bytes([base[last_body_byte] ^ 0x80])
            + base[last_body_byte + 1 :],
            "CorruptError",
        ),
        "trailing.nwc": (base + b"\x00", "TrailingDataError"),
        "no_end.nwc": (base[:-end], "TruncatedError"),
        "length_not_minimal.nwc": (_padded_first_length(base), "MalformedError"),
        # a 1.0 layer byte is num_layers alone: 0x22 declares 34 layers
        "v1_flag_bits.nwc": (_with_layer_byte(base, 0, 0x22), "MalformedError"),
    }
    pair = _v2_pair_base()
    v2_cases = {  # layer byte: num_layers | flags << 5 (SPEC §3.1)
        "v2_mid_and_side.nwc": (0, 1 | (FLAG_MID | FLAG_SIDE) << 5),
        "v2_mid_without_side.nwc": (0, 1 | FLAG_MID << 5),
        "v2_side_without_mid.nwc": (1, FLAG_SIDE << 5),
        "v2_side_on_channel_0.nwc": (0, 1 | FLAG_SIDE << 5),
        "v2_stationary_with_layers.nwc": (0, 1 | FLAG_STATIONARY << 5),
        "v2_too_many_layers.nwc": (1, 3),
    }
    for name, (record, value) in v2_cases.items():
        cases[name] = (_with_layer_byte(pair, record, value), "MalformedError")
    for name, (data, _) in cases.items():
        (inv / name).write_bytes(data)
    expected = {name: err for name, (_, err) in cases.items()}
    (inv / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def make_all(out_dir: Path = VECTORS) -> None:
    """Write every vector (valid and invalid) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = make(out_dir, "mono_2layers", seed=1, channels=1, layers=2, total=40000, chunk=16000)
    make(out_dir, "stereo_3layers", seed=2, channels=2, layers=3, total=20000, chunk=8000)
    make(out_dir, "mono_1layer_short", seed=3, channels=1, layers=1, total=100, chunk=16000)
    make_stripped(out_dir, "stereo_3layers", "stereo_3layers_strip1", keep=1)
    make(out_dir, "v2_stereo_3layers", seed=4, channels=2, layers=3, total=80000, chunk=8000,
         major=2)
    make(out_dir, "v2_mono_2layers", seed=5, channels=1, layers=2, total=40000, chunk=8000,
         major=2)
    make_stripped(out_dir, "v2_stereo_3layers", "v2_stereo_3layers_strip1", keep=1)
    make_invalid(out_dir, base)


if __name__ == "__main__":
    make_all(Path(sys.argv[1]) if len(sys.argv) > 1 else VECTORS)
