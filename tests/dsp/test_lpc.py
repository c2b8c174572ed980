"""LPC analysis/synthesis: AR recovery, LSF conversion, stability, perfect reconstruction."""

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from nwcodec.dsp import lpc

SAMPLE = Path(__file__).resolve().parents[2] / "nwcodec" / "data" / "sample.flac"


def random_stable_lpc(rng: np.random.Generator, n: int, order: int, kmax: float) -> np.ndarray:
    """Random stable filters from reflection coefficients in (-kmax, kmax) (step-up)."""
    a = np.ones((n, 1))
    for k in rng.uniform(-kmax, kmax, (order, n, 1)):
        ext = np.concatenate([a, np.zeros((n, 1))], 1)
        a = ext + k * ext[:, ::-1]
    return a


def max_pole_radius(a: np.ndarray) -> float:
    return max(np.abs(np.roots(row)).max() for row in a.reshape(-1, a.shape[-1]))


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    x, sr = sf.read(str(SAMPLE), dtype="float64")
    return x, sr


def test_recovers_ar16_coefficients():
    rng = np.random.default_rng(0)
    angles = np.linspace(0.25, 2.9, 8) + rng.uniform(-0.1, 0.1, 8)  # well-spread resonances
    poles = rng.uniform(0.6, 0.9, 8) * np.exp(1j * angles)
    a_true = np.real(np.poly(np.concatenate([poles, poles.conj()])))
    x = scipy.signal.lfilter([1.0], a_true, rng.standard_normal(200_000))
    a_hat, _ = lpc.levinson(lpc.autocorrelation(x, 16))
    assert np.abs(a_hat - a_true).max() < 0.05
    # Same through the framed analysis (one long frame, lag window effectively off).
    fr = lpc.lpc_analysis(x, 16000, 16, frame=x.size, lag_f0=1e-3, white_noise_db=-200)
    assert np.abs(fr.a[0] - a_true).max() < 0.05


def test_lsf_round_trip_accuracy():
    rng = np.random.default_rng(1)
    a = random_stable_lpc(rng, 2000, 16, 0.99)
    lsf = lpc.lpc_to_lsf(a)
    assert np.all(np.diff(lsf, axis=-1) > 0) and lsf.min() > 0 and lsf.max() < np.pi
    a2 = lpc.lsf_to_lpc(lsf)
    assert np.abs(a2 - a).max() < 1e-8
    assert np.abs(lpc.lpc_to_lsf(a2) - lsf).max() < 1e-6
    # Random valid LSF sets (min spacing 0.02 rad) -> LPC -> LSF.
    ref = lpc.stabilize_lsf(np.sort(rng.uniform(0, np.pi, (2000, 16)), -1), 0.02, 0.05)
    assert np.abs(lpc.lpc_to_lsf(lpc.lsf_to_lpc(ref)) - ref).max() < 1e-6


def test_lsf_of_known_filter():
    # A(z) = 1 - 2r cos(w) z^-1 + r^2 z^-2 has LSFs symmetric around w for r -> 1.
    w = 1.0
    lsf = lpc.lpc_to_lsf(np.array([1.0, -2 * 0.999 * np.cos(w), 0.999**2]))
    assert lsf[0] < w < lsf[1] and abs(lsf.mean() - w) < 1e-3


@pytest.mark.parametrize("use_torch", [False, True])
def test_stabilized_quantized_lsfs_give_stable_filters(speech, use_torch):
    x, sr = speech
    lsf = lpc.lpc_analysis(lpc.preemphasis(x)[0], sr).lsf
    rng = np.random.default_rng(2)
    quant = np.round(lsf / 0.05) * 0.05 + rng.normal(0, 0.15, lsf.shape)  # crosses often
    assert np.any(np.diff(quant, axis=-1) <= 0)
    if use_torch:
        out = lpc.stabilize_lsf(torch.tensor(quant), min_gap=0.02).numpy()
    else:
        out = lpc.stabilize_lsf(quant, min_gap=0.02)
    assert np.all(np.diff(out, axis=-1) >= 0.02 - 1e-12)
    assert out.min() >= 0.02 - 1e-12 and out.max() <= np.pi - 0.02 + 1e-12
    a_sub = lpc.lsf_to_subframe_lpc(out, 4)
    assert max_pole_radius(a_sub) < 1.0
    assert max_pole_radius(lpc.bandwidth_expand(a_sub, 0.9)) < 0.9


def test_stabilize_is_identity_on_valid_lsfs():
    lsf = np.linspace(0.2, 2.9, 16)
    np.testing.assert_allclose(lpc.stabilize_lsf(lsf, 0.02), lsf)


def _coded_path(x: np.ndarray, sr: int, order: int, frame: int, subframes: int):
    y, _ = lpc.preemphasis(x)
    fr = lpc.lpc_analysis(y, sr, order, frame)
    y = np.pad(y, (0, fr.a.shape[0] * frame - y.size))
    return y, lpc.lsf_to_subframe_lpc(lpc.stabilize_lsf(fr.lsf), subframes, gamma=0.994)


def test_perfect_reconstruction_on_speech_streaming(speech):
    x, sr = speech
    y, a_sub = _coded_path(x, sr, 16, 320, 4)
    e, _ = lpc.residual(y, a_sub)
    assert (e**2).sum() < 0.2 * (y**2).sum()  # LPC actually predicts speech
    y_hat, _ = lpc.synthesize(e, a_sub)
    assert np.abs(y_hat - y).max() < 1e-5
    x_hat, _ = lpc.deemphasis(y_hat)
    assert np.abs(x_hat[: x.size] - x).max() < 1e-5
    # Same result frame-chunk by frame-chunk with carried states (no resets, no clicks).
    rs = ss = ds = None
    out = []
    for f0 in range(0, a_sub.shape[0], 7):
        chunk = slice(f0 * 320, (f0 + 7) * 320)
        ec, rs = lpc.residual(y[chunk], a_sub[f0 : f0 + 7], rs)
        yc, ss = lpc.synthesize(ec, a_sub[f0 : f0 + 7], ss)
        xc, ds = lpc.deemphasis(yc, state=ds)
        out.append(xc)
    assert np.abs(np.concatenate(out)[: x.size] - x).max() < 1e-5


def test_torch_path_matches_numpy(speech):
    x, sr = speech
    y, a_sub = _coded_path(x[:32000], sr, 16, 320, 4)
    e, _ = lpc.residual(y, a_sub)
    y_hat, _ = lpc.synthesize(e, a_sub)
    yt, at = torch.tensor(y)[None], torch.tensor(a_sub)[None]
    et, _ = lpc.residual(yt, at)
    np.testing.assert_allclose(et[0].numpy(), e, atol=1e-12)
    # Torch synthesis in two calls with carried state.
    half = e.size // 2
    y1, st = lpc.synthesize(et[:, :half], at[:, : a_sub.shape[0] // 2])
    y2, _ = lpc.synthesize(et[:, half:], at[:, a_sub.shape[0] // 2 :], st)
    np.testing.assert_allclose(torch.cat([y1, y2], -1)[0].numpy(), y_hat, atol=1e-9)
    xt, _ = lpc.deemphasis(lpc.preemphasis(torch.tensor(x))[0])
    np.testing.assert_allclose(xt.numpy(), x, atol=1e-12)
    fr_t = lpc.lpc_analysis(torch.tensor(x[:6400]), sr)
    fr_n = lpc.lpc_analysis(x[:6400], sr)
    np.testing.assert_allclose(fr_t.a.numpy(), fr_n.a, atol=1e-10)


def test_works_at_44k():
    sr, order, frame = 44100, 32, 880
    rng = np.random.default_rng(3)
    x = scipy.signal.lfilter([1.0], random_stable_lpc(rng, 1, 8, 0.9)[0], rng.normal(size=sr))
    y, a_sub = _coded_path(x, sr, order, frame, 4)
    assert a_sub.shape[-1] == order + 1 and max_pole_radius(a_sub[::10]) < 1
    e, _ = lpc.residual(y, a_sub)
    assert np.abs(lpc.synthesize(e, a_sub)[0] - y).max() < 1e-6


def test_gradcheck_torch_lpc_path():
    torch.manual_seed(0)
    lsf = torch.tensor([[0.3, 0.9, 1.6, 2.4], [0.4, 1.0, 1.5, 2.6]], dtype=torch.float64)
    lsf.requires_grad_()
    e = torch.randn(2 * 2 * 6, dtype=torch.float64, requires_grad=True)
    state = torch.randn(4, dtype=torch.float64, requires_grad=True)

    def path(lsf, e, state):
        a_sub = lpc.lsf_to_subframe_lpc(lpc.stabilize_lsf(lsf, 0.05), 2, gamma=0.98)
        y, st = lpc.synthesize(e, a_sub, state)
        r, _ = lpc.residual(y, a_sub, state)
        return y, st, r

    assert torch.autograd.gradcheck(path, (lsf, e, state), fast_mode=True)
    x = torch.randn(3, 40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: lpc.levinson(lpc.autocorrelation(x, 4))[0], (x,), fast_mode=True
    )


def test_rejects_odd_order():
    with pytest.raises(ValueError):
        lpc.lsf_to_lpc(np.ones(3))
