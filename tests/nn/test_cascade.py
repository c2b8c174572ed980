"""The cascade: one closed loop for training, coding and decoding; weights files."""

import io

import numpy as np
import pytest
import torch

from nwcodec.entropy import tables_to_bytes
from nwcodec.nn.cmrl import CascadeModel, ModelFileError


def _residual(seconds: float = 0.6) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return 0.3 * torch.randn(1, 1, int(seconds * 16000), generator=g)


def test_coding_equals_the_hard_training_pass_layer_by_layer():
    model = CascadeModel.test_model()
    with torch.no_grad():
        model.stage_scale.copy_(torch.tensor([1.0, 3.0]))
    residual = _residual()
    model.calibrate(residual)
    model.update()
    layers = model.compress_residual(residual)
    assert len(layers) == model.num_layers
    for upto in (1, 2):
        with torch.no_grad():
            hard = model(residual, upto=upto, mode="hard").residual_hat
        decoded = model.decompress_residual(layers[:upto], residual.shape[-1])
        assert torch.equal(decoded, hard)


def test_training_pass_freezes_lower_stages():
    model = CascadeModel.test_model().train()
    out = model(_residual(), mode="soft", frozen=1)
    (out.bits[1] + out.penalty).backward()
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert any(p.grad is not None for p in model.stages[1].parameters())


def test_weights_file_round_trip_and_bad_table_set(tmp_path):
    model = CascadeModel.test_model()
    model.save(tmp_path / "m.pt")
    again = CascadeModel.from_file(tmp_path / "m.pt")
    assert again.model_hash == model.model_hash
    x = np.random.default_rng(1).standard_normal(7000).astype(np.float32) * 0.1
    assert again.encode_chunk(x) == model.encode_chunk(x)

    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    blob["tables"] = torch.frombuffer(bytearray(tables_to_bytes(model.tables[:-1])),
                                      dtype=torch.uint8)
    buf = io.BytesIO()
    torch.save(blob, buf)
    (tmp_path / "short.pt").write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match="tables"):
        CascadeModel.from_file(tmp_path / "short.pt")


def test_precomputed_frozen_stages_give_the_same_training_pass():
    model = CascadeModel.test_model()
    residual = _residual()
    with torch.no_grad():
        full = model(residual, mode="hard", frozen=1)
        done = model(residual, upto=1, frozen=1).residual_hat
        resumed = model(residual, mode="hard", frozen=1, done=done)
    assert len(resumed.bits) == 1 and torch.equal(resumed.bits[0], full.bits[1])
    assert torch.allclose(resumed.residual_hat, full.residual_hat, rtol=0, atol=1e-6)
