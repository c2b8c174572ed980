"""nwcodec.baselines: round trips with correct length, plausible bitrate and compensated delay."""

import numpy as np
import pytest

from nwcodec import baselines as B
from nwcodec.metrics import estimate_delay

SR = 16000


def _test_signal(seconds: float = 2.0) -> np.ndarray:
    """Pitch-varying harmonics plus noise bursts: broadband, with one clear correlation peak."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(110 + 40 * np.sin(2 * np.pi * 0.9 * t)) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25)) * np.sin(np.pi * 2.5 * t) ** 2
    return (0.08 * voiced + 0.02 * rng.normal(size=len(t))).astype(np.float32)


def _require(cls: type[B.Baseline]) -> None:
    ok, reason = cls.available()
    if not ok:
        pytest.skip(reason)


SETTINGS = [B.AmrWb(6.6), B.AmrWb(23.85), B.Opus(6), B.Opus(32), B.Mp3(16), B.Mp3(64)]


@pytest.mark.parametrize("baseline", SETTINGS, ids=lambda b: b.name)
def test_roundtrip_length_bitrate_and_delay(baseline):
    _require(type(baseline))
    x = _test_signal()
    decoded, nbytes = baseline.roundtrip(x)
    assert decoded.shape == x.shape
    assert np.all(np.isfinite(decoded))
    kbps = nbytes * 8 / (len(x) / SR) / 1000
    # AMR-WB frames carry a ToC byte (+0.4 kbit/s) and every codec flushes its look-ahead.
    assert baseline.bitrate_kbps * 0.97 <= kbps <= baseline.bitrate_kbps * 1.15 + 0.5
    # Delay compensated: the decoded signal lines up with the input (Opus: sub-sample offset).
    assert abs(estimate_delay(x.astype(np.float64), decoded.astype(np.float64), 400)) <= 1
    assert np.corrcoef(x, decoded)[0, 1] > 0.5


def test_hardwired_delays_match_measurement():
    for cls, setting in ((B.AmrWb, 12.65), (B.Opus, 24), (B.Mp3, 32)):
        _require(cls)
        baseline = cls(setting)
        measured = B.measure_delay(baseline, [_test_signal(1.0)])
        assert abs(measured - baseline.delay) <= 1, baseline.name


def test_amrwb_frames_are_rfc4867_storage_frames():
    _require(B.AmrWb)
    baseline = B.AmrWb(12.65)
    frames = baseline.encode(_test_signal(1.0))
    mode = B.AMRWB_MODES.index(12.65)
    assert all((f[0] >> 3) & 0x0F == mode for f in frames)  # ToC frame type = mode
    assert {len(f) for f in frames} == {33}  # 253 bits -> 32 bytes + ToC
    assert B.storage_file(frames).startswith(b"#!AMR-WB\n")


def test_registry_covers_required_settings():
    assert [b.bitrate_kbps for b in B.BASELINES["amrwb"]] == list(B.AMRWB_MODES)
    assert len(B.AMRWB_MODES) == 9
    assert [b.bitrate_kbps for b in B.BASELINES["opus"]] == [6, 8, 12, 16, 24, 32]
    assert [b.bitrate_kbps for b in B.BASELINES["mp3"]] == [16, 24, 32, 48, 64]
    names = [b.name for family in B.BASELINES.values() for b in family]
    assert len(set(names)) == len(names)


def test_parse_baselines(monkeypatch):
    monkeypatch.setattr(B.AmrWb, "available", classmethod(lambda cls: B.Availability(True, "")))
    monkeypatch.setattr(B.Opus, "available", classmethod(lambda cls: B.Availability(True, "")))
    assert len(B.parse_baselines("amrwb")) == 9
    assert [b.name for b in B.parse_baselines("opus:12:24, amrwb:6.6")] == [
        "opus-12",
        "opus-24",
        "amrwb-6.6",
    ]
    with pytest.raises(ValueError, match="unknown baseline"):
        B.parse_baselines("speex")
    with pytest.raises(ValueError, match="no 7.0 kbit/s mode"):
        B.parse_baselines("amrwb:7")


def test_missing_library_is_reported(monkeypatch):
    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    B._amrwb_encoder_lib.cache_clear()
    monkeypatch.setattr(B.ctypes, "CDLL", missing)
    try:
        ok, reason = B.AmrWb.available()
        assert not ok
        assert "libvo-amrwbenc0" in reason
        with pytest.raises(RuntimeError, match="amrwb unavailable"):
            B.parse_baselines("amrwb")
    finally:
        B._amrwb_encoder_lib.cache_clear()


def test_wrong_sample_rate_is_rejected():
    with pytest.raises(ValueError, match="16000 Hz"):
        B.Opus(12).roundtrip(np.zeros(8000, np.float32), 8000)
    with pytest.raises(ValueError, match="2 channel"):
        B.Mp3(128, B.MUSIC_RATE, 2).roundtrip(np.zeros(8000, np.float32), B.MUSIC_RATE)


MUSIC_SR = B.MUSIC_RATE


def _music_signal(seconds: float = 2.0) -> np.ndarray:
    """44.1 kHz stereo: the speech-like test signal's recipe an octave up, the right channel a
    delayed, quieter copy plus its own noise (so the two channels differ)."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * MUSIC_SR)) / MUSIC_SR
    phase = 2 * np.pi * np.cumsum(220 + 60 * np.sin(2 * np.pi * 0.7 * t)) / MUSIC_SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 40)) * np.sin(np.pi * 1.5 * t) ** 2
    left = 0.08 * tone + 0.02 * rng.normal(size=len(t))
    right = 0.7 * np.roll(left, 37) + 0.02 * rng.normal(size=len(t))
    return np.stack([left, right], axis=1).astype(np.float32)


MUSIC_SETTINGS = [
    B.Mp3(128, MUSIC_SR, 2),
    B.Mp3(64, MUSIC_SR, 2),
    B.Mp3(32, MUSIC_SR, 1),
    B.Opus(96, MUSIC_SR, 2),
    B.Opus(32, MUSIC_SR, 1),
]


@pytest.mark.parametrize("baseline", MUSIC_SETTINGS, ids=lambda b: b.name)
def test_music_roundtrip_keeps_shape_channels_alignment_and_rate(baseline):
    _require(type(baseline))
    x = _music_signal()
    if baseline.channels == 1:
        x = x.mean(axis=1)
    decoded, nbytes = baseline.roundtrip(x, MUSIC_SR)
    assert decoded.shape == x.shape
    assert np.all(np.isfinite(decoded))
    kbps = nbytes * 8 / (len(x) / MUSIC_SR) / 1000
    # Constrained VBR (Opus) may undershoot a little; flushing adds about 2 frames (MP3).
    assert baseline.bitrate_kbps * 0.9 <= kbps <= baseline.bitrate_kbps * 1.06
    for c in range(baseline.channels):
        ref = x.reshape(len(x), -1)[:, c].astype(np.float64)
        out = decoded.reshape(len(x), -1)[:, c].astype(np.float64)
        assert abs(estimate_delay(ref, out, 400)) <= 1
        assert np.corrcoef(ref, out)[0, 1] > 0.8
    if baseline.channels == 2:  # the channels stay apart (not a mono downmix)
        assert np.corrcoef(decoded[:, 0], decoded[:, 1])[0, 1] < 0.95


@pytest.mark.parametrize("cls", [B.Mp3, B.Opus])
def test_music_delays_match_measurement(cls):
    _require(cls)
    baseline = cls(128, MUSIC_SR, 2)
    assert baseline.codec_rate == (48000 if cls is B.Opus else MUSIC_SR)
    assert abs(B.measure_delay(baseline, [_music_signal(1.0)]) - baseline.delay) <= 1


def test_music_names_are_distinct_from_speech():
    assert B.Mp3(64).name == "mp3-64"
    assert B.Mp3(64, MUSIC_SR, 2).name == "mp3-64-44.1k-stereo"
    assert B.Opus(32, MUSIC_SR, 1).label == "Opus 32k mono"
    assert B.Opus(12).options["application"] == "voip"
    assert B.Opus(64, MUSIC_SR, 2).options == {"vbr": "constrained", "application": "audio"}


def test_mp3_accepts_only_the_standard_bitrates():
    # LAME would silently code 120 kbit/s at 112: refuse it instead.
    with pytest.raises(ValueError, match="no 120 kbit/s"):
        B.Mp3(120, MUSIC_SR, 2)
    with pytest.raises(ValueError, match="no 144 kbit/s"):
        B.Mp3(144, MUSIC_SR, 2)  # an MPEG-2 rate, not MPEG-1
    assert B.Mp3(144).bitrate_kbps == 144
    with pytest.raises(ValueError, match="96000 Hz"):
        B.Mp3(128, 96000, 2)
    with pytest.raises(ValueError, match="16000 Hz mono only"):
        B.AmrWb(12.65, MUSIC_SR, 1)
