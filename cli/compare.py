"""``nwc compare``: rate-quality comparison of our tiers against AMR-WB, Opus and MP3."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--tiers",
    default="",
    help="Comma-separated nwcodec tiers to include (default: none).",
)
@click.option(
    "--baselines",
    default="amrwb,opus,mp3",
    show_default=True,
    help="Families, optionally with bitrates: 'amrwb,opus:12:24,mp3:32'. '' for none.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write per_file.csv, summary.md/json and rate-quality PNGs here.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def compare(
    inputs: tuple[str, ...], tiers: str, baselines: str, out_dir: Path | None, workers: int
) -> None:
    """Compare codec conditions on INPUT files, directories or .tsv/.txt manifests."""
    from eval.baselines import parse_baselines
    from eval.compare import NeuralCondition, collect_inputs, compare, format_table

    try:
        files = collect_inputs(inputs)
        conditions = [NeuralCondition(t) for t in filter(None, tiers.split(","))]
        for condition in conditions:
            condition.codec()  # fail now, in one line, if the tier or nwcodec.codec is missing
        conditions += parse_baselines(baselines)
    except Exception as e:
        raise click.ClickException(str(e)) from None
    if not conditions:
        raise click.UsageError("nothing to compare: give --tiers and/or --baselines")

    total = len(files) * len(conditions)
    with click.progressbar(length=total, label="compare", file=sys.stderr) as bar:
        try:
            result = compare(files, conditions, out_dir, workers=workers, progress=bar.update)
        except Exception as e:
            raise click.ClickException(f"comparison failed: {e}") from None
    click.echo(format_table(result.summary))
    for path in result.outputs:
        click.echo(f"wrote {path}", err=True)
    failed = sum(math.isnan(r["kbps"]) for r in result.rows)
    if failed:
        click.echo(f"{failed} pair(s) failed; see the error column of per_file.csv", err=True)
