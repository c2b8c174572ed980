"""Speed, memory, size and bitrate of a tier on one CPU core (the library side of `nwc bench`).

Speed is audio seconds per wall second ("x real time") of :meth:`Codec.encode` and
:meth:`Codec.decode` on ``seconds`` of the shipped speech sample (repeated to length), with
``torch.set_num_threads(1)``, best of ``repeats`` runs after a short warm-up; the same by CPU
time is given too, as the better estimate on a loaded machine.

Memory is what a fresh process needs to code with the tier: encoding and decoding each run in
their own process (forked from a server that has imported nwcodec and nothing else), and the
figure is the peak resident set (VmHWM, or ``ru_maxrss`` where /proc is missing) minus the
resident set before the tier was loaded, so model weights and working buffers both count and
no tier inherits another's freed memory.

Parameters are split by the role of each tensor (:func:`parameter_split`):

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
import multiprocessing
import os
import re
import resource
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import soundfile as sf
import torch

from nwcodec.codec import Codec
from nwcodec.timing import best_of
from nwcodec.zoo import Tier

T = TypeVar("T")

SAMPLE = importlib.resources.files("nwcodec") / "data" / "sample.flac"

_ENCODER = re.compile(r"(^|\.)(enc_|skips\.\d+\.analysis\.)")
_SHARED = re.compile(r"quantizers?\.")


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
    """Parameter counts: ``encoder`` only, ``decoder`` only and ``shared`` (quantisers), of a
    whole cascade or of one residual autoencoder (see the module docstring)."""
    split = {"encoder": 0, "decoder": 0, "shared": 0}
    for name, p in model.named_parameters():
        if _SHARED.search(name):
            split["shared"] += p.numel()
        else:
            split["encoder" if _ENCODER.search(name) else "decoder"] += p.numel()
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
    """Yields a one-element list that holds the peak RSS growth in MiB after the block (exact in
    a fresh process; elsewhere see the module docstring)."""
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


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def in_fresh_process(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a child forked from a clean server process that has only imported
    this module: forking the caller itself, whose thread pools may be running, can deadlock."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


@dataclass(frozen=True)
class _Run:
    wall: float
    cpu: float
    peak_mib: float
    data: bytes | None
    params: dict[str, int]


def _code(tier_id: int, audio: np.ndarray, sr: int, data: bytes | None, repeats: int) -> _Run:
    """Load the tier and time encoding ``audio`` (``data`` None) or decoding ``data``."""
    with one_thread(), peak_memory() as mem:
        codec = Codec.load(tier_id)
        codec.decode(codec.encode(audio[: sr // 4], sr))  # warm-up: first-call allocations
        if data is None:
            clock, out = best_of(lambda: codec.encode(audio, sr), repeats)
        else:
            clock, out = best_of(lambda: codec.decode(data), repeats)
    return _Run(clock.wall, clock.cpu, mem[0], out if data is None else None,
                parameter_split(codec.model))


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
    enc = in_fresh_process(_code, tier.id, audio, sr, None, repeats)
    assert enc.data is not None
    dec = in_fresh_process(_code, tier.id, audio, sr, enc.data, repeats)
    return TierBench(
        tier_id=tier.id,
        tier=tier.name,
        seconds=duration,
        encode_x_realtime=duration / enc.wall,
        decode_x_realtime=duration / dec.wall,
        encode_x_realtime_cpu=duration / max(enc.cpu, 1e-9),
        decode_x_realtime_cpu=duration / max(dec.cpu, 1e-9),
        encode_peak_mib=enc.peak_mib,
        decode_peak_mib=dec.peak_mib,
        encoder_params=enc.params["encoder"],
        decoder_params=enc.params["decoder"],
        shared_params=enc.params["shared"],
        kbps=len(enc.data) * 8 / duration / 1000,
        nominal_kbps=tier.nominal_kbps,
    )
