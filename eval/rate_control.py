"""The rate-control table: each tier's actual rate (file bytes, container included) against its
nominal rate on non-speech and speech inputs, and on the speech dev set.

    python -m eval.rate_control [--tiers speech-8kbps,...] [--music FILE] [--seconds 10]
        [--dev ../shared/data/speechocean762/dev.tsv --n 60 --pesq speech-12kbps]
        [--out eval/REPORT_rate_control.md]

Inputs (all synthetic except the music file and the speech sample): ``--music`` (a 10-s excerpt
of any audio file from 30 s in, e.g. a Vorbis track of Debian's ``wesnoth-1.16-music``; without
it a synthetic chord/arpeggio with harmonics and noise bursts), a stereo sine, hard-panned
stereo (speech in the left channel, a tone in the right), speech left only with digital silence
right, white and pink noise, a log sweep, digital silence, near-silence (white noise at
−60 dBFS) and ``nwcodec/data/sample.flac``. Prints a markdown table (kbit/s, and in brackets
the ratio to nominal) and, with ``--dev``, each tier's rate over the first ``--n`` dev files
and the PESQ-WB mean of the ``--pesq`` tiers; ``--out`` also writes them, with the command
and date, to a markdown file.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.resources
import io
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from nwcodec.audio import read_audio, resample
from nwcodec.bitstream import BitstreamReader
from nwcodec.codec import Codec
from nwcodec.corpus import read_manifest
from nwcodec.metrics import pesq_wb
from nwcodec.stream_info import summarise

SR = 16000
LADDER = "speech-6kbps,speech-8kbps,speech-12kbps,speech-16kbps,speech-24kbps,speech-32kbps"


def _speech() -> np.ndarray:
    path = importlib.resources.files("nwcodec") / "data" / "sample.flac"
    x, sr = read_audio(str(path))
    return resample(x, sr, SR)[:, 0]


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x**2))


def synthetic_music(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo (n, 2): a chord progression and an arpeggio with harmonics, plus drum-like
    noise bursts, panned apart."""
    rng = np.random.default_rng(seed)
    t = _t(seconds)
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]
    pad = np.zeros_like(t)
    arp = np.zeros_like(t)
    for i, start in enumerate(np.arange(0, seconds, 2.0)):
        sel = (t >= start) & (t < start + 2.0)
        for f in chords[i % len(chords)]:
            pad[sel] += sum(np.sin(2 * np.pi * k * f * t[sel]) / k**1.5 for k in range(1, 6))
    for j, start in enumerate(np.arange(0, seconds, 0.125)):
        sel = (t >= start) & (t < start + 0.125)
        f = 2 * chords[int(start // 2.0) % len(chords)][j % 3]
        env = np.exp(-(t[sel] - start) * 20)
        arp[sel] += env * sum(np.sin(2 * np.pi * k * f * t[sel]) / k for k in range(1, 4))
    drums = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.5):
        sel = (t >= start) & (t < start + 0.15)
        drums[sel] += rng.standard_normal(sel.sum()) * np.exp(-(t[sel] - start) * 30)
    left = 0.05 * pad + 0.12 * arp + 0.2 * drums
    right = 0.05 * pad + 0.04 * arp + 0.3 * drums
    return np.stack([left, right], axis=1)


def music_excerpt(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    x, sr = read_audio(str(path))
    start = min(30 * sr, max(0, x.shape[0] - int(seconds * sr)))
    return x[start : start + int(seconds * sr)], sr


def inputs(seconds: float, music: Path | None) -> dict[str, Callable[[], tuple[np.ndarray, int]]]:
    rng = np.random.default_rng(1)
    t = _t(seconds)
    speech = _speech()
    reps = -(-t.size // speech.size)
    long_speech = np.tile(speech, reps)[: t.size]
    sine = 0.3 * np.sin(2 * np.pi * 440 * t)
    sweep = 0.25 * np.sin(2 * np.pi * 100 * seconds / np.log(70) * (70 ** (t / seconds) - 1))
    return {
        "music" + (f" ({music.name})" if music else " (synthetic)"):
            (lambda: music_excerpt(music, seconds)) if music
            else (lambda: (synthetic_music(seconds), SR)),
        "stereo sine 440 Hz (L = R)": lambda: (np.stack([sine, sine], 1), SR),
        "hard-panned (speech L, 660 Hz tone R)":
            lambda: (np.stack([long_speech, 0.2 * np.sin(2 * np.pi * 660 * t)], 1), SR),
        "speech L only (R digital silence)":
            lambda: (np.stack([long_speech, np.zeros_like(t)], 1), SR),
        "white noise −20 dBFS": lambda: (0.1 * rng.standard_normal(t.size), SR),
        "pink noise −20 dBFS": lambda: (0.1 * _pink(t.size, rng), SR),
        "log sweep 100 Hz–7 kHz": lambda: (sweep, SR),
        "digital silence": lambda: (np.zeros(t.size), SR),
        "near-silence (white noise −60 dBFS)":
            lambda: (0.001 * rng.standard_normal(t.size), SR),
        "speech (sample.flac)": lambda: (speech, SR),
    }


def kbps(data: bytes, samples: int, sr: int) -> float:
    return len(data) * 8 / (samples / sr) / 1000


def table(codecs: list[Codec], seconds: float, music: Path | None) -> str:
    head = "| input | " + " | ".join(
        f"{c.tier.name} ({c.tier.nominal_kbps:g})" for c in codecs) + " |"
    rows = [head, "|---" * (len(codecs) + 1) + "|"]
    for name, make in inputs(seconds, music).items():
        x, sr = make()
        x = np.clip(x, -1, 1).astype(np.float32)
        cells = []
        for c in codecs:
            rate = kbps(c.encode(x, sr), x.shape[0], sr)
            cells.append(f"{rate:.2f} ({rate / c.tier.nominal_kbps:.2f}×)")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _records(data: bytes) -> Counter:
    """Chunk records by coding, and those with layers by their layer count."""
    s = summarise(BitstreamReader(io.BytesIO(data)))
    return Counter({k: n for k, n in s["coding"].items() if k != "layers"}) + Counter(
        {f"{len(c['layer_bytes'])} layers": 1 for c in s["chunks"] if c["coding"] == "layers"})


def dev(codecs: list[Codec], tsv: Path, n: int, pesq_tiers: set[str]) -> str:
    files = read_manifest(tsv)[:n]
    rows = ["| tier | nominal | actual kbit/s | ratio | PESQ-WB | chunk records |",
            "|---|---|---|---|---|---|"]
    for c in codecs:
        bits, seconds, scores, records = 0, 0.0, [], Counter()
        for f in files:
            x, sr = sf.read(f, dtype="float32")
            data = c.encode(x, sr)
            bits += 8 * len(data)
            seconds += x.shape[0] / sr
            records += _records(data)
            if c.tier.name in pesq_tiers:
                y, _ = c.decode(data)
                scores.append(float(pesq_wb(x, y[:, 0], sr)))
        rate = bits / seconds / 1000
        pesq = f"{np.nanmean(scores):.3f}" if scores else "–"
        kinds = ", ".join(f"{k}: {records[k]}" for k in sorted(records))
        rows.append(f"| {c.tier.name} | {c.tier.nominal_kbps:g} | {rate:.2f} | "
                    f"{rate / c.tier.nominal_kbps:.3f} | {pesq} | {kinds} |")
    return f"{len(files)} files, {seconds:.0f} s\n\n" + "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiers", default=LADDER)
    ap.add_argument("--music", type=Path)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--dev", type=Path, help="a manifest of speech files (dev.tsv)")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--pesq", default="speech-12kbps", help="tiers to score with PESQ-WB")
    ap.add_argument("--no-table", action="store_true", help="only the --dev figures")
    ap.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    a = ap.parse_args()
    codecs = [Codec.load(t) for t in a.tiers.split(",")]
    parts = []
    if not a.no_table:
        parts.append(f"## Actual vs nominal kbit/s, {a.seconds:g}-s inputs\n\n"
                     + table(codecs, a.seconds, a.music))
    if a.dev:
        parts.append(f"## Speech: {a.dev}\n\n" + dev(codecs, a.dev, a.n, set(a.pesq.split(","))))
    text = "\n\n".join(parts)
    print(text)
    if a.out:
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "python -m eval.rate_control " + " ".join(sys.argv[1:])
        a.out.write_text(f"# Rate control: actual vs nominal bitrate\n\n- Generated: {when}\n"
                         f"- Command: `{command}`\n- kbit/s: file bytes × 8 / input duration "
                         f"(container included); in brackets the ratio to the tier's nominal "
                         f"rate\n\n{text}\n")


if __name__ == "__main__":
    main()
