"""Building a tier whose top layer is an MDCT layer (``nwc train RECIPE`` with
``"kind": "mdct_layer"``; ``nwcodec/nn/mdct_stage.py``).

Nothing is learned by gradient: the tier is the first ``layers`` autoencoder layers of a
shipped cascade (weights and tables copied) topped by an MDCT layer, whose two choices are
fitted on training speech. Every active chunk (``nwcodec/ratecontrol.py``) of ``files``
training files is coded with the layers below and decoded exactly as the decoder will; the
MDCT layer sees what they leave. Its step index is then the finest at which that layer's real
payloads (tables calibrated at that step) stay within ``layer_kbps``, and its context tables
are the symbol counts at that step. (Dev speech codes about 5 % below the training chunks'
rate at the same step.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nwcodec.audio import read_mono
from nwcodec.corpus import data_dir, read_manifest
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.mdct_stage import STEP_LEVELS, MdctConfig, MdctStage
from nwcodec.ratecontrol import Content, classify, loudest_frame_db
from nwcodec.train.trainer import _beside

log = logging.getLogger("nwcodec.train")


@dataclass
class MdctLayerRecipe:
    name: str
    kind: str  # "mdct_layer": how ``nwc train`` tells this recipe from a cascade's
    train_tsv: str
    weights: str  # the cascade whose first ``layers`` layers the tier keeps (relative path)
    layers: int
    layer_kbps: float  # the MDCT layer's rate on the training chunks
    notes: str = ""
    files: int = 400  # training files, spread over the manifest
    mdct: dict = field(default_factory=dict)  # MdctConfig fields (the step index is fitted)

    @classmethod
    def load(cls, path: str | Path, data: str | Path | None = None) -> MdctLayerRecipe:
        recipe = cls(**json.loads(Path(path).read_text()))
        recipe.train_tsv = str((data_dir(data) / recipe.train_tsv).resolve())
        recipe.weights = _beside(path, recipe.weights)
        return recipe


def build(recipe: MdctLayerRecipe, workdir: Path, out: Path) -> str:
    """Fit the tier's MDCT layer, write its weights file to ``out``; returns its SHA-256.
    The training chunks' errors are kept in ``workdir`` (``errors.npz``) for a rerun."""
    source = CascadeModel.from_file(recipe.weights)
    model = source.prefix(recipe.layers, MdctConfig(**recipe.mdct))
    tables = iter(source.tables)
    for stage in [model.lpc, *model.stages]:
        stage.load_tables(tables)
    cache = workdir / "errors.npz"
    if cache.is_file():
        with np.load(cache) as z:
            flat, lengths, seconds = z["errors"], z["lengths"], float(z["seconds"])
        errors = np.split(flat, np.cumsum(lengths)[:-1])
    else:
        errors, seconds = _errors(model, recipe)
        tmp = workdir / "errors.tmp.npz"  # a cut-off run must not leave a half cache behind
        np.savez(tmp, errors=np.concatenate(errors), seconds=seconds,
                 lengths=np.array([len(e) for e in errors]))
        tmp.replace(cache)
    log.info("mdct: %d active chunks (%.0f s) from %d files", len(errors), seconds, recipe.files)

    def kbps(step_index: int) -> float:
        stage = _calibrated(model.mdct.config, errors, step_index)
        return sum(8 * len(stage.compress(e, step_index)) for e in errors) / seconds / 1000

    lo, hi = 0, STEP_LEVELS - 1  # the rate falls as the step index rises
    while lo < hi:
        mid = (lo + hi) // 2
        rate = kbps(mid)
        log.info("mdct: step index %d: %.2f kbit/s", mid, rate)
        lo, hi = (mid + 1, hi) if rate > recipe.layer_kbps else (lo, mid)
    model.mdct = _calibrated(replace(model.mdct.config, step_index=lo), errors, lo)
    model.load_tables([*source.lpc.tables,
                       *(t for stage in model.stages for t in stage.tables),
                       *model.mdct.tables])
    model.save(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    log.info("mdct: step index %d, %s sha256 %s", lo, out, digest)
    return digest


def _calibrated(config: MdctConfig, errors: list[np.ndarray], step_index: int) -> MdctStage:
    stage = MdctStage(config)
    for e in errors:
        stage.calibrate(e, step_index)
    stage.update()
    return stage


def _errors(model: CascadeModel, recipe: MdctLayerRecipe) -> tuple[list[np.ndarray], float]:
    """What the autoencoder layers leave of every active chunk of the training files, and the
    seconds those chunks hold."""
    files = read_manifest(recipe.train_tsv)
    files = files[:: max(1, len(files) // recipe.files)][: recipe.files]
    n, errors, samples, t0 = model.chunk_samples, [], 0, time.time()
    for i, path in enumerate(files):
        x = read_mono(path, model.sample_rate)
        for start in range(0, len(x), n):
            chunk = x[start : start + n]
            if classify([loudest_frame_db(chunk, model.sample_rate)])[0] is not Content.ACTIVE:
                continue
            side, layers = model.encode_chunk(chunk, len(model.stages))
            y = model.decode_chunk(side, layers, len(chunk))
            errors.append(chunk.astype(np.float64) - y)
            samples += len(chunk)
        if (i + 1) % 50 == 0:
            log.info("mdct: %d/%d files decoded in %.0f s", i + 1, len(files), time.time() - t0)
    return errors, samples / model.sample_rate
