"""The learned postfilter: starts as the bass postfilter, filters frame by frame without
seams, round-trips through its weights file, and trains from a recipe (tiny run)."""

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import butter, sosfiltfilt

from nwcodec.bitstream import strip_layers
from nwcodec.codec import Codec
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.errors import NwcodecError
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.postfilter import LearnedPostfilter, PostfilterConfig
from nwcodec.train.postfilter import PostfilterRecipe, PostfilterTrainer
from nwcodec.zoo import LadderPostfilter, ShippedPostfilter, WeightsError

SR = 16000
SAMPLE = Path(__file__).resolve().parents[2] / "nwcodec" / "data" / "sample.flac"


def _noisy_voiced(seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    n = np.arange(int(SR * seconds))
    clean = 0.1 * sum(np.sin(2 * np.pi * k * 150.0 * n / SR) / k for k in range(1, 26))
    noise = np.random.default_rng(0).standard_normal(n.size) * 0.01
    return clean.astype(np.float32), noise.astype(np.float32)


def _low_band_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(sosfiltfilt(butter(6, 1000, fs=SR, output="sos"), x) ** 2))


def test_untrained_postfilter_cleans_like_the_bass_postfilter():
    clean, noise = _noisy_voiced()
    y = LearnedPostfilter().process(clean + noise, 12.0)
    bass = BassPostfilter()(clean + noise, SR)
    # the same inter-harmonic noise reduction below 1 kHz, within 1 dB
    assert _low_band_db(y - clean) < _low_band_db(noise) - 1.5
    assert abs(_low_band_db(y - clean) - _low_band_db(bass - clean)) < 1.0


def test_frame_kernels_cross_fade_without_seams():
    pf = LearnedPostfilter()
    hop, taps = pf.config.hop, pf.config.taps
    x = torch.randn(2, 20 * hop)
    frames = 21
    identity = torch.zeros(2, frames, taps)
    identity[..., taps // 2] = 1.0
    # a unit impulse in every frame passes the signal exactly: the windows sum to one
    assert torch.allclose(pf._adaptive_fir(x, identity), x, atol=1e-6)
    # one kernel in every frame is a plain convolution ("same" alignment)
    k = torch.randn(taps)
    y = pf._adaptive_fir(x, k.expand(2, frames, taps))
    ref = torch.nn.functional.conv1d(x[:, None], k[None, None], padding=taps // 2)[:, 0]
    assert torch.allclose(y, ref, atol=1e-5)


def test_weights_file_round_trip_and_bad_file(tmp_path):
    pf = LearnedPostfilter()
    with torch.no_grad():
        pf.shape_head.bias.normal_(0, 0.01)
    pf.save(tmp_path / "pf.pt")
    x = _noisy_voiced()[0]
    assert np.array_equal(LearnedPostfilter.from_file(tmp_path / "pf.pt").process(x, 8.0),
                          pf.eval().process(x, 8.0))
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(NwcodecError, match="cannot load postfilter"):
        LearnedPostfilter.from_file(tmp_path / "bad.pt")


def test_shipped_postfilter_refuses_replaced_weights(tmp_path, monkeypatch):
    LearnedPostfilter().save(tmp_path / "pf.pt")
    monkeypatch.setattr("nwcodec.zoo.WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError, match="corrupt or replaced"):
        ShippedPostfilter("pf.pt", "0" * 64)(np.zeros(SR, np.float32), SR, 8.0)


def test_postfilter_trains_from_a_recipe_and_resumes(tmp_path, caplog):
    CascadeModel.test_model().save(tmp_path / "codec.pt")
    for i in range(2):
        shutil.copy(SAMPLE, tmp_path / f"s{i}.flac")
    (tmp_path / "list.tsv").write_text("path\ns0.flac\ns1.flac\n")
    recipe = {"name": "tiny", "kind": "postfilter", "train_tsv": "list.tsv",
              "models": [{"weights": "codec.pt", "layers": [1, 2]}], "train_files": 2,
              "steps": 4, "batch": 2, "window_s": 0.25, "checkpoint_every": 2, "threads": 1}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    work = tmp_path / "work"
    with caplog.at_level("INFO", logger="nwcodec.train"):
        PostfilterTrainer(PostfilterRecipe.load(path, tmp_path), work).run(tmp_path / "a.pt")
    data = np.load(work / "decoded.npz")
    assert len(data["decoded"]) == 2 * len(data["clean"])  # every chunk at 1 and 2 layers
    assert (data["kbps"][1::2] > data["kbps"][::2]).all()  # two layers cost more than one
    trained = LearnedPostfilter.from_file(tmp_path / "a.pt")
    assert any(float(p.detach().abs().sum()) > 0 for p in trained.shape_head.parameters())
    # a finished run resumes to the same weights without training again
    caplog.clear()
    with caplog.at_level("INFO", logger="nwcodec.train"):
        PostfilterTrainer(PostfilterRecipe.load(path, tmp_path), work).run(tmp_path / "b.pt")
    assert "postfilter step" not in caplog.text
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_postfilter_recipe_fine_tunes_from_init_weights(tmp_path):
    CascadeModel.test_model().save(tmp_path / "codec.pt")
    shutil.copy(SAMPLE, tmp_path / "s0.flac")
    (tmp_path / "list.tsv").write_text("path\ns0.flac\n")
    start = LearnedPostfilter(PostfilterConfig(hidden=8))
    torch.nn.init.normal_(start.shape_head.weight)  # not what a fresh network holds
    start.save(tmp_path / "start.pt")
    recipe = {"name": "tiny", "kind": "postfilter", "train_tsv": "list.tsv",
              "models": [{"weights": "codec.pt", "layers": [1]}], "train_files": 1,
              "steps": 1, "batch": 1, "window_s": 0.25, "lr": 1e-6, "threads": 1,
              "init": "start.pt"}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    PostfilterTrainer(PostfilterRecipe.load(path, tmp_path), tmp_path / "w").run(tmp_path / "a.pt")
    tuned = LearnedPostfilter.from_file(tmp_path / "a.pt")
    assert tuned.config == start.config
    for a, b in zip(tuned.parameters(), start.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-4)  # one step at lr 1e-6 from the init weights
    path.write_text(json.dumps({**recipe, "config": {"hidden": 16}}))
    with pytest.raises(ValueError, match="takes its config"):
        PostfilterRecipe.load(path, tmp_path)


def test_ladder_tiers_pick_their_postfilter_by_layers_decoded():
    """A speech-24kbps file decodes through the 4-layer postfilter; stripped to 3 layers,
    through the one for 3 (the speech postfilter unless a 3-layer one is listed)."""
    x, _ = sf.read(SAMPLE, dtype="float32")
    codec = Codec.load("speech-24kbps")
    ladder = codec.tier.postfilter
    assert isinstance(ladder, LadderPostfilter) and ladder.for_layers(4) != ladder.for_layers(1)
    data = codec.encode(x[:SR], SR)
    three = io.BytesIO()
    strip_layers(io.BytesIO(data), three, 3)
    for stream, layers in ((data, 4), (three.getvalue(), 3)):
        alone = Codec(codec.model, replace(codec.tier, postfilter=ladder.for_layers(layers)))
        assert np.array_equal(codec.decode(stream)[0], alone.decode(stream)[0])
    other = Codec(codec.model, replace(codec.tier, postfilter=ladder.for_layers(1)))
    assert not np.array_equal(codec.decode(data)[0], other.decode(data)[0])
