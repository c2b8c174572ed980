"""The cascade trains: loss falls and the rate estimate follows its target (tiny model)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train.trainer import Recipe, Trainer

SAMPLE = Path(__file__).resolve().parents[2] / "nwcodec" / "data" / "sample.flac"
TINY = {"strides": [8, 10], "channels": [16, 24], "blocks": [1, 1], "latent_channels": 4,
        "num_centroids": 8, "skips": 1, "skip_channels": 2, "skip_stride": 5,
        "skip_centroids": 4}


def _recipe(tmp_path: Path, steps: int) -> Path:
    for i in range(3):
        shutil.copy(SAMPLE, tmp_path / f"s{i}.flac")
    (tmp_path / "list.tsv").write_text("path\n" + "".join(f"s{i}.flac\n" for i in range(3)))
    recipe = {
        "name": "tiny", "train_tsv": "list.tsv", "lsf_files": 3, "lsf_steps": 40,
        "lsf_lambda": 3e-5,
        "stages": [{"config": TINY, "target_kbps": 2.0, "steps": steps, "soft_fraction": 0.3}],
        "batch": 2, "lr": 3e-3, "loss": {"time": 50, "mel": 5, "priority": 5, "nmr": 0.5},
        "threads": 1,
    }
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


def _losses(log: str) -> list[tuple[float, float]]:
    out = []
    for line in log.splitlines():
        if " loss " in line and "kbps" in line:
            words = line.split()
            out.append((float(words[words.index("loss") + 1]),
                        float(words[words.index("kbps") + 1])))
    return out


def _train(tmp_path, steps, caplog) -> tuple[Trainer, list[tuple[float, float]]]:
    torch.manual_seed(0)
    trainer = Trainer(Recipe.load(_recipe(tmp_path, steps), tmp_path), tmp_path / "work")
    with caplog.at_level("INFO", logger="nwcodec.train"):
        trainer.run(tmp_path / "model.pt")
    return trainer, _losses(caplog.text)


def test_tiny_cascade_trains_exports_and_codes(tmp_path, caplog):
    trainer, history = _train(tmp_path, 50, caplog)
    assert len(history) == 2
    # the stage learns something, and the rate is pushed down toward its 2 kbit/s target
    assert history[-1][0] < history[0][0]
    model = CascadeModel.from_file(tmp_path / "model.pt")
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    side, layers = model.encode_chunk(x)
    y = model.decode_chunk(side, layers, 16000)
    assert y.shape == (16000,) and np.isfinite(y).all()
    # resuming a finished run does no more training and exports the same model
    again = Trainer(Recipe.load(tmp_path / "recipe.json", tmp_path), tmp_path / "work")
    again.run(tmp_path / "model2.pt")
    assert CascadeModel.from_file(tmp_path / "model2.pt").model_hash == model.model_hash
    # tables counted on a subset of the chunks (export_chunks): other tables, a working model
    trainer.recipe.export_chunks = 1
    trainer.export(trainer.chunks(), tmp_path / "model3.pt")
    subset = CascadeModel.from_file(tmp_path / "model3.pt")
    assert subset.model_hash != model.model_hash
    assert np.isfinite(subset.decode_chunk(*subset.encode_chunk(x), 16000)).all()


@pytest.mark.slow
def test_rate_follows_target_over_a_few_hundred_steps(tmp_path, caplog):
    _, history = _train(tmp_path, 400, caplog)
    first, last = history[0], history[-1]
    assert last[0] < first[0]
    assert abs(last[1] - 2.0) < abs(first[1] - 2.0)


def test_joint_phase_tunes_every_stage_and_resumes(tmp_path, caplog):
    recipe_path = _recipe(tmp_path, 20)
    recipe = json.loads(recipe_path.read_text())
    recipe["stages"].append(dict(recipe["stages"][0], target_kbps=1.0))
    recipe["joint"] = {"steps": 20, "lr": 1e-3}
    recipe_path.write_text(json.dumps(recipe))
    torch.manual_seed(0)
    trainer = Trainer(Recipe.load(recipe_path, tmp_path), tmp_path / "work")
    data = trainer.chunks()
    trainer.fit_lpc()
    trainer.train_stages(data)
    greedy = {k: v.clone() for k, v in trainer.model.stages[0].state_dict().items()}
    with caplog.at_level("INFO", logger="nwcodec.train"):
        trainer.train_joint(data)
    joint_lines = [ln for ln in caplog.text.splitlines() if "joint step" in ln]
    assert joint_lines and "joint step 20/20" in joint_lines[-1]
    # one loss per prefix (tier) and one rate per stage
    words = joint_lines[-1].split()
    i = words.index("loss/prefix")
    assert words[i + 3] == "kbps/stage" and words[i + 6] != "kbps/stage"
    # greedy training had frozen stage 0; the joint phase moves it too
    tuned = trainer.model.stages[0].state_dict()
    assert any(not torch.equal(greedy[k], tuned[k]) for k in greedy)
    assert torch.load(trainer.dir / "checkpoint.pt", weights_only=True)["stage"] == 3
    # a finished joint phase is not repeated on resume
    trainer.export(data, tmp_path / "a.pt")
    again = Trainer(Recipe.load(recipe_path, tmp_path), tmp_path / "work")
    again.run(tmp_path / "b.pt")
    assert (CascadeModel.from_file(tmp_path / "b.pt").model_hash
            == CascadeModel.from_file(tmp_path / "a.pt").model_hash)


def test_refinement_stage_can_start_as_a_copy_of_the_stage_below(tmp_path):
    recipe_path = _recipe(tmp_path, 4)
    raw = json.loads(recipe_path.read_text())
    raw["stages"].append(dict(raw["stages"][0], steps=1))
    raw["refine_init"] = "previous"
    recipe_path.write_text(json.dumps(raw))
    torch.manual_seed(0)
    trainer = Trainer(Recipe.load(recipe_path, tmp_path), tmp_path / "work")
    trainer.fit_lpc()
    trainer.train_stages(trainer.chunks())
    below, above = (trainer.model.stages[k].state_dict() for k in (0, 1))
    # one Adam step (lr 3e-3) away from the copy it started as
    assert all((above[k] - below[k]).abs().max() < 0.01
               for k in below if below[k].is_floating_point())
    # a stage of another shape cannot be a copy
    raw["stages"][1]["config"] = dict(TINY, latent_channels=6)
    recipe_path.write_text(json.dumps(raw))
    other = Trainer(Recipe.load(recipe_path, tmp_path), tmp_path / "other")
    other.fit_lpc()
    with pytest.raises(ValueError, match="refine_init"):
        other.train_stages(other.chunks())
