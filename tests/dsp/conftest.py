"""Signals shared by the perceptual-proxy tests."""

import numpy as np
import pytest

SR = 16000


def vowels(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Harmonic 'syllables' (150 Hz, decaying harmonics, 250 ms on / 150 ms off) with a faint
    noise floor: voiced frames and pauses, as in speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    voiced = sum(np.sin(2 * np.pi * 150 * k * t + k) / k for k in range(1, 40))
    gate = ((t % 0.4) < 0.25).astype(float)
    gate = np.convolve(gate, np.hanning(161) / np.hanning(161).sum(), "same")
    return (0.1 * voiced * gate + rng.normal(0, 1e-4, t.size)).astype(np.float32)


@pytest.fixture(scope="session")
def speech_like() -> np.ndarray:
    return vowels()
