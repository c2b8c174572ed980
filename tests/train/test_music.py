"""44.1 kHz stereo music through the trainer and the codec: the chunk set holds the signals
the encoder codes (mid/side where it picks it), a tiny order-0 cascade trains a few steps
from a music manifest, and it codes stereo through ``Codec`` with each source left where it
was (synthetic signals; an ad-hoc tier, the zoo has no music tier yet)."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from nwcodec.bitstream import FLAG_MID, FLAG_SIDE, BitstreamReader
from nwcodec.codec import Codec
from nwcodec.dsp.stereo import to_mid_side
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train.data import read_coded
from nwcodec.train.trainer import Recipe, Trainer
from nwcodec.zoo import Tier

SR = 44100
TINY = {"strides": [9, 10], "channels": [8, 12], "blocks": [1, 1], "latent_channels": 4,
        "num_centroids": 8, "skips": 1, "skip_channels": 2, "skip_stride": 10,
        "skip_centroids": 4}


def _tone(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = 110 * 2 ** (seed / 12)
    return (0.2 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * 5 * f * t)
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _near_mono(seconds: float, seed: int) -> np.ndarray:
    x = _tone(seconds, seed)
    return np.stack([x, 0.9 * x + 0.003 * np.random.default_rng(seed).standard_normal(x.size)],
                    1).astype(np.float32)


def _panned(seconds: float, seed: int, channel: int) -> np.ndarray:
    out = np.zeros((int(seconds * SR), 2), np.float32)
    out[:, channel] = _tone(seconds, seed)
    return out


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    tracks = {"mono.flac": _near_mono(4.5, 0), "left.flac": _panned(4.5, 3, 0),
              "both.flac": _near_mono(4.5, 7)}
    rows = ["path\tsource\tlicence\tseconds"]
    for name, audio in tracks.items():
        sf.write(tmp_path / name, audio, SR)
        rows.append(f"{name}\tsynthetic\tCC0\t4.5")
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    return tmp_path / "train.tsv"


def test_coded_signals_are_mid_side_only_where_the_encoder_picks_it(manifest):
    near_mono = read_coded(manifest.parent / "mono.flac", SR, 2 * SR)
    audio, _ = sf.read(manifest.parent / "mono.flac", dtype="float32")
    mid, side = to_mid_side(audio[:, 0], audio[:, 1])
    assert np.array_equal(near_mono, np.stack([mid, side]))
    panned = read_coded(manifest.parent / "left.flac", SR, 2 * SR)
    assert np.array_equal(panned, sf.read(manifest.parent / "left.flac", dtype="float32")[0].T)


def test_music_cascade_trains_from_a_stereo_manifest_and_codes_stereo(manifest, tmp_path):
    recipe = {
        "name": "tiny-music", "train_tsv": "train.tsv",
        "lpc": {"sample_rate": SR, "order": 0, "frame": 882, "subframes": 6},
        "train_seconds": 8.0,  # two of the three 4.5-s tracks
        "stages": [{"config": TINY, "target_kbps": 8.0, "steps": 3}] * 2,
        "batch": 2, "lr": 3e-3, "loss": {"time": 50, "mel": 5, "priority": 5, "nmr": 0.5},
        "threads": 1,
    }
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    torch.manual_seed(0)
    trainer = Trainer(Recipe.load(tmp_path / "recipe.json", tmp_path), tmp_path / "work")
    assert len(trainer.files) == 2
    data = trainer.chunks()
    # every full 2-s chunk of every coded channel that is not almost silent (a panned
    # track's empty channel is)
    expected = sum(2 if p.name != "left.flac" else 1 for p in trainer.files) * 2
    assert len(data) == expected and data.residual.shape[1] == 2 * SR
    trainer.run(tmp_path / "music.pt")
    model = CascadeModel.from_file(tmp_path / "music.pt")
    assert model.sample_rate == SR and model.chunk_samples == 2 * SR and model.num_layers == 2

    tier = Tier(id=65000, name="music-test", sample_rate=SR, chunk_samples=2 * SR, layers=2,
                nominal_kbps=0.0, weights=None, sha256=None, description="test only")
    codec = Codec(model, tier)
    cases = {"left": _panned(3.0, 2, 0), "right": _panned(3.0, 5, 1),
             "near-mono": _near_mono(3.0, 4)}
    for name, audio in cases.items():
        data = codec.encode(audio, SR)
        flags = [(c.channel, c.flags & (FLAG_MID | FLAG_SIDE))
                 for c in BitstreamReader(io.BytesIO(data))]
        decoded, sr = codec.decode(data)
        assert sr == SR and decoded.shape == audio.shape and np.isfinite(decoded).all()
        energy = (decoded.astype(np.float64) ** 2).sum(0)
        if name == "near-mono":
            assert set(flags) == {(0, FLAG_MID), (1, FLAG_SIDE)}
            assert 0.5 < energy[1] / energy[0] < 2.0
        else:
            # hard-panned: coded left/right, the empty channel stays (exactly) empty
            assert {f for _, f in flags} == {0}
            source = 0 if name == "left" else 1
            assert energy[source] > 0 and energy[1 - source] < 1e-6 * energy[source]
