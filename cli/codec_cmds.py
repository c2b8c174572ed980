"""``nwc encode``, ``nwc decode`` and ``nwc tiers``."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from cli.common import open_input, open_output
from nwcodec.errors import NwcodecError
from nwcodec.limits import AUDIO_SUFFIXES, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from nwcodec.zoo import all_tiers, default_tier, nearest_tier

# numpy, soundfile and torch come with nwcodec.audio / nwcodec.codec, imported inside the
# commands that code audio so that `nwc --help` and `nwc tiers` start fast.


def _pick_tier(tier: str | None, bitrate: float | None) -> str | int:
    if tier and bitrate:
        raise click.UsageError("give --tier or --bitrate, not both")
    if bitrate:
        return nearest_tier(bitrate).id
    return tier or default_tier().id


def _pairs(src: str, dst: str, suffixes: set[str], new_suffix: str) -> list[tuple[str, str]]:
    """(input, output) pairs: one file, or a directory tree mirrored into ``dst``."""
    if src != "-" and os.path.isdir(src):
        if dst == "-":
            raise NwcodecError("a directory cannot be written to stdout")
        files = sorted(p for p in Path(src).rglob("*") if p.suffix.lower() in suffixes)
        if not files:
            raise NwcodecError(f"no {'/'.join(sorted(suffixes))} files under {src}")
        out = []
        for f in files:
            target = Path(dst) / f.relative_to(src).with_suffix(new_suffix)
            out.append((str(f), str(target)))
        return out
    return [(src, dst)]


@contextlib.contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    if quiet or not sys.stderr.isatty():
        yield lambda n: None
        return
    with click.progressbar(length=max(total, 1), label=label, file=sys.stderr) as bar:
        yield bar.update


def _seconds(path: str) -> int:
    import soundfile as sf

    try:
        info = sf.info(path)
        return int(info.frames)
    except (sf.LibsndfileError, RuntimeError):
        return 0


@click.command()
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("--tier", "-t", help="Tier name or id (see `nwc tiers`).")
@click.option("--bitrate", "-b", type=click.FloatRange(min=0, min_open=True),
              help="Target kbit/s: picks the shipped tier nearest to it.")
@click.option("--layers", "-l", type=click.IntRange(min=1), help="Write only the first N layers.")
@click.option("--force", "-f", is_flag=True, help="Overwrite existing outputs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary output.")
@click.option("--verbose", "-v", is_flag=True, help="Print a line per file with size and bitrate.")
def encode(src: str, dst: str, tier: str | None, bitrate: float | None, layers: int | None,
           force: bool, quiet: bool, verbose: bool) -> None:
    """Encode audio IN (file, directory or '-') to .nwc OUT (file, directory or '-')."""
    import soundfile as sf

    from nwcodec.audio import read_audio
    from nwcodec.codec import Codec

    codec = Codec.load(_pick_tier(tier, bitrate))
    pairs = _pairs(src, dst, AUDIO_SUFFIXES, ".nwc")
    batch = len(pairs) > 1
    for i, (inp, out) in enumerate(pairs):
        if batch:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
        if inp == "-":
            audio, sr = read_audio(sys.stdin.buffer)
            with open_output(out, force) as handle:
                handle.write(codec.encode(audio, sr, layers))
            continue
        label = f"[{i + 1}/{len(pairs)}] {inp}" if batch else inp
        with _progress(_seconds(inp), label, quiet) as update, open_output(out, force) as handle:
            codec.encode_file(inp, handle, layers, update)
        if verbose and out != "-":
            size = os.path.getsize(out)
            dur = _seconds(inp) / max(sf.info(inp).samplerate, 1)
            kbps = size * 8 / dur / 1000 if dur else 0.0
            click.echo(f"{inp} -> {out}: {size} bytes, {kbps:.2f} kbit/s", err=True)


@click.command()
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("--layers", "-l", type=click.IntRange(min=1), help="Decode only the first N layers.")
@click.option("--sample-rate", "-r", type=click.IntRange(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
              help="Output rate (default: the encoder input's original rate).")
@click.option("--conceal", is_flag=True, help="Silence chunks with a bad CRC instead of failing.")
@click.option("--force", "-f", is_flag=True, help="Overwrite existing outputs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def decode(src: str, dst: str, layers: int | None, sample_rate: int | None, conceal: bool,
           force: bool, quiet: bool) -> None:
    """Decode .nwc IN (file, directory or '-') to audio OUT (.wav/.flac, directory or '-')."""
    from nwcodec.audio import write_audio
    from nwcodec.codec import Codec

    pairs = _pairs(src, dst, {".nwc"}, ".wav")
    batch = len(pairs) > 1
    for i, (inp, out) in enumerate(pairs):
        if batch:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open_input(inp) as handle:
            data = handle.read()
        codec = Codec.for_stream(data)
        if out == "-":
            audio, sr = codec.decode(data, layers, sample_rate, conceal)
            buf = io.BytesIO()
            write_audio(buf, audio, sr)
            sys.stdout.buffer.write(buf.getvalue())
            sys.stdout.buffer.flush()
            continue
        label = f"[{i + 1}/{len(pairs)}] {inp}" if batch else inp
        with _progress(0, label, quiet or not batch) as update:
            codec.decode_to_file(io.BytesIO(data), out, layers, sample_rate, conceal, force, update)


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include test and retired tiers.")
def tiers(show_all: bool) -> None:
    """List the tiers: id, name, rate, bitrate, layers, delay, quality (from the registry;
    `nwc bench` gives speed, memory and parameters)."""
    rows = all_tiers(include_test=show_all)
    if not rows:
        click.echo("no trained tier is shipped yet (see `nwc tiers --all` for the test tier)")
        return
    default = default_tier().id if all_tiers() else None
    click.echo(f"{'id':>4}  {'name':<16} {'rate':>6} {'kbit/s':>7} {'layers':>6} "
               f"{'delay ms':>8}  quality / note")
    for t in rows:
        name = t.name + (" *" if t.id == default else "")
        click.echo(f"{t.id:>4}  {name:<16} {t.sample_rate:>6} {t.nominal_kbps:>7.2f} "
                   f"{t.layers:>6} {t.delay_ms:>8.1f}  {t.quality or t.description}")
    if default is not None:
        click.echo("* the default tier (encode without --tier or --bitrate)")
