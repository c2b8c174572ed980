"""Warm start (recipe ``init``): a new CMRL stage trains on top of a frozen, exported model."""

import json

import numpy as np
import pytest
import torch

from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train.trainer import Recipe, Trainer
from tests.train.test_trainer import TINY, _recipe


def test_new_stage_trains_on_top_of_frozen_exported_stages(tmp_path):
    torch.manual_seed(0)
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    recipe = Recipe.load(_recipe(base_dir, 10), base_dir)
    Trainer(recipe, base_dir / "work").run(base_dir / "base.pt")
    base = CascadeModel.from_file(base_dir / "base.pt")

    raw = json.loads((base_dir / "recipe.json").read_text())
    raw["stages"].append({"config": TINY, "target_kbps": 2.0, "steps": 10})
    raw["init"] = {"weights": "base.pt", "stages": 1}
    # the base codes its side information with one table per stream, the ladder in context
    raw["lpc"] = {**raw.get("lpc", {}), "side_context": True}
    (base_dir / "ladder.json").write_text(json.dumps(raw))
    trainer = Trainer(Recipe.load(base_dir / "ladder.json", base_dir), base_dir / "work2")
    trainer.run(base_dir / "ladder.pt")
    ladder = CascadeModel.from_file(base_dir / "ladder.pt")

    assert ladder.num_layers == 2
    assert ladder.lpc.config.side_context and not base.lpc.config.side_context
    # the LPC stage and stage 0 are the base model's, untouched by training
    for name, tensor in base.stages[0].state_dict().items():
        if "counts" not in name:
            assert torch.equal(tensor, ladder.stages[0].state_dict()[name]), name
    for name, tensor in base.lpc.state_dict().items():
        assert torch.equal(tensor, ladder.lpc.state_dict()[name]), name
    # the new stage did train: it starts as a no-op, and now its layer changes the output
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    side, layers = ladder.encode_chunk(x)
    assert not np.allclose(ladder.decode_chunk(side, layers[:1], 16000),
                           ladder.decode_chunk(side, layers, 16000))


def test_init_refuses_a_mismatched_config(tmp_path):
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    recipe = Recipe.load(_recipe(base_dir, 2), base_dir)
    Trainer(recipe, base_dir / "work").run(base_dir / "base.pt")
    raw = json.loads((base_dir / "recipe.json").read_text())
    raw["stages"][0]["config"] = dict(TINY, latent_channels=6)
    raw["init"] = {"weights": "base.pt", "stages": 1}
    (base_dir / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="differ"):
        Trainer(Recipe.load(base_dir / "bad.json", base_dir), base_dir / "work2")


def test_init_refines_coarser_codebooks_and_keeps_the_networks(tmp_path):
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    Trainer(Recipe.load(_recipe(base_dir, 2), base_dir), base_dir / "work").run(
        base_dir / "base.pt")
    base = CascadeModel.from_file(base_dir / "base.pt")
    raw = json.loads((base_dir / "recipe.json").read_text())
    raw["stages"][0]["config"] = dict(TINY, skip_centroids=8)
    raw["init"] = {"weights": "base.pt", "stages": 1, "fine_tune": True}
    (base_dir / "finer.json").write_text(json.dumps(raw))
    stage = Trainer(Recipe.load(base_dir / "finer.json", base_dir), base_dir / "w2").model.stages[0]
    old = base.stages[0]
    assert stage.quantizers[1].num_centroids == 8
    assert torch.allclose(stage.quantizers[1].centroids[:, [0, -1]],
                          old.quantizers[1].centroids.sort(dim=-1).values[:, [0, -1]])
    for name, tensor in old.state_dict().items():
        if "skips" not in name or "quantizer" not in name:
            assert torch.equal(tensor, stage.state_dict()[name]), name


def test_run_with_layers_exports_a_prefix_then_resumes_the_rest(tmp_path):
    torch.manual_seed(0)
    path = _recipe(tmp_path, 4)
    raw = json.loads(path.read_text())
    raw["stages"].append({"config": TINY, "target_kbps": 2.0, "steps": 4})
    path.write_text(json.dumps(raw))
    trainer = Trainer(Recipe.load(path, tmp_path), tmp_path / "work")
    trainer.run(tmp_path / "one.pt", layers=1)
    one = CascadeModel.from_file(tmp_path / "one.pt")
    assert one.num_layers == 1
    # the run stopped after stage 0: resuming trains stage 1 and exports both
    Trainer(Recipe.load(path, tmp_path), tmp_path / "work").run(tmp_path / "two.pt")
    two = CascadeModel.from_file(tmp_path / "two.pt")
    assert two.num_layers == 2
    for name, tensor in one.stages[0].state_dict().items():
        assert torch.equal(tensor, two.stages[0].state_dict()[name]), name
    # the prefix codes its one layer exactly as the full model codes its first
    x = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1
    assert one.encode_chunk(x)[1][0] == two.encode_chunk(x)[1][0]


def test_fine_tune_retrains_the_loaded_stage_from_its_weights(tmp_path):
    torch.manual_seed(0)
    path = _recipe(tmp_path, 6)
    Trainer(Recipe.load(path, tmp_path), tmp_path / "work").run(tmp_path / "base.pt")
    base = CascadeModel.from_file(tmp_path / "base.pt")
    raw = json.loads(path.read_text())
    raw["stages"][0]["target_kbps"] = 1.0
    raw["init"] = {"weights": "base.pt", "stages": 1, "fine_tune": True}
    (tmp_path / "lower.json").write_text(json.dumps(raw))
    trainer = Trainer(Recipe.load(tmp_path / "lower.json", tmp_path), tmp_path / "work2")
    assert trainer.first_stage == 0
    start = {k: v.clone() for k, v in trainer.model.stages[0].state_dict().items()}
    assert all(torch.equal(v, base.stages[0].state_dict()[k]) for k, v in start.items()
               if "counts" not in k)
    trainer.run(tmp_path / "lower.pt")
    lower = CascadeModel.from_file(tmp_path / "lower.pt")
    assert any(not torch.equal(start[k], lower.stages[0].state_dict()[k])
               for k in start if "counts" not in k)
