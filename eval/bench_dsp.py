"""Benchmark the DSP core on one core: PAM-1 throughput, loss cost, LPC filtering speed.

    python -m eval.bench_dsp [--repeats 5]

* PAM-1 global threshold (numpy, what the training loss calls) on the shipped 16 kHz speech
  sample and on it resampled to 44.1 kHz, hop 256 and 512: audio-seconds per second.
* Loss cost: a 0.5 M-parameter strided conv autoencoder (defined here, standing in for a
  codec module), batch 16 x 1 s at 16 kHz; time of forward + backward with a plain L1 loss
  versus with the full :class:`nwcodec.losses.CodecLoss` (PAM-1 mask included).
* LPC: numpy analysis + residual + synthesis, and torch synthesis forward + backward.

Everything runs on one thread (BLAS threads pinned before numpy loads); the median of
``--repeats`` runs is reported with the machine's load average (the machine is shared).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from nwcodec import losses  # noqa: E402
from nwcodec.dsp import lpc, pam1  # noqa: E402
from nwcodec.timing import best_of  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "nwcodec" / "data" / "sample.flac"


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after one warm-up."""
    return best_of(fn, repeats, warmup=1)[0].wall


class ConvAE(nn.Module):
    """Strided 1-D conv autoencoder (16x down-sampling, 16 latent channels), ~0.5 M params."""

    def __init__(self, ch: tuple[int, ...] = (32, 64, 128, 128), latent: int = 16) -> None:
        super().__init__()
        enc: list[nn.Module] = []
        dec: list[nn.Module] = []
        prev = 1
        for c in ch:
            enc += [nn.Conv1d(prev, c, 9, stride=2, padding=4), nn.GELU()]
            prev = c
        enc += [
            nn.Conv1d(prev, prev, 3, padding=1),
            nn.GELU(),
            nn.Conv1d(prev, latent, 3, padding=1),
        ]
        dec += [nn.Conv1d(latent, prev, 3, padding=1), nn.GELU()]
        for c in (*ch[-2::-1], 16):
            dec += [nn.ConvTranspose1d(prev, c, 8, stride=2, padding=3), nn.GELU()]
            prev = c
        dec += [nn.Conv1d(prev, 1, 9, padding=4)]
        self.net = nn.Sequential(*enc, *dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def bench_pam(speech: np.ndarray, repeats: int) -> None:
    print("PAM-1 global threshold (numpy, 1 thread)")
    x44 = scipy.signal.resample_poly(speech, 441, 160)
    for sr, x in ((16000, speech), (44100, x44)):
        for hop in (256, 512):
            dt = timed(lambda x=x, sr=sr, hop=hop: pam1.pam1(x, sr, hop), repeats)
            frames = pam1.pam1(x, sr, hop).threshold.shape[0]
            print(
                f"  {sr:5d} Hz hop {hop}: {x.size / sr / dt:7.1f} x real time "
                f"({frames / dt:7.0f} frames/s)"
            )


def bench_loss(repeats: int, batch: int = 16, sr: int = 16000) -> None:
    torch.manual_seed(0)
    model = ConvAE()
    n_params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    speech, _ = sf.read(str(SAMPLE), dtype="float32")
    starts = rng.integers(0, speech.size - sr, batch)
    x = torch.tensor(np.stack([speech[s : s + sr] for s in starts]))[:, None]
    codec_loss = losses.CodecLoss(sr)

    def step(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        model.zero_grad()
        loss_fn(model(x), x).backward()

    def full(x_hat: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return codec_loss(x_hat[:, 0], ref[:, 0])[0]

    base = timed(lambda: step(lambda a, b: (a - b).abs().mean()), repeats)
    with_loss = timed(lambda: step(full), repeats)
    x_hat = model(x).detach()[:, 0]
    ref = x[:, 0]

    def loss_only(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        return lambda: fn(x_hat.clone().requires_grad_()).backward()

    parts = {
        "full CodecLoss (incl. mask)": loss_only(lambda xh: codec_loss(xh, ref)[0]),
        "PAM-1 mask (numpy, no grad)": lambda: pam1.global_threshold_torch(ref, sr),
        "multi-resolution mel/STFT": loss_only(lambda xh: codec_loss.stft(xh, ref)),
    }
    mask = pam1.global_threshold_torch(ref, sr)
    parts["priority-weighted"] = loss_only(lambda xh: losses.priority_weighted_loss(xh, ref, mask))
    parts["noise-to-mask (smooth)"] = loss_only(
        lambda xh: losses.noise_to_mask_loss(xh, ref, mask, smooth=True)
    )
    print(
        f"Loss cost (batch {batch} x 1 s @ {sr} Hz, conv AE {n_params / 1e6:.2f} M params, "
        "1 thread)"
    )
    print(f"  AE forward+backward, L1 loss  : {base * 1e3:7.1f} ms")
    print(f"  same step with full CodecLoss : {with_loss * 1e3:7.1f} ms")
    for name, fn in parts.items():
        dt = timed(fn, repeats)
        print(f"  {name:29s} fwd+bwd: {dt * 1e3:7.1f} ms = {100 * dt / base:5.1f} % of the AE step")


def bench_lpc(speech: np.ndarray, repeats: int, sr: int = 16000) -> None:
    y, _ = lpc.preemphasis(speech.astype(np.float64))
    n = y.size // 320 * 320
    y = y[:n]

    def numpy_path() -> None:
        a_sub = lpc.lsf_to_subframe_lpc(lpc.stabilize_lsf(lpc.lpc_analysis(y, sr).lsf), 4)
        e, _ = lpc.residual(y, a_sub)
        lpc.synthesize(e, a_sub)

    a_sub = lpc.lsf_to_subframe_lpc(lpc.lpc_analysis(y, sr).lsf, 4)
    e = torch.tensor(lpc.residual(y, a_sub)[0], dtype=torch.float32)[None]
    a_t = torch.tensor(a_sub, dtype=torch.float32)[None].requires_grad_()

    def torch_path() -> None:
        lpc.synthesize(e, a_t)[0].square().sum().backward()

    dur = n / sr
    print("LPC (1 thread)")
    print(f"  numpy analysis+LSF+residual+synthesis: {dur / timed(numpy_path, repeats):7.1f} x RT")
    print(f"  torch synthesis forward+backward     : {dur / timed(torch_path, repeats):7.1f} x RT")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    speech, sr = sf.read(str(SAMPLE), dtype="float64")
    assert sr == 16000
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    bench_pam(speech, args.repeats)
    bench_loss(args.repeats)
    bench_lpc(speech, args.repeats)


if __name__ == "__main__":
    main()
