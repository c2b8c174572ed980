"""eval/music_rates.py: whole-track rates and the count of records stripped of every layer."""

import numpy as np
import soundfile as sf

from eval import music_rates as R
from nwcodec.codec import Codec

SR = 44100


def _tones(path, seconds=3.0, left=0.2, right=0.2):
    t = np.arange(int(seconds * SR)) / SR
    x = np.stack([left * np.sin(2 * np.pi * 440 * t), right * np.sin(2 * np.pi * 660 * t)], 1)
    sf.write(path, x.astype(np.float32), SR)
    return path


def test_every_active_record_of_a_track_is_counted(tmp_path):
    seconds, kbps, nominal, active, stripped = R.track_rates(
        Codec.load("music-64kbps"), _tones(tmp_path / "x.wav"))
    assert (seconds, nominal) == (3.0, 64.0)
    assert (active, stripped) == (4, 0)  # two chunks (2 s + 1 s) of two channels, all coded
    assert 0 < kbps <= 64 * 1.08


def test_a_record_without_layers_counts_as_stripped(tmp_path):
    # A right channel 36 dB below the left (and above the comfort-noise level) is 'weak':
    # side information, no layers.
    _, _, _, active, stripped = R.track_rates(
        Codec.load("music-64kbps"), _tones(tmp_path / "x.wav", left=0.5, right=0.008))
    assert (active, stripped) == (4, 2)
