"""nwcodec.corpus_music: the split by track, the manifests, resuming, missing packages.

Rendering is replaced by a stand-in, so these run without fluidsynth or the music packages;
the one test that renders for real is marked slow and skips where fluidsynth is missing.
"""

import random
import shutil

import numpy as np
import pytest
import soundfile as sf

from nwcodec import corpus_music as cm
from nwcodec.corpus import read_manifest


def fake_tracks() -> list[cm.Track]:
    rng = random.Random(0)
    names = ["frantic", "frantic-old", "victory", "victory2"] + [f"piece{c}" for c in "abcdefghij"]
    tracks = [cm.Track("orchestra", n, rng.uniform(5, 300)) for n in names]
    tracks += [cm.Track("synth", f"song{k:03d}", rng.uniform(45, 120)) for k in range(30)]
    return tracks


def test_split_is_deterministic_by_track_and_keeps_groups_together():
    tracks = fake_tracks()
    train, val = cm.split(tracks, 0.15)
    shuffled = tracks[:]
    random.Random(1).shuffle(shuffled)
    assert cm.split(shuffled, 0.15) == (train, val)
    assert sorted(t.path for t in train + val) == sorted(t.path for t in tracks)
    assert not {t.path for t in train} & {t.path for t in val}
    val_groups = {(t.source, cm.group_of(t.name)) for t in val}
    assert not any((t.source, cm.group_of(t.name)) in val_groups for t in train)


@pytest.mark.parametrize("fraction", [0.1, 0.15, 0.3])
def test_every_source_gets_about_its_validation_share(fraction):
    tracks = fake_tracks()
    _, val = cm.split(tracks, fraction)
    for source in {t.source for t in tracks}:
        total = sum(t.seconds for t in tracks if t.source == source)
        share = sum(t.seconds for t in val if t.source == source) / total
        assert 0 < share <= cm.VAL_TOLERANCE * fraction


def test_groups_join_variants_only():
    assert cm.group_of("frantic-old") == cm.group_of("frantic") == "frantic"
    assert cm.group_of("victory2") == "victory"
    assert len({cm.group_of(f"music{k:03d}") for k in range(10)}) == 10


def test_manifests_list_the_files_for_read_manifest(tmp_path):
    tracks = [cm.Track("wesnoth", "a", 1.5), cm.Track("generated", "song000", 2.0)]
    for t in tracks:
        (tmp_path / t.source).mkdir(exist_ok=True)
        sf.write(tmp_path / t.path, np.zeros((100, 2)), cm.SAMPLE_RATE)
    text = cm.manifest_text(tracks)
    (tmp_path / "train.tsv").write_text(text)
    assert read_manifest(tmp_path / "train.tsv") == [tmp_path / t.path for t in tracks]
    header, *rows = [line.split("\t") for line in text.splitlines()]
    assert tuple(header) == cm.MANIFEST_HEADER
    assert rows[0] == ["wesnoth/a.flac", "wesnoth", cm.SOURCES["wesnoth"].licence, "1.500"]


def test_missing_package_is_one_line_naming_the_apt_get_command(tmp_path, monkeypatch):
    monkeypatch.setitem(cm.PROBES, "wesnoth-1.16-music", str(tmp_path / "absent"))
    monkeypatch.setitem(cm.PROBES, "fluidsynth", "no-such-command-nwc")
    # the sound font present (whether this machine has it or not): only the two above miss
    (tmp_path / "gm.sf2").write_bytes(b"")
    monkeypatch.setitem(cm.PROBES, "fluid-soundfont-gm", str(tmp_path / "gm.sf2"))
    with pytest.raises(cm.MissingPackageError) as err:
        cm.check_packages([cm.SOURCES["wesnoth"], cm.SOURCES["generated"]])
    message = str(err.value)
    assert "\n" not in message
    assert message.endswith(
        "apt-get install -y --no-install-recommends wesnoth-1.16-music fluidsynth"
    )
    with pytest.raises(SystemExit) as done:
        cm.main(["--out", str(tmp_path / "music"), "--sources", "wesnoth"])
    assert str(done.value).startswith("error: missing Debian package(s) wesnoth-1.16-music;")


def test_build_writes_flac_manifests_readme_and_resumes(tmp_path, monkeypatch):
    calls, silent = [], []

    def fake_render(midi):
        calls.append(midi.read_bytes())
        if len(calls) == 2 and not silent:
            silent.append(calls[-1])
        if calls[-1] in silent:
            return np.zeros((4410, 2), np.float32)  # a silent track is left out
        noise = np.random.default_rng(len(calls)).standard_normal((8820, 2))
        return (0.05 * noise).astype(np.float32)

    monkeypatch.setattr(cm, "render", fake_render)
    monkeypatch.setattr(cm, "check_packages", lambda sources: None)
    out = tmp_path / "music"
    train, val = cm.build(out, [cm.SOURCES["generated"]], 8, 0.15, log=lambda m: None)
    assert len(calls) == 8 and len(train) + len(val) == 7 and val
    assert "song001" not in {t.name for t in train + val}
    audio, sr = sf.read(out / train[0].path, dtype="float32")
    assert sr == cm.SAMPLE_RATE and audio.shape[1] == 2
    assert np.max(np.abs(audio)) == pytest.approx(cm.PEAK, abs=1 / 32768)  # boosted to peak
    manifests = {n: (out / n).read_text() for n in ("train.tsv", "val.tsv")}
    assert "generated | val" in (out / "README.md").read_text()

    calls.clear()
    assert cm.build(out, [cm.SOURCES["generated"]], 8, 0.15, log=lambda m: None) == (train, val)
    assert calls == silent  # only the silent song is rendered again
    assert {n: (out / n).read_text() for n in manifests} == manifests


def test_peaks_are_fitted_down_always_and_up_only_when_asked():
    quiet, loud = np.full((4, 2), 0.1, np.float32), np.full((4, 2), 1.5, np.float32)
    assert np.array_equal(cm.fit_peak(quiet, boost=False), quiet)
    assert np.max(cm.fit_peak(quiet, boost=True)) == pytest.approx(cm.PEAK)
    assert np.max(cm.fit_peak(loud, boost=False)) == pytest.approx(cm.PEAK)


@pytest.mark.slow
@pytest.mark.skipif(not cm.SOUNDFONT.exists() or not shutil.which("fluidsynth"),
                    reason="needs fluidsynth and fluid-soundfont-gm")
def test_rendering_is_stereo_44k_and_repeatable(tmp_path):
    midi = tmp_path / "song.mid"
    midi.write_bytes(cm.song_bytes(3, 10))
    a, b = cm.render(midi), cm.render(midi)
    assert a.shape[1] == 2 and len(a) > cm.SAMPLE_RATE
    assert np.array_equal(a, b)
    assert cm.rms_db(a) > cm.SILENT_DB
