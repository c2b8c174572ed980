"""``nwc encode``, ``nwc decode`` and ``nwc tiers``.

Only click and light modules load at start-up; numpy, soundfile and torch come with
nwcodec.audio / nwcodec.codec, imported inside the functions that code audio, so that
``nwc --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from cli.common import input_ids, open_input, open_output
from nwcodec.errors import NwcodecError
from nwcodec.limits import AUDIO_SUFFIXES, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from nwcodec.zoo import all_tiers, default_tier, nearest_tier

if TYPE_CHECKING:
    from nwcodec.codec import Codec

NWC_SUFFIX = ".nwc"

OUTPUT_RULES = """
IN and OUT: a directory IN needs a directory OUT (created if missing), which mirrors IN's
tree; a file IN (or '-', stdin) needs a file OUT (or '-', stdout). {kind} An output is never
written over an input, even with --force, and without --force an existing output is never
replaced, even by a concurrent run.

Directory mode codes --jobs files at once (default: one per CPU core; the outputs are the
same bytes as with -j 1). --shard K/N takes every N-th file of the sorted list, starting
with the K-th, so that N machines or array jobs (K = 1..N) split a tree without overlap.
"""

LAYERS_RULE = "Must be 1 .. the layers {what} has: more is an error."


def _shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        k, n = (int(v) for v in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not K/N (e.g. 2/8)") from None
    if not 1 <= k <= n:
        raise click.BadParameter(f"{value}: K must be 1..N (with a 0-based index i use i+1/N)")
    return k, n


def _jobs(value: int | None) -> int:
    if value is not None:
        return value
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _batch_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--shard", metavar="K/N", callback=lambda c, p, v: _shard(v),
                     help="Directory mode: code only shard K of N (1-based).")(f)
    return click.option("--jobs", "-j", type=click.IntRange(min=1), callback=lambda c, p, v:
                        _jobs(v), help="Directory mode: files coded at once "
                        "[default: CPU cores].")(f)


def _pairs(src: str, dst: str, decoding: bool, shard: tuple[int, int] | None
           ) -> tuple[list[tuple[str, str]], bool]:
    """(input, output) pairs and whether IN is a directory; enforces OUTPUT_RULES."""
    in_suffixes = {NWC_SUFFIX} if decoding else AUDIO_SUFFIXES
    out_suffix = ".wav" if decoding else NWC_SUFFIX
    if src != "-" and os.path.isdir(src):
        files = sorted(p for p in Path(src).rglob("*")
                       if p.suffix.lower() in in_suffixes and p.is_file())
        if not files:
            raise NwcodecError(f"no {'/'.join(sorted(in_suffixes))} files under {src}")
        if dst == "-":
            raise NwcodecError("a directory cannot be written to stdout: give a directory OUT")
        if Path(dst).suffix.lower() in AUDIO_SUFFIXES | {NWC_SUFFIX}:
            raise NwcodecError(f"IN {src} is a directory, so OUT must be a directory, "
                               f"not {dst}")
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise NwcodecError(f"{dst} exists and is not a directory; IN {src} is a directory")
        if shard:
            files = files[shard[0] - 1 :: shard[1]]
        return [(str(f), str(Path(dst) / f.relative_to(src).with_suffix(out_suffix)))
                for f in files], True
    if shard:
        raise click.UsageError("--shard needs a directory IN")
    if dst != "-":
        _check_file_output(dst, decoding)
    return [(src, dst)], False


def _check_file_output(dst: str, decoding: bool) -> None:
    suffix = Path(dst).suffix.lower()
    if os.path.isdir(dst):
        raise NwcodecError(f"OUT {dst} is a directory, but IN is a file: give a file name")
    if decoding and suffix in ("", NWC_SUFFIX):
        raise NwcodecError(f"decode writes audio; end OUT {dst} in .wav, .flac, .ogg or .mp3")
    if not decoding and suffix != NWC_SUFFIX:
        raise NwcodecError(f"encode writes .nwc; end OUT {dst} in .nwc, not "
                           f"'{suffix or '(none)'}'")


@dataclass
class Result:
    """What one coded file reports for the summary line."""

    inp: str
    out: str
    tier: str
    seconds: float
    nwc_bytes: int
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        kbps = self.nwc_bytes * 8 / self.seconds / 1000 if self.seconds else 0.0
        return (f"{self.inp} -> {self.out}: {self.tier}, {self.seconds:.2f} s, "
                f"{kbps:.2f} kbit/s ({self.nwc_bytes} bytes)")


class _Counted:
    """A binary writer that counts what passes through."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.count = handle, 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return self.handle.write(data)


@functools.cache
def _codec(tier: str | int) -> Codec:
    from nwcodec.codec import Codec

    return Codec.load(tier)


def _encode_one(inp: str, out: str, tier: str | int, layers: int | None, force: bool,
                protect: set[tuple[int, int]], progress: Callable[[int], None] | None = None
                ) -> Result:
    codec = _codec(tier)
    with open_output(out, force, protect) as handle:
        counted = _Counted(handle)
        if inp == "-":
            from nwcodec.audio import read_audio

            audio, sr = read_audio(sys.stdin.buffer)
            counted.write(codec.encode(audio, sr, layers))
            seconds = audio.shape[0] / sr
        else:
            import soundfile as sf

            codec.encode_file(inp, counted, layers, progress)
            info = sf.info(inp)
            seconds = info.frames / info.samplerate
    return Result(inp, out, codec.tier.name, seconds, counted.count)


def _decode_one(inp: str, out: str, layers: int | None, sample_rate: int | None,
                conceal: bool, force: bool, protect: set[tuple[int, int]],
                progress: Callable[[int], None] | None = None) -> Result:
    from nwcodec.bitstream import BitstreamError, BitstreamReader, NotNwcError

    with open_input(inp) as handle:
        try:
            reader = BitstreamReader(handle, on_damage="conceal" if conceal else "raise")
        except NotNwcError:
            if _looks_like_audio(inp):
                name = Path(inp).with_suffix(NWC_SUFFIX).name
                raise NwcodecError(
                    f"{inp} is not an .nwc file but audio: to encode it, run `nwc encode "
                    f"{inp} {'OUT.nwc' if inp.endswith(NWC_SUFFIX) else name}`"
                ) from None
            raise
        codec = _codec(reader.header.tier_id)
        codec.open_stream(reader)
        try:
            if out == "-":
                _decode_to_stdout(codec, reader, layers, sample_rate)
            else:
                codec.decode_to_file(reader, out, layers, sample_rate, force=force,
                                     progress=progress)
        except BitstreamError as exc:
            hint = "" if conceal else "; `nwc decode --conceal` decodes what is recoverable"
            raise NwcodecError(f"{exc}{hint}") from None
    h = reader.header
    return Result(inp, out, codec.tier.name, h.original_samples / h.original_sample_rate,
                  reader.offset, reader.damage)


def _decode_to_stdout(codec: Codec, reader: Any, layers: int | None,
                      sample_rate: int | None) -> None:
    """A WAV on stdout needs its length up front: decode whole, then write."""
    from nwcodec.audio import write_audio

    audio, sr = codec.decode(reader, layers, sample_rate)
    buf = io.BytesIO()
    write_audio(buf, audio, sr)
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.buffer.flush()


def _looks_like_audio(path: str) -> bool:
    if Path(path).suffix.lower() in AUDIO_SUFFIXES:
        return True
    if path == "-" or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(4)
    return head in (b"RIFF", b"fLaC", b"OggS", b"FORM", b".snd") or head[:3] == b"ID3"


@contextlib.contextmanager
def _progress(path: str, show: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr over ``path``'s samples, if shown and the length is known."""
    total = 0
    if show and path != "-":
        import soundfile as sf

        with contextlib.suppress(sf.LibsndfileError, RuntimeError):
            total = sf.info(path).frames
    if not total:
        yield None
        return
    with click.progressbar(length=total, label=path, file=sys.stderr) as bar:
        yield bar.update


_busy = False  # in a worker: whether a task is running


def _worker_signal(signum: int, frame: object) -> None:
    from cli.common import Terminated

    if _busy:
        raise Terminated(signum)  # unwinds the task, removing its temporary file
    os._exit(128 + signum)


def _worker_init() -> None:
    """A worker: SIGINT is left to the parent (which then stops the pool with SIGTERM)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _worker_signal)
    import torch

    torch.set_num_threads(1)  # the jobs share the cores (see _run)


def _call(task: tuple[Callable[..., Result], tuple[Any, ...]]) -> Result:
    """Run one task in a worker; a termination signal ends the worker without a traceback."""
    from cli.common import Terminated

    global _busy
    fn, args = task
    _busy = True
    try:
        return fn(*args)
    except Terminated as exc:
        os._exit(128 + exc.signum)
    finally:
        _busy = False


def _run(fn: Callable[..., Result], pairs: list[tuple[str, str]], args: tuple[Any, ...],
         batch: bool, jobs: int, quiet: bool, verbose: bool) -> None:
    """Code every pair, ``jobs`` at a time in directory mode, printing one line per file
    (in input order) on a terminal or with --verbose, unless --quiet."""
    say = not quiet and (verbose or sys.stderr.isatty())
    if not pairs:  # a shard can be empty when a tree has fewer files than shards
        if not quiet:
            click.echo("nwc: this shard holds none of the files; nothing to do", err=True)
        return
    protect = input_ids(inp for inp, _ in pairs)
    for _, out in pairs:
        if batch:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
    tasks = [(fn, (inp, out, *args, protect)) for inp, out in pairs]

    def report(result: Result) -> None:
        for note in result.notes:
            click.echo(f"nwc: {result.inp}: {note}", err=True)
        if say:
            click.echo(result.line(), err=True)

    if jobs == 1 or len(tasks) == 1:
        from nwcodec.bench import one_thread

        # directory mode codes files in parallel, not one file on several threads (torch's
        # pool would only contend with the other jobs); the bytes do not depend on it
        with one_thread() if batch else contextlib.nullcontext():
            for task_fn, task_args in tasks:
                inp = task_args[0]
                show = not quiet and not batch and sys.stderr.isatty()
                with _progress(inp, show) as update:
                    report(_labelled(batch, inp, task_fn, *task_args, update))
        return
    pool = multiprocessing.get_context().Pool(min(jobs, len(tasks)), _worker_init)
    results = pool.imap(_call, tasks)
    try:
        for _, (inp, *_rest) in tasks:
            report(_labelled(True, inp, next, results))
    except BaseException:  # an error or a signal: stop the other files (temp files go too)
        pool.terminate()
        raise
    finally:
        pool.close()
        pool.join()


def _labelled(batch: bool, inp: str, fn: Callable[..., Result], *args: Any) -> Result:
    """``fn(*args)``, its errors prefixed with the input in directory mode."""
    try:
        return fn(*args)
    except NwcodecError as exc:
        if batch:
            raise NwcodecError(f"{inp}: {exc}") from None
        raise


@click.command(epilog=OUTPUT_RULES.format(kind="A file OUT ends in .nwc."))
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("--tier", "-t", help="Tier name or id (see `nwc tiers`).")
@click.option("--bitrate", "-b", type=click.FloatRange(min=0, min_open=True),
              help="Target kbit/s: picks the shipped tier nearest to it (and says which).")
@click.option("--layers", "-l", type=click.IntRange(min=1),
              help="Write only the first N layers. " + LAYERS_RULE.format(what="the tier"))
@click.option("--force", "-f", is_flag=True, help="Replace existing outputs (never an input).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no summary lines.")
@click.option("--verbose", "-v", is_flag=True,
              help="Summary lines even when stderr is not a terminal.")
@_batch_options
def encode(src: str, dst: str, tier: str | None, bitrate: float | None, layers: int | None,
           force: bool, quiet: bool, verbose: bool, jobs: int,
           shard: tuple[int, int] | None) -> None:
    """Encode audio IN to .nwc OUT. On a terminal, prints one line per file: input ->
    output, tier, duration, kbit/s."""
    pairs, batch = _pairs(src, dst, decoding=False, shard=shard)
    chosen = _pick_tier(tier, bitrate, quiet)
    _codec(chosen)  # an unknown tier fails once, before any work
    _run(_encode_one, pairs, (chosen, layers, force), batch, jobs, quiet, verbose)


def _pick_tier(tier: str | None, bitrate: float | None, quiet: bool) -> str | int:
    if tier and bitrate:
        raise click.UsageError("give --tier or --bitrate, not both")
    if bitrate:
        picked = nearest_tier(bitrate)
        if not quiet:
            click.echo(f"nwc: --bitrate {bitrate:g} picks tier {picked.name} "
                       f"({picked.nominal_kbps:g} kbit/s nominal)", err=True)
        return picked.id
    return tier or default_tier().id


@click.command(epilog=OUTPUT_RULES.format(
    kind="A file OUT's extension picks the format (.wav, .flac, .ogg, .mp3...); directory "
         "mode writes .wav."))
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("--layers", "-l", type=click.IntRange(min=1),
              help="Decode only the first N layers. " + LAYERS_RULE.format(what="the file"))
@click.option("--sample-rate", "-r", type=click.IntRange(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
              help="Output rate (default: the encoder input's original rate).")
@click.option("--conceal", is_flag=True,
              help="Decode a damaged or cut file: silence what is lost, resume at the next "
                   "intact chunk, say on stderr what was concealed.")
@click.option("--force", "-f", is_flag=True, help="Replace existing outputs (never an input).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no summary lines.")
@click.option("--verbose", "-v", is_flag=True,
              help="Summary lines even when stderr is not a terminal.")
@_batch_options
def decode(src: str, dst: str, layers: int | None, sample_rate: int | None, conceal: bool,
           force: bool, quiet: bool, verbose: bool, jobs: int,
           shard: tuple[int, int] | None) -> None:
    """Decode .nwc IN to audio OUT. Reads the header first and streams the rest. On a
    terminal, prints one line per file: input -> output, tier, duration, kbit/s."""
    pairs, batch = _pairs(src, dst, decoding=True, shard=shard)
    _run(_decode_one, pairs, (layers, sample_rate, conceal, force), batch, jobs, quiet,
         verbose)


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include test and retired tiers.")
def tiers(show_all: bool) -> None:
    """List the tiers: id, name, rate, bitrate, layers, delay, quality (from the registry;
    `nwc bench` gives speed, memory and parameters)."""
    rows = all_tiers(include_test=show_all, include_retired=show_all)
    if not rows:
        click.echo("no trained tier is shipped yet (see `nwc tiers --all` for the test tier)")
        return
    default = default_tier().id if all_tiers() else None
    click.echo(f"{'id':>4}  {'name':<16} {'rate':>6} {'kbit/s':>7} {'layers':>6} "
               f"{'delay ms':>8}  quality / note")
    for t in rows:
        name = t.name + (" *" if t.id == default else "")
        note = t.description if t.retired else t.quality or t.description
        click.echo(f"{t.id:>4}  {name:<16} {t.sample_rate:>6} {t.nominal_kbps:>7.2f} "
                   f"{t.layers:>6} {t.delay_ms:>8.1f}  {note}")
    if default is not None:
        click.echo("* the default tier (encode without --tier or --bitrate)")
