import numpy as np
import pytest
import torch

from nwcodec.nn.quantizer import RateController, SoftmaxQuantizer


def _peaked(q: SoftmaxQuantizer, shape=(4, 2, 500), seed=0) -> torch.Tensor:
    """Latents sitting near centroids, drawn from a skewed distribution."""
    g = torch.Generator().manual_seed(seed)
    k = q.num_centroids
    p = torch.softmax(-0.5 * torch.arange(k, dtype=torch.float), 0)
    idx = torch.multinomial(p, int(np.prod(shape)), replacement=True, generator=g).view(shape)
    noise = 0.005 * torch.randn(shape, generator=g)
    return q.centroids.detach()[0][idx] + noise


def test_hard_is_nearest_centroid():
    q = SoftmaxQuantizer(6, 16, groups=3)
    with torch.no_grad():
        q.centroids.add_(0.02 * torch.randn_like(q.centroids))
    z = torch.rand(2, 6, 50) * 2.4 - 1.2
    s = q.symbols(z)
    assert s.dtype == torch.long and s.shape == z.shape
    for c in range(6):
        cent = q.centroids[c // 2].detach()
        brute = (z[:, c, :, None] - cent).abs().argmin(-1)
        assert torch.equal(s[:, c], brute)
    out = q(z, "hard")
    assert torch.equal(out.z_hat, q.dequantize(s))
    assert torch.equal(out.symbols, s)


def test_soft_approaches_hard_and_ste_gradient_flows():
    q = SoftmaxQuantizer(2, 32, hardness=5000.0)
    z = (torch.rand(3, 2, 40) * 1.8 - 0.9).requires_grad_()
    hard = q(z, "hard").z_hat
    gap = (q(z, "soft").z_hat - hard).abs()
    assert gap.max() < 0.04 and (gap < 1e-3).float().mean() > 0.9  # differ only near midpoints
    out = q(z, "ste")
    assert torch.equal(out.z_hat.detach(), hard)
    q.hardness = 10.0
    out = q(z, "ste")
    out.z_hat.pow(2).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert q.centroids.grad is not None and q.centroids.grad.abs().sum() > 0
    z.grad = None
    q(z, "hard").z_hat.sum().backward()
    assert z.grad is None


def test_soft_entropy_matches_hard_entropy_when_peaked():
    q = SoftmaxQuantizer(2, 32, hardness=3000.0)
    z = _peaked(q)
    out = q(z, "soft")
    exact = q.hard_entropy(out.symbols)
    assert 1.0 < float(exact[0]) < 4.0  # a non-trivial distribution
    assert torch.allclose(out.entropy.double(), exact, atol=1e-3)
    assert torch.isclose(out.bits, out.entropy.sum() * 4 * 2 * 500)


def test_entropy_is_per_group():
    q = SoftmaxQuantizer(2, 32, groups=2, hardness=3000.0)
    z = _peaked(q, (4, 2, 500))
    z[:, 1] = q.centroids.detach()[1, 7]  # second group: one symbol only
    ent = q(z).entropy
    assert ent.shape == (2,) and ent[0] > 1.0 and ent[1] < 1e-3


def test_penalty_zero_when_one_hot_positive_when_soft():
    q = SoftmaxQuantizer(1, 8, hardness=1e4)
    z = q.centroids.detach()[0].view(1, 1, 8)
    assert q(z).penalty < 1e-6
    q.hardness = 1.0
    assert q(z).penalty > 0.5


def test_counts_running_last_and_calibrate():
    q = SoftmaxQuantizer(4, 16, groups=2)
    z = torch.rand(3, 4, 20) * 2 - 1
    q.train()
    q(z)
    q(z)
    run = q.export_counts()
    assert run.dtype == np.int64 and run.shape == (2, 16)
    assert run.sum() == 2 * z.numel()
    expected = q.count_symbols(q.symbols(z)).numpy()
    assert np.array_equal(q.export_counts(running=False), expected)
    assert np.array_equal(run, 2 * expected)
    q.eval()
    q(z)
    assert np.array_equal(q.export_counts(), run)  # eval forward does not accumulate
    q.calibrate(z)
    assert np.array_equal(q.export_counts(), 3 * expected)
    q.reset_counts()
    assert q.export_counts().sum() == 0


def test_sort_keeps_values_and_permutes_counts():
    q = SoftmaxQuantizer(2, 8, groups=2)
    with torch.no_grad():
        q.centroids.copy_(q.centroids[:, torch.randperm(8)])
    z = torch.rand(2, 2, 100) * 2 - 1
    before = q.dequantize(q.symbols(z))
    q.calibrate(z)
    q.sort_()
    assert torch.all(q.centroids[:, 1:] > q.centroids[:, :-1])
    s = q.symbols(z)
    assert torch.equal(q.dequantize(s), before)
    assert np.array_equal(q.export_counts(), q.count_symbols(s).numpy())


def test_bad_mode_and_shape_rejected():
    q = SoftmaxQuantizer(2, 8)
    with pytest.raises(ValueError):
        q(torch.zeros(1, 2, 3), "noise")
    with pytest.raises(ValueError):
        q(torch.zeros(1, 3, 3))


def test_rate_controller_reaches_target():
    def rate(lam: float) -> float:  # a monotone rate-vs-lambda curve
        return 30000.0 / (1.0 + 1e4 * lam)

    rc = RateController(target_bps=12000.0, lam=1e-6, gain=0.3, smoothing=0.5)
    for _ in range(300):
        rc.update(rate(rc.lam))
    assert abs(rate(rc.lam) / 12000.0 - 1) < 0.02 and rc.lam > 0
    restored = RateController(**rc.state_dict())
    assert restored == rc


def test_float32_under_bf16_autocast():
    q = SoftmaxQuantizer(2, 32, hardness=3000.0)
    z = _peaked(q, (2, 2, 100))
    ref = q(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q(z.bfloat16())
    assert out.z_hat.dtype == torch.float32 and out.bits.dtype == torch.float32
    assert torch.allclose(out.bits, ref.bits, rtol=0.02)


def test_rate_weight_trades_distance_for_code_length_under_the_frozen_tables():
    q = SoftmaxQuantizer(4, 16, groups=2)
    q.calibrate(_peaked(q, (8, 4, 400)))
    q.update()
    z = torch.rand(2, 4, 300) * 2 - 1
    nearest = q.symbols(z)
    assert torch.equal(q.symbols(z, 0.0), nearest)
    bits = torch.from_numpy(np.stack([t.code_lengths() for t in q.frozen_tables()]))
    per_channel = bits[q.group_of_channel]  # (C, K)

    def code_length(s):
        return per_channel.gather(1, s.permute(1, 0, 2).reshape(4, -1)).sum().item()

    def squared_error(s):
        return (z - q.dequantize(s)).square().sum().item()

    previous = nearest
    for weight in (1e-3, 1e-2, 1e-1):
        s = q.symbols(z, weight)
        # each symbol minimises its own cost, so the whole does too: no other choice (the
        # nearest one included) has a lower distance + weight * bits
        cost = squared_error(s) + weight * code_length(s)
        assert cost <= squared_error(previous) + weight * code_length(previous) + 1e-6
        assert code_length(s) < code_length(previous)
        previous = s
    # brute force on one channel
    c, w = 3, 0.05
    cent = q.centroids[1].detach()
    brute = ((z[:, c, :, None] - cent) ** 2 + w * per_channel[c].float()).argmin(-1)
    assert torch.equal(q.symbols(z, w)[:, c], brute)


def test_refine_from_spreads_finer_levels_along_the_coarse_ones():
    coarse = SoftmaxQuantizer(2, 4, groups=2)
    with torch.no_grad():
        coarse.centroids.copy_(torch.tensor([[-0.9, -0.1, 0.2, 0.8], [0.0, 1.0, 2.0, 3.0]]))
    fine = SoftmaxQuantizer(2, 7, groups=2)
    fine.refine_from(coarse)
    c = fine.centroids.detach()
    assert torch.allclose(c[1], torch.linspace(0.0, 3.0, 7))
    # every coarse level is kept (7 = 2·4 − 1 puts one new level in each gap), ends included
    assert torch.allclose(c[0, ::2], coarse.centroids.detach()[0])
    assert torch.allclose(c[0, 1], torch.tensor(-0.5))
    with pytest.raises(ValueError, match="refine"):
        coarse.refine_from(fine)
