"""Benchmark the residual autoencoder modules: parameters, training throughput, coding speed.

    python -m eval.bench_nn [--steps 8] [--configs m400,m200] [--cascades m400x3] [--no-bf16]

Training: batch 16 x 1 s crops at 16 kHz, Adam, L1 + a single-resolution log-STFT L1 + rate
term, soft quantiser: wall time on 2 threads, and steps per CPU-second on 1 thread (fp32 and,
unless --no-bf16, bf16 autocast). Coding: the cascade's closed loop to bytes and back
(``CascadeModel.compress_residual`` / ``decompress_residual``) on 1 thread, single modules and
3-module cascades, 10 s of noise, as x real time by wall and by CPU time. The machine is
shared: CPU-time figures are the better estimate under load; the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os

import torch

from nwcodec.bench import parameter_split
from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.lpc_module import LpcConfig
from nwcodec.timing import Clock

SR = 16000
CONFIGS: dict[str, AEConfig] = {
    "m400": AEConfig(),  # 400 Hz x 16 latents
    "m200": AEConfig(strides=(8, 10), latent_channels=24),  # 200 Hz x 24 latents
    "m400h": AEConfig(skips=1),  # + HARP skip at 2 kHz (400 Hz x 4)
    "m400s": AEConfig(channels=(48, 96)),  # small
    "f96": AEConfig(channels=(32, 96), blocks=(1, 3)),  # cascade follower
    "f64": AEConfig(channels=(32, 64), blocks=(1, 2)),  # tiny cascade follower
}
CASCADES: dict[str, tuple[str, ...]] = {  # 3-module CMRL cascades for the coding-speed table
    "m400x3": ("m400", "m400", "m400"),
    "m400+f64x2": ("m400", "f64", "f64"),
    "m400s+f64x2": ("m400s", "f64", "f64"),
    "f96x3": ("f96", "f96", "f96"),
}


def stft_loss(x_hat: torch.Tensor, x: torch.Tensor, n_fft: int = 512) -> torch.Tensor:
    win = torch.hann_window(n_fft)
    spec = [torch.stft(s.squeeze(1), n_fft, n_fft // 4, window=win, return_complex=True).abs()
            for s in (x_hat, x)]
    return (torch.log(spec[0] + 1e-5) - torch.log(spec[1] + 1e-5)).abs().mean()


def train_speed(cfg: AEConfig, steps: int, bf16: bool, batch: int = 16) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second) on the current thread setting."""
    torch.manual_seed(0)
    model = ResidualAutoencoder(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = 0.1 * torch.randn(batch, 1, SR)
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step() -> None:
        with ctx():
            out = model(x, "soft")
        x_hat = out.x_hat.float()
        loss = (x_hat - x).abs().mean() + stft_loss(x_hat, x) + 1e-7 * out.bits.float()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    with Clock() as clock:
        for _ in range(steps):
            step()
    return steps / clock.wall, steps / clock.cpu


def coding_speed(cfgs: list[AEConfig], seconds: float = 10.0,
                 reps: int = 3) -> tuple[float, ...]:
    """x real time of a cascade of modules ``cfgs`` on a residual (the LPC stage left out),
    best of ``reps``: (encode wall, decode wall, encode CPU, decode CPU). Both run the
    cascade's closed loop, bytes included (uniform tables): encoding includes the local
    decodes that form the residual for the next module, as CMRL requires."""
    torch.manual_seed(0)
    cascade = CascadeModel(LpcConfig(), cfgs).eval()
    cascade.update()
    x = 0.1 * torch.randn(1, 1, int(seconds * SR))
    best = [float("inf")] * 4
    for _ in range(reps):
        with Clock() as enc:
            layers = cascade.compress_residual(x)
        with Clock() as dec:
            cascade.decompress_residual(layers, x.shape[-1])
        best = [min(b, t) for b, t in zip(best, (enc.wall, dec.wall, enc.cpu, dec.cpu),
                                          strict=True)]
    return tuple(seconds / t for t in best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--cascades", default=",".join(CASCADES))
    ap.add_argument("--no-bf16", action="store_true")
    args = ap.parse_args()

    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    print("training: 16 x 1 s crops; wall figures on 2 threads, 'cpu' = steps per CPU-second "
          "on 1 thread (uncontended 1-core estimate); coding: 1 thread, x real time wall/cpu")
    header = ("config | hop | enc params | dec params | train steps/s 2thr wall | "
              "bf16 2thr wall | 1thr cpu fp32 | 1thr cpu bf16 | audio s/s (1thr cpu) | "
              "enc xRT wall/cpu | dec xRT wall/cpu")
    print(header)
    print("|".join("---" for _ in header.split("|")))
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        split = parameter_split(ResidualAutoencoder(cfg))  # quantisers count on both sides
        enc_p, dec_p = split["encoder"] + split["shared"], split["decoder"] + split["shared"]
        torch.set_num_threads(2)
        fp32_2 = train_speed(cfg, args.steps, bf16=False)[0]
        bf16_2 = "-" if args.no_bf16 else f"{train_speed(cfg, args.steps, bf16=True)[0]:.2f}"
        torch.set_num_threads(1)
        fp32_1 = train_speed(cfg, args.steps, bf16=False)[1]
        bf16_1 = "-" if args.no_bf16 else f"{train_speed(cfg, args.steps, bf16=True)[1]:.2f}"
        c1 = coding_speed([cfg])
        print(f"{name} | {cfg.hop} | {enc_p:,} | {dec_p:,} | {fp32_2:.2f} | {bf16_2} | "
              f"{fp32_1:.2f} | {bf16_1} | {fp32_1 * 16:.1f} | "
              f"{c1[0]:.0f}/{c1[2]:.0f} | {c1[1]:.0f}/{c1[3]:.0f}")
    print("\ncascade | enc xRT wall/cpu | dec xRT wall/cpu\n---|---|---")
    torch.set_num_threads(1)
    for name in args.cascades.split(","):
        c = coding_speed([CONFIGS[m] for m in CASCADES[name]])
        print(f"{name} | {c[0]:.0f}/{c[2]:.0f} | {c[1]:.0f}/{c[3]:.0f}")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
