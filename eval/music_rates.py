"""Whole-track bitrates of music tiers, and how often the rate control stripped a channel of
a chunk of every layer (a one-layer tier's cliff: that channel decodes as its envelope only).

    python -m eval.music_rates --tsv DATA/music/val.tsv --tiers music-64kbps,music-128kbps

Each track is encoded whole, as one file, at its own rate and channel count. A record is
counted as *active* when it carries side information and is not stationary comfort noise;
*stripped* when such a record has no layer (weak channels, 30 dB below their partner, are
coded that way on purpose and count too: on music they are rare).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from nwcodec.bitstream import FLAG_STATIONARY, BitstreamReader
from nwcodec.codec import Codec
from nwcodec.compare import single_thread
from nwcodec.corpus import data_dir, read_manifest


def track_rates(codec: Codec, path: Path) -> tuple[float, float, float, int, int]:
    """(seconds, kbit/s, the tier's kbit/s for its channels, active records, stripped
    records) of one whole track."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    data = codec.encode(x, sr)
    active = stripped = 0
    for chunk in BitstreamReader(io.BytesIO(data)):
        if chunk.side_info and not chunk.flags & FLAG_STATIONARY:
            active += 1
            stripped += not chunk.layers
    seconds = x.shape[0] / sr
    return (seconds, 8 * len(data) / seconds / 1000, codec.tier.budget_kbps(x.shape[1]),
            active, stripped)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.music_rates",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", type=Path, default=data_dir() / "music" / "val.tsv")
    ap.add_argument("--tiers", default="music-32kbps,music-64kbps,music-96kbps,music-128kbps")
    a = ap.parse_args(argv)
    try:
        tracks = read_manifest(a.tsv)
        codecs = [Codec.load(t) for t in filter(None, a.tiers.split(","))]
    except (OSError, ValueError) as e:
        sys.exit(f"music_rates: {e}")
    single_thread()
    print("| tier | tracks | seconds | kbit/s (whole tracks) | vs nominal | active records | "
          "stripped of every layer |")
    print("|---|---|---|---|---|---|---|")
    for codec in codecs:
        rows = [track_rates(codec, p) for p in tracks]
        seconds = sum(r[0] for r in rows)
        kbps = sum(r[0] * r[1] for r in rows) / seconds
        nominal = sum(r[0] * r[2] for r in rows) / seconds
        active, stripped = sum(r[3] for r in rows), sum(r[4] for r in rows)
        print(f"| {codec.tier.name} | {len(rows)} | {seconds:.0f} | {kbps:.1f} | "
              f"{100 * (kbps / nominal - 1):+.1f} % | {active} | "
              f"{stripped} ({100 * stripped / max(active, 1):.1f} %) |", flush=True)


if __name__ == "__main__":
    main()
