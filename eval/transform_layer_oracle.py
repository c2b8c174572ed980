"""Would a transform-coded enhancement layer beat the ladder's upper CNN layers per bit?

    python -m eval.transform_layer_oracle --weights LADDER.pt --tsv DEV_TSV [--n 40]
        [--base 2] [--targets 16,24,32] [--betas 0,0.4] [--fills 0,0.25] [--out rows.tsv]

A feasibility measurement, not a codec. Each file is coded with the ladder's first ``--base``
layers (postfilter off); what they leave, ``x - y``, is coded by a plain MDCT layer (sine
window, 10 ms hop) with a uniform dead-zone quantiser whose step follows the *decoded*
signal's own spectral envelope to the power ``beta`` (0: flat noise, the MSE-optimal shape;
higher: noise shaped like the speech, as TCX's weighting does). The decoder has ``y``, so the
steps cost no side information: only the integers do. Their rate is the conditional empirical
entropy given (band, envelope-to-step bucket), pooled over the files scored (a lower bound an
adaptive range coder with those contexts gets within a few per cent of), plus the base
layers' real bytes. For each target total rate the global step is bisected to hit it, then
every file is scored with PESQ-WB and ViSQOL, bare and through the shipped learned postfilter,
with the zeros left as zeros or noise-filled at their true band level (``--fills``: an oracle
of noise filling with a few bits of band levels, which the rate does not count).
Compare with the ladder's own prefixes at those rates (``eval.ladder_eval``).

``--prediction`` asks instead how much of ``x - y`` the layer could leave uncoded by scaling
``y`` per band (``x - a y``, ``a`` in [0, 1] on a 1/4 grid per 800-Hz band and second, a few
bits of side information): per band, the SNR of ``y`` and the error energy that saves, and
what ``a y`` alone scores against ``y`` (an oracle: does the layer lose by not coding it?).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from eval.ladder_eval import prefix
from eval.pitch_oracle import shipped_postfilter
from nwcodec.codec import Codec
from nwcodec.corpus import read_manifest
from nwcodec.dsp import mdct as dsp_mdct
from nwcodec.dsp.mdct import imdct
from nwcodec.metrics import pesq_wb, visqol_speech
from nwcodec.nn.cmrl import CascadeModel

HOP = 160  # MDCT coefficients per frame (10 ms at 16 kHz)
DEADZONE = 0.2  # rounding offset taken off |c|/step: values just above k - 1/2 round down
SMOOTH_BINS = 9  # envelope: power averaged over this many neighbouring bins
BANDS = 4  # context bands, equal in bins
FLOOR = 1e-4  # envelope floor (full scale 1.0), so silent frames do not get a zero step
FILL_BANDS = 8  # noise-fill oracle: bands of 20 coefficients (1 kHz) per frame


def mdct(x: np.ndarray) -> np.ndarray:
    """(frames, HOP) coefficients of ``x`` (nwcodec/dsp/mdct.py)."""
    return dsp_mdct.mdct(x, HOP)


def envelope(y: np.ndarray) -> np.ndarray:
    """Magnitude envelope of the decoded signal per MDCT coefficient (smoothed over bins)."""
    power = mdct(y) ** 2
    kernel = np.ones(SMOOTH_BINS) / SMOOTH_BINS
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, power)
    return np.sqrt(smooth) + FLOOR


@dataclasses.dataclass
class Item:
    x: np.ndarray
    y: np.ndarray  # base layers decoded, postfilter off
    base_bytes: int
    seconds: float
    residual: np.ndarray = dataclasses.field(init=False)  # MDCT of x - y
    env: np.ndarray = dataclasses.field(init=False)  # envelope of y per coefficient

    def __post_init__(self) -> None:
        self.residual = mdct(self.x - self.y)
        self.env = envelope(self.y)


def steps(item: Item, gain: float, beta: float) -> np.ndarray:
    return gain * item.env**beta


def quantise(item: Item, gain: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    step = steps(item, gain, beta)
    q = np.sign(item.residual) * np.floor(np.abs(item.residual) / step + 0.5 - DEADZONE)
    return q.astype(np.int64), step


def dequantise(q: np.ndarray, step: np.ndarray, fill: float = 0.0,
               residual: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Coefficients back from the integers. With ``fill`` > 0 the zeros of each band of each
    frame get noise at ``fill`` times the RMS the true ``residual`` has there: an oracle for
    noise filling with band levels as side information (not counted in the rate)."""
    out = q * step
    if fill <= 0:
        return out
    zeros = q == 0
    width = HOP // FILL_BANDS
    shape = (len(q), FILL_BANDS, width)
    z = zeros.reshape(shape)
    energy = (np.where(zeros, residual, 0.0) ** 2).reshape(shape).sum(-1)
    rms = np.sqrt(energy / np.maximum(z.sum(-1), 1))
    noise = np.random.default_rng(seed).uniform(-np.sqrt(3), np.sqrt(3), shape) * rms[..., None]
    return np.where(zeros, fill * noise.reshape(q.shape), out)


def contexts(item: Item, step: np.ndarray) -> np.ndarray:
    band = np.minimum(np.arange(HOP) * BANDS // HOP, BANDS - 1)[None, :]
    bucket = np.clip(np.round(2 * np.log2(item.env / step)), -10, 14).astype(np.int64)
    return band * 100 + bucket


def entropy_bits(items: list[Item], gain: float, beta: float) -> float:
    """Conditional empirical entropy (bits) of all items' integers given their contexts."""
    joint: Counter = Counter()
    for item in items:
        q, step = quantise(item, gain, beta)
        ctx = contexts(item, step)
        joint.update(zip(ctx.ravel().tolist(), q.ravel().tolist(), strict=True))
    by_ctx: Counter = Counter()
    for (c, _), n in joint.items():
        by_ctx[c] += n
    return -sum(n * np.log2(n / by_ctx[c]) for (c, _), n in joint.items())


def band_gains(x_c: np.ndarray, y_c: np.ndarray, bands: int = 10, frames: int = 100
               ) -> np.ndarray:
    """MDCT coefficients (frames, HOP) of ``a y`` from those of ``x`` and ``y``: per band of
    ``HOP // bands`` coefficients and ``frames`` frames, ``y`` scaled by the least-squares
    gain ``a`` toward ``x``, clipped to [0, 1] and rounded to quarters (a few bits of side
    information)."""
    out = y_c.copy()
    for s in range(0, len(x_c), frames):
        xb = x_c[s : s + frames].reshape(-1, bands, HOP // bands)
        yb = y_c[s : s + frames].reshape(-1, bands, HOP // bands)
        a = np.clip((xb * yb).sum((0, 2)) / np.maximum((yb * yb).sum((0, 2)), 1e-12), 0.0, 1.0)
        out[s : s + frames] = (yb * (np.round(4 * a) / 4)[None, :, None]).reshape(-1, HOP)
    return out


def prediction_gain(items: list[Item], bands: int = 10
                    ) -> tuple[np.ndarray, np.ndarray, float, list[np.ndarray]]:
    """Per band of ``HOP // bands`` coefficients: the SNR of ``y`` against ``x`` (dB), and
    how much less error energy ``x - a y`` (:func:`band_gains`) leaves than ``x - y`` (dB);
    then the latter over all bands, and each item's ``a y`` coefficients."""

    def per_band(c: np.ndarray) -> np.ndarray:
        return (c**2).reshape(len(c), bands, -1).sum((0, 2))

    energy = np.zeros((3, bands))  # x, x - y, x - a y
    scaled = []
    for item in items:
        x_c = mdct(item.x)
        ay = band_gains(x_c, mdct(item.y), bands)
        energy += [per_band(x_c), per_band(item.residual), per_band(x_c - ay)]
        scaled.append(ay)
    energy = np.maximum(energy, 1e-30)
    return (10 * np.log10(energy[0] / energy[1]), 10 * np.log10(energy[1] / energy[2]),
            float(10 * np.log10(energy[1].sum() / energy[2].sum())), scaled)


def calibrate(items: list[Item], beta: float, target_kbps: float) -> tuple[float, float]:
    """Global step gain whose total rate (base bytes + entropy) hits ``target_kbps``."""
    seconds = sum(i.seconds for i in items)
    base_bits = sum(8 * i.base_bytes for i in items)
    lo, hi = 1e-6, 10.0
    for _ in range(30):
        gain = np.sqrt(lo * hi)
        kbps = (base_bits + entropy_bits(items, gain, beta)) / seconds / 1000
        lo, hi = (gain, hi) if kbps > target_kbps else (lo, gain)
    return gain, kbps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--tier", default="speech-32kbps")
    ap.add_argument("--tsv", type=Path, required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--spread", type=int, default=5, help="take every k-th of the first n*k")
    ap.add_argument("--base", type=int, default=2)
    ap.add_argument("--targets", default="16,24,32")
    ap.add_argument("--betas", default="0,0.4")
    ap.add_argument("--fills", default="0",
                    help="oracle noise fill: fractions of the zeroed coefficients' band RMS")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--prediction", action="store_true",
                    help="print the per-band prediction gain of y instead of coding")
    a = ap.parse_args()
    model = CascadeModel.from_file(a.weights)
    base = Codec.load(a.tier)
    codec = Codec(model, dataclasses.replace(base.tier, layers=model.num_layers, postfilter=None))
    postfilter = shipped_postfilter()
    files = read_manifest(a.tsv)[: a.n * a.spread][:: a.spread]
    items = []
    for path in files:
        x, sr = sf.read(path, dtype="float32")
        data = prefix(codec.encode(x, sr), a.base)
        y = codec.decode(data)[0].reshape(-1)
        items.append(Item(x.astype(np.float64), y.astype(np.float64), len(data), len(x) / sr))
    if a.prediction:
        snr, gain, total, scaled = prediction_gain(items)
        width = 8000 // len(snr)
        print("| band (Hz) | SNR of y (dB) | x - a y against x - y (dB) |\n|---|---|---|")
        for b, (s_db, g_db) in enumerate(zip(snr, gain, strict=True)):
            print(f"| {b * width}–{(b + 1) * width} | {s_db:.2f} | {g_db:.2f} |")
        print(f"| all | | {total:.2f} |")
        scores = []  # PESQ-WB and ViSQOL of y and of a y, both through the postfilter
        for item, ay in zip(items, scaled, strict=True):
            x = item.x.astype(np.float32)
            for z in (item.y, imdct(ay, len(item.y))):
                pf = postfilter.process(z.astype(np.float32), item.base_bytes * 8 / item.seconds
                                        / 1000).astype(np.float32)
                scores += [pesq_wb(x, pf, 16000), visqol_speech(x, pf, 16000)]
        m = np.asarray(scores, np.float64).reshape(len(items), 4).mean(0)
        print(f"postfilter, PESQ-WB / ViSQOL: y {m[0]:.3f} / {m[1]:.3f}, "
              f"a y {m[2]:.3f} / {m[3]:.3f}")
        return
    rows = []
    for beta in (float(b) for b in a.betas.split(",")):
        for target in (float(t) for t in a.targets.split(",")):
            gain, kbps = calibrate(items, beta, target)
            quantised = [quantise(item, gain, beta) for item in items]
            for fill in (float(f) for f in a.fills.split(",")):
                scores = []
                for item, (q, step) in zip(items, quantised, strict=True):
                    coeffs = dequantise(q, step, fill, item.residual)
                    z = (item.y + imdct(coeffs, len(item.y))).astype(np.float32)
                    pf = postfilter.process(z, kbps).astype(np.float32)
                    x = item.x.astype(np.float32)
                    scores.append((pesq_wb(x, z, 16000), visqol_speech(x, z, 16000),
                                   pesq_wb(x, pf, 16000), visqol_speech(x, pf, 16000)))
                m = np.mean(np.asarray(scores, dtype=np.float64), axis=0)
                row = {"base": a.base, "beta": beta, "target": target, "fill": fill,
                       "kbps": round(float(kbps), 2), "pesq": round(m[0], 3),
                       "visqol": round(m[1], 3), "pesq_pf": round(m[2], 3),
                       "visqol_pf": round(m[3], 3)}
                rows.append(row)
                print(row, flush=True)
    if a.out:
        with a.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]), delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
