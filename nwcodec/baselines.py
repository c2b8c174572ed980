"""Legacy codec baselines (AMR-WB, Opus, MP3) behind one round-trip interface at 16 kHz.

* AMR-WB: encoded with Debian ``libvo-amrwbenc0`` through ctypes into RFC 4867 storage format
  (``#!AMR-WB\\n`` + frames), decoded with PyAV's native ``amrwb`` decoder.
* Opus: PyAV ``libopus``, CBR (``vbr=off``), ``application=voip``, 20 ms frames, decoded with
  PyAV ``libopus`` (which outputs 48 kHz; resampled to 16 kHz with ``resample_poly``).
* MP3: PyAV ``libmp3lame`` CBR (MPEG-2 Layer III at 16 kHz), decoded with PyAV ``mp3float``.

``roundtrip`` returns the decoded signal with the codec delay removed (same length as the input)
and ``nbytes``, the codec payload: the sum of the encoded frames/packets. AMR-WB frames include
their 1-byte ToC; file-level headers (the 9-byte AMR magic, Ogg pages, ID3/Xing) are not counted.
The encoder is flushed, so trailing frames that carry the codec's look-ahead are counted.
"""

from __future__ import annotations

import ctypes
import fractions
import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cache
from typing import ClassVar, NamedTuple

import numpy as np

from nwcodec.audio import resample
from nwcodec.metrics import cross_correlation

SAMPLE_RATE = 16000


class Availability(NamedTuple):
    ok: bool
    reason: str


def _pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768), -32768, 32767).astype(
        np.int16
    )


def _av_codecs_missing(*names: tuple[str, str]) -> str:
    """Reason why PyAV or one of the (codec, mode) pairs is unavailable, or ''."""
    try:
        import av
    except ImportError:
        return "PyAV is not installed (pip install av)"
    for name, mode in names:
        try:
            av.codec.Codec(name, mode)
        except Exception:
            kind = "encoder" if mode == "w" else "decoder"
            return f"PyAV has no {name} {kind}"
    return ""


class Baseline(ABC):
    """A legacy codec at one bitrate setting. Subclasses set the class variables."""

    family: ClassVar[str]
    display: ClassVar[str]
    delay: ClassVar[int]
    """Samples at 16 kHz dropped from the start of the decoder output (measured, see REPORT)."""

    def __init__(self, bitrate_kbps: float) -> None:
        self.bitrate_kbps = float(bitrate_kbps)

    @property
    def name(self) -> str:
        return f"{self.family}-{self.bitrate_kbps:g}"

    @property
    def label(self) -> str:
        return f"{self.display} {self.bitrate_kbps:g}k"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.bitrate_kbps:g})"

    @classmethod
    @abstractmethod
    def available(cls) -> Availability:
        """Whether the libraries this codec needs are present, with the reason if not."""

    @abstractmethod
    def encode(self, audio: np.ndarray) -> list[bytes]:
        """Encode 16 kHz mono float audio into codec frames/packets."""

    @abstractmethod
    def decode(self, packets: Sequence[bytes]) -> np.ndarray:
        """Decode packets to 16 kHz float audio, codec delay still included."""

    def roundtrip(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
        """Encode and decode; returns (delay-compensated audio of the input length, nbytes)."""
        if sr != SAMPLE_RATE:
            raise ValueError(f"{self.label} baseline expects {SAMPLE_RATE} Hz audio, got {sr}")
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        packets = self.encode(audio)
        decoded = self.decode(packets)[self.delay : self.delay + len(audio)]
        decoded = np.pad(decoded, (0, len(audio) - len(decoded)))
        return decoded.astype(np.float32), sum(len(p) for p in packets)


AMRWB_MODES = (6.6, 8.85, 12.65, 14.25, 15.85, 18.25, 19.85, 23.05, 23.85)
AMRWB_MAGIC = b"#!AMR-WB\n"
_AMRWB_FRAME = 320  # 20 ms at 16 kHz


@cache
def _amrwb_encoder_lib() -> ctypes.CDLL:
    lib = ctypes.CDLL("libvo-amrwbenc.so.0")
    lib.E_IF_init.restype = ctypes.c_void_p
    lib.E_IF_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_short),
        ctypes.POINTER(ctypes.c_ubyte),
        ctypes.c_int,
    ]
    lib.E_IF_encode.restype = ctypes.c_int
    lib.E_IF_exit.argtypes = [ctypes.c_void_p]
    return lib


def _decode_container(data: bytes, fmt: str) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data), format=fmt) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


class AmrWb(Baseline):
    """AMR-WB (ITU-T G.722.2), nine modes 6.6..23.85 kbit/s, no DTX."""

    family = "amrwb"
    display = "AMR-WB"
    # vo-amrwbenc + PyAV amrwb decoder (ffmpeg 5.1 CLI decodes identically): the normalised
    # cross-correlation summed over 20 dev files peaks at 95 for every mode (12.65k: 0.871 at 94,
    # 0.929 at 95, 0.814 at 96; parabolic peak ~94.8). environment.md's 94 came from single-file
    # argmax on other material. eval/report.py re-measures it on each run.
    delay = 95

    def __init__(self, bitrate_kbps: float) -> None:
        if bitrate_kbps not in AMRWB_MODES:
            raise ValueError(f"AMR-WB has no {bitrate_kbps} kbit/s mode; modes: {AMRWB_MODES}")
        super().__init__(bitrate_kbps)

    @classmethod
    def available(cls) -> Availability:
        try:
            _amrwb_encoder_lib()
        except OSError:
            return Availability(
                False, "libvo-amrwbenc.so.0 not found (apt install libvo-amrwbenc0)"
            )
        missing = _av_codecs_missing(("amrwb", "r"))
        return Availability(not missing, missing)

    def encode(self, audio: np.ndarray) -> list[bytes]:
        lib = _amrwb_encoder_lib()
        mode = AMRWB_MODES.index(self.bitrate_kbps)
        n_frames = -(-(len(audio) + self.delay) // _AMRWB_FRAME)  # enough to flush the look-ahead
        pcm = np.zeros(n_frames * _AMRWB_FRAME, np.int16)
        pcm[: len(audio)] = _pcm16(audio)
        out = (ctypes.c_ubyte * 64)()
        state = lib.E_IF_init()
        try:
            frames = []
            for i in range(n_frames):
                chunk = np.ascontiguousarray(pcm[i * _AMRWB_FRAME : (i + 1) * _AMRWB_FRAME])
                size = lib.E_IF_encode(
                    state, mode, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_short)), out, 0
                )
                frames.append(bytes(out[:size]))
        finally:
            lib.E_IF_exit(state)
        return frames

    def decode(self, packets: Sequence[bytes]) -> np.ndarray:
        return _decode_container(storage_file(packets), "amr")


def storage_file(frames: Sequence[bytes]) -> bytes:
    """RFC 4867 single-channel AMR-WB storage file from ToC-prefixed frames."""
    return AMRWB_MAGIC + b"".join(frames)


class _PyAVBaseline(Baseline):
    """Baseline encoded and decoded packet by packet through PyAV codec contexts."""

    encoder: ClassVar[str]
    decoder: ClassVar[str]
    sample_format: ClassVar[str]
    options: ClassVar[dict[str, str]] = {}

    @classmethod
    def available(cls) -> Availability:
        missing = _av_codecs_missing((cls.encoder, "w"), (cls.decoder, "r"))
        return Availability(not missing, missing)

    def _open_encoder(self):  # -> av.AudioCodecContext; av is imported lazily
        import av

        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.format = self.sample_format
        ctx.bit_rate = int(self.bitrate_kbps * 1000)
        ctx.time_base = fractions.Fraction(1, SAMPLE_RATE)
        ctx.options = dict(self.options)
        ctx.thread_count = 1
        ctx.open()
        return ctx

    def encode(self, audio: np.ndarray) -> list[bytes]:
        import av

        ctx = self._open_encoder()
        size = ctx.frame_size
        samples = np.zeros(-(-len(audio) // size) * size, np.float32)
        samples[: len(audio)] = audio
        if self.sample_format.startswith("s16"):
            samples = _pcm16(samples)
        packets = []
        for start in range(0, len(samples), size):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + size], format=self.sample_format, layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            packets += [bytes(p) for p in ctx.encode(frame)]
        return packets + [bytes(p) for p in ctx.encode(None)]

    def decode(self, packets: Sequence[bytes]) -> np.ndarray:
        import av

        ctx = av.CodecContext.create(self.decoder, "r")
        # The Opus header (pre-skip, input rate) is fixed per configuration: take it from a
        # freshly opened encoder rather than carrying it beside the packets.
        header = self._open_encoder().extradata
        if header:
            ctx.extradata = header
        chunks, rate = [], SAMPLE_RATE
        for packet in [*(av.Packet(p) for p in packets), None]:
            for frame in ctx.decode(packet):
                pcm = frame.to_ndarray().reshape(-1)
                chunks.append(pcm / 32768.0 if pcm.dtype == np.int16 else pcm)
                rate = frame.sample_rate
        if not chunks:
            return np.zeros(0, np.float32)
        return resample(np.concatenate(chunks).astype(np.float64), rate, SAMPLE_RATE)


class Opus(_PyAVBaseline):
    """Opus (libopus) CBR, application=voip, 20 ms frames."""

    family = "opus"
    display = "Opus"
    encoder = decoder = "libopus"
    sample_format = "flt"
    # application=voip: on 20 dev files it beat 'audio' at 24 kbit/s (PESQ-WB 4.43 vs 4.39),
    # lost at 12 (3.58 vs 3.62), tied at 6 (1.77); voip is also the published protocol (peers §C).
    options = {"vbr": "off", "application": "voip"}
    # The libopus decoder applies the OpusHead pre-skip (312 @ 48 kHz) itself and resample_poly is
    # zero-phase, so only a sub-sample offset remains: the summed cross-correlation over 20 dev
    # files peaks between -1 and 0 (parabolic peak ~-0.6 at 12k), left uncompensated.
    delay = 0


class Mp3(_PyAVBaseline):
    """MP3 (LAME) CBR; at 16 kHz this is MPEG-2 Layer III, 576-sample frames."""

    family = "mp3"
    display = "MP3"
    encoder = "libmp3lame"
    decoder = "mp3float"
    sample_format = "s16p"
    # LAME encoder delay 576 + 529 decoder delay: PyAV decodes raw packets without the LAME
    # gapless header, so the summed cross-correlation peaks at 1105 (every file, every bitrate).
    delay = 1105


OPUS_KBPS = (6, 8, 12, 16, 24, 32)
MP3_KBPS = (16, 24, 32, 48, 64)

FAMILIES: dict[str, type[Baseline]] = {"amrwb": AmrWb, "opus": Opus, "mp3": Mp3}

BASELINES: dict[str, list[Baseline]] = {
    "amrwb": [AmrWb(m) for m in AMRWB_MODES],
    "opus": [Opus(b) for b in OPUS_KBPS],
    "mp3": [Mp3(b) for b in MP3_KBPS],
}
"""Every setting the report covers, by family."""


def parse_baselines(spec: str) -> list[Baseline]:
    """Parse ``"amrwb,opus:12:24,mp3:32"``: a family alone means all its registry settings.

    Raises ValueError for an unknown family or bitrate, RuntimeError if a codec is unavailable.
    """
    chosen: list[Baseline] = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        family, *rates = item.split(":")
        if family not in FAMILIES:
            raise ValueError(f"unknown baseline {family!r}; choose from {', '.join(FAMILIES)}")
        cls = FAMILIES[family]
        ok, reason = cls.available()
        if not ok:
            raise RuntimeError(f"baseline {family} unavailable: {reason}")
        try:
            chosen += [cls(float(r)) for r in rates] if rates else BASELINES[family]
        except ValueError as e:
            raise ValueError(f"bad bitrate in {item!r}: {e}") from None
    return chosen


def available_baselines() -> tuple[list[Baseline], dict[str, str]]:
    """Every registry setting of the families this machine can run, and for each family it
    cannot, the reason."""
    chosen: list[Baseline] = []
    missing: dict[str, str] = {}
    for family, cls in FAMILIES.items():
        ok, reason = cls.available()
        if ok:
            chosen += BASELINES[family]
        else:
            missing[family] = reason
    return chosen, missing


def measure_delay(baseline: Baseline, signals: Sequence[np.ndarray], max_lag: int = 2000) -> int:
    """Codec delay in samples: peak of the cross-correlation summed over several signals.

    Uses raw decoder output (no compensation). Summing over files makes the peak robust where a
    single file's peak wobbles by a sample or two at low bitrates.
    """
    total = np.zeros(2 * max_lag + 1)
    for x in signals:
        y = baseline.decode(baseline.encode(x)).astype(np.float64)
        cc = cross_correlation(np.asarray(x, dtype=np.float64), y, max_lag)
        total += cc / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)
    return int(np.argmax(total)) - max_lag
