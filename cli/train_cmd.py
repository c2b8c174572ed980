"""``nwc train RECIPE``: resumable training of a tier (nwcodec/train/trainer.py); for a
recipe of ``"kind": "postfilter"``, of a learned decoder postfilter
(nwcodec/train/postfilter.py); for ``"kind": "mdct_layer"``, the fitting of a tier topped by
an MDCT layer (nwcodec/train/mdct_layer.py)."""

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
    """Train the tier (postfilter, MDCT layer) described by RECIPE (JSON), resuming from WORKDIR's
    checkpoint."""
    import torch

    from nwcodec.train import load_recipe
    from nwcodec.train.distributed import World, env_size
    from nwcodec.train.mdct_layer import MdctLayerRecipe, build
    from nwcodec.train.postfilter import PostfilterRecipe, PostfilterTrainer
    from nwcodec.train.trainer import Trainer

    plan = load_recipe(recipe, data)
    one_process = isinstance(plan, PostfilterRecipe | MdctLayerRecipe)
    if one_process and layers is not None:
        raise click.BadParameter(f"a {plan.kind} recipe has no stages", param_hint="--layers")
    if one_process and env_size() > 1:
        raise click.UsageError(f"a {plan.kind} recipe runs in one process, not under torchrun")
    single = not one_process and env_size() == 1
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
    world = World() if one_process else World.from_env()
    # Under torchrun only rank 0 logs (to the terminal and train.log); the others only warn.
    logging.basicConfig(
        level=logging.INFO if world.is_main else logging.WARNING,
        format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(),
                  *([logging.FileHandler(Path(workdir) / "train.log")] if world.is_main else [])],
    )
    if isinstance(plan, MdctLayerRecipe):
        click.echo(f"{out} sha256 {build(plan, Path(workdir), Path(out))}")
        return
    if isinstance(plan, PostfilterRecipe):
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
