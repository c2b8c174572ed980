"""The public API: ``Codec.load(tier)``, ``encode`` / ``decode`` and their streaming forms.

    >>> codec = Codec.load("speech-16k")                 # doctest: +SKIP
    >>> data = codec.encode(audio, sr)                   # doctest: +SKIP
    >>> audio_hat, sr_hat = codec.decode(data)           # doctest: +SKIP

Input of any sample rate is resampled to the model's rate; ``decode`` restores the original
rate and length unless another ``sample_rate`` is asked for. Channels are coded independently,
one chunk record each (the bitrate scales with the channel count). Every chunk (two seconds at
the model rate) is coded on its own, so streaming and whole-file coding give identical bytes
and samples, memory stays bounded, and a damaged chunk only silences itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soundfile as sf

from nwcodec.audio import (
    AudioError,
    check_input_path,
    output_format,
    read_audio,
    resample,
    resampled_length,
    validate_audio,
    write_audio,
)
from nwcodec.bitstream import BitstreamReader, BitstreamWriter, Chunk, StreamHeader
from nwcodec.errors import NwcodecError
from nwcodec.files import atomic_output
from nwcodec.zoo import Tier, default_tier, get_tier

if TYPE_CHECKING:
    from nwcodec.nn.cmrl import CascadeModel

Progress = Callable[[int], None]


class ModelMismatchError(NwcodecError):
    """The stream was made by another tier or other weights than this codec's."""


def load_model(tier: Tier) -> CascadeModel:
    """The cascade behind ``tier``: the seeded test model or verified shipped weights."""
    from nwcodec.nn.cmrl import CascadeModel  # torch: imported only when a model is needed

    if tier.is_test:
        return CascadeModel.test_model()
    return CascadeModel.from_file(tier.verified_weights())


class Codec:
    """A tier's model wrapped for coding whole signals and files."""

    def __init__(self, model: CascadeModel, tier: Tier) -> None:
        self.model = model
        self.tier = tier
        self.postfilter = tier.postfilter

    @classmethod
    def load(cls, tier: str | int | None = None) -> Codec:
        """The codec of ``tier`` (name or id; default: :func:`nwcodec.zoo.default_tier`)."""
        t = default_tier() if tier is None else get_tier(tier)
        return cls(load_model(t), t)

    @classmethod
    def for_stream(cls, head: bytes) -> Codec:
        """The codec whose tier wrote the stream starting with ``head`` (its first bytes
        suffice; the model hash is checked on decode)."""
        return cls.load(BitstreamReader(io.BytesIO(head)).header.tier_id)

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    @property
    def chunk_samples(self) -> int:
        return self.model.chunk_samples

    # -- encoding -----------------------------------------------------------------------

    def _header(
        self, channels: int, total: int, sr_in: int, n_in: int, layers: int
    ) -> StreamHeader:
        return StreamHeader(
            tier_id=self.tier.id,
            model_hash=self.model.model_hash,
            sample_rate=self.sample_rate,
            original_sample_rate=sr_in,
            channels=channels,
            num_layers=layers,
            chunk_samples=self.chunk_samples,
            total_samples=total,
            original_samples=n_in,
        )

    def _layers(self, layers: int | None) -> int:
        available = min(self.tier.layers, self.model.num_layers)
        if layers is None:
            return available
        if not 1 <= layers <= available:
            raise NwcodecError(f"tier {self.tier.name} has layers 1..{available}, not {layers}")
        return layers

    def encode_blocks(
        self,
        blocks: Iterable[np.ndarray],
        out: BinaryIO,
        channels: int,
        total: int,
        sr_in: int | None = None,
        n_in: int | None = None,
        layers: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Encode model-rate audio arriving as blocks of ``chunk_samples`` (the last may be
        shorter), shape (samples, channels), writing the stream to ``out`` as it goes."""
        nl = self._layers(layers)
        header = self._header(channels, total, sr_in or self.sample_rate, n_in or total, nl)
        writer = BitstreamWriter(out, header)
        for index, block in enumerate(blocks):
            if block.shape != (header.chunk_length(index), channels):
                raise AudioError(f"block {index} has shape {block.shape}")
            for ch in range(channels):
                side, payloads = self.model.encode_chunk(block[:, ch])
                writer.write_chunk(
                    Chunk(index, ch, block.shape[0], side, tuple(payloads[:nl]))
                )
            if progress:
                progress(block.shape[0])
        writer.close()

    def encode(self, audio: np.ndarray, sr: int, layers: int | None = None) -> bytes:
        """Encode (samples,) or (samples, channels) audio at any rate to .nwc bytes."""
        audio = validate_audio(audio, sr)
        x = resample(audio, sr, self.sample_rate)
        out = io.BytesIO()
        n = self.chunk_samples
        blocks = (x[i : i + n] for i in range(0, x.shape[0], n))
        self.encode_blocks(blocks, out, x.shape[1], x.shape[0], sr, audio.shape[0], layers)
        return out.getvalue()

    def encode_file(
        self,
        path: str,
        out: BinaryIO,
        layers: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Encode an audio file. Model-rate files stream block by block in bounded memory;
        others are read whole and resampled first."""
        check_input_path(path)
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"{path} is not a readable audio file ({exc})") from None
        if info.samplerate != self.sample_rate:
            audio, sr = read_audio(path)
            x = resample(audio, sr, self.sample_rate)
            n = self.chunk_samples
            blocks: Iterable[np.ndarray] = (x[i : i + n] for i in range(0, x.shape[0], n))
            self.encode_blocks(blocks, out, x.shape[1], x.shape[0], sr, audio.shape[0],
                               layers, progress)
            return
        validate_audio(np.zeros((0, info.channels)), info.samplerate, path)
        blocks = (
            validate_audio(b, info.samplerate, path)
            for b in sf.blocks(path, blocksize=self.chunk_samples, dtype="float32",
                               always_2d=True)
        )
        self.encode_blocks(blocks, out, info.channels, info.frames, layers=layers,
                           progress=progress)

    # -- decoding -----------------------------------------------------------------------

    def _check(self, header: StreamHeader) -> None:
        if header.tier_id != self.tier.id:
            raise ModelMismatchError(
                f"stream was made by tier id {header.tier_id}, this codec is "
                f"{self.tier.name} (id {self.tier.id})"
            )
        if header.model_hash != self.model.model_hash:
            raise ModelMismatchError(
                f"stream model hash {header.model_hash.hex()} does not match tier "
                f"{self.tier.name}'s weights ({self.model.model_hash.hex()})"
            )

    def _decode_chunk(self, chunk: Chunk, layers: int) -> np.ndarray:
        """One channel of one chunk at the model rate, postfiltered within the chunk."""
        x = self.model.decode_chunk(chunk.side_info, list(chunk.layers[:layers]),
                                    chunk.num_samples)
        return x if self.postfilter is None else self.postfilter(x, self.sample_rate)

    def decode_chunks(
        self, stream: BinaryIO, layers: int | None = None, conceal: bool = False
    ) -> tuple[StreamHeader, Iterator[np.ndarray]]:
        """The header and an iterator of model-rate blocks (samples, channels)."""
        reader = BitstreamReader(stream, on_damage="conceal" if conceal else "raise")
        header = reader.header
        self._check(header)
        keep = header.num_layers if layers is None else layers
        if keep < 1:
            raise NwcodecError("at least one layer must be decoded")

        def blocks() -> Iterator[np.ndarray]:
            block: np.ndarray | None = None
            for chunk in reader:
                if chunk.channel == 0:
                    block = np.zeros((chunk.num_samples, header.channels), np.float32)
                assert block is not None
                if not chunk.damaged:
                    block[:, chunk.channel] = self._decode_chunk(chunk, keep)
                if chunk.channel == header.channels - 1:
                    yield block

        return header, blocks()

    def decode(
        self,
        data: bytes,
        layers: int | None = None,
        sample_rate: int | None = None,
        conceal: bool = False,
    ) -> tuple[np.ndarray, int]:
        """Decode .nwc bytes to float32 (samples, channels) at the original rate (default)
        or at ``sample_rate``."""
        header, blocks = self.decode_chunks(io.BytesIO(data), layers, conceal)
        parts = list(blocks)
        x = np.concatenate(parts) if parts else np.zeros((0, header.channels), np.float32)
        return self.to_output_rate(x, header, sample_rate)

    def decode_to_file(
        self,
        stream: BinaryIO,
        target: str,
        layers: int | None = None,
        sample_rate: int | None = None,
        conceal: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> StreamHeader:
        """Decode a stream into an audio file (format by extension), atomically. At the model
        rate it streams chunk by chunk in bounded memory; other rates resample at the end."""
        header, blocks = self.decode_chunks(stream, layers, conceal)
        sr_out = sample_rate or header.original_sample_rate
        if sr_out != header.sample_rate:
            parts = []
            for block in blocks:
                parts.append(block)
                if progress:
                    progress(block.shape[0])
            x = np.concatenate(parts) if parts else np.zeros((0, header.channels), np.float32)
            y, sr_out = self.to_output_rate(x, header, sr_out)
            write_audio(target, y, sr_out, force=force)
            return header
        fmt, subtype = output_format(target)
        with atomic_output(target, force=force) as handle, sf.SoundFile(
            handle, "w", sr_out, header.channels, subtype, format=fmt
        ) as out:
            written = 0
            for block in blocks:
                keep = block[: max(0, header.original_samples - written)]
                out.write(np.clip(keep, -1.0, 1.0))
                written += keep.shape[0]
                if progress:
                    progress(block.shape[0])
        return header

    def to_output_rate(
        self, x: np.ndarray, header: StreamHeader, sample_rate: int | None
    ) -> tuple[np.ndarray, int]:
        """Resample decoded model-rate audio to ``sample_rate`` (default: the original rate,
        with the original length restored exactly)."""
        sr_out = sample_rate or header.original_sample_rate
        y = resample(x, header.sample_rate, sr_out)
        if sr_out == header.original_sample_rate:
            n = header.original_samples
        else:
            n = resampled_length(header.original_samples, header.original_sample_rate, sr_out)
        if y.shape[0] < n:
            y = np.pad(y, ((0, n - y.shape[0]), (0, 0)))
        return y[:n], sr_out


def encode(audio: np.ndarray, sr: int, tier: str | int | None = None) -> bytes:
    """One-call encode: ``nwcodec.encode(audio, sr, tier=...) -> bytes`` (default tier:
    :func:`nwcodec.zoo.default_tier`)."""
    return Codec.load(tier).encode(audio, sr)


def decode(data: bytes, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """One-call decode with the tier named in the stream."""
    return Codec.for_stream(data).decode(data, sample_rate=sample_rate)
