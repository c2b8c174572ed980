"""The music corpus: 44.1 kHz stereo FLAC tracks from Debian packages and seeded songs,
split by track into train and validation manifests.

    python -m nwcodec.corpus_music [--out DIR] [--sources wesnoth,openmsx,generated]
        [--generated N] [--val-fraction 0.15]

Sources: the Wesnoth soundtrack (Ogg Vorbis, decoded), the OpenMSX MIDI music and songs from
:mod:`nwcodec.midi` (rendered with fluidsynth and the FluidR3 GM SoundFont). DIR (default:
``music`` in :func:`nwcodec.corpus.data_dir`) receives ``SOURCE/TRACK.flac``, ``train.tsv``
and ``val.tsv`` (columns: path, source, licence, seconds; read by
:func:`nwcodec.corpus.read_manifest`) and a README with the licences and the counts. Whole
tracks go to validation (never trained on), chosen per source by a hash of the track's name.
A rerun skips the tracks already built; the manifests and README are rewritten. Changing
``--generated`` or ``--val-fraction`` changes the split: keep them for a whole campaign.

Planet Blupi's MIDI music (Debian's planetblupi-music-midi) is left out: its ten files are
2-3 minute loops repeated to 10-29 minutes (163 minutes in all).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from nwcodec.audio import write_audio
from nwcodec.corpus import data_dir
from nwcodec.errors import NwcodecError
from nwcodec.files import atomic_output
from nwcodec.midi import song_bytes

SAMPLE_RATE = 44100
CHANNELS = 2
PEAK = 10 ** (-1 / 20)
"""Rendered tracks are scaled to this peak (-1 dBFS); decoded ones only down to it, when
their peak is higher (decoded Vorbis overshoots full scale)."""
SILENT_DB = -60.0
"""Tracks quieter than this (RMS, dBFS) are left out (Wesnoth's ``silence.ogg``)."""
VAL_TOLERANCE = 1.2
"""A group joins validation only if the source's validation share stays within this factor
of ``val_fraction``."""
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
GENERATED_SECONDS = (45.0, 120.0)
"""Length range of the generated songs (uniform, seeded by the song's number)."""

# A Debian package and what shows it is installed: a command on PATH or a path.
PROBES: dict[str, str] = {
    "wesnoth-1.16-music": "/usr/share/games/wesnoth/1.16/data/core/music",
    "openttd-openmsx": "/usr/share/games/openttd/baseset/openmsx",
    "fluidsynth": "fluidsynth",
    "fluid-soundfont-gm": str(SOUNDFONT),
}
RENDERING = ("fluidsynth", "fluid-soundfont-gm")


class MissingPackageError(NwcodecError):
    """A Debian package a source needs is not installed."""


@dataclass(frozen=True)
class Source:
    """Where tracks come from: ``glob`` in its package's folder (decoded or rendered), or
    seeded songs (``glob`` None)."""

    name: str
    packages: tuple[str, ...]
    licence: str
    about: str
    glob: str | None = None

    def inputs(self, generated: int) -> list[tuple[str, Path | int]]:
        """(track name, file or seed) of every track, sorted by name."""
        if self.glob is None:
            return [(f"song{k:03d}", k) for k in range(generated)]
        folder = Path(PROBES[self.packages[0]])
        return sorted((p.stem, p) for p in folder.glob(self.glob))

    @property
    def rendered(self) -> bool:
        return "fluidsynth" in self.packages


SOURCES = {
    s.name: s
    for s in (
        Source(
            "wesnoth", ("wesnoth-1.16-music",), "GPL-2.0-or-later",
            "Battle for Wesnoth 1.16 soundtrack (orchestral), Ogg Vorbis decoded: a lossy "
            "source, little above 16-18 kHz; copyright: "
            "/usr/share/doc/wesnoth-1.16-music/copyright",
            "*.ogg",
        ),
        Source(
            "openmsx", ("openttd-openmsx",) + RENDERING, "GPL-2.0-only",
            "OpenMSX, the OpenTTD music set (MIDI, jazz, blues, ragtime, pop), rendered; "
            "copyright: /usr/share/doc/openttd-openmsx/copyright",
            "*.mid",
        ),
        Source(
            "generated", RENDERING, "Apache-2.0",
            "songs composed by nwcodec.midi from the seeds 0..N-1 (chords, bass, melody, "
            "drums over General MIDI programs, some hard-panned), rendered",
        ),
    )
}


@dataclass(frozen=True)
class Track:
    source: str
    name: str
    seconds: float

    @property
    def path(self) -> str:
        """The FLAC file, relative to the corpus folder."""
        return f"{self.source}/{self.name}.flac"


def missing_packages(sources: Iterable[Source]) -> list[str]:
    """The Debian packages the sources need that are not installed, in order."""
    needed = dict.fromkeys(p for s in sources for p in s.packages)
    return [
        p for p in needed
        if not (Path(PROBES[p]).exists() if "/" in PROBES[p] else shutil.which(PROBES[p]))
    ]


def check_packages(sources: Iterable[Source]) -> None:
    """Raise :class:`MissingPackageError` (one line, with the apt-get command) if any
    package is missing."""
    missing = missing_packages(sources)
    if missing:
        names = " ".join(missing)
        raise MissingPackageError(
            f"missing Debian package(s) {', '.join(missing)}; install with: "
            f"apt-get install -y --no-install-recommends {names}"
        )


def group_of(name: str) -> str:
    """Tracks of one group share a split: a ``-old`` version and a numbered variant
    (``frantic-old``, ``victory2``) go with their base name."""
    return re.sub(r"(-old|(?<=[a-z])\d)$", "", name)


def _rank(source: str, group: str) -> str:
    return hashlib.sha256(f"{source}/{group}".encode()).hexdigest()


def split(tracks: Sequence[Track], val_fraction: float) -> tuple[list[Track], list[Track]]:
    """(train, val), each sorted by path. Per source, groups are taken in the order of a hash
    of their names into validation while its share of the source's seconds stays within
    :data:`VAL_TOLERANCE` of ``val_fraction``, until it reaches ``val_fraction``."""
    val_groups: set[tuple[str, str]] = set()
    for source in sorted({t.source for t in tracks}):
        seconds: dict[str, float] = {}
        for t in tracks:
            if t.source == source:
                seconds[group_of(t.name)] = seconds.get(group_of(t.name), 0.0) + t.seconds
        target, taken = val_fraction * sum(seconds.values()), 0.0
        for group in sorted(seconds, key=lambda g: _rank(source, g)):
            if taken >= target:
                break
            if taken + seconds[group] <= VAL_TOLERANCE * target:
                val_groups.add((source, group))
                taken += seconds[group]
    ordered = sorted(tracks, key=lambda t: t.path)
    is_val = [(t.source, group_of(t.name)) in val_groups for t in ordered]
    return ([t for t, v in zip(ordered, is_val, strict=True) if not v],
            [t for t, v in zip(ordered, is_val, strict=True) if v])


MANIFEST_HEADER = ("path", "source", "licence", "seconds")


def manifest_text(tracks: Iterable[Track]) -> str:
    rows = ["\t".join(MANIFEST_HEADER)] + [
        f"{t.path}\t{t.source}\t{SOURCES[t.source].licence}\t{t.seconds:.3f}" for t in tracks
    ]
    return "\n".join(rows) + "\n"


def fit_peak(audio: np.ndarray, boost: bool) -> np.ndarray:
    """Scale to a :data:`PEAK` peak: down if louder, up too if ``boost``."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0 or (peak <= PEAK and not boost):
        return audio
    return (audio * (PEAK / peak)).astype(np.float32)


def render(midi: Path) -> np.ndarray:
    """A MIDI file rendered by fluidsynth with the FluidR3 GM SoundFont (its default reverb
    and chorus), float32 (samples, 2) at 44.1 kHz."""
    with tempfile.TemporaryDirectory(prefix="nwc-music-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["fluidsynth", "-q", "-n", "-i", "-F", str(wav), "-r", str(SAMPLE_RATE),
               "-O", "float", "-T", "wav", str(SOUNDFONT), str(midi)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not wav.exists():
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise NwcodecError(f"fluidsynth failed on {midi}: {why}")
        audio, _ = sf.read(wav, dtype="float32", always_2d=True)
    return audio


def decode(path: Path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE or audio.shape[1] != CHANNELS:
        raise NwcodecError(f"{path}: {sr} Hz, {audio.shape[1]} channel(s); 44.1 kHz stereo "
                           "expected")
    return audio


def make_track(source: Source, item: Path | int) -> np.ndarray:
    """The track's audio, float32 (samples, 2), peak-fitted."""
    if source.glob is None:
        seed = int(item)
        lo, hi = GENERATED_SECONDS
        seconds = random.Random(f"length-{seed}").uniform(lo, hi)
        with tempfile.TemporaryDirectory(prefix="nwc-midi-") as tmp:
            midi = Path(tmp) / "song.mid"
            midi.write_bytes(song_bytes(seed, seconds))
            return fit_peak(render(midi), boost=True)
    if source.rendered:
        return fit_peak(render(Path(item)), boost=True)
    return fit_peak(decode(Path(item)), boost=False)


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64)) + 1e-20))


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions by dpkg-query ("?" where it cannot tell)."""
    out = dict.fromkeys(packages, "?")
    if not shutil.which("dpkg-query"):
        return out
    for p in out:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p],
                              capture_output=True, text=True)
        if done.returncode == 0 and done.stdout:
            out[p] = done.stdout.strip()
    return out


def readme_text(train: Sequence[Track], val: Sequence[Track], sources: Sequence[Source],
                generated: int, val_fraction: float, versions: dict[str, str]) -> str:
    lines = [
        "# Music corpus (nwcodec): 44.1 kHz stereo FLAC, 16-bit",
        "",
        "Built by `python -m nwcodec.corpus_music` (see nwcodec's README, \"Music corpus\"); "
        f"generated songs: {generated}; validation fraction: {val_fraction}. Deterministic: "
        "the same packages give the same files. `train.tsv` and `val.tsv` list path "
        "(relative to this folder), source, licence, seconds. Validation holds whole tracks "
        "(a track's `-old` or numbered variant with it), never trained on.",
        "",
        "| source | split | tracks | minutes |",
        "|---|---|---|---|",
    ]
    for s in sources:
        for name, part in (("train", train), ("val", val)):
            mine = [t for t in part if t.source == s.name]
            lines.append(f"| {s.name} | {name} | {len(mine)} | "
                         f"{sum(t.seconds for t in mine) / 60:.1f} |")
    total = [*train, *val]
    lines += [
        f"| all | both | {len(total)} | {sum(t.seconds for t in total) / 60:.1f} |",
        "",
        "## Sources and licences",
        "",
    ]
    lines += [f"- **{s.name}** ({s.licence}): {s.about}." for s in sources]
    if any(s.rendered for s in sources):
        lines += [
            "- Rendering: fluidsynth (LGPL-2.1-or-later) with the Fluid (R3) General MIDI "
            "SoundFont, MIT licence (Frank Wen; /usr/share/doc/fluid-soundfont-gm/copyright). "
            "A rendered track carries its MIDI's licence; the SoundFont's samples are MIT.",
        ]
    lines += [
        "",
        "Levels: rendered tracks are scaled to a -1 dBFS peak; decoded tracks are kept as "
        "decoded, scaled down to -1 dBFS only where the decoded Vorbis overshoots it. Tracks "
        f"quieter than {SILENT_DB:.0f} dBFS RMS are left out.",
        "",
        "## Package versions",
        "",
    ]
    lines += [f"- {p} {v}" for p, v in versions.items()]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path, force=True) as handle:
        handle.write(text.encode())


def build(out: Path, sources: Sequence[Source], generated: int, val_fraction: float,
          log: Callable[[str], None] = print) -> tuple[list[Track], list[Track]]:
    """Build the missing tracks, then write the manifests and README; (train, val)."""
    check_packages(sources)
    out.mkdir(parents=True, exist_ok=True)
    items = [(s, name, item) for s in sources for name, item in s.inputs(generated)]
    tracks = []
    for k, (source, name, item) in enumerate(items, 1):
        target = out / source.name / f"{name}.flac"
        if not target.exists():
            audio = make_track(source, item)
            if rms_db(audio) < SILENT_DB:
                log(f"[{k}/{len(items)}] {source.name}/{name}: silent, left out")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_audio(target, audio, SAMPLE_RATE)
            log(f"[{k}/{len(items)}] {source.name}/{name}.flac {len(audio) / SAMPLE_RATE:.1f} s")
        info = sf.info(str(target))
        tracks.append(Track(source.name, name, info.frames / info.samplerate))
    train, val = split(tracks, val_fraction)
    _write_text(out / "train.tsv", manifest_text(train))
    _write_text(out / "val.tsv", manifest_text(val))
    versions = package_versions(dict.fromkeys(p for s in sources for p in s.packages))
    _write_text(out / "README.md",
                readme_text(train, val, sources, generated, val_fraction, versions))
    return train, val


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m nwcodec.corpus_music",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="corpus folder (default: DATA/music, DATA from "
                    "$NWC_DATA or ../shared/data)")
    ap.add_argument("--sources", default=",".join(SOURCES),
                    help=f"comma-separated, from {', '.join(SOURCES)}")
    ap.add_argument("--generated", type=int, default=48, help="number of generated songs")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    a = ap.parse_args(argv)
    out = a.out or data_dir() / "music"
    try:
        unknown = [s for s in a.sources.split(",") if s not in SOURCES]
        if unknown:
            raise NwcodecError(f"unknown source(s) {', '.join(unknown)}; "
                               f"choose from {', '.join(SOURCES)}")
        if not 0 < a.val_fraction < 1:
            raise NwcodecError("--val-fraction must be between 0 and 1")
        start = time.monotonic()
        train, val = build(out, [SOURCES[s] for s in a.sources.split(",")], a.generated,
                           a.val_fraction, log=lambda m: print(m, file=sys.stderr, flush=True))
    except NwcodecError as exc:
        sys.exit(f"error: {exc}")
    except OSError as exc:
        sys.exit(f"error: {exc.filename}: {exc.strerror}")
    hours = [sum(t.seconds for t in part) / 3600 for part in (train, val)]
    print(f"{out}: train {len(train)} tracks {hours[0]:.2f} h, val {len(val)} tracks "
          f"{hours[1]:.2f} h ({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
