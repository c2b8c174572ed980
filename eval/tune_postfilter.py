"""Tune and measure the bass postfilter (nwcodec/dsp/postfilter.py) on decoded speech.

    python -m eval.tune_postfilter --tsv TSV [--first 1200 --every 13 --n 100] [--tier speech-16k]
        [--grid] [--visqol] [--set strength=0.5,voicing_power=2]

Decodes each file once with the tier's decoder *without* the postfilter (cached under
--cache), then scores the decoded speech with PESQ-WB (and ViSQOL with --visqol) for the
postfilter off and for each candidate setting. --grid scans strength x voicing power x cutoff;
--set scores one setting. Tune on training files the model never saw (e.g. rows past the
recipe's ``train_files``), confirm on the dev set.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import numpy as np
import soundfile as sf

from nwcodec.codec import Codec
from nwcodec.corpus import read_manifest
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.metrics import pesq_wb, visqol_speech
from nwcodec.nn.cmrl import CascadeModel


def decoded(files: list[Path], codec: Codec, layers: int | None, cache: Path
            ) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """(reference, decoded-without-postfilter) pairs at 16 kHz, cached as .npy, and the
    actual bitrate in kbit/s (whole files, container included)."""
    codec.postfilter = None
    cache.mkdir(parents=True, exist_ok=True)
    pairs, bits, seconds = [], 0, 0.0
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        assert sr == 16000, f"{f}: 16 kHz expected"
        path, size = cache / f"{f.stem}.npy", cache / f"{f.stem}.bytes"
        if not path.exists():
            data = codec.encode(x, sr, layers=layers)
            np.save(path, codec.decode(data)[0].reshape(-1))
            size.write_text(str(len(data)))
        pairs.append((x, np.load(path)))
        bits += 8 * int(size.read_text())
        seconds += len(x) / sr
    return pairs, bits / seconds / 1000


def score(pairs, pf: BassPostfilter | None, visqol: bool, chunk: int) -> dict[str, float]:
    out = {"pesq": [], "visqol": []}
    for x, y in pairs:
        z = y if pf is None else np.concatenate(
            [pf(c, 16000) for c in np.split(y, np.arange(chunk, len(y), chunk))]
        )  # chunk by chunk, as the decoder applies it
        out["pesq"].append(float(pesq_wb(x, z, 16000)))
        if visqol:
            out["visqol"].append(float(visqol_speech(x, z, 16000)))
    return {k: float(np.mean(v)) for k, v in out.items() if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", type=Path, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--every", type=int, default=1, help="take every k-th row (more speakers)")
    ap.add_argument("--tier", default="speech-16k")
    ap.add_argument("--weights", type=Path,
                    help="score an unshipped weights file (coded as --tier's id)")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/nwc_postfilter_cache"))
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--visqol", action="store_true")
    ap.add_argument("--set", action="append", default=[],
                    help="a setting to score, e.g. strength=0.5,voicing_power=2")
    a = ap.parse_args()
    codec = Codec.load(a.tier)
    if a.weights:
        model = CascadeModel.from_file(a.weights)
        codec = Codec(model, dataclasses.replace(codec.tier, layers=model.num_layers))
    name = a.weights.stem if a.weights else a.tier
    cache = a.cache / f"{name}-L{a.layers or codec.tier.layers}"
    files = read_manifest(a.tsv)[a.first :: a.every][: a.n]
    pairs, kbps = decoded(files, codec, a.layers, cache)
    settings: list[BassPostfilter | None] = [None]
    if a.grid:
        settings += [BassPostfilter(strength=s, voicing_power=p, cutoff_hz=c)
                     for s, p, c in itertools.product((0.2, 0.3, 0.4), (2, 3, 4), (700, 1000))]
    for text in a.set:
        kv = dict(item.split("=") for item in text.split(","))
        settings.append(BassPostfilter(**{k: float(v) for k, v in kv.items()}))
    print(f"{len(pairs)} files, {name}, layers {a.layers or 'all'}: {kbps:.2f} kbit/s")
    for pf in settings:
        label = "off" if pf is None else ", ".join(
            f"{f.name}={getattr(pf, f.name)}" for f in dataclasses.fields(pf)[:3])
        res = score(pairs, pf, a.visqol, codec.chunk_samples)
        print(f"| {label} | " + " | ".join(f"{k} {v:.3f}" for k, v in res.items()) + " |",
              flush=True)


if __name__ == "__main__":
    main()
