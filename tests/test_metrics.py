"""nwcodec.metrics: ceilings, monotonicity under noise, delay compensation, NaN-with-reason."""

import importlib.resources
import math

import numpy as np
import pytest

from nwcodec import metrics as M
from tests.extras import requires_eval

pytestmark = requires_eval

SR = 16000


def _speech() -> np.ndarray:
    """The shipped real-speech sample if present, else a synthetic voiced/unvoiced signal."""
    sample = importlib.resources.files("nwcodec") / "data" / "sample.flac"
    if sample.is_file():
        import soundfile as sf

        audio, sr = sf.read(str(sample), dtype="float64")
        return M.resample(audio, sr, SR)[: 4 * SR]
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.7 * t)) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    hiss = rng.normal(0, 0.3, len(t)) * np.clip(np.sin(2 * np.pi * 3 * t + 2), 0, None) ** 4
    return 0.1 * (voiced * envelope + hiss)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return _speech()


@pytest.fixture(scope="module")
def identical(speech):
    return M.evaluate(speech, speech, SR)


def _noisy(x: np.ndarray, snr_db: float) -> np.ndarray:
    noise = np.random.default_rng(1).normal(0, 1, len(x))
    return x + noise * np.std(x) / np.std(noise) * 10 ** (-snr_db / 20)


def test_identical_signals_score_at_ceiling(identical):
    s = identical.scores
    assert identical.lag == 0
    assert s["pesq_wb"].value == pytest.approx(4.644, abs=0.01)
    assert s["visqol_speech"].value > 4.0
    assert s["stoi"].value == pytest.approx(1.0, abs=1e-6)
    assert s["si_sdr"].value > 60
    assert s["mel_distance"].value == pytest.approx(0.0, abs=1e-9)


def test_added_noise_lowers_every_score(speech, identical):
    noisy = M.evaluate(speech, _noisy(speech, 10), SR)
    for name, result in noisy.scores.items():
        assert result.ok, result.reason
        if M.HIGHER_IS_BETTER[name]:
            assert result.value < identical.scores[name].value - 0.01, name
        else:
            assert result.value > identical.scores[name].value + 0.01, name


def test_known_delay_is_compensated(speech, identical):
    shifted = np.concatenate([np.zeros(137), speech])  # 137 samples late, and longer
    result = M.evaluate(speech, shifted, SR)
    assert result.lag == 137
    for name, r in result.scores.items():
        assert r.value == pytest.approx(identical.scores[name].value, abs=1e-6), name


def test_align_handles_early_signal():
    x = np.random.default_rng(2).normal(size=4000)
    ref, deg, lag = M.align(x, x[25:], max_lag=100)
    assert lag == -25
    assert len(ref) == len(deg) == 3975
    np.testing.assert_array_equal(ref, deg)


def test_other_sample_rate_is_resampled(speech):
    x48 = M.resample(speech, SR, 48000)
    assert M.pesq_wb(x48, x48, 48000).value == pytest.approx(4.644, abs=0.01)


BAD_INPUTS = {
    "too short": (np.full(100, 0.1), np.full(100, 0.1)),
    "empty": (np.zeros(0), np.zeros(0)),
    "silent reference": (np.zeros(SR), np.ones(SR) * 0.1),
    "silent degraded": ("speech", np.zeros(3 * SR)),
    "non-finite": ("speech", np.full(3 * SR, np.nan)),
    "not mono": ("speech", np.zeros((2, 3 * SR))),
}


@pytest.mark.parametrize("metric", sorted(M.METRICS))
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_nan_with_reason(speech, metric, case):
    ref, deg = BAD_INPUTS[case]
    ref = speech if isinstance(ref, str) else ref
    result = M.METRICS[metric](ref, deg, SR)
    assert math.isnan(result.value)
    assert not result.ok
    assert result.reason


def test_evaluate_never_raises_on_bad_input(speech):
    result = M.evaluate(speech, np.full(3 * SR, np.inf), SR)
    assert all(not r.ok and r.reason == "non-finite samples" for r in result.scores.values())


def test_library_error_becomes_nan_with_reason(speech, monkeypatch):
    import pesq

    def boom(*args, **kwargs):
        raise pesq.NoUtterancesError("no utterances detected")

    monkeypatch.setattr(pesq, "pesq", boom)
    result = M.pesq_wb(speech, speech, SR)
    assert not result.ok
    assert "NoUtterancesError" in result.reason


def test_unknown_metric_is_rejected(speech):
    with pytest.raises(ValueError, match="unknown metric"):
        M.evaluate(speech, speech, SR, metrics=["pesq_nb"])
