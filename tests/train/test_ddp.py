"""Data-parallel training: two gloo processes (as ``torchrun`` starts them) train one model."""

import hashlib
import json
import logging
import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from click.testing import CliRunner

from cli.app import main
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train.distributed import World
from nwcodec.train.trainer import Recipe, Trainer
from tests.train.test_trainer import _recipe


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _rank(rank: int, size: int, port: int, tmp: Path) -> None:
    """One training process: the environment ``torchrun`` would set, then two runs (the
    first stops after stage 0, the second resumes from its checkpoint)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    logger = logging.getLogger("nwcodec.train")
    logger.setLevel(logging.INFO)
    logger.addHandler(first := _Messages())
    recipe = Recipe.load(tmp / "recipe.json", tmp)
    torch.manual_seed(0)
    Trainer(recipe, tmp / "work").run(tmp / "first.pt", layers=1)
    logger.removeHandler(first)
    logger.addHandler(second := _Messages())
    trainer = Trainer(recipe, tmp / "work")
    digest = trainer.run(tmp / "model.pt")
    rates = trainer.world.sync_step([], torch.tensor([float(rank)]))
    torch.save({"state": trainer.model.state_dict(), "digest": digest, "rates": rates,
                "threads": torch.get_num_threads(), "first": first.lines,
                "second": second.lines}, tmp / f"rank{rank}.pt")
    trainer.world.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_one_model_export_it_and_resume(tmp_path):
    path = _recipe(tmp_path, 6)
    raw = json.loads(path.read_text())
    raw["stages"].append(dict(raw["stages"][0], target_kbps=1.0))
    raw["joint"] = {"steps": 4, "lr": 1e-3}
    raw["threads"] = 2
    path.write_text(json.dumps(raw))
    mp.spawn(_rank, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))

    # gradients averaged and counts summed: the ranks (different batches) hold one model
    assert r0["state"].keys() == r1["state"].keys()
    for name, tensor in r0["state"].items():
        assert torch.equal(tensor, r1["state"][name]), name
    assert any("running_counts" in n and t.sum() > 0 for n, t in r0["state"].items())
    assert r0["rates"] == r1["rates"] == [0.5]  # what the rate controllers see: the mean
    assert r0["threads"] == r1["threads"] == 1  # recipe.threads // 2
    # rank 0 did the LPC fit and the data cache, rank 1 loaded them
    assert any(m.startswith("data:") for m in r0["first"])
    assert not any(m.startswith(("data:", "lpc: fitted")) for m in r1["first"])
    # the second run resumed after stage 0: it trained stage 1 and the joint phase only
    assert not any(m.startswith("stage 0 step") for m in r0["second"])
    assert any(m.startswith("stage 1 step 6/6") for m in r0["second"])
    assert any(m.startswith("joint step 4/4") for m in r0["second"])

    # the weights file is rank 0's: its digest on both ranks, rank 0's checkpointed weights
    out = tmp_path / "model.pt"
    assert r0["digest"] == r1["digest"] == hashlib.sha256(out.read_bytes()).hexdigest()
    ck = torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=True)
    assert ck["stage"] == 3
    exported = CascadeModel.from_file(out).state_dict()
    for name, tensor in ck["model"].items():
        assert torch.equal(tensor, r0["state"][name]), name
        if "counts" not in name:  # the file's counts come from the calibration pass
            assert torch.equal(tensor, exported[name]), name
    # the calibration counts summed over the ranks' shares are one process's counts
    single = Trainer(Recipe.load(path, tmp_path), tmp_path / "work", World())
    assert single.run(tmp_path / "single.pt") == r0["digest"]


def test_a_world_of_one_changes_nothing():
    world = World()
    assert not world.active and world.is_main and world.threads(3) == 3
    assert world.sync_step([], torch.tensor([3.5, 1.0])) == [3.5, 1.0]
    assert world.broadcast_object("x") == "x"
    assert np.array_equal(world.rng(7).integers(0, 100, 8),
                          np.random.default_rng(7).integers(0, 100, 8))
    # another rank draws other batches from the same seed; rank 0 those of one process
    assert World(0, 2).rng(7).integers(0, 1 << 30) == np.random.default_rng(7).integers(0, 1 << 30)
    assert World(1, 2).rng(7).integers(0, 1 << 30) != World(0, 2).rng(7).integers(0, 1 << 30)
    assert World(1, 4).threads(2) == 1


def test_the_postfilter_trainer_refuses_torchrun(tmp_path):
    recipe = tmp_path / "pf.json"
    recipe.write_text(json.dumps({"kind": "postfilter", "name": "pf", "train_tsv": "x.tsv",
                                  "models": []}))
    result = CliRunner().invoke(main, ["train", str(recipe), "-w", str(tmp_path / "w"),
                                       "-o", str(tmp_path / "o.pt")], env={"WORLD_SIZE": "2"})
    assert result.exit_code != 0 and "torchrun" in result.output
