"""nwcodec.compare and the `compare` click command."""

import json
import math
import sys
import types

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from cli.compare import compare as compare_cmd
from nwcodec import baselines as B
from nwcodec import compare as C
from nwcodec.corpus import collect_audio
from tests.extras import requires_eval

pytestmark = requires_eval

SR = 16000


def _tone_speech(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(130 + 30 * np.sin(2 * np.pi * 0.8 * t)) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25)) * np.sin(np.pi * 3 * t) ** 2
    return 0.08 * voiced + 0.01 * rng.normal(size=len(t))


@pytest.fixture
def wavs(tmp_path):
    (tmp_path / "sub").mkdir()
    paths = [tmp_path / "a.wav", tmp_path / "sub" / "b.flac"]
    for i, p in enumerate(paths):
        sf.write(p, _tone_speech(1.5, i), SR)
    return paths


class Identity:
    """A lossless condition that 'costs' 2 kbit/s."""

    name = "ident-2"
    label = "Identity"

    def roundtrip(self, audio, sr):
        return audio.copy(), int(len(audio) / sr * 2000 / 8)


class Broken:
    name = "broken-1"
    label = "Broken"

    def roundtrip(self, audio, sr):
        raise RuntimeError("codec exploded")


def test_collect_inputs_dirs_files_and_manifests(tmp_path, wavs):
    assert collect_audio([tmp_path]) == sorted(wavs)
    manifest = tmp_path / "list.tsv"
    manifest.write_text("path\tspeaker\n# comment\nsub/b.flac\tS1\n\n" + f"{wavs[0]}\tS2\n")
    assert collect_audio([manifest, wavs[0]]) == [wavs[1], wavs[0]]
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        collect_audio([tmp_path / "nope.wav"])
    manifest.write_text("missing.wav\n")
    with pytest.raises(FileNotFoundError, match="1 missing"):
        collect_audio([manifest])


def test_run_scores_rows_and_survives_failing_condition(wavs):
    rows = C.run(wavs, [Identity(), Broken()], workers=1)
    assert [r["condition"] for r in rows] == ["ident-2", "ident-2", "broken-1", "broken-1"]
    good, bad = rows[0], rows[2]
    assert good["kbps"] == pytest.approx(2.0)
    assert good["pesq_wb"] == pytest.approx(4.644, abs=0.01)
    assert good["lag"] == 0
    assert math.isnan(bad["pesq_wb"]) and "codec exploded" in bad["error"]


def test_compare_in_two_processes_writes_outputs(tmp_path, wavs):
    out = tmp_path / "out"
    calls = []
    result = C.compare(wavs, [Identity()], out, workers=2, progress=calls.append)
    assert sum(calls) == 2
    names = sorted(p.name for p in result.outputs)
    assert names == [
        "per_file.csv",
        "rate_pesq_wb.png",
        "rate_visqol_speech.png",
        "summary.json",
        "summary.md",
    ]
    assert all(p.stat().st_size > 0 for p in result.outputs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary[0]["n"] == 2
    assert summary[0]["stoi"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert "| Identity | 2 |" in (out / "summary.md").read_text()


def test_mean_ci95():
    mean, half, n = C.mean_ci95([1.0, 2.0, 3.0, math.nan])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)
    assert math.isnan(C.mean_ci95([5.0])[1])
    assert C.mean_ci95([math.nan])[2] == 0


def test_neural_condition_uses_codec_api(monkeypatch):
    class FakeCodec:
        loaded = []

        @classmethod
        def load(cls, tier):
            cls.loaded.append(tier)
            return cls()

        def encode(self, audio, sr):
            self.audio = np.asarray(audio)
            return b"\x00" * 100

        def decode(self, data):
            return np.repeat(self.audio, 3), 48000  # pretend the codec outputs 48 kHz

    module = types.ModuleType("nwcodec.codec")
    module.Codec = FakeCodec
    monkeypatch.setitem(sys.modules, "nwcodec.codec", module)
    condition = C.NeuralCondition("lo")
    x = _tone_speech(0.5, 0)
    decoded, nbytes = condition.roundtrip(x, SR)
    assert FakeCodec.loaded == ["lo"]
    assert nbytes == 100
    assert decoded.shape == x.shape
    assert C.family_of(condition) == "nwc"


def test_neural_condition_keeps_stereo_apart():
    x = np.stack([_tone_speech(0.5, 0), 0.5 * _tone_speech(0.5, 1)], axis=1)
    decoded, nbytes = C.NeuralCondition("test-random").roundtrip(x, SR)
    assert decoded.shape == x.shape and nbytes > 0
    assert not np.allclose(decoded[:, 0], decoded[:, 1])


def _run_cli(args):
    result = CliRunner().invoke(compare_cmd, args)
    assert "Traceback" not in result.output
    return result


def test_cli_errors_are_one_line(tmp_path, wavs, monkeypatch):
    missing = _run_cli([str(tmp_path / "nope.wav")])
    assert missing.exit_code != 0 and "Error: no such file" in missing.output
    unknown = _run_cli([str(wavs[0]), "--baselines", "speex"])
    assert unknown.exit_code != 0 and "unknown baseline 'speex'" in unknown.output
    tier = _run_cli([str(wavs[0]), "--tiers", "no-such-tier", "--baselines", ""])
    assert tier.exit_code != 0 and tier.output.startswith("Error:")
    monkeypatch.setattr(
        B.Opus, "available", classmethod(lambda cls: B.Availability(False, "no libopus"))
    )
    unavailable = _run_cli([str(wavs[0]), "--baselines", "opus"])
    assert unavailable.exit_code != 0 and "opus unavailable: no libopus" in unavailable.output
    for result in (missing, unknown, tier, unavailable):
        assert len(result.output.strip().splitlines()) == 1


def test_cli_single_file_prints_table(wavs):
    ok, reason = B.Opus.available()
    if not ok:
        pytest.skip(reason)
    result = _run_cli([str(wavs[0]), "--tiers", "", "--baselines", "opus:24", "--workers", "1",
                       "--out", str(wavs[0].parent / "out")])
    assert result.exit_code == 0, result.output
    assert "| Opus 24k | 1 |" in result.output
