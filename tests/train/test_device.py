"""Training on a GPU: checkpoints stay device-independent, and ``--device`` is checked."""

import json

import pytest
import torch
from click.testing import CliRunner

from cli.app import main
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train.trainer import Recipe, Trainer, _on_cpu
from tests.train.test_trainer import _recipe


def test_checkpoint_blob_keeps_its_structure_on_the_way_to_the_cpu():
    t = torch.arange(3.0)
    blob = _on_cpu({"model": {"w": t}, "optimizer": {"state": {0: {"exp_avg": t}},
                                                      "param_groups": [{"lr": 1e-3}]},
                    "pair": (t, 3), "step": 7})
    assert torch.equal(blob["model"]["w"], t) and torch.equal(blob["optimizer"]["state"][0]
                                                             ["exp_avg"], t)
    assert blob["optimizer"]["param_groups"] == [{"lr": 1e-3}]
    assert isinstance(blob["pair"], tuple) and blob["pair"][1] == 3 and blob["step"] == 7


@pytest.mark.parametrize(("device", "message"), [
    ("toaster", "--device"),
    pytest.param("cuda", "no CUDA device here", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="this machine has a GPU")),
])
def test_a_device_that_cannot_train_is_a_one_line_error(tmp_path, device, message):
    recipe = _recipe(tmp_path, 2)
    result = CliRunner().invoke(main, ["train", str(recipe), "-w", str(tmp_path / "w"),
                                       "-o", str(tmp_path / "m.pt"), "-d", str(tmp_path),
                                       "--device", device])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "m.pt").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_run_started_on_the_gpu_resumes_and_exports_on_the_cpu(tmp_path):
    recipe_path = _recipe(tmp_path, 20)
    raw = json.loads(recipe_path.read_text())
    raw["stages"].append(dict(raw["stages"][0], target_kbps=1.0))
    recipe_path.write_text(json.dumps(raw))
    gpu = Trainer(Recipe.load(recipe_path, tmp_path), tmp_path / "work", device="cuda")
    gpu.fit_lpc()
    gpu.train_stages(gpu.chunks(), layers=1)
    ck = torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=True)  # no map_location
    assert ck["stage"] == 1 and all(t.device.type == "cpu" for t in ck["model"].values())
    cpu = Trainer(Recipe.load(recipe_path, tmp_path), tmp_path / "work")
    cpu.run(tmp_path / "model.pt")
    model = CascadeModel.from_file(tmp_path / "model.pt")
    assert model.num_layers == 2
    trained_on_gpu = gpu.model.stages[0].state_dict()
    assert all(torch.equal(v.cpu(), model.stages[0].state_dict()[k])
               for k, v in trained_on_gpu.items() if v.is_floating_point())
