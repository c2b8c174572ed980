"""Golden streams of the music tiers (tests/golden/README.md): a change to their weights,
tables, band envelope, stereo coding or rate control cannot pass unnoticed. Same tolerance as
tests/test_golden.py: streams byte for byte up to the float encoder's boundary flips
(tests/encoding_match.py), decoded samples within 1e-4."""

from pathlib import Path

import numpy as np
import pytest

from nwcodec.codec import Codec
from tests.encoding_match import assert_encodes_like

GOLDEN = Path(__file__).parent / "golden"
TOLERANCE = 1e-4
EVERY = 16  # the reference keeps every 16th decoded sample (a real change moves them all)
RETIRED = ["music-32kbps-v1", "music-64kbps-v1",  # their files must still decode
           "music-32kbps-v2", "music-64kbps-v2", "music-96kbps-v2", "music-128kbps-v2",
           "music-32kbps-v3", "music-64kbps-v3", "music-96kbps-v3",
           "music-128kbps-v3"]
TIERS = [*RETIRED, "music-32kbps", "music-64kbps", "music-96kbps", "music-128kbps"]
SR = 44100


def music_excerpt() -> np.ndarray:
    """2.5 s of deterministic stereo 'music' (two chunks): a chord panned left, a melody right,
    a noise hi-hat in the middle, so the encoder codes left/right, every band has energy, and
    the second chunk is a short one."""
    t = np.arange(int(2.5 * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 6
    melody = np.sin(2 * np.pi * (440 + 220 * (np.floor(4 * t) % 3)) * t) / 4
    hats = np.random.default_rng(7).standard_normal(t.size) * np.exp(-40 * (t % 0.125)) / 10
    left, right = chord + 0.3 * melody + hats, 0.3 * chord + melody + hats
    return np.stack([left, right], axis=1).astype(np.float32)


def write_golden() -> None:
    """Regenerate the music golden files: when a tier is added, or (one tier's file at a
    time, said in tests/golden/README.md) when the encoder deliberately codes differently;
    never to make a test pass."""
    x = music_excerpt()
    reference = {}
    for tier in TIERS:
        data = Codec.load(tier).encode(x, SR)
        (GOLDEN / f"{tier}.nwc").write_bytes(data)
        reference[tier.replace("-", "_")] = Codec.load(tier).decode(data)[0][::EVERY]
    np.savez_compressed(GOLDEN / "reference_music.npz", **reference)


@pytest.mark.parametrize("tier", TIERS)
def test_music_tier_decodes_golden_stream(tier):
    reference = np.load(GOLDEN / "reference_music.npz")[tier.replace("-", "_")]
    y, sr = Codec.load(tier).decode((GOLDEN / f"{tier}.nwc").read_bytes())
    assert sr == SR and y.shape == (int(2.5 * SR), 2)
    assert np.abs(y[::EVERY] - reference).max() < TOLERANCE


@pytest.mark.parametrize("tier", TIERS)
def test_music_tier_encodes_golden_stream(tier):
    codec = Codec.load(tier)
    assert_encodes_like(codec.encode(music_excerpt(), SR), (GOLDEN / f"{tier}.nwc").read_bytes(),
                        codec)


def test_a_real_change_is_not_taken_for_a_boundary_flip():
    codec = Codec.load("music-32kbps")
    quieter = codec.encode(0.7 * music_excerpt(), SR)
    with pytest.raises(AssertionError):
        assert_encodes_like(quieter, (GOLDEN / "music-32kbps.nwc").read_bytes(), codec)


if __name__ == "__main__":
    write_golden()
