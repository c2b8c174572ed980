"""Give a trained cascade context-coded LPC side information, without training it again.

    python -m nwcodec.train.side_tables WEIGHTS RECIPE -o OUT

A cascade's side tables are counts of its LPC stage's symbols over the training chunks; no
network sees them. So a model trained before ``LpcConfig.side_context`` existed gets exactly
the tables its recipe's export freezes now: the LPC stage (same weights) switches to context
coding, counts its symbol transitions over the recipe's training files as the trainer's export
does, and the weights file is written with the new tables (and so a new model hash); the
autoencoder stages keep theirs.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train import load_recipe
from nwcodec.train.data import build_chunks
from nwcodec.train.trainer import training_files


def with_context_side_tables(model: CascadeModel, files: list[Path]) -> CascadeModel:
    """A copy of ``model`` whose LPC stage context-codes its side information, with tables
    counted over the coded chunks of ``files``."""
    config = model.config_dict()
    new = CascadeModel.from_config({**config, "lpc": {**config["lpc"], "side_context": True}})
    new.load_state_dict(model.state_dict())
    build_chunks(new.lpc, files, new.chunk_samples)  # counts into new.lpc.counts
    new.lpc.update()
    new.load_tables([*new.lpc.tables, *model.tables[len(model.lpc.tables):]])
    new.eval()
    return new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("recipe", type=Path, help="the recipe that trained the weights")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    recipe = load_recipe(args.recipe)
    files = training_files(recipe)
    new = with_context_side_tables(CascadeModel.from_file(args.weights), files)
    new.save(args.out)
    print(f"{args.out}: sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}, "
          f"{len(files)} files counted")


if __name__ == "__main__":
    main()
