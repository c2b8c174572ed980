"""Encode/decode as a user meets them (issue 9, items 14, 18-21): summary lines, the Python
API's shapes and layers, one rule for --layers, helpful errors, -j/--jobs and --shard."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import nwcodec
from nwcodec.zoo import nearest_tier
from tests.test_cli import TIER, assert_one_line_error, run
from tests.test_codec import record_spans, speechlike


@pytest.fixture
def wav(tmp_path) -> Path:
    path = tmp_path / "talk.wav"
    sf.write(path, speechlike(0.5), 16000)
    return path


@pytest.fixture
def coded(wav, tmp_path) -> Path:
    out = tmp_path / "talk.nwc"
    assert run("encode", str(wav), str(out), *TIER).exit_code == 0
    return out


def test_one_summary_line_per_file_and_quiet_silences_it(wav, coded, tmp_path):
    enc = run("encode", str(wav), str(tmp_path / "v.nwc"), "-v", *TIER)
    size = (tmp_path / "v.nwc").stat().st_size
    assert enc.stderr.splitlines() == [
        f"{wav} -> {tmp_path / 'v.nwc'}: test-random, 0.50 s, "
        f"{size * 8 / 0.5 / 1000:.2f} kbit/s ({size} bytes)"
    ]
    dec = run("decode", str(coded), str(tmp_path / "v.wav"), "-v")
    assert dec.stderr.startswith(f"{coded} -> {tmp_path / 'v.wav'}: test-random, 0.50 s, ")
    quiet = run("encode", str(wav), str(tmp_path / "q.nwc"), "-q", "-v", *TIER)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_bitrate_says_which_tier_it_chose(wav, tmp_path):
    result = run("encode", str(wav), str(tmp_path / "b.nwc"), "--bitrate", "8", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    result = run("encode", str(wav), str(tmp_path / "c.nwc"), "--bitrate", "8")
    named = nearest_tier(8)
    assert result.stderr.splitlines()[0].startswith(f"nwc: --bitrate 8 picks tier {named.name} ")
    assert (tmp_path / "c.nwc").read_bytes()[12:14] == named.id.to_bytes(2, "little")  # SPEC §2


def test_api_returns_the_shape_it_was_given_and_takes_layers():
    mono = speechlike(0.5)[:, 0]
    data = nwcodec.encode(mono, 16000, tier="test-random")
    y, sr = nwcodec.decode(data)
    assert y.shape == mono.shape and sr == 16000
    assert (mono - y).shape == mono.shape
    stereo = speechlike(0.5, channels=2)
    assert nwcodec.decode(nwcodec.encode(stereo, 16000, tier="test-random"))[0].shape == (
        stereo.shape
    )
    base = nwcodec.encode(mono, 16000, tier="test-random", layers=1)
    assert len(base) < len(data)
    assert np.array_equal(nwcodec.decode(data, layers=1)[0], nwcodec.decode(base)[0])
    for fn in (nwcodec.encode, nwcodec.decode):
        assert ">>>" in fn.__doc__


def test_layers_one_rule_everywhere(wav, coded, tmp_path):
    """More layers than there are is an error for encode, decode and strip alike."""
    assert_one_line_error(run("encode", str(wav), str(tmp_path / "x.nwc"), "-l", "3", *TIER),
                          "layers 1..2")
    assert_one_line_error(run("decode", str(coded), str(tmp_path / "x.wav"), "-l", "3"),
                          "layers 1..2")
    assert_one_line_error(run("strip", str(coded), str(tmp_path / "x.nwc"), "-l", "3"),
                          "layers 1..2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.nwc", "talk.wav"]
    for cmd in ("encode", "decode"):
        assert "more is an error" in run(cmd, "--help").output


def test_an_existing_directory_as_output_is_named_as_such(wav, tmp_path):
    (tmp_path / "d.nwc").mkdir()
    result = run("encode", str(wav), str(tmp_path / "d.nwc"), *TIER)
    assert_one_line_error(result, "is a directory")
    assert "--force" not in result.stderr


def test_decode_errors_point_the_way(wav, coded, tmp_path):
    data = bytearray(coded.read_bytes())
    start, end = record_spans(bytes(data))[0]
    data[(start + end) // 2] ^= 0xFF
    (tmp_path / "bad.nwc").write_bytes(bytes(data))
    assert_one_line_error(run("decode", str(tmp_path / "bad.nwc"), str(tmp_path / "x.wav")),
                          "--conceal")
    assert_one_line_error(run("decode", str(wav), str(tmp_path / "x.wav")),
                          f"nwc encode {wav} talk.nwc")


@pytest.fixture
def tree(tmp_path) -> Path:
    src = tmp_path / "corpus"
    for i in range(5):
        (src / f"s{i % 2}").mkdir(parents=True, exist_ok=True)
        sf.write(src / f"s{i % 2}" / f"u{i}.wav", speechlike(0.3, seed=i), 16000)
    return src


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.nwc"))}


def test_jobs_give_the_same_bytes_as_one_job(tree, tmp_path):
    assert run("encode", str(tree), str(tmp_path / "one"), "-j", "1", *TIER).exit_code == 0
    result = run("encode", str(tree), str(tmp_path / "two"), "-j", "2", *TIER)
    assert result.exit_code == 0, result.stderr
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert len(_files(tmp_path / "one")) == 5
    dec = run("decode", str(tmp_path / "two"), str(tmp_path / "wav"), "--jobs", "2")
    assert dec.exit_code == 0 and len(list((tmp_path / "wav").rglob("*.wav"))) == 5


def test_shards_split_a_tree_without_overlap(tree, tmp_path):
    for k in (1, 2, 3):
        result = run("encode", str(tree), str(tmp_path / f"k{k}"), "--shard", f"{k}/3",
                     "-j", "1", *TIER)
        assert result.exit_code == 0, result.stderr
    shards = [set(_files(tmp_path / f"k{k}")) for k in (1, 2, 3)]
    assert sum(len(s) for s in shards) == 5 and len(set().union(*shards)) == 5
    empty = run("encode", str(tree), str(tmp_path / "k9"), "--shard", "9/9", *TIER)
    assert empty.exit_code == 0 and "none of the files" in empty.stderr
    bad = run("encode", str(tree), str(tmp_path / "x"), "--shard", "4/3", *TIER)
    assert bad.exit_code == 2 and "K must be 1..N" in bad.stderr
