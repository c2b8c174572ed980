"""eval/music_eval.py: the excerpt set, the MP3 rates and interpolation, the cache, one tiny run."""

import math

import numpy as np
import pytest
import soundfile as sf

from eval import music_eval as M
from nwcodec import baselines as B
from tests.extras import requires_eval

SR = B.MUSIC_RATE


def _manifest(tmp_path, seconds=(3.0, 0.5, 1.5), header=True):
    rng = np.random.default_rng(0)
    (tmp_path / "src").mkdir(exist_ok=True)
    lines = ["path\tsource\tlicence\tseconds"] if header else []
    for k, sec in enumerate(seconds):
        t = np.arange(int(sec * SR)) / SR
        tone = 0.1 * np.sin(2 * np.pi * (220 + 50 * k) * t) * (1 + np.sin(2 * np.pi * 3 * t))
        noise = 0.02 * rng.normal(size=(len(t), 2))  # broadband: one clear correlation peak
        x = np.stack([tone, 0.5 * tone], axis=1) + noise
        sf.write(tmp_path / "src" / f"t{k}.flac", x, SR)
        lines.append(f"src/t{k}.flac\tsyn\tnone\t{sec}")
    path = tmp_path / "val.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_excerpts_are_the_middle_of_each_track_and_deterministic(tmp_path):
    manifest = _manifest(tmp_path)
    excerpts = M.select_excerpts(manifest, 2.0)
    assert excerpts == M.select_excerpts(manifest, 2.0)
    # The 0.5 s track is left out; the 1.5 s one is taken whole; the 3 s one from 0.5 s.
    assert [(e.name, e.start, e.frames) for e in excerpts] == [
        ("src/t0.flac", SR // 2, 2 * SR),
        ("src/t2.flac", 0, int(1.5 * SR)),
    ]
    x = excerpts[0].read(2)
    whole, _ = sf.read(tmp_path / "src" / "t0.flac", dtype="float32")
    np.testing.assert_array_equal(x, whole[SR // 2 : SR // 2 + 2 * SR])
    np.testing.assert_allclose(excerpts[0].read(1), x.mean(axis=1))


def test_wrong_rate_is_refused(tmp_path):
    sf.write(tmp_path / "a.flac", np.zeros((48000, 2)), 48000)
    (tmp_path / "m.tsv").write_text("a.flac\n")
    with pytest.raises(ValueError, match="48000 Hz"):
        M.select_excerpts(tmp_path / "m.tsv", 10)


def test_mp3_margin_rates_and_targets():
    assert M.mp3_rates_for(80) == (80,)
    assert M.mp3_rates_for(120) == (112, 128)
    assert M.mp3_rates_for(60) == (56, 64)
    with pytest.raises(ValueError):
        M.mp3_rates_for(400)
    targets = M.targets_for([], [2, 1])
    assert [(t.kbps, t.channels) for t in targets] == [
        (64, 2), (96, 2), (128, 2), (32, 1), (48, 1), (64, 1)]
    names = {b.name for t in targets for b in t.baselines()}
    stereo_mp3 = sorted({b.bitrate_kbps for t in targets[:3] for b in t.baselines()
                         if b.family == "mp3"})
    assert stereo_mp3 == [64, 80, 96, 112, 128, 160]
    assert len(names) == 18  # 6 MP3 + 3 Opus, stereo and mono
    # below MPEG-1's lowest rate (32 kbit/s at 44.1 kHz) a target has no MP3 condition
    low = M.Target(16, 1)
    assert low.mp3 is None and low.mp3_margin == ()
    assert [b.family for b in low.baselines()] == ["opus"]
    assert M.margin_cell(low, {})[0] == "–"
    edge = M.Target(32, 2)  # MP3 at the rate, and at 40 for 1.25x
    assert [b.bitrate_kbps for b in (edge.mp3, *edge.mp3_margin)] == [32, 40]


def test_margin_cell_interpolates_between_standard_rates():
    target = M.Target(96, 2)
    stats = {
        "mp3-112-44.1k-stereo": M.Stat(112, 3.0, math.nan, 1, 0),
        "mp3-128-44.1k-stereo": M.Stat(128, 4.0, math.nan, 1, 0),
    }
    text, value = M.margin_cell(target, stats)
    assert value == pytest.approx(3.5)  # 120 is halfway between 112 and 128
    assert "interp. 112/128" in text
    text, value = M.margin_cell(M.Target(64, 2), stats)  # MP3 80k not measured
    assert text == "–" and math.isnan(value)


def test_rows_survive_the_tsv(tmp_path):
    row = {"condition": "mp3-64-44.1k-mono", "label": "MP3 64k mono", "channels": 1,
           "nominal_kbps": 64, "excerpt": "src/t0.flac", "start": 10, "frames": 20,
           "bytes": 100, "seconds": 2.0, "kbps": 0.4, "lag": 0, "visqol": 4.25,
           "visqol_channels": "4.2500", "codec_s": 0.1, "visqol_s": 0.2, "error": ""}
    path = tmp_path / "o" / "per_file.tsv"
    M.write_rows([row, {**row, "condition": "x", "visqol": math.nan}], path)
    back = M.read_rows(path)
    assert back[0] == {**row, "channels": 1.0, "nominal_kbps": 64.0, "start": 10.0,
                       "frames": 20.0, "bytes": 100.0, "lag": 0.0}
    assert math.isnan(back[1]["visqol"])
    assert M._key(back[0]) == ("mp3-64-44.1k-mono", "src/t0.flac", 10, 20)


@requires_eval
def test_small_run_scores_reports_and_reuses_its_cache(tmp_path, monkeypatch):
    for cls in (B.Mp3, B.Opus):
        ok, reason = cls.available()
        if not ok:
            pytest.skip(reason)
    manifest = _manifest(tmp_path, seconds=(1.2,))
    out, report = tmp_path / "out", tmp_path / "R.md"
    args = ["--tsv", str(manifest), "--seconds", "1", "--channels", "mono", "--out", str(out),
            "--report", str(report)]
    M.main(args)
    rows = M.read_rows(out / "per_file.tsv")
    assert len(rows) == 9  # one excerpt, 6 MP3 + 3 Opus settings, mono
    for r in rows:
        assert 1.0 <= r["visqol"] <= 5.0, r
        assert r["lag"] == 0
        assert 0.85 * r["nominal_kbps"] <= r["kbps"] <= 1.15 * r["nominal_kbps"] + 1
    text = report.read_text()
    assert "| (no tier yet) | 1 | 48 |" in text and "interp. 56/64" in text

    def no_scoring(*a, **k):
        raise AssertionError("cached pairs were scored again")

    monkeypatch.setattr(M, "run", no_scoring)
    M.main(args)  # everything cached: nothing is re-run, the report is rewritten
    assert "0 new condition×excerpt pairs" in report.read_text()


def test_candidate_weights_code_stereo_under_an_ad_hoc_tier(tmp_path):
    from nwcodec.nn.cmrl import CascadeModel

    weights = tmp_path / "cand.pt"
    CascadeModel.test_model().save(weights)
    cand = M.Candidate(weights, 1, 64, 2, None)
    mono = M.Candidate(weights, 1, 64, 1, None)
    assert (cand.name, mono.name) == ("nwc-cand-L1", "nwc-cand-L1-mono")
    assert (cand.nominal_kbps(), mono.nominal_kbps()) == (64, 32)
    t = np.arange(SR // 2) / SR
    x = np.stack([np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)], 1) * 0.2
    decoded, nbytes = cand.roundtrip(x, SR)
    assert decoded.shape == x.shape and nbytes > 0
    assert cand.codec().tier.layers == 1
    size = M.model_size(cand)
    assert size["parameters"] > 0 and size["weights_bytes"] == weights.stat().st_size
