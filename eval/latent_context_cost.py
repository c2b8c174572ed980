"""Would context tables code the autoencoder layers' latent symbols in fewer bits?

    python -m eval.latent_context_cost --weights FILE --train-tsv TRAIN_TSV --tsv DEV_TSV
        [--train-n 150] [--n 100] [--priors 4,16]

Every stream of every layer (the main latent and the HARP skips, one stream per channel) is
run closed loop over the files' chunks, as the encoder and the trainer's export run it, and
each channel's symbols are counted as transitions (previous symbol of that channel, symbol).
Tables are counted on the training files and scored on the dev files by ideal code length,
as ``eval.side_info_cost`` does for the LPC side information: one marginal table per
channel against a table per previous symbol (at each prior). Prints kbit/s per layer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from eval.side_info_cost import cost_bits
from nwcodec.corpus import read_manifest
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.quantizer import SoftmaxQuantizer
from nwcodec.train.data import build_chunks


def transition_counts(model: CascadeModel, files: list[Path]) -> tuple[list[list[np.ndarray]],
                                                                       float]:
    """Per layer, per channel of every stream: (K+1, K) counts of (previous, symbol) over
    the closed-loop chunks of ``files`` (row K: a chunk's first symbols), and the seconds of
    audio counted."""
    data = build_chunks(model.lpc, files, model.chunk_samples)
    counts: list[list[np.ndarray]] = []
    for stage in model.stages:
        per_channel = []
        for q in stage.quantizers:  # an instance attribute shadows the class's method
            mine = [np.zeros((q.num_centroids + 1, q.num_centroids), np.int64)
                    for _ in range(q.channels)]
            q.calibrate = _recorder(q, mine)
            per_channel += mine
        counts.append(per_channel)
    try:
        for start in range(0, len(data), 64):
            model.calibrate(torch.from_numpy(data.residual[start : start + 64])[:, None])
    finally:
        for stage in model.stages:
            for q in stage.quantizers:
                del q.calibrate
    return counts, data.residual.size / model.lpc.config.sample_rate


def _recorder(q: SoftmaxQuantizer, into: list[np.ndarray]):
    """``q.calibrate`` that also adds each channel's transitions to ``into``."""
    def calibrate(z: torch.Tensor) -> torch.Tensor:
        symbols = SoftmaxQuantizer.calibrate(q, z).numpy()  # (B, C, L)
        first = np.full_like(symbols[..., :1], q.num_centroids)  # ContextTable's start row
        prev = np.concatenate([first, symbols[..., :-1]], axis=-1)
        for c, table in enumerate(into):
            np.add.at(table, (prev[:, c].ravel(), symbols[:, c].ravel()), 1)
        return torch.from_numpy(symbols)
    return calibrate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--train-tsv", type=Path, required=True)
    ap.add_argument("--tsv", type=Path, required=True)
    ap.add_argument("--train-n", type=int, default=150)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--priors", default="4,16")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = CascadeModel.from_file(a.weights)
    model.eval()
    train, _ = transition_counts(model, read_manifest(a.train_tsv)[: a.train_n])
    dev, seconds = transition_counts(model, read_manifest(a.tsv)[: a.n])
    priors = [int(p) for p in a.priors.split(",")]
    print("| layer | marginal kbit/s | " + " | ".join(f"context, prior {p}" for p in priors)
          + " |")
    print("|---|---|" + "---|" * len(priors))
    total = np.zeros(1 + len(priors))
    for k, (t, d) in enumerate(zip(train, dev, strict=True)):
        row = np.array([cost_bits(t, d, None).sum()]
                       + [cost_bits(t, d, p).sum() for p in priors]) / seconds / 1000
        total += row
        print(f"| {k + 1} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    print("| all | " + " | ".join(f"{v:.2f}" for v in total) + " |")


if __name__ == "__main__":
    main()
