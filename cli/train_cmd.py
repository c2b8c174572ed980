"""``nwc train RECIPE``: resumable CPU training of a tier (see nwcodec/train/trainer.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from nwcodec.corpus import DATA_ENV, DEFAULT_DATA


@click.command()
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False))
@click.option("--workdir", "-w", type=click.Path(file_okay=False), required=True,
              help="Checkpoints, caches and logs; rerun with the same directory to resume.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="Where to write the exported weights file.")
@click.option("--data", "-d", type=click.Path(file_okay=False, path_type=Path),
              envvar=DATA_ENV, default=DEFAULT_DATA, show_default=True, show_envvar=True,
              help="Data directory; the recipe's manifest path is relative to it.")
def train(recipe: str, workdir: str, out: str, data: Path) -> None:
    """Train the tier described by RECIPE (JSON), resuming from WORKDIR's checkpoint."""
    from nwcodec.train.trainer import Recipe, Trainer

    Path(workdir).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(Path(workdir) / "train.log")],
    )
    digest = Trainer(Recipe.load(recipe, data), workdir).run(Path(out))
    click.echo(f"{out} sha256 {digest}")
