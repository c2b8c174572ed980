"""Music tiers beside LAME MP3 and Opus at 44.1 kHz, scored with ViSQOL v3 audio mode: the
rate-quality table of issue 11.

    python -m eval.music_eval [--tsv DATA/music/val.tsv] [--seconds 10] [--channels both]
        [--tiers music-64kbps,...] [--weights FILE --layers 1,2,3 --kbps 64,96,128 [--tier T]]
        [--workers 1] [--out eval/music] [--report eval/REPORT_music.md] [--fresh]

Excerpts: from every track of the manifest, the middle ``--seconds`` seconds (the whole track if
it is shorter; tracks under 1 s are left out); each excerpt is coded on its own. The set is a
function of the manifest and ``--seconds`` only. Mono conditions get the excerpt's channel mean.

Conditions: for each tier rate r (stereo 64/96/128 kbit/s, mono at half rate, or the nominal
rates of the given tiers), LAME MP3 CBR at r and at 1.25 r, and Opus at r (settings in
nwcodec/baselines.py). MPEG-1 has no 120 or 60 kbit/s rate: there, the two standard rates around
1.25 r are coded and the table interpolates their mean ViSQOL linearly in kbit/s. Below 32
kbit/s (MPEG-1's lowest rate at 44.1 kHz) there is no MP3 condition.

Score: ViSQOL v3 audio mode (SVR mapper; visqol-python), which takes one mono 48 kHz signal:
reference and decoded excerpt are resampled 44.1 -> 48 kHz and each channel is scored on its
own; the excerpt's score is the mean over channels. (ViSQOL's own file reader would score the
channel mean, which cannot see stereo-image errors: a codec sending mono would score perfectly.)
The decoded signal is not shifted: the codecs' delays are compensated (the ``lag`` column checks
it: the cross-correlation peak of the channel means within ±0.1 s) and ViSQOL aligns by itself.
kbit/s is the actual rate: codec bytes × 8 / excerpt duration, summed over excerpts (MP3: frame
bytes; Opus: raw packet bytes, no Ogg pages; ours: the whole .nwc stream).

Cache: per-excerpt rows go to OUT/per_file.tsv; a rerun keeps rows whose condition, excerpt,
start and length match (``--fresh`` ignores them), so the baselines are coded once and a new
tier costs only its own rows. Speeds (one thread, first excerpts, encode and decode apart) go to
OUT/speed.json. The report is rendered from everything in the cache.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import hashlib
import io
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from eval.report import codec_speed
from nwcodec.baselines import MP3_BITRATES, MUSIC_RATE, Baseline, Mp3, Opus
from nwcodec.compare import Condition, NeuralCondition, mean_ci95, run, single_thread
from nwcodec.corpus import data_dir, read_manifest
from nwcodec.files import atomic_output
from nwcodec.metrics import estimate_delay, visqol_audio
from nwcodec.timing import Clock

HERE = Path(__file__).resolve().parent
STEREO_KBPS = (64, 96, 128)
"""Issue 11's stereo tiers; the mono tiers are at half these rates."""
MP3_MARGIN = 1.25
"""Each tier must at least match MP3 at this multiple of its rate."""
MIN_SECONDS = 1.0
MAX_LAG_SECONDS = 0.1
SPEED_EXCERPTS = 3
FIELDS = ["condition", "label", "channels", "nominal_kbps", "excerpt", "start", "frames",
          "bytes", "seconds", "kbps", "lag", "visqol", "visqol_channels", "codec_s", "visqol_s",
          "error"]


@dataclasses.dataclass(frozen=True)
class Excerpt:
    """``frames`` samples of ``path`` from ``start``; ``name`` is the path in the manifest."""

    path: Path
    name: str
    start: int
    frames: int

    def read(self, channels: int) -> np.ndarray:
        """(frames,) mono (channel mean) or (frames, channels) float32 at the file's rate."""
        x, _ = sf.read(self.path, start=self.start, frames=self.frames, dtype="float32",
                       always_2d=True)
        if channels == 1:
            return x.mean(axis=1)
        if x.shape[1] != channels:
            raise ValueError(f"{self.name} has {x.shape[1]} channel(s), not {channels}")
        return x


def select_excerpts(manifest: Path, seconds: float) -> list[Excerpt]:
    """The middle ``seconds`` of every track listed in ``manifest`` (tracks shorter than that
    whole, those under :data:`MIN_SECONDS` left out), in manifest order."""
    excerpts = []
    for path in read_manifest(manifest):
        info = sf.info(str(path))
        if info.samplerate != MUSIC_RATE:
            raise ValueError(f"{path}: {info.samplerate} Hz, the music set is {MUSIC_RATE} Hz")
        if info.frames < MIN_SECONDS * info.samplerate:
            continue
        frames = min(info.frames, round(seconds * info.samplerate))
        name = path.relative_to(manifest.parent).as_posix() if path.is_relative_to(
            manifest.parent) else str(path)
        excerpts.append(Excerpt(path, name, (info.frames - frames) // 2, frames))
    return excerpts


def mp3_rates(sample_rate: int) -> tuple[float, ...]:
    """The standard MP3 bitrates at ``sample_rate``."""
    return next(r for group, r in MP3_BITRATES.items() if sample_rate in group)


def mp3_rates_for(kbps: float, sample_rate: int = MUSIC_RATE) -> tuple[float, ...]:
    """The MP3 bitrate ``kbps`` if the standard has it, else the two standard rates around it."""
    rates = mp3_rates(sample_rate)
    if kbps in rates:
        return (kbps,)
    below = [r for r in rates if r < kbps]
    above = [r for r in rates if r > kbps]
    if not below or not above:
        raise ValueError(f"no MP3 rate around {kbps:g} kbit/s at {sample_rate} Hz")
    return (below[-1], above[0])


@dataclasses.dataclass(frozen=True)
class Target:
    """One row of the summary: a tier rate and channel count, the baselines it is held
    against, and the nwcodec condition measured at it (if any)."""

    kbps: float
    channels: int
    tier: Condition | None = None

    @property
    def mp3(self) -> Mp3 | None:
        """MP3 at the tier's rate; None below MPEG-1's lowest rate at 44.1 kHz (32 kbit/s)."""
        if self.kbps < min(mp3_rates(MUSIC_RATE)):
            return None
        return Mp3(self.kbps, MUSIC_RATE, self.channels)

    @property
    def mp3_margin(self) -> tuple[Mp3, ...]:
        """MP3 at 1.25× the rate (or the two rates around it); none below 32 kbit/s."""
        if self.kbps * MP3_MARGIN < min(mp3_rates(MUSIC_RATE)):
            return ()
        return tuple(Mp3(r, MUSIC_RATE, self.channels)
                     for r in mp3_rates_for(self.kbps * MP3_MARGIN))

    @property
    def opus(self) -> Opus:
        return Opus(self.kbps, MUSIC_RATE, self.channels)

    def baselines(self) -> list[Baseline]:
        return [b for b in (self.mp3, *self.mp3_margin, self.opus) if b is not None]


class MusicTier(NeuralCondition):
    """A registered tier on ``channels``-channel input (mono: the excerpt's channel mean)."""

    def __init__(self, tier: str, channels: int) -> None:
        super().__init__(tier)
        self.channels = channels
        if channels == 1:
            self.name += "-mono"
            self.label += " mono"

    def nominal_kbps(self) -> float:
        """The rate the tier holds this input to (music tiers: their stereo rate; half of it
        for mono input)."""
        return self.codec().tier.budget_kbps(self.channels)


class Candidate(MusicTier):
    """The first ``layers`` layers of an unregistered weights file at a nominal ``kbps``
    (stereo), coded under ``base``'s tier (a registered tier whose id, chunking and postfilter
    it borrows) or, without one, under the test tier's id: the stream never leaves the
    process."""

    def __init__(self, weights: Path, layers: int, kbps: float, channels: int,
                 base: str | None) -> None:
        super().__init__(f"{weights.stem}-L{layers}", channels)
        self.weights, self.layers, self.kbps, self.base = weights, layers, kbps, base

    def _load(self) -> Any:
        from nwcodec.codec import Codec
        from nwcodec.nn.cmrl import CascadeModel
        from nwcodec.zoo import TEST_TIER_ID, Tier, get_tier

        model = CascadeModel.from_file(self.weights)
        if self.base:
            tier = get_tier(self.base)
        else:
            tier = Tier(id=TEST_TIER_ID, name=self.tier, sample_rate=model.sample_rate,
                        chunk_samples=model.chunk_samples, layers=self.layers,
                        nominal_kbps=self.kbps, weights=None, sha256=None,
                        description="unregistered candidate (evaluation only)")
        return Codec(model, dataclasses.replace(tier, name=self.tier, layers=self.layers,
                                                nominal_kbps=self.kbps, nominal_channels=2))


def score_excerpt(condition: Condition, excerpt: Excerpt, metrics: Sequence[str] = ()
                  ) -> dict[str, Any]:
    """Code one excerpt with one condition and score it: one row of per_file.tsv.
    (``metrics`` is unused: the score is ViSQOL audio; the argument fits compare.run.)"""
    channels = getattr(condition, "channels", 1)
    row: dict[str, Any] = {"condition": condition.name, "label": condition.label,
                           "channels": channels, "excerpt": excerpt.name, "file": excerpt.name,
                           "start": excerpt.start, "frames": excerpt.frames,
                           "nominal_kbps": getattr(condition, "bitrate_kbps", math.nan)}
    try:
        if isinstance(condition, MusicTier):
            row["nominal_kbps"] = condition.nominal_kbps()
        ref = excerpt.read(channels)
        with Clock() as coding:
            decoded, nbytes = condition.roundtrip(ref, MUSIC_RATE)
    except Exception as e:  # one bad file or codec failure must not stop the run
        return {**row, "visqol": math.nan, "error": f"{type(e).__name__}: {e}"}
    ref = ref.reshape(len(ref), -1).astype(np.float64)
    deg = np.asarray(decoded, dtype=np.float64).reshape(len(decoded), -1)
    # A check of the delay compensation, not applied: ViSQOL aligns globally and per patch
    # itself, and on tonal music a cross-correlation peak can be a period off.
    lag = estimate_delay(ref.mean(axis=1), deg.mean(axis=1), int(MAX_LAG_SECONDS * MUSIC_RATE))
    with Clock() as scoring:
        results = [visqol_audio(ref[:, c], deg[:, c], MUSIC_RATE) for c in range(channels)]
    scores = [r.value for r in results]
    seconds = excerpt.frames / MUSIC_RATE
    row.update(bytes=nbytes, seconds=seconds, kbps=nbytes * 8 / seconds / 1000, lag=lag,
               visqol=float(np.mean(scores)),
               visqol_channels=" ".join(f"{v:.4f}" for v in scores),
               codec_s=round(coding.wall, 3), visqol_s=round(scoring.wall, 3),
               error="; ".join(r.reason for r in results if r.reason))
    return row


def _key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    return (str(row["condition"]), str(row["excerpt"]), int(row["start"]), int(row["frames"]))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a per_file.tsv, numbers parsed (empty cells as NaN)."""
    text = ("condition", "label", "excerpt", "visqol_channels", "error")

    def parse(key: str, value: str) -> Any:
        return value if key in text else float(value) if value != "" else math.nan

    with path.open(newline="") as f:
        return [{k: parse(k, v) for k, v in r.items()} for r in csv.DictReader(f, delimiter="\t")]


def write_rows(rows: Iterable[dict[str, Any]], path: Path) -> None:
    """per_file.tsv, replaced atomically (the cache survives an interrupted run)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, FIELDS, delimiter="\t", extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, force=True) as f:
        f.write(text.getvalue().encode())


@dataclasses.dataclass
class Stat:
    """One condition over the excerpts: actual rate, mean ViSQOL and its spread."""

    kbps: float
    visqol: float
    ci95: float
    n: int
    nan: int


def condition_stats(rows: Sequence[dict[str, Any]]) -> dict[str, Stat]:
    stats = {}
    for name in dict.fromkeys(r["condition"] for r in rows):
        mine = [r for r in rows if r["condition"] == name]
        coded = [r for r in mine if not math.isnan(r.get("bytes", math.nan))]
        seconds = sum(r["seconds"] for r in coded)
        kbps = sum(8 * r["bytes"] for r in coded) / seconds / 1000 if seconds else math.nan
        mean, half, valid = mean_ci95([r["visqol"] for r in mine])
        stats[name] = Stat(kbps, mean, half, len(mine), len(mine) - valid)
    return stats


def _v(stat: Stat | None) -> str:
    return "–" if stat is None or math.isnan(stat.visqol) else f"{stat.visqol:.3f}"


def margin_cell(target: Target, stats: dict[str, Stat]) -> tuple[str, float]:
    """MP3 at 1.25× the tier rate: its mean ViSQOL, or the interpolation between the two
    standard rates around it (named in the cell)."""
    got = [stats.get(b.name) for b in target.mp3_margin]
    if not got or any(s is None or math.isnan(s.visqol) for s in got):
        return "–", math.nan
    if len(got) == 1:
        return f"{got[0].visqol:.3f}", got[0].visqol
    r0, r1 = (b.bitrate_kbps for b in target.mp3_margin)
    want = target.kbps * MP3_MARGIN
    value = got[0].visqol + (got[1].visqol - got[0].visqol) * (want - r0) / (r1 - r0)
    return f"{value:.3f} (interp. {r0:g}/{r1:g})", value


def summary_table(targets: Sequence[Target], stats: dict[str, Stat]) -> str:
    """Issue 11's must-show: per tier its actual rate and ViSQOL beside MP3 at 1× and 1.25×
    and Opus at 1×, and whether it reaches MP3 at 1.25×."""
    lines = ["| tier | channels | nominal kbit/s | actual kbit/s | ViSQOL | MP3 @1× | MP3 @1.25× "
             "| Opus @1× | ≥ MP3 @1.25× |", "|" + "---|" * 9]
    for t in targets:
        tier = stats.get(t.tier.name) if t.tier else None
        margin, margin_value = margin_cell(t, stats)
        verdict = "–" if tier is None or math.isnan(margin_value) else (
            "yes" if tier.visqol >= margin_value else f"no ({tier.visqol - margin_value:+.3f})")
        actual = "–" if tier is None else (
            f"{tier.kbps:.1f} ({100 * (tier.kbps / t.kbps - 1):+.1f} %)")
        lines.append(
            f"| {t.tier.label if t.tier else '(no tier yet)'} | {t.channels} | {t.kbps:g} | "
            f"{actual} | {_v(tier)} | {_v(stats.get(t.mp3.name) if t.mp3 else None)} | "
            f"{margin} | "
            f"{_v(stats.get(t.opus.name))} | {verdict} |")
    return "\n".join(lines)


def conditions_table(order: Sequence[str], labels: dict[str, str],
                     stats: dict[str, Stat]) -> str:
    lines = ["| condition | excerpts | actual kbit/s | ViSQOL (mean ± 95 % CI) |",
             "|---|---|---|---|"]
    for name in order:
        s = stats[name]
        ci = "" if math.isnan(s.ci95) else f" ± {s.ci95:.3f}"
        nan = f" ({s.nan} NaN)" if s.nan else ""
        lines.append(f"| {labels[name]} | {s.n} | {s.kbps:.2f} | {s.visqol:.3f}{ci}{nan} |")
    return "\n".join(lines)


def speed_table(speeds: dict[str, dict[str, Any]], labels: dict[str, str]) -> str:
    lines = ["| condition | encode ×RT | decode ×RT | parameters | weights bytes |",
             "|---|---|---|---|---|"]
    for name, sp in speeds.items():
        extra = [f"{sp[k]:,}" if k in sp else "–" for k in ("parameters", "weights_bytes")]
        lines.append(f"| {labels.get(name, name)} | {sp['encode']:.0f} | {sp['decode']:.0f} | "
                     f"{extra[0]} | {extra[1]} |")
    return "\n".join(lines)


def model_size(condition: MusicTier) -> dict[str, int]:
    """Parameters of the model, and the bytes of its weights file."""
    codec = condition.codec()
    params = sum(p.numel() for p in codec.model.parameters())
    if isinstance(condition, Candidate):
        path = condition.weights
    else:
        path = codec.tier.weights_path() if codec.tier.weights else None
    return {"parameters": params, **({"weights_bytes": path.stat().st_size} if path else {})}


def render(rows: Sequence[dict[str, Any]], targets: Sequence[Target],
           speeds: dict[str, dict[str, Any]], info: dict[str, Any]) -> str:
    stats = condition_stats(rows)
    labels = {r["condition"]: r["label"] for r in rows}
    order = list(dict.fromkeys(c.name for t in targets
                               for c in ([t.tier] if t.tier else []) + t.baselines()))
    order += [n for n in stats if n not in order]
    visqol_s = sum(r.get("visqol_s", 0) or 0 for r in rows if not math.isnan(r.get(
        "visqol_s", math.nan)))
    scored_s = sum(r["seconds"] * r["channels"] for r in rows
                   if not math.isnan(r.get("visqol_s", math.nan)))
    lines = [
        "# Music tiers vs MP3 and Opus (44.1 kHz, ViSQOL v3 audio)",
        "",
        f"- Generated: {info['date']} on {info['machine']}",
        f"- Command: `{info['command']}`",
        f"- Data: {info['excerpts']} excerpts ({info['audio_seconds'] / 60:.1f} min) of "
        f"`{info['manifest']}` ({info['tracks']} tracks, sha256 {info['manifest_sha']}…): "
        f"the middle {info['seconds']:g} s of "
        f"each track (whole tracks when shorter; tracks under {MIN_SECONDS:g} s left out).",
        f"- This run: {info['new_pairs']} new condition×excerpt pairs in "
        f"{info['wall_seconds'] / 60:.1f} min on {info['workers']} worker process(es), "
        f"{info['reused']} reused from the cache.",
        f"- ViSQOL runtime: {visqol_s / 60:.1f} min for {scored_s / 60:.1f} min of scored "
        f"channel audio, {visqol_s / scored_s if scored_s else math.nan:.3f} s per second "
        "of one channel (one process, numba-accelerated visqol-python, on a machine whose two "
        "cores a training run shares).",
        "",
        "## Issue 11 must-show",
        "",
        summary_table(targets, stats),
        "",
        "ViSQOL: v3 audio mode MOS-LQO (visqol-python 3.8.0, SVR mapper; 1..5, higher is "
        "better), at 48 kHz (both signals resampled from 44.1 kHz), each channel scored on its "
        "own, mean over channels then over excerpts. Actual kbit/s: coded bytes × 8 / duration, "
        "summed over excerpts (±% against nominal; the goal is within ±5 %). MP3 @1.25×: MPEG-1 "
        "has no 120 or 60 kbit/s rate, so there the mean ViSQOL is interpolated linearly in "
        "kbit/s between the two standard rates around it, both coded; below 32 kbit/s MPEG-1 "
        "has no rate at 44.1 kHz (–). Mono rows: the excerpts' channel mean coded at half the "
        "stereo rate.",
        "",
        "## Every condition",
        "",
        conditions_table(order, labels, stats),
        "",
        "## Speed (one thread, multiples of real time) and model size",
        "",
        f"Measured in the parent process on the first {SPEED_EXCERPTS} excerpts, encode and "
        "decode apart (PyAV codec contexts with thread_count=1; nwcodec with "
        "torch.set_num_threads(1)); the machine's two cores are shared with a training run, so "
        "these are lower bounds. Issue 11 asks ≥ 20× each way for the stereo tiers.",
        "",
        speed_table(speeds, labels),
        "",
        "## Settings",
        "",
        "- MP3: LAME (PyAV libmp3lame) CBR, MPEG-1 Layer III at 44.1 kHz (joint stereo, LAME's "
        "default lowpass for the rate), decoded by PyAV `mp3float`; delay 1105 samples removed. "
        "Bytes: the MP3 frames (headers included, no ID3/Xing tag).",
        "- Opus: libopus through PyAV, input resampled 44.1 → 48 kHz, `application=audio`, "
        "constrained VBR, 20 ms frames, decoded at 48 kHz and resampled back. Bytes: the raw "
        "Opus packets; an Ogg Opus file adds about 1 lacing byte per packet and a 27-byte page "
        "header per page (≈ 0.5 kbit/s, under 1 % at these rates).",
        "- nwcodec: the whole .nwc stream (header and chunk framing included).",
        "- Per-excerpt rows: `music/per_file.tsv` (also the cache of the next run); speeds: "
        "`music/speed.json`.",
        "",
    ]
    return "\n".join(lines)


def targets_for(tiers: Sequence[MusicTier], channel_modes: Sequence[int]) -> list[Target]:
    """A summary row per tier (at its nominal rate) or, without tiers, per issue 11 rate."""
    if tiers:
        return [Target(t.nominal_kbps(), t.channels, t) for t in tiers]
    return [Target(k * ch / 2, ch) for ch in channel_modes for k in STEREO_KBPS]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.music_eval",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", type=Path, default=data_dir() / "music" / "val.tsv")
    ap.add_argument("--seconds", type=float, default=10.0, help="excerpt length per track")
    ap.add_argument("--channels", choices=("stereo", "mono", "both"), default="both")
    ap.add_argument("--tiers", default="", help="comma-separated registered music tiers")
    ap.add_argument("--weights", type=Path, help="an unregistered cascade weights file")
    ap.add_argument("--layers", default="", help="with --weights: layer counts, e.g. 1,2,3")
    ap.add_argument("--kbps", default="", help="with --weights: nominal stereo kbit/s per "
                    "layer count, e.g. 64,96,128")
    ap.add_argument("--tier", help="with --weights: registered tier whose id and chunking the "
                    "candidate borrows (default: the test tier's id)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "music")
    ap.add_argument("--report", type=Path, default=HERE / "REPORT_music.md")
    ap.add_argument("--fresh", action="store_true", help="ignore the cached rows in OUT")
    a = ap.parse_args(argv)
    modes = {"stereo": [2], "mono": [1], "both": [2, 1]}[a.channels]
    try:
        tiers: list[MusicTier] = [MusicTier(t, ch) for t in filter(None, a.tiers.split(","))
                                  for ch in modes]
        if a.weights:
            layers = [int(v) for v in a.layers.split(",") if v]
            kbps = [float(v) for v in a.kbps.split(",") if v]
            if not layers or len(layers) != len(kbps):
                ap.error("--weights needs --layers and --kbps of the same length")
            tiers += [Candidate(a.weights, k, r, ch, a.tier) for ch in modes
                      for k, r in zip(layers, kbps, strict=True)]
        excerpts = select_excerpts(a.tsv, a.seconds)
        targets = targets_for(tiers, modes)
        conditions = list({c.name: c for t in targets
                           for c in ([t.tier] if t.tier else []) + t.baselines()}.values())
    except (OSError, ValueError) as e:
        sys.exit(f"music_eval: {e}")
    if not excerpts:
        sys.exit(f"music_eval: no track of {a.tsv} is at least {MIN_SECONDS:g} s long")
    for cls in (Mp3, Opus):
        ok, reason = cls.available()
        if not ok:
            sys.exit(f"music_eval: baseline {cls.family} unavailable: {reason}")

    cache_path = a.out / "per_file.tsv"
    cached = [] if a.fresh or not cache_path.is_file() else read_rows(cache_path)
    wanted = {(c.name, e.name, e.start, e.frames) for c in conditions for e in excerpts}
    kept = {_key(r): r for r in cached if not math.isnan(r["visqol"])}
    todo = [(c, e) for c in conditions for e in excerpts
            if (c.name, e.name, e.start, e.frames) not in kept]

    single_thread()
    speed_path = a.out / "speed.json"
    speeds = {} if a.fresh or not speed_path.is_file() else json.loads(speed_path.read_text())
    for c in dict.fromkeys(c for c, _ in todo):
        probe = [e.read(getattr(c, "channels", 1)) for e in excerpts[:SPEED_EXCERPTS]]
        codec_speed(c, probe[:1], MUSIC_RATE)  # warm-up: codec set-up, imports, caches
        speeds[c.name] = codec_speed(c, probe, MUSIC_RATE)
        if isinstance(c, MusicTier):
            speeds[c.name].update(model_size(c))

    started = time.perf_counter()
    new: list[dict[str, Any]] = []
    for c in dict.fromkeys(c for c, _ in todo):  # condition by condition: a crash loses little
        mine = [e for cc, e in todo if cc is c]
        new += run(mine, [c], workers=a.workers, score=score_excerpt)
        rows = sorted([*kept.values(), *new], key=lambda r: (r["condition"], r["excerpt"]))
        write_rows(rows, cache_path)
        print(f"{c.name}: {len(mine)} excerpts, "
              f"{(time.perf_counter() - started) / 60:.1f} min so far", file=sys.stderr,
              flush=True)
    wall = time.perf_counter() - started
    speed_path.write_text(json.dumps(speeds, indent=1) + "\n")

    rows = [r for r in read_rows(cache_path) if _key(r) in wanted]
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "command": shlex.join(["python", "-m", "eval.music_eval",
                               *(sys.argv[1:] if argv is None else argv)]),
        "excerpts": len(excerpts),
        "audio_seconds": sum(e.frames for e in excerpts) / MUSIC_RATE,
        "manifest": a.tsv,
        "tracks": len(read_manifest(a.tsv)),
        "manifest_sha": hashlib.sha256(a.tsv.read_bytes()).hexdigest()[:16],
        "seconds": a.seconds,
        "new_pairs": len(new),
        "reused": len(rows) - len(new),
        "workers": a.workers,
        "wall_seconds": wall,
    }
    report = render(rows, targets, {k: v for k, v in speeds.items()
                                    if k in {c.name for c in conditions}}, info)
    a.report.write_text(report)
    print(summary_table(targets, condition_stats(rows)))
    print(f"wrote {a.report}", file=sys.stderr)


if __name__ == "__main__":
    main()
