"""Objective quality metrics: PESQ-WB, ViSQOL (speech/audio), STOI, SI-SDR, log-mel distance.

Every metric takes ``(ref, deg, sr)`` and returns a :class:`MetricResult`. A metric never raises on
bad audio: too short, silent, non-finite or non-mono input, or an error inside the underlying
library, gives ``MetricResult(nan, reason)``. Signals of different lengths are cropped to the
shorter one; the metric functions assume time-aligned input, and :func:`evaluate` aligns first
(cross-correlation, :func:`align`). Each metric resamples to the rate it requires with
:func:`nwcodec.audio.resample`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from nwcodec.audio import resample
from nwcodec.dsp.mel import mel_filterbank

# Below this RMS (about -100 dBFS) a signal counts as silent.
SILENCE_RMS = 1e-5


@dataclass(frozen=True)
class MetricResult:
    """A metric value, or NaN with the reason it could not be computed."""

    value: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not math.isnan(self.value)

    def __float__(self) -> float:
        return self.value


def _fail(reason: str) -> MetricResult:
    return MetricResult(math.nan, reason)


def cross_correlation(ref: np.ndarray, deg: np.ndarray, max_lag: int) -> np.ndarray:
    """Cross-correlation at lags ``-max_lag..max_lag`` (index ``max_lag`` is lag 0)."""
    n = len(ref) + len(deg)
    nfft = 1 << (n - 1).bit_length()
    cc = np.fft.irfft(np.fft.rfft(deg, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)
    return cc[np.arange(-max_lag, max_lag + 1) % nfft]


def estimate_delay(ref: np.ndarray, deg: np.ndarray, max_lag: int) -> int:
    """Lag (samples) maximising the cross-correlation; positive when ``deg`` is late."""
    cc = cross_correlation(ref, deg, max_lag)
    return int(np.argmax(cc)) - max_lag if np.any(cc) else 0


def align(ref: np.ndarray, deg: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Shift ``deg`` by its estimated delay (``|lag| <= max_lag``) and crop both to equal length.

    Returns ``(ref_aligned, deg_aligned, lag)``.
    """
    ref = np.asarray(ref, dtype=np.float64)
    deg = np.asarray(deg, dtype=np.float64)
    if len(ref) == 0 or len(deg) == 0 or max_lag <= 0:
        lag = 0
    else:
        lag = estimate_delay(ref, deg, max_lag)
    if lag >= 0:
        deg = deg[lag:]
    else:
        ref = ref[-lag:]
    n = min(len(ref), len(deg))
    return ref[:n], deg[:n], lag


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def _prepare(
    ref: np.ndarray, deg: np.ndarray, sr: int, rate: int, min_seconds: float
) -> tuple[np.ndarray, np.ndarray] | MetricResult:
    """Validate, crop to common length and resample; a MetricResult means 'cannot score'."""
    ref = np.asarray(ref, dtype=np.float64)
    deg = np.asarray(deg, dtype=np.float64)
    if ref.ndim != 1 or deg.ndim != 1:
        return _fail(f"expected mono 1-D signals, got shapes {ref.shape} and {deg.shape}")
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(deg))):
        return _fail("non-finite samples")
    n = min(len(ref), len(deg))
    if n < min_seconds * sr or n == 0:
        return _fail(f"too short: {n / sr:.3f} s < {min_seconds} s")
    ref, deg = ref[:n], deg[:n]
    if _rms(ref) < SILENCE_RMS:
        return _fail("silent reference")
    if _rms(deg) < SILENCE_RMS:
        return _fail("silent degraded signal")
    return resample(ref, sr, rate), resample(deg, sr, rate)


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> MetricResult:
    """PESQ wideband (ITU-T P.862.2 MOS-LQO, 1.04..4.64) at 16 kHz."""
    from pesq import pesq

    prep = _prepare(ref, deg, sr, 16000, 0.25)
    if isinstance(prep, MetricResult):
        return prep
    try:
        return MetricResult(float(pesq(16000, prep[0], prep[1], "wb")))
    except Exception as e:  # the C library signals bad input through exceptions
        return _fail(f"pesq: {type(e).__name__}: {e}")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block: C++ libraries (TF Lite's "INFO:
    Created TensorFlow Lite XNNPACK delegate" line) write there, past Python's sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@cache
def _visqol_api(mode: str):  # visqol (numba, tflite) is imported only when needed
    from visqol import VisqolApi

    api = VisqolApi()
    with _quiet_stderr():  # building the speech model's TF Lite interpreter prints INFO lines
        api.create(mode=mode)
    return api


def _visqol(ref: np.ndarray, deg: np.ndarray, sr: int, mode: str, rate: int) -> MetricResult:
    prep = _prepare(ref, deg, sr, rate, 0.5)
    if isinstance(prep, MetricResult):
        return prep
    try:
        return MetricResult(float(_visqol_api(mode).measure_from_arrays(*prep, rate).moslqo))
    except Exception as e:  # visqol fails on degenerate patches rather than returning a score
        return _fail(f"visqol: {type(e).__name__}: {e}")


def visqol_speech(ref: np.ndarray, deg: np.ndarray, sr: int) -> MetricResult:
    """ViSQOL v3 speech mode (lattice mapper, MOS-LQO) at 16 kHz."""
    return _visqol(ref, deg, sr, "speech", 16000)


def visqol_audio(ref: np.ndarray, deg: np.ndarray, sr: int) -> MetricResult:
    """ViSQOL v3 audio mode (SVR mapper, MOS-LQO) at 48 kHz."""
    return _visqol(ref, deg, sr, "audio", 48000)


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> MetricResult:
    """Short-time objective intelligibility (0..1) at 10 kHz."""
    from pystoi import stoi as _stoi

    prep = _prepare(ref, deg, sr, 10000, 0.4)
    if isinstance(prep, MetricResult):
        return prep
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(_stoi(prep[0], prep[1], 10000))
        except Exception as e:
            return _fail(f"stoi: {type(e).__name__}: {e}")
    # pystoi returns a 1e-5 placeholder (with a warning) when too few non-silent frames remain.
    if caught:
        return _fail(f"stoi: {caught[0].message}")
    return MetricResult(value)


def si_sdr(ref: np.ndarray, deg: np.ndarray, sr: int) -> MetricResult:
    """Scale-invariant signal-to-distortion ratio in dB (higher is better)."""
    prep = _prepare(ref, deg, sr, sr, 0.01)
    if isinstance(prep, MetricResult):
        return prep
    r = prep[0] - prep[0].mean()
    d = prep[1] - prep[1].mean()
    target = (np.dot(d, r) / np.dot(r, r)) * r
    noise = d - target
    eps = 1e-10  # keeps identical signals finite (a large value instead of +inf)
    return MetricResult(float(10 * np.log10((target @ target + eps) / (noise @ noise + eps))))


def _log_mel(x: np.ndarray, sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    hop = n_fft // 4
    x = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=-1))
    return np.log10(np.maximum(mag @ mel_filterbank(sr, n_fft, n_mels).T, 1e-5))


def mel_distance(ref: np.ndarray, deg: np.ndarray, sr: int) -> MetricResult:
    """Mean absolute log10-mel-magnitude difference (80 bands, 64 ms Hann, 16 ms hop; 0 = same)."""
    prep = _prepare(ref, deg, sr, sr, 0.064)
    if isinstance(prep, MetricResult):
        return prep
    n_fft = 1 << round(math.log2(0.064 * sr))
    diff = _log_mel(prep[0], sr, n_fft, 80) - _log_mel(prep[1], sr, n_fft, 80)
    return MetricResult(float(np.mean(np.abs(diff))))


Metric = Callable[[np.ndarray, np.ndarray, int], MetricResult]

METRICS: dict[str, Metric] = {
    "pesq_wb": pesq_wb,
    "visqol_speech": visqol_speech,
    "visqol_audio": visqol_audio,
    "stoi": stoi,
    "si_sdr": si_sdr,
    "mel_distance": mel_distance,
}
"""All metrics by name. ``visqol_audio`` (48 kHz, ~1-2 s per 10 s pair) is not a default."""

DEFAULT_METRICS = ("pesq_wb", "visqol_speech", "stoi", "si_sdr", "mel_distance")

HIGHER_IS_BETTER = {name: name != "mel_distance" for name in METRICS}


@dataclass
class Evaluation:
    """Scores of one degraded signal and the lag (samples at ``sr``) removed before scoring."""

    scores: dict[str, MetricResult] = field(default_factory=dict)
    lag: int = 0


def evaluate(
    ref: np.ndarray,
    deg: np.ndarray,
    sr: int,
    metrics: Sequence[str] = DEFAULT_METRICS,
    max_lag_seconds: float = 0.1,
) -> Evaluation:
    """Align ``deg`` to ``ref`` (cross-correlation within ±max_lag_seconds) and score it."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s): {', '.join(sorted(unknown))}")
    ref = np.asarray(ref, dtype=np.float64)
    deg = np.asarray(deg, dtype=np.float64)
    lag = 0
    if ref.ndim == deg.ndim == 1 and np.all(np.isfinite(ref)) and np.all(np.isfinite(deg)):
        ref, deg, lag = align(ref, deg, int(max_lag_seconds * sr))
    return Evaluation({name: METRICS[name](ref, deg, sr) for name in metrics}, lag)
