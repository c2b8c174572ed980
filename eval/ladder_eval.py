"""Score every prefix of a ladder weights file on held-out speech in one pass.

    python -m eval.ladder_eval --weights FILE --tsv ../shared/data/speechocean762/dev.tsv
        [--n 200] [--part 1/2] [--layers 2,5] [--out results.tsv]
    python -m eval.ladder_eval --summary results.tsv [more.tsv ...]

Each file is encoded once with all layers; the stream is stripped to 1, 2, … layers (as
``nwc strip`` does), and each prefix is decoded with the shipped decoder (bass postfilter
included) and scored with PESQ-WB and ViSQOL. Per-file rows go to ``--out`` (TSV: file,
layers, bytes, seconds, pesq, visqol); ``--part i/n`` scores every n-th file from the i-th, so
two processes can share the work; ``--summary`` merges TSVs into one table (actual kbit/s over
all files, container included, and mean scores per prefix). Used to compare trained
candidates before one ships; unshipped weights are coded under the ladder tier's id, and
``--postfilter`` swaps the decoder's postfilter (e.g. a learned candidate's weights file).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from nwcodec.bitstream import strip_layers
from nwcodec.codec import Codec
from nwcodec.corpus import read_manifest
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.metrics import pesq_wb, visqol_speech
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.postfilter import LearnedPostfilter
from nwcodec.zoo import Tier

FIELDS = ["file", "layers", "bytes", "seconds", "pesq", "visqol"]


def prefix(data: bytes, layers: int) -> bytes:
    """An .nwc stream stripped to its first ``layers`` layers (as ``nwc strip`` does)."""
    out = io.BytesIO()
    strip_layers(io.BytesIO(data), out, layers)
    return out.getvalue()


def score_file(codec: Codec, path: Path, layers: list[int] | None = None) -> list[dict]:
    """One row per prefix of ``codec``'s layers (those of ``layers``: all by default) for the
    speech file ``path``."""
    x, sr = sf.read(path, dtype="float32")
    full = codec.encode(x, sr)
    rows = []
    for k in layers or range(1, codec.tier.layers + 1):
        data = prefix(full, k)
        y = codec.decode(data)[0].reshape(-1)
        rows.append({"file": path.name, "layers": k, "bytes": len(data),
                     "seconds": len(x) / sr, "pesq": float(pesq_wb(x, y, sr)),
                     "visqol": float(visqol_speech(x, y, sr))})
    return rows


def summary(paths: list[Path]) -> str:
    by_layer: dict[int, list[dict]] = defaultdict(list)
    for p in paths:
        with p.open() as f:
            for row in csv.DictReader(f, delimiter="\t"):
                by_layer[int(row["layers"])].append(row)
    lines = ["| layers | files | kbit/s | PESQ-WB | ViSQOL |", "|---|---|---|---|---|"]
    for k, rows in sorted(by_layer.items()):
        kbps = sum(8 * int(r["bytes"]) for r in rows) / sum(float(r["seconds"]) for r in rows)
        mean = {m: sum(float(r[m]) for r in rows) / len(rows) for m in ("pesq", "visqol")}
        lines.append(f"| {k} | {len(rows)} | {kbps / 1000:.2f} | {mean['pesq']:.3f} "
                     f"| {mean['visqol']:.3f} |")
    return "\n".join(lines)


def postfilter_choice(choice: str, tier: Tier) -> Callable | None:
    """The decoder postfilter a ``--postfilter`` choice names, for ``tier``."""
    if choice == "tier":
        return tier.postfilter
    if choice == "none":
        return None
    if choice == "bass":
        return BassPostfilter()
    learned = LearnedPostfilter.from_file(choice)
    return lambda x, sr, kbps=None: learned.process(x, kbps or 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--tier", default="speech-24kbps",
                    help="registered ladder tier whose id and postfilter the candidate uses")
    ap.add_argument("--tsv", type=Path)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--part", default="1/1", help="i/n: score every n-th file from the i-th")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--layers", help="comma-separated prefixes to score (default: all)")
    ap.add_argument("--summary", type=Path, nargs="+")
    ap.add_argument("--postfilter", default="tier",
                    help="'tier' (the tier's own), 'none', 'bass', or a learned postfilter file")
    a = ap.parse_args()
    if a.summary:
        print(summary(a.summary))
        return
    if not (a.weights and a.tsv and a.out):
        ap.error("--weights, --tsv and --out are needed to score")
    model = CascadeModel.from_file(a.weights)
    base = Codec.load(a.tier)
    codec = Codec(model, dataclasses.replace(base.tier, layers=model.num_layers,
                                             postfilter=postfilter_choice(a.postfilter, base.tier)))
    i, n = (int(v) for v in a.part.split("/"))
    files = read_manifest(a.tsv)[: a.n][i - 1 :: n]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, delimiter="\t")
        writer.writeheader()
        for path in files:
            writer.writerows(score_file(
                codec, path, [int(k) for k in a.layers.split(",")] if a.layers else None))
            f.flush()
    print(summary([a.out]))


if __name__ == "__main__":
    main()
