"""Decode a spread of held-out files through a tier into a folder, beside links to the
originals: the input of diagnosis tools that compare folders (``pesq_oracle.py``).

    python -m eval.decode_set --tsv DEV_TSV --tier speech-12kbps --n 40 --out DIR
        [--postfilter {tier,none,bass,FILE}]

Takes every k-th of the manifest's first 200 files so that ``--n`` files span the speakers,
encodes each with the tier (its rate control on), decodes it, and writes ``DIR/dec/STEM.wav``
beside ``DIR/ref/NAME`` (a symbolic link to the original). Then, for instance:

    python ../shared/tools/pesq_oracle.py DIR/ref DIR/dec --n 40
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import soundfile as sf

from eval.ladder_eval import postfilter_choice
from nwcodec.codec import Codec
from nwcodec.corpus import read_manifest


def decode_set(tsv: Path, tier: str, n: int, out: Path, postfilter: str = "tier") -> int:
    """Write the decoded spread of ``tsv`` to ``out``; returns the number of files."""
    base = Codec.load(tier)
    codec = Codec(base.model, dataclasses.replace(
        base.tier, postfilter=postfilter_choice(postfilter, base.tier)))
    files = read_manifest(tsv)[:200]
    files = files[:: max(len(files) // n, 1)][:n]
    (out / "ref").mkdir(parents=True, exist_ok=True)
    (out / "dec").mkdir(exist_ok=True)
    for path in files:
        link = out / "ref" / path.name
        if not link.is_symlink():
            link.symlink_to(path.resolve())
        x, sr = sf.read(path, dtype="float32")
        y = codec.decode(codec.encode(x, sr))[0].reshape(-1)[: len(x)]
        sf.write(out / "dec" / f"{path.stem}.wav", y, sr)
    return len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", type=Path, required=True)
    ap.add_argument("--tier", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--postfilter", default="tier",
                    help="'tier' (the tier's own), 'none', 'bass', or a learned postfilter file")
    a = ap.parse_args()
    count = decode_set(a.tsv, a.tier, a.n, a.out, a.postfilter)
    print(f"{count} files decoded to {a.out / 'dec'}, originals linked in {a.out / 'ref'}")


if __name__ == "__main__":
    main()
