"""A small, portable excerpt of a training manifest: ``python -m nwcodec.train.subset``.

A GPU machine lent for a few minutes receives only what fits in a small upload (the device
tool's 64 MiB, the repository included), so a run there trains on excerpts of the corpus,
not on all of it. This tool takes an excerpt of ``--excerpt`` seconds from a random point of
each of as many manifest files as ``--seconds`` allows (drawn at random with ``--seed``, so
every source of the manifest is represented), writes them as Ogg Vorbis at high quality (a
tenth of the PCM size) beside a ``train.tsv`` that lists them, and prints the sizes. The
excerpts are training data only: they come from the manifest given (a train split).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from nwcodec.corpus import read_manifest

# libsndfile's Vorbis quality: 0 is the best, 1 the smallest; 0.5 gives ~170 kbit/s stereo
# at 44.1 kHz (measured on the music corpus), far above what a 16 kbit/s layer resolves.
VORBIS_LEVEL = 0.5


def write_subset(manifest: Path, out: Path, seconds: float, excerpt: float,
                 seed: int = 0) -> tuple[int, float, int]:
    """Write the excerpts and ``out/train.tsv``; return (files, seconds, bytes) written."""
    files = read_manifest(manifest)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows, total, size = [], 0.0, 0
    for i in rng.permutation(len(files)):
        if total >= seconds:
            break
        info = sf.info(str(files[i]))
        length = min(int(excerpt * info.samplerate), info.frames)
        start = int(rng.integers(0, info.frames - length + 1))
        audio, sr = sf.read(str(files[i]), start=start, frames=length, dtype="float32",
                            always_2d=True)
        name = f"{len(rows):03d}_{files[i].stem}.ogg"
        sf.write(str(out / name), audio, sr, format="OGG", subtype="VORBIS",
                 compression_level=VORBIS_LEVEL)
        rows.append(f"{name}\t{files[i].name}\t{start / sr:.1f}")
        total += length / sr
        size += (out / name).stat().st_size
    (out / "train.tsv").write_text("path\tsource\tstart_s\n" + "\n".join(rows) + "\n")
    return len(rows), total, size


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tsv", type=Path, required=True, help="training manifest to draw from")
    p.add_argument("--out", type=Path, required=True, help="folder for the excerpts")
    p.add_argument("--seconds", type=float, default=900.0, help="total audio to take")
    p.add_argument("--excerpt", type=float, default=20.0, help="seconds taken per file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    n, seconds, size = write_subset(args.tsv, args.out, args.seconds, args.excerpt, args.seed)
    print(f"{n} excerpts, {seconds:.0f} s, {size / 1e6:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
