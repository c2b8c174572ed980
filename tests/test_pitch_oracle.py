"""eval/pitch_oracle.py: the three postfilter variants of a decoded signal."""

import numpy as np

from eval.pitch_oracle import postfilter_variants

SR = 16000


def _voiced(seconds: float, f0: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (sum(0.1 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 20))
            + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def test_oracle_is_the_shipped_postfilter_when_the_pitch_agrees_and_differs_when_not():
    x = _voiced(2.5, 140.0, 0)
    chunks = [(x[:32000], 12.0), (x[32000:], 12.0)]
    same = postfilter_variants(chunks, x.astype(np.float64), SR)
    assert np.array_equal(same["off"], x)
    assert np.abs(same["shipped"] - x).max() > 1e-3  # the postfilter does act on voiced speech
    np.testing.assert_allclose(same["oracle"], same["shipped"], atol=1e-6)
    other = postfilter_variants(chunks, _voiced(2.5, 230.0, 1).astype(np.float64), SR)
    assert np.abs(other["oracle"] - other["shipped"]).max() > 1e-3
