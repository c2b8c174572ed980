"""The ``nwc`` command on bad and unusual inputs: a clear one-line error or correct handling.

Each row of the tables below is one input; the same table is in /work/notes/codec_tests.md.
"""

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from cli.app import main
from tests.test_codec import record_spans, speechlike, with_model_hash, with_tier_id

NWC = str(Path(sys.executable).parent / "nwc")
TIER = ["-t", "test-random"]


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def assert_one_line_error(result, pattern: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nwc: error: "), result.stderr
    assert pattern.lower() in lines[0].lower(), lines[0]


# -- audio fixtures: each writes one input file and returns its path --------------------------

def _wav(sr=16000, seconds=0.4, channels=1, subtype="PCM_16", fmt="wav", edit=None):
    def make(d: Path) -> Path:
        x = speechlike(seconds, sr=sr, channels=channels)
        if edit:
            x = edit(x)
        path = d / f"in.{fmt}"
        sf.write(path, x, sr, subtype=subtype)
        return path
    return make


def _raw(content: bytes, name="in.wav"):
    def make(d: Path) -> Path:
        (d / name).write_bytes(content)
        return d / name
    return make


def _truncated(keep: Callable[[int], int]):
    def make(d: Path) -> Path:
        full = _wav(subtype="PCM_24")(d).read_bytes()
        (d / "in.wav").write_bytes(full[: keep(len(full))])
        return d / "in.wav"
    return make


def _poke(value: float):
    def edit(x):
        x[100, 0] = value
        return x
    return edit


AUDIO_OK = {
    "1 sample": _wav(seconds=1 / 16000),
    "all zeros": _wav(edit=np.zeros_like),
    "full-scale clipping (square wave at +-1.0)": _wav(edit=lambda x: np.sign(x)),
    "float WAV beyond full scale (+-4.0)": _wav(subtype="FLOAT", edit=lambda x: 4 * x),
    "8 kHz": _wav(sr=8000),
    "48 kHz": _wav(sr=48000),
    "96 kHz": _wav(sr=96000),
    "24-bit WAV": _wav(subtype="PCM_24"),
    "float WAV": _wav(subtype="FLOAT"),
    "stereo": _wav(channels=2),
    "6 channels": _wav(channels=6),
    "FLAC": _wav(fmt="flac"),
    "OGG Vorbis": _wav(fmt="ogg", subtype="VORBIS"),
    "WAV truncated inside the data": _truncated(lambda n: n // 2),
}


@pytest.mark.parametrize("make", AUDIO_OK.values(), ids=AUDIO_OK.keys())
def test_unusual_audio_round_trips_with_rate_channels_and_length_restored(make, tmp_path):
    src = make(tmp_path)
    before = sf.info(src)
    enc = run("encode", str(src), str(tmp_path / "x.nwc"), *TIER)
    assert enc.exit_code == 0, enc.output
    dec = run("decode", str(tmp_path / "x.nwc"), str(tmp_path / "out.wav"))
    assert dec.exit_code == 0, dec.output
    after = sf.info(tmp_path / "out.wav")
    assert (after.samplerate, after.channels, after.frames) == (
        before.samplerate, before.channels, before.frames)
    y, _ = sf.read(tmp_path / "out.wav")
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0


AUDIO_BAD = {
    "empty file": (_raw(b""), "empty (0 bytes)"),
    "text file named .wav": (_raw(b"hello, world\n" * 20), "not a readable audio file"),
    "WAV truncated inside its header": (_truncated(lambda n: 30), "not a readable audio file"),
    "NaN sample (float WAV)": (_wav(subtype="FLOAT", edit=_poke(np.nan)), "NaN or infinite"),
    "Inf sample (float WAV)": (_wav(subtype="FLOAT", edit=_poke(np.inf)), "NaN or infinite"),
    "missing input": (lambda d: d / "missing.wav", "no such file"),
    "directory without audio": (lambda d: d, "no .aif/.aiff"),
}


@pytest.mark.parametrize("case", AUDIO_BAD.values(), ids=AUDIO_BAD.keys())
def test_bad_audio_gives_one_line_error_and_no_output(case, tmp_path):
    make, message = case
    src = make(tmp_path)
    out = tmp_path / "out" / "x.nwc"
    out.parent.mkdir()
    assert_one_line_error(run("encode", str(src), str(out), *TIER), message)
    assert os.listdir(out.parent) == []  # not even a temporary file is left behind


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> Path:
    """A directory holding speech.wav (2.2 s) and its 2-chunk .nwc of the test tier."""
    d = tmp_path_factory.mktemp("coded")
    sf.write(d / "speech.wav", speechlike(2.2), 16000)
    assert run("encode", str(d / "speech.wav"), str(d / "speech.nwc"), *TIER).exit_code == 0
    return d


@pytest.fixture
def stream(coded, tmp_path) -> Path:
    """Fresh copies of speech.wav and speech.nwc in ``tmp_path``; returns the .nwc."""
    for name in ("speech.wav", "speech.nwc"):
        shutil.copy(coded / name, tmp_path / name)
    return tmp_path / "speech.nwc"


def test_output_errors(stream, tmp_path):
    src = str(tmp_path / "speech.wav")
    regular = tmp_path / "regular"
    regular.write_text("not a directory")
    for target in ("/etc/passwd/x.nwc", str(regular / "x.nwc"), str(tmp_path / "no" / "x.nwc")):
        assert_one_line_error(run("encode", src, target, *TIER), "does not exist")
        assert_one_line_error(run("decode", str(stream), target.replace(".nwc", ".wav")),
                              "does not exist")
    assert_one_line_error(run("decode", str(stream), str(tmp_path / "x.mp4")),
                          "cannot write audio format")


def test_existing_output_needs_force(stream, tmp_path):
    src = str(tmp_path / "speech.wav")
    before = stream.read_bytes()
    stream.write_bytes(b"old")
    assert_one_line_error(run("encode", src, str(stream), *TIER), "--force")
    assert stream.read_bytes() == b"old"
    assert run("encode", src, str(stream), *TIER, "--force").exit_code == 0
    assert stream.read_bytes() == before
    wav = tmp_path / "speech.out.wav"
    wav.write_bytes(b"old")
    assert_one_line_error(run("decode", str(stream), str(wav)), "--force")
    assert run("decode", str(stream), str(wav), "-f").exit_code == 0
    assert sf.info(wav).frames == sf.info(src).frames


def _damaged(data: bytes) -> bytes:
    start, end = record_spans(data)[1]
    bad = bytearray(data)
    bad[(start + end) // 2] ^= 0xFF
    return bytes(bad)


NWC_BAD = {
    "unknown tier id 4242": (lambda b: with_tier_id(b, 4242), "unknown tier 4242"),
    "wrong model hash": (lambda b: with_model_hash(b, b"12345678"), "model hash"),
    "damaged chunk (strict mode)": (_damaged, "CRC mismatch"),
    "truncated .nwc": (lambda b: b[: len(b) - 20], "file ends inside"),
    "bytes after the end record": (lambda b: b + b"\0", "follow the end record"),
    "a FLAC file named .nwc": (lambda b: b"fLaC" + b[4:], "not an .nwc file"),
    "empty .nwc": (lambda b: b"", "not an .nwc file"),
}


@pytest.mark.parametrize("case", NWC_BAD.values(), ids=NWC_BAD.keys())
def test_bad_nwc_gives_one_line_error(case, stream, tmp_path):
    edit, message = case
    bad = tmp_path / "bad.nwc"
    bad.write_bytes(edit(stream.read_bytes()))
    assert_one_line_error(run("decode", str(bad), str(tmp_path / "x.wav")), message)
    assert not (tmp_path / "x.wav").exists()


def test_conceal_decodes_a_damaged_stream(stream, tmp_path):
    bad = tmp_path / "bad.nwc"
    bad.write_bytes(_damaged(stream.read_bytes()))
    assert run("decode", str(bad), str(tmp_path / "x.wav"), "--conceal").exit_code == 0
    y, _ = sf.read(tmp_path / "x.wav")
    assert y.shape[0] == sf.info(tmp_path / "speech.wav").frames
    assert not y[32000:].any() and y[:32000].any()


def test_info_on_good_corrupt_and_foreign_files(stream, tmp_path):
    good = run("info", str(stream))
    assert good.exit_code == 0 and "tier 1 (test-random)" in good.output
    assert run("info", str(stream), "--json").output.count('"crc_ok": true') == 2
    damaged = tmp_path / "damaged.nwc"
    damaged.write_bytes(_damaged(stream.read_bytes()))
    result = run("info", str(damaged))
    assert_one_line_error(result, "1 chunk(s) failed their CRC")
    assert "BAD" in result.stdout  # the summary still shows which chunk
    for name, content in (("a.wav", (tmp_path / "speech.wav").read_bytes()),
                          ("short.nwc", stream.read_bytes()[:30]),
                          ("empty.nwc", b"")):
        (tmp_path / name).write_bytes(content)
        result = run("info", str(tmp_path / name))
        assert_one_line_error(result, "nwc")
        assert result.stdout == ""
    assert_one_line_error(run("info", str(tmp_path / "missing.nwc")), "no such file")
    assert_one_line_error(run("info", str(tmp_path)), "is a directory")


def test_tier_and_layer_options(stream, tmp_path):
    src = str(tmp_path / "speech.wav")
    assert_one_line_error(run("encode", src, str(tmp_path / "x.nwc"), "-t", "nosuch"),
                          "unknown tier 'nosuch'")
    assert_one_line_error(run("encode", src, str(tmp_path / "x.nwc"), *TIER, "-l", "3"),
                          "layers 1..2")
    # one rule with encode and strip: more layers than the stream has is an error
    assert_one_line_error(run("decode", str(stream), str(tmp_path / "all.wav"), "-l", "9"),
                          "layers 1..2")
    assert run("decode", str(stream), str(tmp_path / "two.wav"), "-l", "2").exit_code == 0
    assert run("decode", str(stream), str(tmp_path / "all.wav")).exit_code == 0
    assert (tmp_path / "all.wav").read_bytes() == (tmp_path / "two.wav").read_bytes()


def test_pipes_in_process(tmp_path):
    wav = io.BytesIO()
    sf.write(wav, speechlike(1.2, sr=22050, channels=2), 22050, format="WAV")
    enc = run("encode", "-", "-", *TIER, input=wav.getvalue())
    assert enc.exit_code == 0 and enc.stdout_bytes.startswith(b"\x89NWC")
    dec = run("decode", "-", "-", input=enc.stdout_bytes)
    assert dec.exit_code == 0
    info = sf.info(io.BytesIO(dec.stdout_bytes))
    assert (info.samplerate, info.channels, info.frames) == (22050, 2, int(1.2 * 22050))
    assert_one_line_error(run("encode", "-", "-", *TIER, input=b""), "empty")
    assert_one_line_error(run("decode", "-", "-", input=b"RIFF...."), "not an .nwc file")


@pytest.mark.slow  # two interpreter start-ups; the pipes are covered in-process above
def test_real_shell_pipeline(tmp_path):
    src = tmp_path / "in.flac"
    sf.write(src, speechlike(0.7, sr=48000), 48000)
    out = tmp_path / "out.wav"
    cmd = f"'{NWC}' encode - - -t test-random < '{src}' | '{NWC}' decode - - > '{out}'"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (48000, 1, sf.info(src).frames)


def test_directory_mode_mirrors_the_tree(tmp_path):
    src, coded, decoded = tmp_path / "in", tmp_path / "coded", tmp_path / "decoded"
    (src / "sub" / "deeper").mkdir(parents=True)
    sf.write(src / "a.wav", speechlike(0.3), 16000)
    sf.write(src / "sub" / "b.flac", speechlike(0.4, sr=8000), 8000)
    sf.write(src / "sub" / "deeper" / "c.WAV", speechlike(0.2, channels=2), 16000)
    (src / "sub" / "notes.txt").write_text("not audio")
    assert run("encode", str(src), str(coded), *TIER, "-q").exit_code == 0
    names = sorted(str(p.relative_to(coded)) for p in coded.rglob("*") if p.is_file())
    assert names == ["a.nwc", "sub/b.nwc", "sub/deeper/c.nwc"]
    assert run("decode", str(coded), str(decoded)).exit_code == 0
    for rel, sr, frames in (("a", 16000, 4800), ("sub/b", 8000, 3200),
                            ("sub/deeper/c", 16000, 3200)):
        info = sf.info(decoded / f"{rel}.wav")
        assert (info.samplerate, info.frames) == (sr, frames)
    # a second run refuses to overwrite, naming the first existing file
    assert_one_line_error(run("encode", str(src), str(coded), *TIER), "a.nwc exists")
    assert_one_line_error(run("encode", str(src), "-", *TIER), "directory cannot be written")


def test_bench_command_reports_every_requested_tier():
    import json

    from cli.bench import bench
    from nwcodec.bench import parameter_split
    from nwcodec.codec import Codec
    from nwcodec.zoo import all_tiers

    result = CliRunner().invoke(bench, ["--all", "--seconds", "1", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["tiers"]
    assert [r["tier"] for r in rows] == [t.name for t in all_tiers(include_test=True)]
    (row,) = [r for r in rows if r["tier"] == "test-random"]
    assert row["seconds"] == 1.0
    assert row["encode_x_realtime"] > 0 and row["decode_x_realtime"] > 0 and row["kbps"] > 0
    model = Codec.load("test-random").model
    split = parameter_split(model)
    assert sum(split.values()) == sum(p.numel() for p in model.parameters())
    assert min(split.values()) > 0
    assert (row["encoder_params"], row["decoder_params"], row["shared_params"]) == (
        split["encoder"], split["decoder"], split["shared"])
    table = CliRunner().invoke(bench, ["-t", "test-random", "-s", "1"])
    assert table.exit_code == 0 and "test-random" in table.stdout


def test_tiers_lists_retired_tiers_only_with_all():
    from nwcodec.zoo import TIERS

    retired = [t for t in TIERS if t.retired]
    assert retired  # ids 2 and 3 since the speech ladder
    shown = run("tiers").stdout
    shown_all = run("tiers", "--all").stdout
    for tier in retired:
        assert f" {tier.name} " not in shown
        assert f" {tier.name} " in shown_all
