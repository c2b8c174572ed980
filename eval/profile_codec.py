"""Where a tier's coding time goes, and the ceiling the networks' arithmetic sets.

    python -m eval.profile_codec [--tier speech-24kbps] [--seconds 20] [--repeats 3]

Runs :meth:`Codec.encode` and :meth:`Codec.decode` on ``--seconds`` of the shipped speech
sample on one thread and splits the process CPU time (best of ``--repeats``) by stage: the
networks (autoencoder and HARP skip analysis/synthesis), LPC analysis and synthesis, the
quantiser, entropy coding, the postfilter. Each stage's time excludes the stages it calls.

Then it counts the multiply-accumulates of one layer's encoder and decoder per audio second
(``torch.utils.flop_counter``) and measures this core's fp32 GEMM rate: at that rate, with
nothing but the networks, an L-layer tier decodes at most ``1 / (L x decoder MAC / rate)``
times real time and encodes at most ``1 / ((L x encoder + (L-1) x decoder MAC) / rate)``
(closed loop: the encoder runs every layer's decoder but the last). The machine is shared:
CPU time is the better estimate there, but cache contention still inflates it.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import Counter
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from nwcodec import codec as codec_module
from nwcodec.bench import one_thread, speech_signal
from nwcodec.codec import Codec
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.nn import autoencoder
from nwcodec.nn.autoencoder import ResidualAutoencoder
from nwcodec.nn.harp import SkipCodec
from nwcodec.nn.lpc_module import LpcStage
from nwcodec.nn.postfilter import LearnedPostfilter

STAGES = [  # (owner, attribute, label)
    (ResidualAutoencoder, "_analysis", "networks: autoencoder analysis"),
    (ResidualAutoencoder, "_synthesis", "networks: autoencoder synthesis"),
    (SkipCodec, "encode", "networks: HARP skip analysis"),
    (SkipCodec, "decode", "networks: HARP skip synthesis"),
    (ResidualAutoencoder, "compress", "quantiser (nearest centroid)"),
    (ResidualAutoencoder, "decompress", "dequantiser"),
    (autoencoder, "encode_symbols", "entropy coding"),
    (autoencoder, "decode_symbols", "entropy decoding (with exactness check)"),
    (LpcStage, "analyze", "LPC analysis"),
    (LpcStage, "compress", "LPC side-information coding"),
    (LpcStage, "decompress", "LPC side-information decoding + filters"),
    (LpcStage, "synthesize", "LPC synthesis + de-emphasis"),
    (BassPostfilter, "comb_residual", "postfilter: pitch + comb"),
    (BassPostfilter, "__call__", "bass postfilter"),
    (LearnedPostfilter, "process", "learned postfilter (network + adaptive filters)"),
    (codec_module, "resample", "resampling"),
]


class StageTimer:
    """Wraps each stage so that its own CPU time (minus wrapped stages it calls) adds up."""

    def __init__(self) -> None:
        self.own: Counter[str] = Counter()
        self._inner: list[float] = []
        for owner, name, label in STAGES:
            setattr(owner, name, self._wrap(getattr(owner, name), label))

    def _wrap(self, fn: Callable, label: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = time.process_time()
            self._inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                self.own[label] += spent - self._inner.pop()
                if self._inner:
                    self._inner[-1] += spent
        return timed


def layer_macs(stage: ResidualAutoencoder, sr: int) -> tuple[float, float]:
    """(encoder, decoder) multiply-accumulates of one layer per audio second."""
    x = torch.randn(1, 1, sr)
    with torch.enable_grad():  # the convolutions' general path, which the counter knows
        with FlopCounterMode(display=False) as enc:
            z, feats = stage._analysis(x)
            skips = {lv: stage._skip(lv).encode(h) for lv, h in feats.items()}
        z_hat = stage.quantizer.dequantize(stage.quantizer.symbols(z)).detach()
        with FlopCounterMode(display=False) as dec:
            added = {lv: stage._skip(lv).decode(s) for lv, s in skips.items()}
            stage._synthesis(z_hat, added)
    return enc.get_total_flops() / 2, dec.get_total_flops() / 2


def gemm_rate(n: int = 512, repeats: int = 20) -> float:
    """fp32 multiply-accumulates per CPU second of a square matrix product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.process_time()
    for _ in range(repeats):
        a @ b
    return repeats * n**3 / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="speech-24kbps")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    audio, sr = speech_signal(args.seconds)
    codec = Codec.load(args.tier)
    timer = StageTimer()
    with one_thread():
        data = codec.encode(audio, sr)
        codec.decode(data)
        for name, fn in (("encode", lambda: codec.encode(audio, sr)),
                         ("decode", lambda: codec.decode(data))):
            best: tuple[float, Counter[str]] | None = None
            for _ in range(max(1, args.repeats)):
                timer.own.clear()
                start = time.process_time()
                fn()
                total = time.process_time() - start
                if best is None or total < best[0]:
                    best = (total, timer.own.copy())
            assert best is not None
            total, parts = best
            print(f"{args.tier} {name}: {1000 * total / args.seconds:.2f} ms CPU per audio "
                  f"second = {args.seconds / total:.1f}x real time")
            parts["rest (container, glue)"] = total - sum(parts.values())
            for label, spent in parts.most_common():
                print(f"  {label:42s} {1000 * spent / args.seconds:6.2f} ms/s "
                      f"{100 * spent / total:5.1f} %")
        layers = codec.tier.layers
        enc, dec = layer_macs(codec.model.stages[layers - 1], codec.sample_rate)
        rate = gemm_rate()
    print(f"one layer: encoder {enc / 1e6:.1f} M MAC, decoder {dec / 1e6:.1f} M MAC per audio "
          f"second; fp32 GEMM on this core {rate / 1e9:.1f} G MAC per CPU second")
    for n in sorted({layers, layers + 1}):
        print(f"  {n} layers, networks alone at that rate: encode "
              f"{rate / (n * enc + (n - 1) * dec):.0f}x, decode {rate / (n * dec):.0f}x real time")


if __name__ == "__main__":
    main()
