"""What the LPC side information costs on held-out speech, per stream, with one table per
stream and with context tables (each symbol coded given its stream's previous symbol).

    python -m eval.side_info_cost --weights FILE --train-tsv TRAIN_TSV --tsv DEV_TSV
        [--train-n 0] [--n 200] [--priors 1,4,16]

Tables are counted on the training files' chunks (as the trainer's export counts them) and
scored on the dev files' chunks by ideal code length (the range coder stays within about 1 %
of it). Prints kbit/s and bits per 20-ms frame for the marginal tables and for the context
tables at each prior (``lpc_module.SIDE_CONTEXT_PRIOR``), gain and LSFs apart.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from nwcodec.corpus import read_manifest
from nwcodec.entropy import ContextTable, FrequencyTable
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.lpc_module import LpcStage
from nwcodec.train.data import chunks_of, read_coded


def side_counts(stage: LpcStage, files: list[Path], chunk: int) -> list[np.ndarray]:
    """The stage's transition counts over the coded chunks of ``files``."""
    stage.reset_counts()
    for path in files:
        for x in read_coded(path, stage.config.sample_rate, chunk):
            for c in chunks_of(x, chunk):
                stage.count(stage.analyze(c))
    return [c.copy() for c in stage.counts]


def cost_bits(train: list[np.ndarray], dev: list[np.ndarray], prior: int | None) -> np.ndarray:
    """Bits per stream of the dev symbols under tables from the training counts: the
    marginal tables (``prior`` None) or context tables with ``prior``."""
    out = []
    for t, d in zip(train, dev, strict=True):
        if prior is None:
            out.append((FrequencyTable.from_counts(t.sum(0)).code_lengths() * d.sum(0)).sum())
        else:
            rows = ContextTable.from_counts(t, prior).rows
            out.append((np.stack([r.code_lengths() for r in rows]) * d).sum())
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--train-tsv", type=Path, required=True)
    ap.add_argument("--tsv", type=Path, required=True)
    ap.add_argument("--train-n", type=int, default=0, help="training files to count (0: all)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--priors", default="1,4,16")
    a = ap.parse_args()
    model = CascadeModel.from_file(a.weights)
    stage = LpcStage(dataclasses.replace(model.lpc.config, side_context=True))
    stage.load_state_dict(model.lpc.state_dict())
    train = side_counts(stage, read_manifest(a.train_tsv)[: a.train_n or None],
                        model.chunk_samples)
    dev = side_counts(stage, read_manifest(a.tsv)[: a.n], model.chunk_samples)
    frames = int(dev[0].sum())
    per_second = stage.config.sample_rate / stage.config.frame
    print(f"{frames} dev frames; | tables | gain | LSFs | total bits/frame | kbit/s |")
    for prior in [None, *(int(p) for p in a.priors.split(","))]:
        bits = cost_bits(train, dev, prior) / frames
        name = "one per stream" if prior is None else f"context, prior {prior}"
        print(f"| {name} | {bits[0]:.2f} | {bits[1:].sum():.2f} | {bits.sum():.2f} "
              f"| {bits.sum() * per_second / 1000:.3f} |")


if __name__ == "__main__":
    main()
