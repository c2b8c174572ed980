"""eval/transform_layer_oracle.py: the MDCT layer's transform, quantiser and rate."""

import numpy as np

from eval.transform_layer_oracle import (
    Item,
    calibrate,
    dequantise,
    entropy_bits,
    imdct,
    prediction_gain,
    quantise,
)


def _item(seed: int, seconds: float = 1.0) -> Item:
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    x = np.cumsum(rng.normal(0, 0.01, n)) * 0.05 + 0.05 * np.sin(np.arange(n) * 0.1)
    y = x + rng.normal(0, 0.01, n)  # a "decoded" signal with some error left
    return Item(x, y, base_bytes=1000, seconds=seconds)


def test_finer_steps_cost_more_bits_and_leave_less_error():
    item = _item(1)
    errors, bits = [], []
    for gain in (0.1, 0.03, 0.01):
        q, step = quantise(item, gain, beta=0.4)
        rebuilt = item.y + imdct(dequantise(q, step, fill=0.0), len(item.y))
        errors.append(np.mean((item.x - rebuilt) ** 2))
        bits.append(entropy_bits([item], gain, beta=0.4))
    assert errors[0] > errors[1] > errors[2]
    assert bits[0] < bits[1] < bits[2]


def test_noise_fill_touches_only_the_zeros_at_their_true_band_level():
    item = _item(2)
    q, step = quantise(item, 0.05, beta=0.0)
    filled = dequantise(q, step, fill=1.0, residual=item.residual)
    zeros = q == 0
    assert zeros.any() and (~zeros).any()
    np.testing.assert_array_equal(filled[~zeros], (q * step)[~zeros])
    true_rms = np.sqrt(np.mean(item.residual[zeros] ** 2))
    fill_rms = np.sqrt(np.mean(filled[zeros] ** 2))
    assert 0.8 < fill_rms / true_rms < 1.2
    np.testing.assert_array_equal(dequantise(q, step), q * step)


def test_calibration_hits_the_target_rate():
    items = [_item(3), _item(4)]
    base_kbps = sum(8 * i.base_bytes for i in items) / sum(i.seconds for i in items) / 1000
    gain, kbps = calibrate(items, beta=0.4, target_kbps=base_kbps + 20)
    assert abs(kbps - (base_kbps + 20)) < 0.2
    assert gain > 0


def test_prediction_gain_is_zero_where_y_matches_and_large_where_it_is_noise():
    rng = np.random.default_rng(3)
    n = 32000
    x = rng.normal(0, 0.1, n)
    noisy = x + rng.normal(0, 0.1, n)  # y correlated with x: a < 1 helps a little
    unrelated = rng.normal(0, 0.1, n)  # y unrelated to x: a = 0 halves the error energy
    snr, gain, total, _ = prediction_gain([Item(x, x.copy(), 0, 2.0)])
    assert np.all(snr > 100) and np.allclose(gain, 0.0) and total == 0.0
    snr, gain, total, _ = prediction_gain([Item(x, unrelated, 0, 2.0)])
    assert np.allclose(snr, -3.0, atol=0.5) and np.allclose(gain, 3.0, atol=0.5)
    assert abs(total - 3.0) < 0.5
    snr, gain, _, _ = prediction_gain([Item(x, noisy, 0, 2.0)])
    assert np.allclose(snr, 0.0, atol=0.5) and np.all((gain > 1.0) & (gain < 4.0))
