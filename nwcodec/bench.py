"""Speed, memory, size and bitrate of a tier on one CPU core (the library side of `nwc bench`).

Speed is audio seconds per wall second ("x real time") of :meth:`Codec.encode` and
:meth:`Codec.decode` on ``seconds`` of the shipped speech sample (repeated to length), with
``torch.set_num_threads(1)``; the same by CPU time is given too, as the better estimate on a
loaded machine. Peak memory is the growth of the process's resident set during the call: on
Linux the peak RSS (VmHWM) is reset through ``/proc/self/clear_refs`` before the call and read
after it, minus the RSS before; elsewhere it is the ``ru_maxrss`` delta, a lower bound (zero
when an earlier peak was higher).

Parameters are split by the role of each tensor in the cascade:

- encoder only: the stage encoders (``enc_*``) and the HARP skip analysers
  (``skips.*.analysis``); the LPC analysis itself has no trained tensors;
- decoder only: the stage decoders (``dec_*``) and the HARP skip synthesisers;
- shared: the quantisers' centroids (LSF and latent), which both sides need.

The encoder runs closed-loop (stage k codes what stages < k reconstruct), so at run time it
also executes every decoder stage but the last.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import soundfile as sf
import torch

from nwcodec.codec import Codec
from nwcodec.zoo import Tier

SAMPLE = importlib.resources.files("nwcodec") / "data" / "sample.flac"

_ENCODER = re.compile(r"^stages\.\d+\.(enc_|skips\.\d+\.analysis\.)")
_SHARED = re.compile(r"quantizer\.")


@dataclass(frozen=True)
class TierBench:
    """One row of the benchmark table."""

    tier_id: int
    tier: str
    seconds: float
    encode_x_realtime: float
    decode_x_realtime: float
    encode_x_realtime_cpu: float
    decode_x_realtime_cpu: float
    encode_peak_mib: float
    decode_peak_mib: float
    encoder_params: int
    decoder_params: int
    shared_params: int
    kbps: float
    nominal_kbps: float

    def to_dict(self) -> dict:
        return asdict(self)


def parameter_split(model: torch.nn.Module) -> dict[str, int]:
    """Parameter counts: ``encoder`` only, ``decoder`` only and ``shared`` (quantisers)."""
    split = {"encoder": 0, "decoder": 0, "shared": 0}
    for name, p in model.named_parameters():
        if _SHARED.search(name):
            split["shared"] += p.numel()
        else:
            split["encoder" if _ENCODER.match(name) else "decoder"] += p.numel()
    return split


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_kib() -> int:
    scale = 1 if sys.platform != "darwin" else 1 / 1024  # macOS reports bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)


@contextlib.contextmanager
def peak_memory() -> Iterator[list[float]]:
    """Yields a one-element list that holds the peak RSS growth in MiB after the block."""
    result = [0.0]
    rss = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current RSS
        before, read_peak = rss, lambda: _status_kib("VmHWM")
    except OSError:
        before, read_peak = _maxrss_kib(), _maxrss_kib
    yield result
    peak = read_peak()
    result[0] = max(0, (peak or 0) - (before or 0)) / 1024


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, float, object]:
    """(best wall s, CPU s of that run, peak MiB over all runs, last result)."""
    best, peak, out = (float("inf"), float("inf")), 0.0, None
    for _ in range(repeats):
        with peak_memory() as mem:
            wall, cpu = time.perf_counter(), time.process_time()
            out = fn()
            best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
        peak = max(peak, mem[0])
    return best[0], best[1], peak, out


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def speech_signal(
    seconds: float, path: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, int]:
    """``seconds`` of the shipped sample (or ``path``), repeated to length, (samples, channels)."""
    audio, sr = sf.read(str(path or SAMPLE), dtype="float32", always_2d=True)
    n = int(round(seconds * sr))
    reps = -(-n // audio.shape[0])
    return np.tile(audio, (reps, 1))[:n], sr


def bench_tier(tier: Tier, seconds: float = 30.0, repeats: int = 1,
               path: str | os.PathLike[str] | None = None) -> TierBench:
    """Measure one tier on one core; see the module docstring for what each figure means."""
    audio, sr = speech_signal(seconds, path)
    duration = audio.shape[0] / sr
    with one_thread():
        codec = Codec.load(tier.id)
        codec.decode(codec.encode(audio[: sr // 4], sr))  # warm-up: first-call allocations
        enc_wall, enc_cpu, enc_mem, data = _timed(lambda: codec.encode(audio, sr), repeats)
        assert isinstance(data, bytes)
        dec_wall, dec_cpu, dec_mem, _ = _timed(lambda: codec.decode(data), repeats)
    params = parameter_split(codec.model)
    return TierBench(
        tier_id=tier.id,
        tier=tier.name,
        seconds=duration,
        encode_x_realtime=duration / enc_wall,
        decode_x_realtime=duration / dec_wall,
        encode_x_realtime_cpu=duration / max(enc_cpu, 1e-9),
        decode_x_realtime_cpu=duration / max(dec_cpu, 1e-9),
        encode_peak_mib=enc_mem,
        decode_peak_mib=dec_mem,
        encoder_params=params["encoder"],
        decoder_params=params["decoder"],
        shared_params=params["shared"],
        kbps=len(data) * 8 / duration / 1000,
        nominal_kbps=tier.nominal_kbps,
    )
