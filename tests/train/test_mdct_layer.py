"""Fitting a tier topped by an MDCT layer (nwcodec/train/mdct_layer.py)."""

import json
import shutil

import numpy as np
import soundfile as sf

from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train import load_recipe
from nwcodec.train.mdct_layer import MdctLayerRecipe, build
from tests.train.test_trainer import SAMPLE


def _recipe(tmp_path, layer_kbps: float) -> MdctLayerRecipe:
    CascadeModel.test_model().save(tmp_path / "base.pt")
    shutil.copy(SAMPLE, tmp_path / "s0.flac")
    (tmp_path / "list.tsv").write_text("path\ns0.flac\n")
    recipe = {"name": "tiny-mdct", "kind": "mdct_layer", "train_tsv": "list.tsv",
              "weights": "base.pt", "layers": 2, "layer_kbps": layer_kbps, "files": 1}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    loaded = load_recipe(tmp_path / "recipe.json", tmp_path)
    assert isinstance(loaded, MdctLayerRecipe)
    return loaded


def test_fitted_layer_meets_its_rate_and_keeps_the_layers_below(tmp_path):
    base = CascadeModel.test_model()
    fits = {}
    for kbps in (4.0, 12.0):
        work = tmp_path / f"w{kbps}"
        work.mkdir()
        build(_recipe(tmp_path, kbps), work, work / "m.pt")
        assert (work / "errors.npz").is_file()  # kept for a rerun
        fits[kbps] = CascadeModel.from_file(work / "m.pt")
    low, high = fits[4.0], fits[12.0]
    assert low.num_layers == high.num_layers == 3
    # the finer rate target gets the finer step
    assert high.mdct.config.step_index < low.mdct.config.step_index
    x, _ = sf.read(SAMPLE, dtype="float32")
    x = x[: low.chunk_samples]
    side, layers = high.encode_chunk(x)
    # the layers below are the source's, tables included
    assert (side, layers[:2]) == base.encode_chunk(x)
    seconds = len(x) / high.sample_rate
    assert 8 * len(layers[2]) / seconds / 1000 < 12.0 * 1.3
    below = high.decode_chunk(side, layers[:2], len(x))
    top = high.decode_chunk(side, layers, len(x))
    assert np.mean((top - x) ** 2) < 0.5 * np.mean((below - x) ** 2)
