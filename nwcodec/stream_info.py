"""What is inside an .nwc stream, without decoding audio: the data behind ``nwc info``."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from nwcodec.bitstream import FLAG_MID, FLAG_STATIONARY, BitstreamReader, Chunk
from nwcodec.zoo import UnknownTierError, get_tier


def coding(chunk: Chunk) -> str:
    """How a chunk record codes its channel: ``silent``, ``stationary`` (one frame of side
    information), ``comfort-noise`` (side information, no layers), ``layers``, ``damaged``."""
    if chunk.damaged:
        return "damaged"
    if chunk.silent:
        return "silent"
    if chunk.flags & FLAG_STATIONARY:
        return "stationary"
    return "layers" if chunk.layers else "comfort-noise"


def summarise(reader: BitstreamReader) -> dict[str, Any]:
    """Read every chunk of ``reader`` and summarise the stream: ``header`` (every field, the
    model hash in hex, ``seconds``), ``file_bytes``, ``total_kbps``, ``nominal_kbps`` (the
    tier's, None if the tier is unknown or has none), ``side_info_bytes``, ``layers`` (bytes and
    kbit/s per layer), ``layer_histogram`` (chunk records by layer count), ``coding`` (chunk
    records by :func:`coding`), ``mid_side_chunks`` (channel pairs coded mid/side), ``chunks``
    (per chunk: index, channel, samples, side bytes, layer bytes, coding, mid/side, CRC ok) and
    ``damaged_chunks``. Use a reader in ``conceal`` mode to survey a damaged file."""
    h = reader.header
    chunks, layer_bytes, side_bytes, damaged = [], [0] * h.num_layers, 0, 0
    for chunk in reader:
        sizes = [len(layer) for layer in chunk.layers]
        for k, n in enumerate(sizes):
            layer_bytes[k] += n
        side_bytes += len(chunk.side_info)
        damaged += chunk.damaged
        chunks.append(
            {
                "index": chunk.index,
                "channel": chunk.channel,
                "samples": chunk.num_samples,
                "side_bytes": len(chunk.side_info),
                "layer_bytes": sizes,
                "coding": coding(chunk),
                "mid_side": bool(chunk.flags & FLAG_MID),
                "crc_ok": not chunk.damaged,
            }
        )
    seconds = h.total_samples / h.sample_rate
    per_layer = [
        {"layer": k, "bytes": n, "kbps": n * 8 / seconds / 1000 if seconds else 0.0}
        for k, n in enumerate(layer_bytes)
    ]
    header = asdict(h) | {"model_hash": h.model_hash.hex(), "seconds": seconds}
    histogram = Counter(len(c["layer_bytes"]) for c in chunks if c["crc_ok"])
    return {
        "header": header,
        "file_bytes": reader.offset,
        "total_kbps": reader.offset * 8 / seconds / 1000 if seconds else 0.0,
        "nominal_kbps": _nominal(h.tier_id),
        "side_info_bytes": side_bytes,
        "layers": per_layer,
        "layer_histogram": {k: histogram[k] for k in range(h.num_layers + 1)},
        "coding": dict(Counter(c["coding"] for c in chunks)),
        "mid_side_chunks": sum(c["mid_side"] for c in chunks),
        "chunks": chunks,
        "damaged_chunks": damaged,
    }


def _nominal(tier_id: int) -> float | None:
    try:
        return get_tier(tier_id).nominal_kbps or None
    except UnknownTierError:
        return None
