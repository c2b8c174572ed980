"""Hostile and damaged .nwc files (issue 9, items 5-10), built by hand with valid CRCs
(tests/craft.py). Each must give one clear error, or with --conceal everything recoverable,
in memory and time bounded by the input."""

import io
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import nwcodec
from nwcodec.bitstream import BitstreamError, BitstreamReader
from nwcodec.codec import Codec
from nwcodec.errors import NwcodecError
from tests import craft
from tests.test_cli import assert_one_line_error, run
from tests.test_codec import record_spans, speechlike

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec.load("test-random")


@pytest.fixture(scope="module")
def good(codec) -> bytes:
    """3 s of mono speech-like audio: two chunk records (2 s and 1 s)."""
    return codec.encode(speechlike(3.0), 16000)


def _decodes_to_one_line_error(tmp_path, data: bytes, message: str) -> None:
    (tmp_path / "in.nwc").write_bytes(data)
    result = run("decode", str(tmp_path / "in.nwc"), str(tmp_path / "out.wav"))
    assert_one_line_error(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nwc"]


def test_original_length_is_bounded_by_the_coded_length(good, tmp_path):
    for n in (1 << 28, 1 << 40):
        data = craft.patch_header(good, original_samples=n, original_sample_rate=8000)
        with pytest.raises(NwcodecError, match="original length"):
            nwcodec.decode(data)
        _decodes_to_one_line_error(tmp_path, data, "original length")


@pytest.mark.parametrize("fields, message", [
    ({"chunk_samples": 1 << 20, "total_samples": 8 << 20}, "chunk length 1048576"),
    ({"sample_rate": 768_000, "original_sample_rate": 768_000}, "sample rate 768000"),
    ({"num_layers": 16}, "16 layers"),
], ids=["chunk length 2^20", "768 kHz", "more layers than the model"])
def test_header_must_match_the_tier(good, tmp_path, fields, message):
    h = craft.model_hash_of(good)
    total = fields.get("total_samples", 32000)
    chunk = fields.get("chunk_samples", 32000)
    records = [craft.chunk(i, 0, b"", [b""]) for i in range(-(-total // chunk))]
    data = craft.header(h, **fields | {"total_samples": total}) + b"".join(records)
    _decodes_to_one_line_error(tmp_path, data + craft.end(len(records)), message)


def test_blocks_are_built_from_records_read_not_from_the_header(codec, good):
    """255 channels announced, one record present: nothing the size of a 255-channel
    block is allocated before the data fails."""
    data = craft.header(craft.model_hash_of(good), channels=255, total_samples=32000)
    data += good[record_spans(good)[0][0] : record_spans(good)[0][1]]
    tracemalloc.start()
    with pytest.raises(BitstreamError, match="file ends"):
        codec.decode(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 255 * 32000 * 4 / 4


@pytest.mark.parametrize("layers", [[b""], [b"", b""]], ids=["empty", "empty x2"])
def test_empty_payloads_are_refused_naming_chunk_and_offset(good, tmp_path, layers):
    data = craft.header(craft.model_hash_of(good), total_samples=32000)
    data += craft.chunk(0, 0, b"", layers) + craft.end(1)
    with pytest.raises(BitstreamError, match=r"chunk 0 channel 0: range-coded data runs out"
                                             r".*\(at byte 56\)"):
        nwcodec.decode(data)


def test_short_payload_is_refused(codec, good):
    start, _ = record_spans(good)[0]
    chunk = next(iter(BitstreamReader(io.BytesIO(good))))
    cut = craft.chunk(0, 0, chunk.side_info, [p[:4] for p in chunk.layers])
    data = craft.patch_header(good[:start], total_samples=32000, original_samples=32000)
    data += cut + craft.end(1)
    with pytest.raises(BitstreamError, match="runs out: 4 bytes"):
        codec.decode(data)


class _Zeros(io.RawIOBase):
    """An endless-looking stream of zero bytes that counts what was read."""

    def __init__(self, size: int) -> None:
        self.left, self.taken = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        self.taken += n
        return n


def test_decode_checks_the_magic_before_reading_on(monkeypatch, tmp_path):
    zeros = _Zeros(64 << 20)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(zeros)))
    from cli.app import main

    with pytest.raises(SystemExit) as stop:
        main(["decode", "-", str(tmp_path / "out.wav")], standalone_mode=False)
    assert stop.value.code == 1
    assert zeros.taken <= 1 << 16


def test_conceal_resumes_after_a_cut_or_a_damaged_length(codec, good, tmp_path):
    spans = record_spans(good)
    clean, _ = codec.decode(good)
    cut = good[: spans[1][0] + 100]  # inside the second (last) chunk record
    y, _ = codec.decode(cut, conceal=True)
    assert y.shape[0] == 32000 and np.array_equal(y, clean[:32000])
    assert "the data ends at byte" in " ".join(codec.decode_report)

    hit = bytearray(good)
    hit[spans[0][0] + 1] ^= 0x40  # chunk 0's length varint: the framing is lost
    (tmp_path / "hit.nwc").write_bytes(bytes(hit))
    result = run("decode", str(tmp_path / "hit.nwc"), str(tmp_path / "out.wav"), "--conceal")
    assert result.exit_code == 0
    assert "concealed chunk 0 (2.00 s)" in result.stderr
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert y.shape[0] == clean.shape[0] and not y[:32000].any() and y[32000:].any()


@pytest.mark.parametrize("args, message", [
    (["x.flac"], "at most 8 channels"),
    (["x.mp3", "-r", "768000"], "cannot hold 768000 Hz"),
    (["x.ogg", "-r", "256000"], "cannot hold 256000 Hz"),
], ids=["9 ch to FLAC", "768 kHz to MP3", "256 kHz to OGG"])
def test_output_formats_are_checked_before_writing(codec, tmp_path, args, message):
    (tmp_path / "nine.nwc").write_bytes(codec.encode(speechlike(0.2, channels=9), 16000))
    # in a child process: libsndfile crashes on OGG at >= 256 kHz without the check
    proc = subprocess.run(
        [sys.executable, "-m", "nwcodec", "decode", "nine.nwc", *args], cwd=tmp_path,
        capture_output=True, env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=120,
    )
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and err.startswith("nwc: error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nine.nwc"]


@pytest.mark.parametrize("rate", [5, 0, 10**7, 16000.5])
def test_api_output_rate_is_validated(good, rate):
    with pytest.raises(NwcodecError, match="output sample rate"):
        nwcodec.decode(good, sample_rate=rate)
