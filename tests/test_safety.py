"""A user's files are sacred (issue 9, items 1-4): inputs are never replaced, output kinds
follow the rules in `nwc encode --help`, refusing to overwrite is atomic, and a terminated run
leaves no temporary files."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from nwcodec.files import OutputExistsError, atomic_output
from tests.test_cli import TIER, assert_one_line_error, run
from tests.test_codec import speechlike

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def flac(tmp_path) -> Path:
    path = tmp_path / "so.flac"
    sf.write(path, speechlike(0.3), 16000)
    return path


def test_an_input_is_never_written_over_even_with_force(flac, tmp_path):
    original = flac.read_bytes()
    (tmp_path / "hard.nwc").hardlink_to(flac)
    (tmp_path / "soft.nwc").symlink_to(flac)
    for out in ("hard.nwc", "soft.nwc"):
        result = run("encode", str(flac), str(tmp_path / out), "--force", *TIER)
        assert_one_line_error(result, "is an input file")
    # directory mode: an output that is (a link to) one of the inputs
    tree, coded = tmp_path / "tree", tmp_path / "coded"
    tree.mkdir()
    coded.mkdir()
    os.link(flac, tree / "a.flac")
    (coded / "a.nwc").hardlink_to(flac)
    assert_one_line_error(run("encode", str(tree), str(coded), "--force", "-j", "1", *TIER),
                          "is an input file")
    assert flac.read_bytes() == original


def test_output_kind_follows_the_stated_rules(flac, tmp_path):
    assert_one_line_error(run("encode", str(flac), str(tmp_path / "out.wav"), *TIER),
                          "end OUT")
    assert not (tmp_path / "out.wav").exists()
    coded = tmp_path / "coded"
    assert run("encode", str(flac), str(tmp_path / "one.nwc"), *TIER).exit_code == 0
    coded.mkdir()
    (coded / "one.nwc").write_bytes((tmp_path / "one.nwc").read_bytes())
    assert_one_line_error(run("decode", str(coded), str(tmp_path / "single.wav")),
                          "OUT must be a directory")
    assert not (tmp_path / "single.wav").exists()
    assert_one_line_error(run("decode", str(tmp_path / "one.nwc"), str(coded)),
                          "is a directory")
    assert "a directory IN needs a directory OUT" in run("decode", "--help").output


def test_refusing_to_overwrite_is_atomic(tmp_path):
    """A second writer that creates the name while the first writes wins; the first
    refuses instead of silently replacing it, and leaves no temporary file."""
    target = tmp_path / "out.nwc"
    with pytest.raises(OutputExistsError), atomic_output(target) as handle:
        handle.write(b"mine")
        target.write_bytes(b"theirs")  # the concurrent run finishes first
    assert target.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nwc"]


def test_sigterm_removes_the_temporary_file(tmp_path):
    sf.write(tmp_path / "long.wav", speechlike(600.0), 16000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nwcodec", "encode", "long.wav", "out.nwc", *TIER],
        cwd=tmp_path, stderr=subprocess.PIPE, env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.nwc.*.part")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.decode().strip() == "nwc: error: stopped by SIGTERM; unfinished outputs removed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]
