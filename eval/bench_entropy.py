"""Benchmark the entropy coder and the container: throughput, coding efficiency, overhead.

    python -m eval.bench_entropy [--symbols 1000000] [--repeats 5] [--json]

1. Throughput of nwcodec.entropy.encode_streams / decode_streams in symbols/s on one core
   (constriction is single-threaded): one stream of 10^6 symbols, and the same number of
   symbols cut into codec-like calls (one call per 1 s chunk: 16 streams x 400 symbols).
   Best of ``--repeats`` by wall time, and the CPU time of that run (the machine is shared).
2. Coded size vs the table's cross-entropy (sum of -log2 p(symbol) under the integer table)
   on 10^6 symbols, for several alphabets and for symbols that do and do not follow the table.
3. Container overhead of a synthetic .nwc (nwcodec.bitstream writer) at 16 kbit/s of payload
   (side information + layers): (file bytes - payload bytes) / file bytes, for 3 s and 60 s,
   with 2-s chunks (the codec's) and 1-s chunks for comparison.
"""

from __future__ import annotations

import argparse
import io
import json
import os

import numpy as np

from nwcodec.bitstream import BitstreamWriter, Chunk, StreamHeader
from nwcodec.entropy import FrequencyTable, decode_streams, encode_streams
from nwcodec.timing import best_of

SEED = 20261122


def laplace_table(num_symbols: int, scale: float, precision: int = 16) -> FrequencyTable:
    """A discretised Laplacian centred in the alphabet: typical of quantised latents."""
    k = np.arange(num_symbols) - (num_symbols - 1) / 2
    counts = np.round(1e9 * np.exp(-np.abs(k) / scale)).astype(np.int64)
    return FrequencyTable.from_counts(counts, precision)


def sample(table: FrequencyTable, n: int, rng: np.random.Generator) -> np.ndarray:
    p = table.freqs.astype(np.float64) / float(1 << table.precision)
    return rng.choice(table.num_symbols, size=n, p=p).astype(np.int32)


def throughput(n: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(SEED)
    table = laplace_table(32, 3.0)
    rows = []
    layouts = {"1 stream x 10^6": [n], "chunks of 16 streams x 400": [400] * (n // 400)}
    for name, lengths in layouts.items():
        symbols = sample(table, sum(lengths), rng)
        parts = np.split(symbols, np.cumsum(lengths)[:-1])
        calls = [parts[i : i + 16] for i in range(0, len(parts), 16)]
        streams = [[(p, table) for p in call] for call in calls]
        specs = [[(len(p), table) for p in call] for call in calls]
        coded = [encode_streams(s) for s in streams]

        def enc(streams=streams):
            for s in streams:
                encode_streams(s)

        def dec(coded=coded, specs=specs):
            for data, spec in zip(coded, specs, strict=True):
                decode_streams(data, spec)

        decoded = [decode_streams(d, s) for d, s in zip(coded, specs, strict=True)]
        assert np.array_equal(np.concatenate([x for d in decoded for x in d]), symbols)
        total = len(symbols)
        e, d = best_of(enc, repeats)[0], best_of(dec, repeats)[0]
        rows.append({
            "layout": name, "symbols": total, "calls": len(calls),
            "encode_Msym_s": total / e.wall / 1e6, "encode_Msym_cpu_s": total / e.cpu / 1e6,
            "decode_Msym_s": total / d.wall / 1e6, "decode_Msym_cpu_s": total / d.cpu / 1e6,
        })
    return rows


def efficiency(n: int) -> list[dict]:
    rng = np.random.default_rng(SEED + 1)
    cases = [
        ("binary p=0.9", FrequencyTable.from_counts([9, 1]), None),
        ("8 symbols, Laplace b=1", laplace_table(8, 1.0), None),
        ("32 symbols, Laplace b=3", laplace_table(32, 3.0), None),
        ("256 symbols, Laplace b=20", laplace_table(256, 20.0), None),
        ("32 symbols, uniform", FrequencyTable.uniform(32), None),
        ("32 symbols, data b=1.5 vs table b=3", laplace_table(32, 3.0), laplace_table(32, 1.5)),
    ]
    rows = []
    for name, table, source in cases:
        symbols = sample(source or table, n, rng)
        coded_bits = 8 * len(encode_streams([(symbols, table)]))
        ideal = table.bits(symbols)
        rows.append({
            "case": name, "symbols": n, "cross_entropy_bits_per_symbol": ideal / n,
            "coded_bits_per_symbol": coded_bits / n, "overhead_pct": 100 * (coded_bits / ideal - 1),
        })
    return rows


def container_overhead(seconds: int, layers: int, chunk_seconds: int = 2, kbps: float = 16.0,
                       side_bytes: int = 100, sr: int = 16000) -> dict:
    """Build a synthetic stream whose side info + layers carry ``kbps`` and measure the rest."""
    header = StreamHeader(
        tier_id=2, model_hash=b"\0" * 8, sample_rate=sr, original_sample_rate=sr, channels=1,
        num_layers=layers, chunk_samples=chunk_seconds * sr, total_samples=seconds * sr,
        original_samples=seconds * sr,
    )
    out = io.BytesIO()
    writer = BitstreamWriter(out, header)
    payload = 0
    rng = np.random.default_rng(seconds)
    for index in range(header.chunks_per_channel):
        samples = header.chunk_length(index)
        layer_total = round(kbps * 1000 / 8 * samples / sr) - side_bytes
        sizes = [layer_total // layers + (k < layer_total % layers) for k in range(layers)]
        side = rng.bytes(side_bytes)
        body = tuple(rng.bytes(s) for s in sizes)
        writer.write_chunk(Chunk(index, 0, samples, side, body))
        payload += side_bytes + sum(sizes)
    chunks_end = out.tell()
    writer.close()
    size = len(out.getvalue())
    fixed = len(header.to_bytes()) + size - chunks_end  # header and end record
    return {
        "seconds": seconds, "layers": layers, "chunk_seconds": chunk_seconds,
        "chunks": header.chunks_per_channel, "payload_bytes": payload, "file_bytes": size,
        "overhead_bytes": size - payload, "overhead_pct": 100 * (size - payload) / size,
        "fixed_overhead_bytes": fixed,
        "per_chunk_overhead_bytes": (size - payload - fixed) / header.chunks_per_channel,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {
        "load_average": os.getloadavg(),
        "throughput": throughput(args.symbols, args.repeats),
        "efficiency": efficiency(args.symbols),
        "container": [
            container_overhead(s, k, c) for c in (2, 1) for s in (3, 60) for k in (1, 2, 3)
        ],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"load average {result['load_average'][0]:.1f} (shared machine)")
    print("\nthroughput, one core (M symbols/s, wall | CPU)")
    for r in result["throughput"]:
        print(f"  {r['layout']:<28} encode {r['encode_Msym_s']:6.2f} | "
              f"{r['encode_Msym_cpu_s']:6.2f}   decode {r['decode_Msym_s']:6.2f} | "
              f"{r['decode_Msym_cpu_s']:6.2f}")
    print("\ncoded size vs cross-entropy under the table")
    for r in result["efficiency"]:
        print(f"  {r['case']:<38} {r['cross_entropy_bits_per_symbol']:7.4f} -> "
              f"{r['coded_bits_per_symbol']:7.4f} bit/symbol  (+{r['overhead_pct']:.3f} %)")
    print("\ncontainer overhead at 16 kbit/s (100 B side info per chunk counted as payload)")
    for r in result["container"]:
        print(f"  {r['chunk_seconds']} s chunks, {r['seconds']:3d} s, {r['layers']} layer(s): "
              f"{r['file_bytes']:7d} B file, {r['overhead_bytes']:5d} B overhead "
              f"({r['fixed_overhead_bytes']} fixed + {r['per_chunk_overhead_bytes']:.1f}/chunk) "
              f"= {r['overhead_pct']:.3f} %")


if __name__ == "__main__":
    main()
