"""``nwc info`` and ``nwc strip``: look into and thin out .nwc files without decoding audio."""

from __future__ import annotations

import json

import click

from cli.common import open_input, open_output
from nwcodec.bitstream import BitstreamReader, strip_layers
from nwcodec.errors import NwcodecError
from nwcodec.stream_info import summarise
from nwcodec.zoo import tier_name


def _print_text(s: dict) -> None:
    h = s["header"]
    click.echo(
        f"nwc format {h['format_major']}.{h['format_minor']}  "
        f"tier {h['tier_id']} ({tier_name(h['tier_id'])})  model {h['model_hash']}\n"
        f"{h['channels']} ch  {h['sample_rate']} Hz (original {h['original_sample_rate']} Hz)  "
        f"{h['total_samples']} samples = {h['seconds']:.3f} s  "
        f"chunks of {h['chunk_samples']} samples\n"
        f"{s['file_bytes']} bytes = {s['total_kbps']:.3f} kbit/s{_nominal(s)}  "
        f"(side info {s['side_info_bytes']} bytes)"
    )
    for layer in s["layers"]:
        click.echo(f"  layer {layer['layer']}: {layer['bytes']} bytes, {layer['kbps']:.3f} kbit/s")
    histogram = "  ".join(f"{k}: {n}" for k, n in s["layer_histogram"].items())
    coding = ", ".join(f"{n} {kind}" for kind, n in sorted(s["coding"].items()))
    stereo = f"mid/side in {s['mid_side_chunks']} of {len(s['chunks']) // h['channels']} chunks"
    click.echo(f"rate control: chunk records by layer count  {histogram}\n"
               f"  coding: {coding or 'no chunks'}"
               + (f"\n  stereo: {stereo}" if h["channels"] > 1 else ""))
    click.echo("  chunk  ch  samples  side  layers(bytes)  coding         crc")
    for c in s["chunks"]:
        sizes = ",".join(str(n) for n in c["layer_bytes"]) or "-"
        crc = "ok" if c["crc_ok"] else "BAD"
        kind = c["coding"] + (" M/S" if c["mid_side"] else "")
        click.echo(
            f"  {c['index']:5d} {c['channel']:3d} {c['samples']:8d} {c['side_bytes']:5d}  "
            f"{sizes:>13}  {kind:<13}  {crc}"
        )


def _nominal(s: dict) -> str:
    if not s["nominal_kbps"]:
        return ""
    return f" ({s['total_kbps'] / s['nominal_kbps']:.2f}× the tier's nominal {s['nominal_kbps']:g})"


@click.command()
@click.argument("path", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(path: str, as_json: bool) -> None:
    """Show the header, per-layer and per-chunk summary of an .nwc FILE ('-' = stdin)."""
    with open_input(path) as stream:
        summary = summarise(BitstreamReader(stream, on_damage="conceal"))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _print_text(summary)
    if summary["damaged_chunks"]:
        raise NwcodecError(f"{summary['damaged_chunks']} chunk(s) failed their CRC")


@click.command()
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("--layers", "-l", type=click.IntRange(min=1), required=True, help="Layers to keep.")
@click.option("--force", "-f", is_flag=True, help="Overwrite OUT if it exists.")
def strip(src: str, dst: str, layers: int, force: bool) -> None:
    """Keep the first N layers of every chunk of IN, writing OUT (no re-encoding)."""
    with open_input(src) as inp, open_output(dst, force) as out:
        strip_layers(inp, out, layers)
