"""The public codec API (nwcodec.codec) end to end, on the deterministic ``test-random`` tier."""

import hashlib
import importlib.resources
import io
import struct
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import nwcodec
from nwcodec.bitstream import (
    MAX_RECORD_BODY,
    BitstreamReader,
    CorruptError,
    decode_varint,
    strip_layers,
)
from nwcodec.codec import Codec, ModelMismatchError, join_side, split_side
from nwcodec.dsp.band_envelope import BandEnvelope
from nwcodec.entropy import EntropyError
from nwcodec.errors import NwcodecError
from nwcodec.zoo import UnknownTierError

SAMPLE = importlib.resources.files("nwcodec") / "data" / "sample.flac"
REPO = Path(__file__).resolve().parents[1]
HEADER_BYTES = 12 + 40 + 4  # preamble, 1.0 body, CRC (SPEC §2)


def speechlike(seconds: float, sr: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a syllable-rate envelope plus a little noise, (samples, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    out = []
    for ch in range(channels):
        f0 = 110.0 + 40.0 * ch
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
        x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)) * 0.2
        out.append(x + 0.005 * rng.standard_normal(t.size))
    return np.stack(out, axis=1).astype(np.float32)


def patch_header(data: bytes, offset: int, value: bytes) -> bytes:
    """Overwrite header bytes at ``offset`` and recompute the header CRC (SPEC §2)."""
    out = bytearray(data)
    out[offset : offset + len(value)] = value
    (body_len,) = struct.unpack_from("<H", out, 10)
    end = 12 + body_len
    out[end : end + 4] = struct.pack("<I", zlib.crc32(bytes(out[:end])))
    return bytes(out)


def with_tier_id(data: bytes, tier_id: int) -> bytes:
    return patch_header(data, 12, struct.pack("<H", tier_id))


def with_model_hash(data: bytes, model_hash: bytes) -> bytes:
    return patch_header(data, 14, model_hash)


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of every record after a 1.0 header."""
    spans, pos = [], HEADER_BYTES
    while pos < len(data):
        length, body = decode_varint(data, pos + 1, MAX_RECORD_BODY)  # after the tag (SPEC §3)
        spans.append((pos, body + length + 4))
        pos = spans[-1][1]
    return spans


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec.load("test-random")


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    audio, sr = sf.read(str(SAMPLE), dtype="float32", always_2d=True)
    return audio, sr


def test_round_trip_real_speech_restores_length_and_rate(codec, speech):
    audio, sr = speech
    data = codec.encode(audio, sr)
    header = BitstreamReader(io.BytesIO(data)).header
    assert (header.tier_id, header.channels, header.num_layers) == (1, 1, 2)
    y, sr_out = codec.decode(data)
    assert sr_out == sr and y.shape == audio.shape and y.dtype == np.float32
    assert np.isfinite(y).all()


def test_round_trip_other_rate_restores_rate_and_length(codec):
    x = speechlike(0.73, sr=44100, channels=2)
    y, sr_out = codec.decode(codec.encode(x, 44100))
    assert sr_out == 44100 and y.shape == x.shape
    y16, sr16 = codec.decode(codec.encode(x, 44100), sample_rate=16000)
    assert sr16 == 16000 and y16.shape == (-(-x.shape[0] * 16000 // 44100), 2)


def test_empty_signal_round_trips(codec):
    data = codec.encode(np.zeros(0, np.float32), 16000)
    y, sr = codec.decode(data)
    assert y.shape == (0, 1) and sr == 16000


def test_first_layers_equal_stripped_stream(codec):
    x = speechlike(1.6)
    full = codec.encode(x, 16000)
    stripped = io.BytesIO()
    strip_layers(io.BytesIO(full), stripped, 1)
    # the encoder is closed-loop per layer, so a 1-layer encode is the stripped stream
    assert codec.encode(x, 16000, layers=1) == stripped.getvalue()
    y1, _ = codec.decode(full, layers=1)
    ys, _ = codec.decode(stripped.getvalue())
    np.testing.assert_array_equal(y1, ys)
    y2, _ = codec.decode(full)
    assert not np.array_equal(y1, y2)  # the second layer does change the output
    with pytest.raises(NwcodecError, match="layers 1..2"):
        codec.encode(x, 16000, layers=3)


def _hashes(data: bytes, y: np.ndarray) -> str:
    return f"{hashlib.sha256(data).hexdigest()} {hashlib.sha256(y.tobytes()).hexdigest()}"


_THREAD_SCRIPT = """
import hashlib, sys, torch, soundfile as sf
torch.set_num_threads(int(sys.argv[1]))
from nwcodec.codec import Codec
codec = Codec.load("test-random")
x, sr = sf.read(sys.argv[2], dtype="float32", always_2d=True, frames=int(1.5 * 16000))
data = codec.encode(x, sr)
y, _ = codec.decode(data)
print(hashlib.sha256(data).hexdigest(), hashlib.sha256(y.tobytes()).hexdigest())
"""


def test_determinism_across_runs_and_thread_counts(codec):
    procs = [
        subprocess.Popen([sys.executable, "-c", _THREAD_SCRIPT, str(n), str(SAMPLE)],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in (1, 2)
    ]
    x, sr = sf.read(str(SAMPLE), dtype="float32", always_2d=True, frames=int(1.5 * 16000))
    first = codec.encode(x, sr)
    assert Codec.load("test-random").encode(x, sr) == first
    local = _hashes(first, codec.decode(first)[0])
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(out.strip())
    assert results == [local, local]


def test_streaming_file_coding_equals_whole_array(codec, tmp_path):
    for sr in (16000, 22050):  # the streaming path (model rate) and the resampling path
        src = tmp_path / f"in{sr}.wav"
        sf.write(src, speechlike(1.3, sr=sr, channels=2), sr, subtype="PCM_24")
        audio, _ = sf.read(src, dtype="float32", always_2d=True)
        whole = codec.encode(audio, sr)
        out = io.BytesIO()
        codec.encode_file(str(src), out)
        assert out.getvalue() == whole

        decoded = tmp_path / f"dec{sr}.wav"
        header = codec.decode_to_file(io.BytesIO(whole), str(decoded))
        assert header.original_sample_rate == sr
        reference = tmp_path / f"ref{sr}.wav"
        y, sr_y = codec.decode(whole)
        sf.write(reference, np.clip(y, -1, 1), sr_y)
        got, sr_got = sf.read(decoded, dtype="int16")
        want, _ = sf.read(reference, dtype="int16")
        assert sr_got == sr
        np.testing.assert_array_equal(got, want)


def test_conceal_silences_only_the_damaged_chunk(codec):
    n = codec.chunk_samples
    x = speechlike(3.0)
    data = codec.encode(x, 16000)
    clean, _ = codec.decode(data)
    start, end = record_spans(data)[1]  # chunk 1 of the single channel
    bad = bytearray(data)
    bad[(start + end) // 2] ^= 0x5A
    with pytest.raises(CorruptError):
        codec.decode(bytes(bad))
    y, _ = codec.decode(bytes(bad), conceal=True)
    assert y.shape == clean.shape
    assert not np.any(y[n : 2 * n])
    np.testing.assert_array_equal(y[:n], clean[:n])
    np.testing.assert_array_equal(y[2 * n :], clean[2 * n :])
    assert np.any(clean[n : 2 * n])


def test_wrong_model_hash_is_refused(codec):
    data = codec.encode(speechlike(0.3), 16000)
    with pytest.raises(ModelMismatchError, match="model hash"):
        codec.decode(with_model_hash(data, b"\x00" * 8))


def test_unknown_or_foreign_tier_is_refused(codec):
    data = codec.encode(speechlike(0.3), 16000)
    with pytest.raises(UnknownTierError, match="60000"):
        nwcodec.decode(with_tier_id(data, 60000))
    with pytest.raises(ModelMismatchError, match="tier id 0"):
        codec.decode(with_tier_id(data, 0))


def test_channels_are_coded_independently(codec):
    x = speechlike(2.1, channels=3)
    x[:, 2] = 0.0
    data = codec.encode(x, 16000)
    reader = BitstreamReader(io.BytesIO(data))
    assert reader.header.channels == 3
    assert [(c.index, c.channel) for c in reader] == [(i, ch) for i in range(2) for ch in range(3)]
    y, _ = codec.decode(data)
    assert y.shape == x.shape
    for ch in range(3):
        mono, _ = codec.decode(codec.encode(x[:, ch], 16000))
        np.testing.assert_array_equal(y[:, ch], mono[:, 0])


def _with_envelope(codec: Codec) -> Codec:
    return Codec(codec.model, replace(codec.tier, envelope=BandEnvelope(16000, 320,
                                                                        (4000, 6000, 8000))))


def test_band_envelope_rides_in_the_side_information_and_survives_stripping(codec):
    enveloped = _with_envelope(codec)
    x = speechlike(2.5)
    plain, full = codec.encode(x, 16000), enveloped.encode(x, 16000)
    assert len(full) > len(plain)
    for chunk, bare in zip(BitstreamReader(io.BytesIO(full)), BitstreamReader(io.BytesIO(plain)),
                           strict=True):
        model_side, envelope = split_side(chunk.side_info)
        assert model_side == bare.side_info and chunk.layers == bare.layers and envelope
    stripped = io.BytesIO()
    strip_layers(io.BytesIO(full), stripped, 1)
    np.testing.assert_array_equal(enveloped.decode(stripped.getvalue())[0],
                                  enveloped.decode(full, layers=1)[0])
    assert not np.array_equal(enveloped.decode(full)[0], codec.decode(plain)[0])


def test_side_information_without_its_envelope_is_damage(codec):
    # A stream whose side information lacks the envelope framing, read by a decoder that
    # expects it: refused naming the chunk, or silenced in conceal mode.
    data = codec.encode(speechlike(2.5), 16000)
    with pytest.raises(CorruptError, match="chunk 0 channel 0"):
        _with_envelope(codec).decode(data)
    y, _ = _with_envelope(codec).decode(data, conceal=True)
    assert y.shape[0] == int(2.5 * 16000) and not np.any(y)
    with pytest.raises(EntropyError, match="overruns"):
        split_side(b"\x03ab")
    assert split_side(join_side(b"lpc", b"env")) == (b"lpc", b"env")
