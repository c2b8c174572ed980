"""``nwc compare``: rate-quality comparison of our tiers against AMR-WB, Opus and MP3."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

DEFAULT_OUT = Path("nwc-compare")  # relative to the working directory


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--tiers",
    help="Comma-separated nwcodec tiers (default: every shipped tier; '' for none).",
)
@click.option(
    "--baselines",
    help="Families, optionally with bitrates: 'amrwb,opus:12:24,mp3:32'; '' for none "
    "(default: every setting of each family this machine can run).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Directory for per_file.csv, summary.md/json and the rate-quality PNGs.",
)
@click.option("--force", "-f", is_flag=True, help="Write into --out even if it is not empty.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def compare(
    inputs: tuple[str, ...],
    tiers: str | None,
    baselines: str | None,
    out_dir: Path,
    force: bool,
    workers: int,
) -> None:
    """Compare codecs on INPUT files, directories or .tsv/.txt manifests: PESQ-WB, ViSQOL,
    STOI, SI-SDR and mel distance against the actual bitrate (mean and 95 % CI per codec).

    Needs the metrics and baseline codecs of the `eval` extra."""
    from nwcodec.compare import install_hint, missing_requirements

    missing = missing_requirements()
    if missing:
        raise click.ClickException(
            f"nwc compare needs {', '.join(missing)} (the 'eval' extra): {install_hint()}"
        )
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise click.ClickException(f"{out_dir} is not empty (use --out DIR or --force)")

    from nwcodec.baselines import available_baselines, parse_baselines
    from nwcodec.compare import NeuralCondition, compare, default_conditions, format_table
    from nwcodec.corpus import collect_audio

    try:
        files = collect_audio(inputs)
        if baselines is None:
            chosen, skipped = available_baselines()
            for family, reason in skipped.items():
                click.echo(f"skipping baseline {family}: {reason}", err=True)
        else:
            chosen = parse_baselines(baselines)
        if tiers is None:
            conditions = default_conditions()
        else:
            conditions = [NeuralCondition(t.strip()) for t in tiers.split(",") if t.strip()]
        for condition in conditions:
            condition.codec()  # fail now, in one line, if a tier is unknown or broken
        conditions += chosen
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
    click.echo(f"table and plots in {out_dir}/: " + ", ".join(p.name for p in result.outputs),
               err=True)
    failed = sum(math.isnan(r["kbps"]) for r in result.rows)
    if failed:
        click.echo(f"{failed} pair(s) failed; see the error column of per_file.csv", err=True)
