"""nwcodec.audio: reading, validation, resampling and atomic writing."""

import io

import numpy as np
import pytest
import soundfile as sf

from nwcodec.audio import (
    AudioError,
    check_input_path,
    read_audio,
    resample,
    resampled_length,
    validate_audio,
    write_audio,
)
from nwcodec.files import OutputExistsError


def test_read_formats_as_float32_samples_by_channels(tmp_path):
    x = np.stack([np.linspace(-0.5, 0.5, 800), np.linspace(0.5, -0.5, 800)], 1)
    for name, subtype in (("a.wav", "PCM_24"), ("b.wav", "FLOAT"), ("c.flac", "PCM_16")):
        sf.write(tmp_path / name, x, 22050, subtype=subtype)
        audio, sr = read_audio(tmp_path / name)
        assert sr == 22050 and audio.shape == (800, 2) and audio.dtype == np.float32
        np.testing.assert_allclose(audio, x, atol=1 / 32768)
    buf = io.BytesIO((tmp_path / "a.wav").read_bytes())
    audio, sr = read_audio(buf)
    assert audio.shape == (800, 2) and sr == 22050


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "is empty"), (b"RIFF1234WAVEjunk", "not a readable")],
)
def test_read_refuses_what_is_not_audio(tmp_path, content, message):
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        read_audio(path)
    with pytest.raises(AudioError, match="is a directory"):
        check_input_path(tmp_path)
    with pytest.raises(AudioError, match="empty"):
        read_audio(io.BytesIO(b""))


def test_validate_audio():
    assert validate_audio(np.zeros(5), 16000).shape == (5, 1)
    assert validate_audio(np.zeros((5, 3), np.float64), 8000).dtype == np.float32
    for bad, message in (
        (np.full(4, np.nan), "NaN"),
        (np.array([0.0, -np.inf]), "infinite"),
        (np.zeros((2, 2, 2)), "expected"),
        (np.zeros((4, 0)), "expected"),
        (np.zeros((4, 256)), "255"),
    ):
        with pytest.raises(AudioError, match=message):
            validate_audio(bad, 16000)
    for sr in (999, 768_001):
        with pytest.raises(AudioError, match="sample rate"):
            validate_audio(np.zeros(3), sr)


@pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, 16000), (8000, 16000), (16000, 48000),
                                                (22050, 16000), (96000, 16000)])
def test_resample_length_and_passband(sr_in, sr_out):
    n = sr_in // 2 + 7
    t = np.arange(n) / sr_in
    x = np.sin(2 * np.pi * 440 * t)[:, None].astype(np.float32)
    y = resample(x, sr_in, sr_out)
    assert y.shape == (resampled_length(n, sr_in, sr_out), 1) and y.dtype == np.float32
    t_out = np.arange(y.shape[0]) / sr_out
    core = slice(y.shape[0] // 4, 3 * y.shape[0] // 4)  # away from the edge transients
    np.testing.assert_allclose(y[core, 0], np.sin(2 * np.pi * 440 * t_out[core]), atol=0.01)
    np.testing.assert_array_equal(resample(x, sr_in, sr_in), x)
    assert resample(np.zeros((0, 2), np.float32), sr_in, sr_out).shape == (0, 2)


def test_write_is_atomic_clipped_and_refuses_overwrite(tmp_path):
    target = tmp_path / "out.flac"
    write_audio(target, np.array([[2.0], [-3.0], [0.25]]), 16000)
    y, sr = sf.read(target)
    assert sr == 16000 and sf.info(target).format == "FLAC"
    np.testing.assert_allclose(y, [1.0 - 1 / 32768, -1.0, 0.25], atol=1 / 32768)
    with pytest.raises(OutputExistsError, match="--force"):
        write_audio(target, np.zeros(3), 16000)
    write_audio(target, np.zeros(3), 16000, force=True)
    assert sf.info(target).frames == 3
    with pytest.raises(AudioError, match="cannot write"):
        write_audio(tmp_path / "x.mp4", np.zeros(3), 16000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.flac"]  # no temporary left
    buf = io.BytesIO()
    write_audio(buf, np.zeros((4, 2)), 8000)
    assert sf.info(io.BytesIO(buf.getvalue())).channels == 2
