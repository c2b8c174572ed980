"""Plot the PAM-1 global masking threshold against the spectrum it comes from.

    python -m eval.plot_pam1 [--out docs]

Writes ``pam1_tone.png`` (three tones at 44.1 kHz; of the two within 0.5 Bark, decimation
keeps the stronger), ``pam1_noise.png`` (white noise at 44.1 kHz: one non-tonal masker
per critical band) and ``pam1_speech.png`` (the loudest frame of the shipped 16 kHz sample).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from nwcodec.dsp import pam1  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "nwcodec" / "data" / "sample.flac"


def plot_frame(res: pam1.Pam1Result, frame: int, sr: int, title: str, path: Path) -> None:
    t = pam1.tables(sr)
    f = np.arange(pam1.N_BINS) * sr / pam1.N_FFT
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(f, res.spl[frame], lw=0.8, color="0.5", label="spectrum (dB SPL)")
    ax.plot(f, res.threshold[frame], lw=1.6, color="C3", label="global masking threshold")
    ax.plot(
        t.lines * sr / pam1.N_FFT, t.ath, lw=0.8, ls="--", color="C0", label="threshold in quiet"
    )
    for arr, marker, name in (
        (res.tonal, "x", "tonal maskers"),
        (res.nontonal, "o", "non-tonal maskers"),
    ):
        k = np.flatnonzero(np.isfinite(arr[frame]))
        ax.plot(
            f[k],
            arr[frame, k],
            marker,
            ms=6,
            mfc="none",
            color="k" if marker == "x" else "C2",
            ls="none",
            label=f"{name} ({k.size})",
        )
    ax.set(
        xscale="log",
        xlim=(f[1], f[-1]),
        ylim=(-20, 110),
        xlabel="frequency (Hz)",
        ylabel="dB SPL (full-scale sine = 96 dB)",
        title=title,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    sr, n = 44100, np.arange(4096)

    def tone(bin_: float, dbfs: float) -> np.ndarray:
        return 10 ** (dbfs / 20) * np.sin(2 * np.pi * bin_ / pam1.N_FFT * n)

    x = tone(40, -20) + tone(100, -25) + tone(106, -32)
    x = x + np.random.default_rng(0).normal(0, 1e-4, n.size)
    title = "PAM-1, 44.1 kHz: tones at bins 40, 100, 106 (0.3 Bark from 100: decimated)"
    plot_frame(pam1.pam1(x, sr), 3, sr, title, args.out / "pam1_tone.png")

    noise = np.random.default_rng(1).normal(0, 0.1, 4096)
    plot_frame(
        pam1.pam1(noise, sr),
        3,
        sr,
        "PAM-1, 44.1 kHz: white noise (-20 dBFS rms)",
        args.out / "pam1_noise.png",
    )

    speech, sr16 = sf.read(str(SAMPLE), dtype="float64")
    res = pam1.pam1(speech, sr16)
    frame = int(np.argmax((10 ** (res.spl / 10)).sum(-1)))  # the loudest frame
    plot_frame(
        res,
        frame,
        sr16,
        f"PAM-1, 16 kHz (generic tables): speech sample, frame {frame}",
        args.out / "pam1_speech.png",
    )
    print(f"wrote {args.out}/pam1_{{tone,noise,speech}}.png")


if __name__ == "__main__":
    main()
