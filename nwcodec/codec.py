"""The public API: ``Codec.load(tier)``, ``encode`` / ``decode`` and their streaming forms.

    >>> codec = Codec.load("speech-16k")                 # doctest: +SKIP
    >>> data = codec.encode(audio, sr)                   # doctest: +SKIP
    >>> audio_hat, sr_hat = codec.decode(data)           # doctest: +SKIP

Input of any sample rate is resampled to the model's rate; ``decode`` restores the original
rate and length unless another ``sample_rate`` is asked for. Every chunk (two seconds at the
model rate) is coded on its own, so streaming and whole-file coding give identical bytes and
samples, memory stays bounded, and a damaged chunk only silences itself. Each channel of a
chunk is one chunk record; a channel pair whose content is near-mono is coded as mid/side
(``nwcodec/dsp/stereo.py``). The rate control (``nwcodec/ratecontrol.py``) keeps each file
within its tier's nominal rate: it decides, chunk by chunk, how many layers each channel keeps
(none for near-silence: comfort noise; not even side information for silence).

A stream is decoded only by the tier that wrote it, and only if its header matches that tier
(rate, chunk length, layers): decoding work is then bounded by the bytes actually read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
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
    sound_file,
    validate_audio,
    write_audio,
)
from nwcodec.bitstream import (
    FLAG_MID,
    FLAG_SIDE,
    FLAG_STATIONARY,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    BitstreamReader,
    BitstreamWriter,
    Chunk,
    CorruptError,
    MalformedError,
    StreamHeader,
    TruncatedError,
    check_layers,
    decode_varint,
    encode_varint,
)
from nwcodec.dsp.stereo import from_mid_side, joint_coding
from nwcodec.entropy import EntropyError
from nwcodec.errors import NwcodecError
from nwcodec.files import atomic_output
from nwcodec.ratecontrol import (
    END_RECORD_BYTES,
    Content,
    LeakyBucket,
    Recode,
    classify,
    loudest_frame_db,
)
from nwcodec.zoo import LadderPostfilter, Tier, default_tier, get_tier

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
        self.envelope = tier.envelope
        self.decode_report: list[str] = []  # what the last decode concealed, one line each

    @classmethod
    def load(cls, tier: str | int | None = None) -> Codec:
        """The codec of ``tier`` (name or id; default: :func:`nwcodec.zoo.default_tier`)."""
        t = default_tier() if tier is None else get_tier(tier)
        return cls(load_model(t), t)

    @classmethod
    def for_stream(cls, head: bytes | StreamHeader) -> Codec:
        """The codec whose tier wrote the stream starting with ``head`` (its first bytes
        suffice, or its parsed header; the model hash is checked on decode)."""
        if not isinstance(head, StreamHeader):
            head = BitstreamReader(io.BytesIO(head)).header
        return cls.load(head.tier_id)

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
        check_layers(layers, available, f"tier {self.tier.name}")
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
        shorter), shape (samples, channels), writing the stream to ``out`` as it goes, within
        the tier's nominal rate (``nwcodec/ratecontrol.py``; ``layers`` caps the layers)."""
        nl = self._layers(layers)
        header = self._header(channels, total, sr_in or self.sample_rate, n_in or total, nl)
        writer = BitstreamWriter(out, header)
        bucket = LeakyBucket(self.tier.budget_kbps(channels), self.sample_rate,
                             self.chunk_samples, total, len(header.to_bytes()) + END_RECORD_BYTES)
        for index, block in enumerate(blocks):
            if block.shape != (header.chunk_length(index), channels):
                raise AudioError(f"block {index} has shape {block.shape}")
            for chunk in bucket.allocate(*self._code_block(index, block, nl)):
                writer.write_chunk(chunk)
            if progress:
                progress(block.shape[0])
        writer.close()

    def _code_block(self, index: int, block: np.ndarray, layers: int
                    ) -> tuple[list[Chunk], list[int], Recode]:
        """Every channel of one block as a chunk with all the layers its content allows
        (mid/side pairs where they help), the channels loudest first, and how to code a
        channel's layers coarser (``nwcodec/ratecontrol.py``, rule 3)."""
        x, joint = joint_coding(block)
        flags = [0] * x.shape[1]
        for pair, mid_side in enumerate(joint):
            if mid_side:
                flags[2 * pair], flags[2 * pair + 1] = FLAG_MID, FLAG_SIDE
        levels = [loudest_frame_db(x[:, c], self.sample_rate) for c in range(x.shape[1])]
        chunks, coders = [], []
        for c, content in enumerate(classify(levels)):
            side, coders_c = b"", []
            if content is Content.QUIET:
                side, flags[c] = self.model.encode_stationary(x[:, c]), flags[c] | FLAG_STATIONARY
            elif content is not Content.SILENT:
                cap = layers if content is Content.ACTIVE else 0
                side, coders_c = self.model.chunk_coders(x[:, c], cap)
                if self.envelope is not None:  # of the output channel, not the coded one
                    side = join_side(side, self.envelope.compress(block[:, c]))
            payloads = tuple(code(0.0) for code in coders_c)
            chunks.append(Chunk(index, c, x.shape[0], side, payloads, flags=flags[c]))
            coders.append(coders_c)

        def recode(c: int, k: int, rate_weight: float) -> Chunk:
            below = chunks[c].layers[: k - 1]
            return replace(chunks[c], layers=(*below, coders[c][k - 1](rate_weight)))

        return chunks, sorted(range(x.shape[1]), key=lambda c: -levels[c]), recode

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
        """Refuse a stream this codec did not write: another tier or weights, or header
        fields (rate, chunk length, layers) that differ from the model's."""
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
        for field, got, want in (
            ("sample rate", header.sample_rate, self.sample_rate),
            ("chunk length", header.chunk_samples, self.chunk_samples),
        ):
            if got != want:
                raise ModelMismatchError(
                    f"stream header gives {field} {got}; tier {self.tier.name} codes {want}"
                )
        if header.num_layers > self.model.num_layers:
            raise ModelMismatchError(
                f"stream header gives {header.num_layers} layers; tier {self.tier.name}'s "
                f"model has {self.model.num_layers}"
            )

    def open_stream(
        self, stream: BinaryIO | BitstreamReader, conceal: bool = False
    ) -> BitstreamReader:
        """A reader on ``stream`` (or ``stream`` itself if it is one already) whose header
        this codec has checked. Only the header is read."""
        reader = stream if isinstance(stream, BitstreamReader) else BitstreamReader(
            stream, on_damage="conceal" if conceal else "raise"
        )
        self._check(reader.header)
        return reader

    def decode_reader(self, reader: BitstreamReader, layers: int | None = None
                      ) -> Iterator[np.ndarray]:
        """Model-rate blocks (samples, channels) from a checked reader. A block is built only
        once all its channels' records have been read, so memory follows the input."""
        header = reader.header
        keep = header.num_layers if layers is None else layers
        check_layers(keep, header.num_layers, "the stream")
        chunks: list[Chunk] = []
        columns: list[np.ndarray] = []
        envelopes: list[np.ndarray | None] = []
        try:
            for chunk in reader:
                chunks.append(chunk)
                column, envelope = self._decode_chunk(reader, chunk, keep)
                columns.append(column)
                envelopes.append(envelope)
                if chunk.channel == header.channels - 1:
                    yield self._restore_envelopes(_channels(chunks, columns), chunks, envelopes)
                    chunks, columns, envelopes = [], [], []
        except TruncatedError:
            if not reader.truncated:  # strict mode; in conceal mode a cut ends the output
                raise

    def _decode_chunk(self, reader: BitstreamReader, chunk: Chunk, keep: int
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """One record's channel of one chunk at the model rate, postfiltered within the chunk
        (silence if concealed), and its band envelope's energy indices if it carries one. A
        payload that is not a complete range coding is damage: an error naming the chunk, or
        concealed in conceal mode."""
        if not chunk.damaged and not chunk.silent:
            stationary = bool(chunk.flags & FLAG_STATIONARY)
            try:
                side, envelope = chunk.side_info, None
                if self.envelope is not None and not stationary:
                    side, coded_envelope = split_side(side)
                    envelope = self.envelope.decompress(coded_envelope, chunk.num_samples)
                x = self.model.decode_chunk(side, list(chunk.layers[:keep]), chunk.num_samples,
                                            chunk.index, chunk.channel, stationary)
            except EntropyError as exc:
                problem = f"chunk {chunk.index} channel {chunk.channel}: {exc}"
                if reader.on_damage == "raise":
                    raise CorruptError(problem, reader.chunk_offset) from None
                reader.damage.append(f"{problem} (at byte {reader.chunk_offset}): concealed")
            else:
                postfilter = self.postfilter
                if postfilter is None:
                    return x, envelope
                if isinstance(postfilter, LadderPostfilter):
                    postfilter = postfilter.for_layers(len(chunk.layers[:keep]))
                coded = len(chunk.side_info) + sum(len(layer) for layer in chunk.layers[:keep])
                kbps = 8 * coded * self.sample_rate / max(chunk.num_samples, 1) / 1000
                return postfilter(x, self.sample_rate, kbps), envelope
        return np.zeros(chunk.num_samples, np.float32), None

    def _restore_envelopes(self, block: np.ndarray, chunks: list[Chunk],
                           envelopes: list[np.ndarray | None]) -> np.ndarray:
        """``block`` (samples, channels, left/right) with each output channel's bands scaled
        to the envelope its record carries; a record of a mid/side pair without one (silent or
        stationary) borrows its partner's (SPEC §3.1)."""
        if self.envelope is None:
            return block
        for c, envelope in enumerate(envelopes):
            partner = (c + 1 if chunks[c].flags & FLAG_MID
                       else c - 1 if chunks[c].flags & FLAG_SIDE else None)
            if envelope is None and partner is not None:
                envelope = envelopes[partner]
            if envelope is not None:
                block[:, c] = self.envelope.apply(block[:, c], envelope)
        return block

    def decode_chunks(
        self, stream: BinaryIO, layers: int | None = None, conceal: bool = False
    ) -> tuple[StreamHeader, Iterator[np.ndarray]]:
        """The header and an iterator of model-rate blocks (samples, channels)."""
        reader = self.open_stream(stream, conceal)
        return reader.header, self.decode_reader(reader, layers)

    def decode(
        self,
        data: bytes | BinaryIO | BitstreamReader,
        layers: int | None = None,
        sample_rate: int | None = None,
        conceal: bool = False,
    ) -> tuple[np.ndarray, int]:
        """Decode .nwc bytes (or a binary stream, or a reader from :meth:`open_stream`) to
        float32 (samples, channels) at the original rate (default) or at ``sample_rate``.

        With ``conceal=True`` damaged or lost chunks become silence and a cut stream gives
        what it holds; ``decode_report`` says what was concealed.
        """
        stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        reader = self.open_stream(stream, conceal)
        sr_out = output_rate(reader.header, sample_rate)
        parts = list(self.decode_reader(reader, layers))
        self.decode_report = reader.damage
        x = np.concatenate(parts) if parts else np.zeros((0, reader.header.channels), np.float32)
        return self.to_output_rate(x, reader.header, sr_out, complete=not reader.truncated)

    def decode_to_file(
        self,
        stream: BinaryIO | BitstreamReader,
        target: str,
        layers: int | None = None,
        sample_rate: int | None = None,
        conceal: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> StreamHeader:
        """Decode a stream (or a reader from :meth:`open_stream`) into an audio file (format
        by extension), atomically. At the model rate it streams chunk by chunk in bounded
        memory; other rates resample at the end. ``decode_report`` says what was concealed."""
        reader = self.open_stream(stream, conceal)
        header = reader.header
        sr_out = output_rate(header, sample_rate)
        fmt, subtype = output_format(target, rate=sr_out, channels=header.channels)
        blocks = self.decode_reader(reader, layers)
        self.decode_report = reader.damage
        if sr_out != header.sample_rate:
            parts = []
            for block in blocks:
                parts.append(block)
                if progress:
                    progress(block.shape[0])
            x = np.concatenate(parts) if parts else np.zeros((0, header.channels), np.float32)
            y, sr_out = self.to_output_rate(x, header, sr_out, complete=not reader.truncated)
            write_audio(target, y, sr_out, force=force)
            return header
        with atomic_output(target, force=force) as handle, sound_file(
            handle, sr_out, header.channels, subtype, fmt
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
        self, x: np.ndarray, header: StreamHeader, sample_rate: int | None, complete: bool = True
    ) -> tuple[np.ndarray, int]:
        """Resample decoded model-rate audio to ``sample_rate`` (default: the original rate,
        with the original length restored exactly). ``complete=False`` (a cut stream decoded
        with concealment) keeps what ``x`` gives instead of padding to the original length."""
        sr_out = output_rate(header, sample_rate)
        y = resample(x, header.sample_rate, sr_out)
        if sr_out == header.original_sample_rate:
            n = header.original_samples
        else:
            n = resampled_length(header.original_samples, header.original_sample_rate, sr_out)
        if not complete:
            n = min(n, y.shape[0])
        if y.shape[0] < n:
            y = np.pad(y, ((0, n - y.shape[0]), (0, 0)))
        return y[:n], sr_out


def join_side(model_side: bytes, envelope: bytes) -> bytes:
    """The side information of a tier with a band envelope (SPEC §3.1): the model's side
    information behind its length, then the coded envelope."""
    return encode_varint(len(model_side)) + model_side + envelope


def split_side(side: bytes) -> tuple[bytes, bytes]:
    """Inverse of :func:`join_side` (damaged framing: :class:`EntropyError`)."""
    try:
        length, pos = decode_varint(side, 0, len(side), "model side information length")
    except MalformedError as exc:
        raise EntropyError(str(exc)) from None
    if pos + length > len(side):
        raise EntropyError(f"model side information of {length} bytes overruns the "
                           f"side information ({len(side)} bytes)")
    return side[pos : pos + length], side[pos + length :]


def _channels(chunks: list[Chunk], columns: list[np.ndarray]) -> np.ndarray:
    """One chunk's decoded channels as a block (samples, channels), mid/side pairs turned
    back into left/right. Either record of a pair marks it (a damaged one has lost its
    flags); a pair with a damaged record is silenced whole."""
    for c in range(len(chunks) - 1):
        if chunks[c].flags & FLAG_MID or chunks[c + 1].flags & FLAG_SIDE:
            if chunks[c].damaged or chunks[c + 1].damaged:
                columns[c] = columns[c + 1] = np.zeros_like(columns[c])
            else:
                columns[c], columns[c + 1] = from_mid_side(columns[c], columns[c + 1])
    return np.stack(columns, axis=1)


def output_rate(header: StreamHeader, sample_rate: int | None) -> int:
    """The rate to decode to: ``sample_rate`` if given and valid, else the original rate."""
    if sample_rate is None:
        return header.original_sample_rate
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or not (
        MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise AudioError(
            f"output sample rate {sample_rate!r} is not a whole number of Hz in "
            f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}"
        )
    return int(sample_rate)


def encode(
    audio: np.ndarray, sr: int, tier: str | int | None = None, layers: int | None = None
) -> bytes:
    """Encode ``audio`` at ``sr`` Hz to .nwc bytes with ``tier`` (default:
    :func:`nwcodec.zoo.default_tier`), in one call.

    ``audio`` is (samples,) for mono or (samples, channels), float in [-1, 1], any rate
    (resampled to the tier's rate; the original rate and length are restored on decode).
    ``layers`` writes only the first N layers (default: all the tier has).

        >>> import numpy as np, nwcodec
        >>> audio = np.zeros(16000, np.float32)          # 1 s of silence at 16 kHz
        >>> data = nwcodec.encode(audio, 16000, tier="test-random")
        >>> data[1:4]
        b'NWC'
    """
    return Codec.load(tier).encode(audio, sr, layers)


def decode(
    data: bytes, sample_rate: int | None = None, layers: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode .nwc bytes with the tier named in the stream; return ``(audio, rate)``.

    ``audio`` is float32, 1-D (samples,) for a mono stream and (samples, channels) otherwise,
    at the original rate and length unless ``sample_rate`` asks for another rate. ``layers``
    decodes only the first N layers (1 .. the stream's; more is an error).

        >>> import numpy as np, nwcodec
        >>> audio = np.zeros(16000, np.float32)
        >>> audio_hat, sr = nwcodec.decode(nwcodec.encode(audio, 16000, tier="test-random"))
        >>> audio_hat.shape, sr
        ((16000,), 16000)
    """
    codec = Codec.for_stream(data)
    audio, sr = codec.decode(data, layers=layers, sample_rate=sample_rate)
    return (audio[:, 0] if audio.shape[1] == 1 else audio), sr
