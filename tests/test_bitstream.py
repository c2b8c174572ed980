import io
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitstream_spec import conformance
from bitstream_spec.mutations import mutations, read_all
from nwcodec.bitstream import (
    MAX_CHUNK_INDEX,
    MAX_RECORD_BODY,
    BitstreamError,
    BitstreamReader,
    BitstreamWriter,
    Chunk,
    MalformedError,
    StreamHeader,
    decode_varint,
    encode_varint,
    strip_layers,
)
from nwcodec.errors import NwcodecError

SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec"


def _header(channels=1, layers=2, total=40000, chunk=16000) -> StreamHeader:
    return StreamHeader(
        tier_id=7, model_hash=b"abcdefgh", sample_rate=16000, original_sample_rate=44100,
        channels=channels, num_layers=layers, chunk_samples=chunk, total_samples=total,
        original_samples=total * 44100 // 16000,
    )


@st.composite
def streams(draw):
    header = _header(
        channels=draw(st.integers(1, 3)), layers=draw(st.integers(1, 4)),
        total=draw(st.integers(0, 50000)), chunk=draw(st.integers(1000, 20000)),
    )
    chunks = []
    for index in range(header.chunks_per_channel):
        for channel in range(header.channels):
            layers = tuple(
                draw(st.binary(max_size=40))
                for _ in range(draw(st.integers(1, header.num_layers)))
            )
            chunks.append(
                Chunk(index, channel, header.chunk_length(index),
                      draw(st.binary(max_size=20)), layers)
            )
    return header, chunks


def _write(header, chunks) -> bytes:
    out = io.BytesIO()
    writer = BitstreamWriter(out, header)
    for c in chunks:
        writer.write_chunk(c)
    writer.close()
    return out.getvalue()


@settings(max_examples=80, deadline=None)
@given(streams())
def test_round_trip(stream):
    header, chunks = stream
    reader = BitstreamReader(io.BytesIO(_write(header, chunks)))
    assert reader.header == header
    assert list(reader) == chunks


@settings(max_examples=50, deadline=None)
@given(streams(), st.integers(1, 5))
def test_strip_equals_first_layers(stream, keep):
    header, chunks = stream
    out = io.BytesIO()
    if keep > header.num_layers:  # one rule with encode and decode: no layers that are not there
        with pytest.raises(NwcodecError, match=f"layers 1..{header.num_layers}"):
            strip_layers(io.BytesIO(_write(header, chunks)), out, keep)
        return
    strip_layers(io.BytesIO(_write(header, chunks)), out, keep)
    reader = BitstreamReader(io.BytesIO(out.getvalue()))
    assert reader.header.num_layers == keep
    assert list(reader) == [c.stripped(keep) for c in chunks]


@given(st.integers(0, MAX_CHUNK_INDEX), st.binary(max_size=3))
def test_varint_round_trips_minimally(value, tail):
    data = encode_varint(value)
    assert len(data) == max(1, -(-value.bit_length() // 7))
    assert decode_varint(data + tail, 0, MAX_CHUNK_INDEX) == (value, len(data))


@given(st.integers(0, MAX_RECORD_BODY), st.integers(1, 3))
def test_varint_refuses_non_minimal_overlong_or_too_large(value, pad):
    data = bytearray(encode_varint(value))
    data[-1] |= 0x80
    padded = bytes(data) + b"\x80" * (pad - 1) + b"\x00"  # same value, `pad` bytes too long
    with pytest.raises(MalformedError, match="minimal|longer"):
        decode_varint(padded, 0, MAX_RECORD_BODY)
    with pytest.raises(MalformedError, match="exceeds"):
        decode_varint(encode_varint(MAX_RECORD_BODY + 1 + value), 0, MAX_RECORD_BODY)
    with pytest.raises(MalformedError, match="runs past|longer"):
        decode_varint(bytes(data), 0, MAX_RECORD_BODY)


def test_record_length_longer_than_four_bytes_is_refused():
    header = _header(total=100)
    base = _write(header, [Chunk(0, 0, 100, b"", (b"xyz",))])
    first = 12 + 40 + 4
    bad = base[: first + 1] + b"\x80\x80\x80\x80\x00" + base[first + 2 :]
    with pytest.raises(MalformedError, match="longer than 4 bytes"):
        list(BitstreamReader(io.BytesIO(bad)))


def test_writer_refuses_out_of_order_or_missing_chunks():
    header = _header()
    writer = BitstreamWriter(io.BytesIO(), header)
    with pytest.raises(ValueError, match="out of order"):
        writer.write_chunk(Chunk(1, 0, 16000, b"", (b"x",)))
    with pytest.raises(ValueError, match="announces"):
        writer.close()


def test_conceal_mode_keeps_damage_local():
    header = _header()
    chunks = [Chunk(i, 0, header.chunk_length(i), b"s", (b"a" * 30, b"b" * 9)) for i in range(3)]
    data = bytearray(_write(header, chunks))
    second = data.index(b"a" * 30, data.index(b"a" * 30) + 30)
    data[second + 3] ^= 0xFF
    with pytest.raises(BitstreamError, match="CRC"):
        list(BitstreamReader(io.BytesIO(bytes(data))))
    got = list(BitstreamReader(io.BytesIO(bytes(data)), on_damage="conceal"))
    assert [c.damaged for c in got] == [False, True, False]
    assert got[0] == chunks[0] and got[2] == chunks[2]


def test_newer_minor_version_is_read_and_its_extensions_skipped():
    import struct
    import zlib

    header = _header(total=100)
    base = _write(header, [Chunk(0, 0, 100, b"", (b"xyz",))])
    body_len = struct.unpack_from("<H", base, 10)[0]
    # minor 7 appends 4 header bytes and a record type 0x51 that 1.0 does not know
    head = base[:9] + b"\x07" + struct.pack("<H", body_len + 4) + base[12 : 12 + body_len]
    head += b"NEW!"
    head += struct.pack("<I", zlib.crc32(head))
    extra = bytes([0x51]) + encode_varint(2) + b"hi"
    extra += struct.pack("<I", zlib.crc32(extra))
    rest = base[12 + body_len + 4 :]
    reader = BitstreamReader(io.BytesIO(head + extra + rest))
    assert reader.header.format_minor == 7
    assert [c.layers for c in reader] == [(b"xyz",)]


def test_conformance_vectors():
    conformance.main()


def test_pinned_vector_bytes():
    # Any change to the coder or the container changes these bytes: bump the format then.
    meta = json.loads((SPEC / "vectors" / "mono_2layers.json").read_text())
    assert meta["sha256"] == "d4de595d7ffa54ce278af733dfec7302d4e7f195b5e4e578e779b9fa32fc67ea"


def test_mutation_fuzz_only_raises_bitstream_errors_with_bounded_memory():
    base = (SPEC / "vectors" / "stereo_3layers.nwc").read_bytes()
    rng = np.random.default_rng(2026)
    tracemalloc.start()
    peak_ratio = 0.0
    for data in mutations(base, rng, 3000):
        tracemalloc.reset_peak()
        for mode in ("raise", "conceal"):
            try:
                read_all(data, mode)
            except BitstreamError:
                pass
        peak_ratio = max(peak_ratio, tracemalloc.get_traced_memory()[1] / max(len(data), 64))
    tracemalloc.stop()
    assert peak_ratio < 64, f"reader allocated {peak_ratio:.0f}x the input size"
