"""``nwc bench``: speed on one core, peak memory, parameters and bitrate of every tier."""

from __future__ import annotations

import json
import os

import click

from nwcodec.errors import NwcodecError
from nwcodec.zoo import all_tiers, get_tier

COLUMNS = (
    ("enc xRT / dec xRT", "audio seconds coded per wall-clock second on one core "
                          "(above 1 is faster than real time)"),
    ("cpu enc / dec", "the same per CPU second: the better estimate on a busy machine"),
    ("enc MiB / dec MiB", "peak memory a fresh process gains loading the tier and coding "
                          "(weights + buffers)"),
    ("enc par / dec par / shared", "trained parameters used only to encode, only to decode, "
                                   "and by both (quantiser centroids)"),
    ("kbit/s", "actual bitrate on this audio, container included"),
)


@click.command()
@click.option("--all", "include_test", is_flag=True, help="Include the test tier(s).")
@click.option("--tier", "-t", "names", multiple=True, help="Only this tier (repeatable).")
@click.option("--seconds", "-s", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Audio length: the shipped speech sample repeated to this many seconds.")
@click.option("--input", "path", type=click.Path(dir_okay=False),
              help="Use this audio file instead of the shipped sample.")
@click.option("--repeats", "-n", type=click.IntRange(min=1), default=1, show_default=True,
              help="Best of N runs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench(include_test: bool, names: tuple[str, ...], seconds: float, path: str | None,
          repeats: int, as_json: bool) -> None:
    """Encode/decode speed (x real time, one core), peak memory, parameters and bitrate
    (a legend under the table says what each column means)."""
    from nwcodec.bench import bench_tier

    tiers = [get_tier(n) for n in names] if names else all_tiers(include_test=include_test)
    if not tiers:
        raise NwcodecError("no trained tier is shipped yet; use --all to bench the test tier")
    rows = [bench_tier(t, seconds, repeats, path).to_dict() for t in tiers]
    if as_json:
        click.echo(json.dumps({"load_average": os.getloadavg(), "tiers": rows}, indent=2))
        return
    click.echo(f"{'id':>4}  {'tier':<16} {'enc xRT':>8} {'dec xRT':>8} {'cpu enc':>8} "
               f"{'dec':>6} {'enc MiB':>8} {'dec MiB':>8} {'enc par':>8} {'dec par':>8} "
               f"{'shared':>7} {'kbit/s':>7}")
    for r in rows:
        click.echo(f"{r['tier_id']:>4}  {r['tier']:<16} {r['encode_x_realtime']:>8.1f} "
                   f"{r['decode_x_realtime']:>8.1f} {r['encode_x_realtime_cpu']:>8.1f} "
                   f"{r['decode_x_realtime_cpu']:>6.1f} {r['encode_peak_mib']:>8.1f} "
                   f"{r['decode_peak_mib']:>8.1f} {r['encoder_params']:>8,} "
                   f"{r['decoder_params']:>8,} {r['shared_params']:>7,} {r['kbps']:>7.2f}")
    click.echo("")
    for name, meaning in COLUMNS:
        click.echo(f"{name:<27} {meaning}")
    load = os.getloadavg()[0]
    what = f"of {click.format_filename(path)}" if path else "of speech (the shipped sample)"
    click.echo(f"{rows[0]['seconds']:.0f} s {what}, best of {repeats}; "
               f"load average {load:.1f} (a busy machine lowers the wall-clock figures)")
