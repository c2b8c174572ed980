"""Would sending the pitch help the speech postfilter? Zero-bit oracle on held-out speech.

    python -m eval.pitch_oracle --tsv DEV_TSV [--n 40] [--layers 1,2,5] [--tier speech-32kbps-v3]

The learned postfilter estimates pitch lag and voicing from the decoded chunk. Here each
chunk is postfiltered three ways: not at all, as shipped (pitch from the decoded signal), and
with the pitch estimated from the *original* chunk (what pitch side information could carry
at best). If the oracle scores no better than the shipped decoder, pitch bits would buy
nothing through the postfilter. Prints mean PESQ-WB / ViSQOL per layer count and variant.
"""

from __future__ import annotations

import argparse
import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf

from eval.ladder_eval import prefix
from nwcodec.codec import Codec
from nwcodec.corpus import read_manifest
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.metrics import pesq_wb, visqol_speech
from nwcodec.nn.postfilter import LearnedPostfilter, load_postfilter
from nwcodec.zoo import POSTFILTER_SPEECH, WEIGHTS_DIR, verified

VARIANTS = ("off", "shipped", "oracle")


@dataclasses.dataclass(frozen=True)
class _GivenPitch(BassPostfilter):
    """The bass postfilter's comb, with the pitch track given instead of estimated."""

    track: tuple = ()

    def pitch(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        return self.track


@cache
def shipped_postfilter() -> LearnedPostfilter:
    """The speech tiers' postfilter, its file checked once."""
    return load_postfilter(verified(WEIGHTS_DIR / POSTFILTER_SPEECH.weights,
                                    POSTFILTER_SPEECH.sha256, "postfilter"))


def postfilter_variants(chunks: list[tuple[np.ndarray, float]], original: np.ndarray,
                        sr: int) -> dict[str, np.ndarray]:
    """The decoded chunks (raw, with their coded kbit/s) postfiltered each way, joined."""
    model = shipped_postfilter()
    estimated = model.comb
    out: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    start = 0
    try:
        for x, kbps in chunks:
            ref = np.zeros(len(x))
            seg = original[start : start + len(x)]
            ref[: len(seg)] = seg
            start += len(x)
            out["off"].append(x)
            model.comb = estimated
            out["shipped"].append(model.process(x, kbps))
            model.comb = _GivenPitch(track=estimated.pitch(ref, sr))
            out["oracle"].append(model.process(x, kbps))
    finally:
        model.comb = estimated
    return {v: np.concatenate(c) for v, c in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", type=Path, required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--layers", default="1,2,5")
    ap.add_argument("--tier", default="speech-32kbps-v3")
    a = ap.parse_args()
    layers = [int(v) for v in a.layers.split(",")]
    chunks: list[tuple[np.ndarray, float]] = []

    def keep(x: np.ndarray, sr: int, kbps: float | None = None) -> np.ndarray:
        chunks.append((x.copy(), kbps or 0.0))
        return x

    base = Codec.load(a.tier)
    codec = Codec(base.model, dataclasses.replace(base.tier, postfilter=keep))
    scores: dict[tuple[int, str], list[tuple[float, float]]] = {
        (k, v): [] for k in layers for v in VARIANTS}
    for path in read_manifest(a.tsv)[: a.n]:
        x, sr = sf.read(path, dtype="float32")
        full = codec.encode(x, sr)
        for k in layers:
            chunks.clear()
            codec.decode(prefix(full, k))
            for v, y in postfilter_variants(chunks, x.astype(np.float64), sr).items():
                y = y[: len(x)].astype(np.float32)
                scores[(k, v)].append((float(pesq_wb(x, y, sr)), float(visqol_speech(x, y, sr))))
    print("| layers | postfilter | files | PESQ-WB | ViSQOL |\n|---|---|---|---|---|")
    for (k, v), rows in scores.items():
        m = np.mean(rows, axis=0)
        print(f"| {k} | {v} | {len(rows)} | {m[0]:.3f} | {m[1]:.3f} |")


if __name__ == "__main__":
    main()
