"""Where a music tier loses ViSQOL: band by band, and what restoring each band would buy.

    python -m eval.music_oracle --tier music-64kbps-v1 --excerpts 6 [--channels 1]

Codes ``--excerpts`` validation excerpts (every third track's middle 10 s by default) with the
tier, then per band reports the decoded level against the original's (dB), the waveform SNR
(dB), and the ViSQOL (audio mode) of three repaired decodings:

- *band oracle*: the original's spectrum put back in that band (whole-excerpt FFT): the most
  that band can give;
- *energy oracle above X*: every 20-ms frame's bands above X scaled to the original's energies
  (unquantised): what an envelope sent as side information could give;
- *coded envelope*: the envelope of ``nwcodec/dsp/band_envelope.py`` (quantised, as a tier with
  it decodes), and the rate it costs.

This is how the band envelope of the music tiers was found (MODEL_CARD_music_ladder.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.music_eval import MusicTier, select_excerpts
from nwcodec.baselines import MUSIC_RATE
from nwcodec.corpus import data_dir
from nwcodec.dsp.band_envelope import MUSIC_ENVELOPE, BandEnvelope
from nwcodec.metrics import visqol_audio

BANDS_HZ = (0, 500, 2000, 4000, 8000, 12000, 16000, 22050)
ORACLE_FROM_HZ = (0, 2000, 4000)


def band_table(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """Per band of :data:`BANDS_HZ`: decoded level re the original, waveform SNR, and the
    ViSQOL with the original put back in that band."""
    f = np.fft.rfftfreq(len(ref), 1 / MUSIC_RATE)
    spec_ref, spec_dec = np.fft.rfft(ref), np.fft.rfft(dec)
    out = {}
    for lo, hi in zip(BANDS_HZ[:-1], BANDS_HZ[1:], strict=True):
        band = (f >= lo) & (f < hi)
        signal = np.sum(np.abs(spec_ref[band]) ** 2) + 1e-20
        out[f"level {lo}"] = 10 * np.log10((np.sum(np.abs(spec_dec[band]) ** 2) + 1e-20) / signal)
        out[f"snr {lo}"] = 10 * np.log10(signal / (np.sum(np.abs(spec_ref[band] - spec_dec[band])
                                                          ** 2) + 1e-20))
        repaired = spec_dec.copy()
        repaired[band] = spec_ref[band]
        out[f"band oracle {lo}"] = visqol_audio(ref, np.fft.irfft(repaired, len(ref)),
                                                MUSIC_RATE).value
    return out


def energy_oracle(ref: np.ndarray, dec: np.ndarray, from_hz: float) -> np.ndarray:
    """``dec`` with every band of :data:`MUSIC_ENVELOPE`'s framing above ``from_hz`` scaled,
    frame by frame, to the original's energy (no quantisation, no gain cap)."""
    edges = tuple(e for e in (0, 500, 1000, 2000, 3000) if e >= from_hz) + tuple(
        e for e in MUSIC_ENVELOPE.edges_hz if e > from_hz)
    env = BandEnvelope(MUSIC_RATE, MUSIC_ENVELOPE.hop, edges, step_db=1e-3, floor_db=-200,
                       ceil_db=100, max_delta=10**9, max_gain_db=200)
    return env.apply(dec, env.quantize(ref))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tier", default="music-64kbps-v1",
                    help="a music tier (default: the last one without the envelope)")
    ap.add_argument("--tsv", type=Path, default=None,
                    help="validation manifest (default DATA/music/val.tsv)")
    ap.add_argument("--excerpts", type=int, default=6)
    args = ap.parse_args(argv)
    tsv = args.tsv or data_dir() / "music" / "val.tsv"
    condition = MusicTier(args.tier, 1)
    excerpts = select_excerpts(tsv, 10.0)
    excerpts = excerpts[:: max(1, len(excerpts) // args.excerpts)][: args.excerpts]
    rows = []
    for excerpt in excerpts:
        ref = excerpt.read(1).astype(np.float64)
        decoded, nbytes = condition.roundtrip(ref.astype(np.float32), MUSIC_RATE)
        dec = decoded.astype(np.float64)
        seconds = len(ref) / MUSIC_RATE
        row = {"kbit/s": nbytes * 8 / seconds / 1000,
               "ViSQOL as decoded": visqol_audio(ref, dec, MUSIC_RATE).value}
        row.update(band_table(ref, dec))
        for lo in ORACLE_FROM_HZ:
            row[f"energy oracle above {lo}"] = visqol_audio(ref, energy_oracle(ref, dec, lo),
                                                            MUSIC_RATE).value
        coded = MUSIC_ENVELOPE.apply(dec, MUSIC_ENVELOPE.quantize(ref))
        row["coded envelope"] = visqol_audio(ref, coded, MUSIC_RATE).value
        row["envelope kbit/s"] = len(MUSIC_ENVELOPE.compress(ref)) * 8 / seconds / 1000
        rows.append(row)
        print(f"{excerpt.name}: ViSQOL {row['ViSQOL as decoded']:.2f}, coded envelope "
              f"{row['coded envelope']:.2f}", flush=True)
    print(f"\n{args.tier}, mono (channel mean), {len(rows)} excerpts of {tsv}: means\n")
    print("| measure | value |\n|---|---|")
    for key in rows[0]:
        print(f"| {key} | {np.mean([r[key] for r in rows]):.2f} |")


if __name__ == "__main__":
    main()
