"""Fit the band envelope's delta table (``nwcodec/dsp/band_envelope.py``) on a training set.

The table is a constant of the format (tiers that use it decode with it forever), so it is
printed for pasting into the module, never loaded at run time::

    python -m nwcodec.train.envelope_table --tsv DATA/music/train.tsv
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import soundfile as sf

from nwcodec.corpus import read_manifest
from nwcodec.dsp.band_envelope import MUSIC_ENVELOPE, MUSIC_ENVELOPE_FINE, BandEnvelope


def delta_counts(paths: Sequence, envelope: BandEnvelope, chunk: int, chunks_per_file: int,
                 seed: int = 0) -> np.ndarray:
    """Counts of the envelope's delta symbols over up to ``chunks_per_file`` random chunks of
    each file, every channel (the envelope describes output channels, left/right)."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(2 * envelope.max_delta + 1, dtype=np.int64)
    for path in paths:
        info = sf.info(str(path))
        if info.samplerate != envelope.sample_rate or info.frames < chunk:
            continue
        for start in rng.integers(0, info.frames - chunk + 1, size=chunks_per_file):
            x, _ = sf.read(str(path), start=int(start), frames=chunk, dtype="float32",
                           always_2d=True)
            for c in range(x.shape[1]):
                counts += np.bincount(envelope.symbols(x[:, c]).ravel(), minlength=len(counts))
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", required=True, help="training manifest (44.1 kHz music)")
    ap.add_argument("--chunks-per-file", type=int, default=20)
    ap.add_argument("--envelope", choices=("music", "fine"), default="music",
                    help="MUSIC_ENVELOPE or MUSIC_ENVELOPE_FINE")
    args = ap.parse_args(argv)
    envelope = MUSIC_ENVELOPE_FINE if args.envelope == "fine" else MUSIC_ENVELOPE
    counts = delta_counts(read_manifest(args.tsv), envelope, 88200, args.chunks_per_file)
    p = counts / counts.sum()
    bits = -(p[p > 0] * np.log2(p[p > 0])).sum()
    print(f"# {counts.sum()} symbols, {bits:.3f} bit/symbol")
    print(tuple(int(c) + 1 for c in counts))


if __name__ == "__main__":
    main()
