"""Training data: real audio cut into the same two-second chunks the codec codes.

Each channel signal is what the encoder codes (``Codec._code_block``): a mono file as it is;
a stereo file chunk by chunk as mid/side where the encoder picks it (near-mono content), else
as left/right (``nwcodec/dsp/stereo.py``). Almost silent chunks (e.g. the side of a mono
recording) are left out, as the codec spends no layers on them.

Each chunk goes through the LPC stage exactly as the encoder runs it (quantised filters and
gain), and the cache keeps what a training step needs: the normalised residual the networks
code, the decoder's sub-frame filters and the dequantised gains, plus the LPC stage's side-symbol
counts for its tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from nwcodec.audio import resample
from nwcodec.dsp.stereo import joint_coding
from nwcodec.nn.lpc_module import LpcStage


def read_coded(path: Path, sr: int, chunk: int) -> np.ndarray:
    """The channel signals (channels, samples) the encoder codes for the file at ``path``,
    at rate ``sr``, deciding mid/side per ``chunk`` samples from the start as it does."""
    audio, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = resample(audio, int(file_sr), sr)
    blocks = [joint_coding(x[i : i + chunk])[0] for i in range(0, x.shape[0], chunk)]
    return np.ascontiguousarray(np.concatenate(blocks).T if blocks else x.T)


def chunks_of(x: np.ndarray, size: int, offset: int = 0) -> Iterator[np.ndarray]:
    """Full chunks only, starting at ``offset``; skips chunks that are almost silent."""
    for start in range(offset, len(x) - size + 1, size):
        chunk = x[start : start + size]
        if np.sqrt(np.mean(chunk**2)) > 1e-3:
            yield chunk


@dataclass
class ChunkSet:
    """Stacked chunks: ``residual`` (N, T), ``a_sub`` (N, F, S, p+1), ``gain`` (N, F), and
    the side-symbol histograms for freezing the side tables."""

    residual: np.ndarray
    a_sub: np.ndarray
    gain: np.ndarray
    side_counts: list[np.ndarray]

    def __len__(self) -> int:
        return self.residual.shape[0]

    def save(self, path: Path) -> None:
        counts = {f"side_counts_{i}": c for i, c in enumerate(self.side_counts)}
        np.savez(path, residual=self.residual, a_sub=self.a_sub, gain=self.gain, **counts)

    @classmethod
    def load(cls, path: Path) -> ChunkSet:
        d = np.load(path)
        counts = [d[f"side_counts_{i}"] for i in range(sum(k.startswith("side_") for k in d))]
        return cls(d["residual"], d["a_sub"], d["gain"], counts)

    def batch(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return {
            "residual": torch.from_numpy(self.residual[idx])[:, None],
            "a_sub": torch.from_numpy(self.a_sub[idx]),
            "gain": torch.from_numpy(self.gain[idx]),
        }


def build_chunks(stage: LpcStage, files: list[Path], size: int, offsets: tuple[int, ...] = (0,)
                 ) -> ChunkSet:
    """Run the LPC stage over every chunk of every coded channel signal of ``files`` (the
    codec's encoder path), counting its side symbols into a fresh histogram
    (``stage.counts``)."""
    residual, a_sub, gain = [], [], []
    stage.reset_counts()
    for path in files:
        signals = read_coded(path, stage.config.sample_rate, size)
        for x, offset in ((x, offset) for x in signals for offset in offsets):
            for chunk in chunks_of(x, size, offset):
                an = stage.analyze(chunk)
                residual.append(an.residual)
                a_sub.append(an.a_sub.astype(np.float32))
                gain.append(an.gain.astype(np.float32))
                stage.count(an)
    counts = [c.copy() for c in stage.counts]
    return ChunkSet(np.stack(residual), np.stack(a_sub), np.stack(gain), counts)
