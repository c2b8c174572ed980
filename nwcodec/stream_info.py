"""What is inside an .nwc stream, without decoding audio: the data behind ``nwc info``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from nwcodec.bitstream import BitstreamReader


def summarise(reader: BitstreamReader) -> dict[str, Any]:
    """Read every chunk of ``reader`` and summarise the stream: ``header`` (every field, the
    model hash in hex, ``seconds``), ``file_bytes``, ``total_kbps``, ``side_info_bytes``,
    ``layers`` (bytes and kbit/s per layer), ``chunks`` (per chunk: index, channel, samples,
    side bytes, layer bytes, CRC ok) and ``damaged_chunks``. Use a reader in ``conceal`` mode
    to survey a damaged file."""
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
                "crc_ok": not chunk.damaged,
            }
        )
    seconds = h.total_samples / h.sample_rate
    per_layer = [
        {"layer": k, "bytes": n, "kbps": n * 8 / seconds / 1000 if seconds else 0.0}
        for k, n in enumerate(layer_bytes)
    ]
    header = asdict(h) | {"model_hash": h.model_hash.hex(), "seconds": seconds}
    return {
        "header": header,
        "file_bytes": reader.offset,
        "total_kbps": reader.offset * 8 / seconds / 1000 if seconds else 0.0,
        "side_info_bytes": side_bytes,
        "layers": per_layer,
        "chunks": chunks,
        "damaged_chunks": damaged,
    }
