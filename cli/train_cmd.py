"""``nwc train RECIPE``: resumable training of a tier (nwcodec/train/trainer.py) or, for a
recipe of ``"kind": "postfilter"``, of a learned decoder postfilter
(nwcodec/train/postfilter.py)."""

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
@click.option("--layers", "-l", type=click.IntRange(min=1),
              help="Train and export only the first N stages (rerun without it to go on).")
@click.option("--device", default="auto", show_default=True,
              help="Where a tier's networks train: cpu, cuda, cuda:N, or auto (cuda when "
                   "available). Checkpoints move freely between devices.")
def train(recipe: str, workdir: str, out: str, data: Path, layers: int | None,
          device: str) -> None:
    """Train the tier (or postfilter) described by RECIPE (JSON), resuming from WORKDIR's
    checkpoint."""
    import torch

    from nwcodec.train import load_recipe
    from nwcodec.train.distributed import World, env_size
    from nwcodec.train.postfilter import PostfilterRecipe, PostfilterTrainer
    from nwcodec.train.trainer import Trainer

    plan = load_recipe(recipe, data)
    postfilter = isinstance(plan, PostfilterRecipe)
    if postfilter and layers is not None:
        raise click.BadParameter("a postfilter recipe has no stages", param_hint="--layers")
    if postfilter and env_size() > 1:
        raise click.UsageError("the postfilter trainer runs in one process, not under torchrun")
    single = not postfilter and env_size() == 1
    if device == "auto":
        device = "cuda" if single and torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    if kind != "cpu" and not single:
        raise click.UsageError("only a single-process tier training runs on a GPU")
    if kind == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("no CUDA device here", param_hint="--device")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    world = World() if postfilter else World.from_env()
    # Under torchrun only rank 0 logs (to the terminal and train.log); the others only warn.
    logging.basicConfig(
        level=logging.INFO if world.is_main else logging.WARNING,
        format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(),
                  *([logging.FileHandler(Path(workdir) / "train.log")] if world.is_main else [])],
    )
    if postfilter:
        digest = PostfilterTrainer(plan, workdir).run(Path(out))
        click.echo(f"{out} sha256 {digest}")
        return
    trainer = Trainer(plan, workdir, world, device)
    if layers is not None and layers > len(trainer.recipe.stages):
        raise click.BadParameter(f"the recipe has {len(trainer.recipe.stages)} stages",
                                 param_hint="--layers")
    digest = trainer.run(Path(out), layers)
    world.close()
    if world.is_main:
        click.echo(f"{out} sha256 {digest}")
