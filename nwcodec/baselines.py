"""Legacy codec baselines (AMR-WB, Opus, MP3) behind one round-trip interface.

Each baseline is one bitrate at one input rate and channel count: 16 kHz mono (speech, the
default) or, for Opus and MP3, e.g. 44.1 kHz stereo (music, :data:`MUSIC_RATE`).

* AMR-WB: 16 kHz mono only. Encoded with Debian ``libvo-amrwbenc0`` through ctypes into RFC 4867
  storage format (``#!AMR-WB\\n`` + frames), decoded with PyAV's native ``amrwb`` decoder.
* Opus: PyAV ``libopus``, 20 ms frames; at 16 kHz mono (speech) CBR (``vbr=off``) with
  ``application=voip``, at any other rate or channel count (music) constrained VBR
  (``vbr=constrained``) with ``application=audio``. libopus takes 8, 12, 16,
  24 or 48 kHz: other input (44.1 kHz) is resampled to 48 kHz before encoding. The decoder
  outputs 48 kHz, resampled back to the input rate with ``resample_poly``.
* MP3: PyAV ``libmp3lame`` CBR at the input rate (MPEG-2 Layer III at 16 kHz, MPEG-1 at
  44.1 kHz; only the standard's bitrates for that rate), decoded with PyAV ``mp3float``.

``roundtrip`` returns the decoded signal with the codec delay removed (same shape as the input)
and ``nbytes``, the codec payload: the sum of the encoded frames/packets. AMR-WB frames include
their 1-byte ToC, MP3 frames their 4-byte header; file-level framing (the 9-byte AMR magic, Ogg
pages, ID3/Xing tags) is not counted. The encoder is flushed, so trailing frames that carry the
codec's look-ahead are counted.
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

from nwcodec.audio import resample, to_pcm16
from nwcodec.metrics import cross_correlation

SAMPLE_RATE = 16000
"""The default (speech) input rate."""
MUSIC_RATE = 44100


class Availability(NamedTuple):
    ok: bool
    reason: str


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


def _channel_word(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}ch")


class Baseline(ABC):
    """A legacy codec at one bitrate (total over the channels) for ``sample_rate`` Hz input of
    ``channels`` channels. Subclasses set the class variables."""

    family: ClassVar[str]
    display: ClassVar[str]
    delay: ClassVar[int]
    """Samples at the input rate dropped from the start of the decoder output (measured, see
    REPORT; the same at 16 and 44.1 kHz for MP3, whose codec runs at the input rate)."""

    def __init__(
        self, bitrate_kbps: float, sample_rate: int = SAMPLE_RATE, channels: int = 1
    ) -> None:
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.bitrate_kbps = float(bitrate_kbps)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)

    @property
    def _speech(self) -> bool:
        return (self.sample_rate, self.channels) == (SAMPLE_RATE, 1)

    @property
    def name(self) -> str:
        """Unique id: ``mp3-32`` for 16 kHz mono, ``mp3-128-44.1k-stereo`` otherwise."""
        base = f"{self.family}-{self.bitrate_kbps:g}"
        if self._speech:
            return base
        return f"{base}-{self.sample_rate / 1000:g}k-{_channel_word(self.channels)}"

    @property
    def label(self) -> str:
        base = f"{self.display} {self.bitrate_kbps:g}k"
        return base if self._speech else f"{base} {_channel_word(self.channels)}"

    def __repr__(self) -> str:
        extra = "" if self._speech else f", {self.sample_rate}, {self.channels}"
        return f"{type(self).__name__}({self.bitrate_kbps:g}{extra})"

    @classmethod
    @abstractmethod
    def available(cls) -> Availability:
        """Whether the libraries this codec needs are present, with the reason if not."""

    @abstractmethod
    def encode(self, audio: np.ndarray) -> list[bytes]:
        """Encode float audio at ``sample_rate`` ((n,) mono or (n, channels)) into codec
        frames/packets."""

    @abstractmethod
    def decode(self, packets: Sequence[bytes]) -> np.ndarray:
        """Decode packets to float audio at ``sample_rate``, (n,) for mono, else (n, channels);
        codec delay still included."""

    def check_input(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """``audio`` as float32, (n,) for a mono baseline or (n, channels); ValueError if the
        rate or channel count is not this baseline's."""
        if sr != self.sample_rate:
            raise ValueError(
                f"{self.label} baseline expects {self.sample_rate} Hz audio, got {sr}"
            )
        audio = np.asarray(audio, dtype=np.float32)
        if self.channels == 1 and (audio.ndim == 1 or audio.shape[1:] == (1,)):
            return audio.reshape(-1)
        if audio.ndim != 2 or audio.shape[1] != self.channels:
            raise ValueError(f"{self.label} baseline expects {self.channels} channel(s), got "
                             f"shape {audio.shape}")
        return audio

    def roundtrip(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
        """Encode and decode; returns (delay-compensated audio of the input's shape, nbytes)."""
        audio = self.check_input(audio, sr)
        packets = self.encode(audio)
        decoded = self.decode(packets)[self.delay : self.delay + len(audio)]
        missing = len(audio) - len(decoded)
        decoded = np.pad(decoded, [(0, missing)] + [(0, 0)] * (decoded.ndim - 1))
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

    def __init__(
        self, bitrate_kbps: float, sample_rate: int = SAMPLE_RATE, channels: int = 1
    ) -> None:
        if bitrate_kbps not in AMRWB_MODES:
            raise ValueError(f"AMR-WB has no {bitrate_kbps} kbit/s mode; modes: {AMRWB_MODES}")
        if (sample_rate, channels) != (SAMPLE_RATE, 1):
            raise ValueError(f"AMR-WB codes {SAMPLE_RATE} Hz mono only")
        super().__init__(bitrate_kbps, sample_rate, channels)

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
        pcm[: len(audio)] = to_pcm16(audio)
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
    """Baseline encoded and decoded packet by packet through PyAV codec contexts, at the input
    rate if the codec takes it (``rates``), else at its lowest rate above it."""

    encoder: ClassVar[str]
    decoder: ClassVar[str]
    sample_format: ClassVar[str]
    rates: ClassVar[tuple[int, ...]]

    def __init__(
        self, bitrate_kbps: float, sample_rate: int = SAMPLE_RATE, channels: int = 1
    ) -> None:
        super().__init__(bitrate_kbps, sample_rate, channels)
        if self.channels > 2:
            raise ValueError(f"{self.display} baselines code mono or stereo, not {channels} "
                             "channels")
        above = [r for r in self.rates if r >= self.sample_rate]
        if not above:
            raise ValueError(f"{self.display} codes at most {max(self.rates)} Hz, got "
                             f"{sample_rate}")
        self.codec_rate = self.sample_rate if self.sample_rate in self.rates else min(above)

    @property
    def options(self) -> dict[str, str]:
        """Encoder options (PyAV/ffmpeg AVOptions)."""
        return {}

    @classmethod
    def available(cls) -> Availability:
        missing = _av_codecs_missing((cls.encoder, "w"), (cls.decoder, "r"))
        return Availability(not missing, missing)

    @property
    def _layout(self) -> str:
        return _channel_word(self.channels)

    def _open_encoder(self):  # -> av.AudioCodecContext; av is imported lazily
        import av

        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.sample_rate = self.codec_rate
        ctx.layout = self._layout
        ctx.format = self.sample_format
        ctx.bit_rate = int(self.bitrate_kbps * 1000)
        ctx.time_base = fractions.Fraction(1, self.codec_rate)
        ctx.options = dict(self.options)
        ctx.thread_count = 1
        ctx.open()
        return ctx

    def encode(self, audio: np.ndarray) -> list[bytes]:
        import av

        audio = resample(np.asarray(audio, dtype=np.float32), self.sample_rate, self.codec_rate)
        audio = audio.reshape(len(audio), -1)
        ctx = self._open_encoder()
        size = ctx.frame_size
        padded = np.zeros((-(-len(audio) // size) * size, self.channels), np.float32)
        padded[: len(audio)] = audio
        if self.sample_format.startswith("s16"):
            padded = to_pcm16(padded)
        planar = self.sample_format.endswith("p")
        packets = []
        for start in range(0, len(padded), size):
            block = padded[start : start + size]
            # PyAV takes planar frames as (channels, n), packed ones as (1, n * channels).
            array = np.ascontiguousarray(block.T if planar else block.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(array, format=self.sample_format,
                                               layout=self._layout)
            frame.sample_rate = self.codec_rate
            frame.pts = start
            packets += [bytes(p) for p in ctx.encode(frame)]
        return packets + [bytes(p) for p in ctx.encode(None)]

    def decode(self, packets: Sequence[bytes]) -> np.ndarray:
        import av

        ctx = av.CodecContext.create(self.decoder, "r")
        # The Opus header (pre-skip, input rate, channels) is fixed per configuration: take it
        # from a freshly opened encoder rather than carrying it beside the packets.
        header = self._open_encoder().extradata
        if header:
            ctx.extradata = header
        chunks, rate = [], self.codec_rate
        for packet in [*(av.Packet(p) for p in packets), None]:
            for frame in ctx.decode(packet):
                pcm = frame.to_ndarray()
                pcm = pcm.T if frame.format.is_planar else pcm.reshape(-1, self.channels)
                chunks.append(pcm / 32768.0 if pcm.dtype == np.int16 else pcm)
                rate = frame.sample_rate
        if not chunks:
            out = np.zeros((0, self.channels), np.float32)
        else:
            out = resample(np.concatenate(chunks).astype(np.float64), rate, self.sample_rate)
        return out[:, 0] if self.channels == 1 else out


class Opus(_PyAVBaseline):
    """Opus (libopus), 20 ms frames: speech (16 kHz mono) CBR with application=voip, anything
    else (music) constrained VBR with application=audio."""

    family = "opus"
    display = "Opus"
    encoder = decoder = "libopus"
    sample_format = "flt"
    rates = (8000, 12000, 16000, 24000, 48000)
    # The libopus decoder applies the OpusHead pre-skip (312 @ 48 kHz) itself and resample_poly is
    # zero-phase, so only a sub-sample offset remains: the summed cross-correlation over 20 dev
    # files peaks between -1 and 0 (parabolic peak ~-0.6 at 12k), left uncompensated. At 44.1 kHz
    # stereo (48 kHz inside) the synthetic test signals peak at 0 too.
    delay = 0

    @property
    def options(self) -> dict[str, str]:
        if self._speech:
            # application=voip: on 20 dev files it beat 'audio' at 24 kbit/s (PESQ-WB 4.43 vs
            # 4.39), lost at 12 (3.58 vs 3.62), tied at 6 (1.77); voip is also the published
            # protocol (peers §C).
            return {"vbr": "off", "application": "voip"}
        # Music: opusenc's own mode for music is VBR; constrained VBR keeps each file near the
        # nominal rate (the comparison is at equal rates) while letting Opus spend bits where
        # the music needs them, as CBR cannot.
        return {"vbr": "constrained", "application": "audio"}


MP3_BITRATES: dict[tuple[int, ...], tuple[int, ...]] = {
    (32000, 44100, 48000): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (16000, 22050, 24000): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (8000, 11025, 12000): (8, 16, 24, 32, 40, 48, 56, 64),
}
"""Layer III bitrates (kbit/s) by sample rate: MPEG-1, MPEG-2 and MPEG-2.5 (ISO/IEC 11172-3,
13818-3). LAME silently rounds any other CBR rate to one of these."""


class Mp3(_PyAVBaseline):
    """MP3 (LAME) CBR at the input rate: MPEG-1 Layer III (1152-sample frames) at 32-48 kHz,
    MPEG-2 (576-sample frames) at 16-24 kHz."""

    family = "mp3"
    display = "MP3"
    encoder = "libmp3lame"
    decoder = "mp3float"
    sample_format = "s16p"
    rates = tuple(sorted(r for group in MP3_BITRATES for r in group))
    # LAME encoder delay 576 + 529 decoder delay: PyAV decodes raw packets without the LAME
    # gapless header, so the summed cross-correlation peaks at 1105 (every file, every bitrate;
    # at 44.1 kHz MPEG-1 too, on the synthetic test signals).
    delay = 1105

    def __init__(
        self, bitrate_kbps: float, sample_rate: int = SAMPLE_RATE, channels: int = 1
    ) -> None:
        if sample_rate not in self.rates:
            raise ValueError(f"MP3 has no {sample_rate} Hz mode; rates: {self.rates}")
        allowed = next(kbps for group, kbps in MP3_BITRATES.items() if sample_rate in group)
        if bitrate_kbps not in allowed:
            raise ValueError(f"MP3 at {sample_rate} Hz has no {bitrate_kbps:g} kbit/s rate; "
                             f"rates: {allowed}")
        super().__init__(bitrate_kbps, sample_rate, channels)


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

    Uses raw decoder output (no compensation), of multichannel signals the channel mean.
    Summing over files makes the peak robust where a single file's peak wobbles by a sample or
    two at low bitrates.
    """
    total = np.zeros(2 * max_lag + 1)
    for x in signals:
        x = baseline.check_input(x, baseline.sample_rate)
        y = baseline.decode(baseline.encode(x)).astype(np.float64)
        x, y = (a.reshape(len(a), -1).mean(axis=1) for a in (x.astype(np.float64), y))
        cc = cross_correlation(x, y, max_lag)
        total += cc / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)
    return int(np.argmax(total)) - max_lag
