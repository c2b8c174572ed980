"""Audio in and out: reading and validating files, resampling, writing atomically.

Audio arrays are float32, shape ``(samples, channels)``, nominally in [-1, 1].
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import BinaryIO

import numpy as np
import soundfile as sf

from nwcodec.errors import NwcodecError
from nwcodec.files import atomic_output
from nwcodec.limits import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE


class AudioError(NwcodecError):
    """The input is not audio we can code, or the output cannot be written."""


def read_audio(source: str | os.PathLike[str] | BinaryIO) -> tuple[np.ndarray, int]:
    """Read any format libsndfile knows (WAV, FLAC, OGG, MP3...) as float32 (samples, channels).

    A file-like ``source`` is read fully first (stdin is not seekable).
    """
    name = getattr(source, "name", None) if not isinstance(source, str | os.PathLike) else source
    if isinstance(source, str | os.PathLike):
        check_input_path(source)
    else:
        data = source.read()
        if not data:
            raise AudioError("the input stream is empty")
        source = io.BytesIO(data)
    try:
        audio, sr = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{name or 'input'} is not a readable audio file ({exc})") from None
    return validate_audio(audio, sr, name or "input"), int(sr)


def read_mono(
    path: str | os.PathLike[str], sr: int, dtype: str = "float32"
) -> np.ndarray:
    """A file as one channel (the mean of its channels) at rate ``sr``, shape (samples,)."""
    audio, file_sr = sf.read(str(path), dtype=dtype, always_2d=True)
    return resample(audio.mean(axis=1), int(file_sr), sr)


def check_input_path(path: str | os.PathLike[str]) -> None:
    """Refuse a missing, directory or empty input path with a clear message."""
    if not os.path.exists(path):
        raise AudioError(f"no such file: {path}")
    if os.path.isdir(path):
        raise AudioError(f"{path} is a directory")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path} is empty (0 bytes)")


def validate_audio(audio: np.ndarray, sr: int, name: str = "input") -> np.ndarray:
    """Check rate, shape and values; return float32 (samples, channels)."""
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{name}: sample rate {sr} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] < 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels), got {audio.shape}")
    if audio.shape[1] > MAX_CHANNELS:
        raise AudioError(
            f"{name}: {audio.shape[1]} channels; at most {MAX_CHANNELS} are supported"
        )
    if not np.isfinite(audio).all():
        raise AudioError(f"{name} contains NaN or infinite samples")
    return audio


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (scipy, Kaiser window, zero phase), to
    :func:`resampled_length` samples. The result keeps the input's float type (float32 or
    float64); other input comes back as float64."""
    audio = np.asarray(audio)
    dtype = audio.dtype if audio.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if sr_in == sr_out or audio.shape[0] == 0:
        return audio.astype(dtype, copy=False)
    from scipy.signal import resample_poly  # slow to import; only resampling needs it

    ratio = Fraction(sr_out, sr_in)
    out = resample_poly(audio, ratio.numerator, ratio.denominator, axis=0)
    return out.astype(dtype, copy=False)


def resampled_length(n: int, sr_in: int, sr_out: int) -> int:
    """Length :func:`resample` gives for ``n`` input samples."""
    return -(-n * sr_out // sr_in)


# What libsndfile can write, measured with libsndfile 1.2 through soundfile: Ogg Vorbis crashes
# (SIGSEGV) above 200 kHz, FLAC takes at most 8 channels and, above 65 535 Hz, only rates in
# whole tens of Hz up to 655 350, MP3 (MPEG-1/2/2.5 layer III) only its nine rates and 2
# channels. Formats not listed take any rate and channel count nwcodec produces.
_RATE_OK: dict[str, tuple[str, Callable[[int], bool]]] = {
    "OGG": ("at most 200000 Hz", lambda sr: sr <= 200_000),
    "FLAC": (
        "at most 65535 Hz, or a multiple of 10 Hz up to 655350",
        lambda sr: sr <= 65_535 or (sr % 10 == 0 and sr <= 655_350),
    ),
    "MP3": (
        "8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz",
        lambda sr: sr in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    ),
}
_MAX_CHANNELS = {"FLAC": 8, "MP3": 2}


def output_format(
    path: str | os.PathLike[str],
    subtype: str = "PCM_16",
    rate: int | None = None,
    channels: int | None = None,
) -> tuple[str, str]:
    """(libsndfile format, subtype) for an output path, by extension (WAV if none); the
    subtype falls back to the format's default where ``subtype`` does not apply. With ``rate``
    and ``channels``, refuses (:class:`AudioError`) what the format cannot hold, before any
    file is opened."""
    fmt = os.path.splitext(str(path))[1].lstrip(".").upper() or "WAV"
    if fmt not in sf.available_formats():
        raise AudioError(f"cannot write audio format '.{fmt.lower()}' (try .wav or .flac)")
    where = f"a .{fmt.lower()} file"
    if rate is not None and fmt in _RATE_OK and not _RATE_OK[fmt][1](rate):
        raise AudioError(f"{where} cannot hold {rate} Hz ({_RATE_OK[fmt][0]}); use .wav or -r")
    if channels is not None and channels > _MAX_CHANNELS.get(fmt, channels):
        raise AudioError(
            f"{where} holds at most {_MAX_CHANNELS[fmt]} channels, not {channels}; use .wav"
        )
    return fmt, subtype if sf.check_format(fmt, subtype) else sf.default_subtype(fmt)


@contextlib.contextmanager
def sound_file(
    handle: BinaryIO, rate: int, channels: int, subtype: str, fmt: str
) -> Iterator[sf.SoundFile]:
    """An open soundfile writer on ``handle``; libsndfile's complaints become one-line
    :class:`AudioError` s."""
    try:
        with sf.SoundFile(handle, "w", rate, channels, subtype, format=fmt) as out:
            yield out
    except (sf.LibsndfileError, sf.SoundFileRuntimeError) as exc:
        message = str(exc).split(": ", 1)[-1].removeprefix("Error : ")
        raise AudioError(f"cannot write {fmt} audio: {message}") from None


def write_audio(
    target: str | os.PathLike[str] | BinaryIO,
    audio: np.ndarray,
    sr: int,
    force: bool = False,
    subtype: str = "PCM_16",
) -> None:
    """Write WAV/FLAC/OGG (by extension; WAV for streams), atomically for paths."""
    audio = np.clip(audio, -1.0, 1.0)
    if not isinstance(target, str | os.PathLike):
        sf.write(target, audio, sr, format="WAV", subtype=subtype)
        return
    channels = audio.shape[1] if audio.ndim == 2 else 1
    fmt, subtype = output_format(target, subtype, sr, channels)
    with atomic_output(target, force=force) as handle, sound_file(
        handle, sr, channels, subtype, fmt
    ) as out:
        out.write(audio)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples (full scale 1.0) -> 16-bit PCM, rounded and clipped."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768), -32768, 32767).astype(
        np.int16
    )
