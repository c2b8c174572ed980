"""Training of the learned decoder postfilter (``nwc train-postfilter RECIPE``).

The codecs are frozen: every training chunk is encoded once by each model in the recipe and
decoded at each layer count it lists, without any postfilter, exactly as the decoder will
produce it; the chunk's coded rate goes with it. The postfilter then learns, on random 1-s
windows of these (with the whole chunk as the feature network's context), to bring the decoded
speech back toward the original under the codec's own loss (time, multi-resolution mel, PAM-1
priority and noise-to-mask) plus an *added-energy* term: PESQ punishes energy a codec adds
(noise in pauses and between harmonics) more than energy it loses.

Phases, each resumable from the work directory: ``data`` (decoded chunks, ``decoded.npz``),
``train`` (``checkpoint.pt`` every ``checkpoint_every`` steps), ``export`` (weights + SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nwcodec.audio import read_mono, to_pcm16
from nwcodec.corpus import data_dir, read_manifest
from nwcodec.losses import CodecLoss, LossWeights
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.postfilter import LearnedPostfilter, PostfilterConfig
from nwcodec.train.data import chunks_of
from nwcodec.train.trainer import _beside, _cosine

log = logging.getLogger("nwcodec.train")


@dataclass
class PostfilterRecipe:
    name: str
    kind: str  # "postfilter": how ``nwc train`` tells this recipe from a cascade's
    train_tsv: str
    # {"weights": FILE (relative to the recipe), "layers": [1, 2, ...]}: each model's outputs
    # at each of these layer counts are training material.
    models: list[dict]
    # Free text: what the recipe is for (as a cascade recipe's ``notes``).
    notes: str = ""
    train_files: int = 400
    steps: int = 3000
    batch: int = 16
    window_s: float = 1.0
    lr: float = 1e-3
    lr_floor: float = 0.05
    grad_clip: float = 1.0
    loss: dict = field(default_factory=lambda: {"time": 50, "mel": 5, "priority": 5,
                                                "nmr": 0.5})
    added: float = 5.0  # weight of the added-energy term
    config: dict = field(default_factory=dict)  # PostfilterConfig fields
    # A postfilter weights file (relative to the recipe) to start from instead of random
    # weights; its config is used and ``config`` must be empty.
    init: str = ""
    checkpoint_every: int = 200
    seed: int = 0
    threads: int = 2

    @classmethod
    def load(cls, path: str | Path, data: str | Path | None = None) -> PostfilterRecipe:
        recipe = cls(**json.loads(Path(path).read_text()))
        recipe.train_tsv = str((data_dir(data) / recipe.train_tsv).resolve())
        for m in recipe.models:
            m["weights"] = _beside(path, m["weights"])
        if recipe.init:
            if recipe.config:
                raise ValueError(f"{path}: a recipe with init takes its config from it")
            recipe.init = _beside(path, recipe.init)
        return recipe


def added_energy_loss(y: torch.Tensor, x: torch.Tensor, n_fft: int = 512) -> torch.Tensor:
    """Mean over frames and bins of ReLU(log-power of ``y`` − log-power of ``x``) in bels,
    levels floored at -70 dB re full scale so that inaudible excess does not count."""
    win = torch.hann_window(n_fft, dtype=y.dtype)

    def level(s: torch.Tensor) -> torch.Tensor:
        p = torch.stft(s, n_fft, n_fft // 4, window=win, return_complex=True).abs().square()
        return torch.log10(p / (win.sum() ** 2 / 4) + 1e-7)

    return torch.relu(level(y) - level(x)).mean()


class PostfilterTrainer:
    def __init__(self, recipe: PostfilterRecipe, workdir: str | Path) -> None:
        self.recipe = recipe
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(recipe.threads)
        torch.manual_seed(recipe.seed)
        self.model = (LearnedPostfilter.from_file(recipe.init) if recipe.init
                      else LearnedPostfilter(PostfilterConfig(**recipe.config)))
        self.loss = CodecLoss(self.model.config.sample_rate, LossWeights(**recipe.loss))

    # -- data ---------------------------------------------------------------------------

    def data(self) -> dict[str, np.ndarray]:
        """Original and decoded chunks (int16), the index of each decoded chunk's original,
        and its coded rate; built once and kept in the work directory."""
        path = self.dir / "decoded.npz"
        if path.is_file():
            with np.load(path) as z:
                return dict(z)
        rec, sr = self.recipe, self.model.config.sample_rate
        rng = np.random.default_rng(rec.seed)
        files = read_manifest(rec.train_tsv)
        files = [files[i] for i in rng.permutation(len(files))[: rec.train_files]]
        models = [(CascadeModel.from_file(m["weights"]), m["layers"]) for m in rec.models]
        clean, decoded, source, kbps = [], [], [], []
        t0 = time.time()
        for path_ in files:
            for chunk in chunks_of(read_mono(path_, sr), 2 * sr):
                clean.append(to_pcm16(chunk))
                for model, layers in models:
                    side, payloads = model.encode_chunk(chunk, max(layers))
                    for k in layers:
                        decoded.append(to_pcm16(model.decode_chunk(side, payloads[:k], len(chunk))))
                        source.append(len(clean) - 1)
                        bits = 8 * (len(side) + sum(len(p) for p in payloads[:k]))
                        kbps.append(bits * sr / len(chunk) / 1000)
        out = {"clean": np.stack(clean), "decoded": np.stack(decoded),
               "source": np.array(source), "kbps": np.array(kbps, np.float32)}
        tmp = self.dir / "decoded.tmp.npz"
        np.savez(tmp, **out)
        tmp.replace(path)
        log.info("data: %d chunks, %d decoded versions in %.0f s", len(clean), len(decoded),
                 time.time() - t0)
        return out

    # -- training -----------------------------------------------------------------------

    def train(self, data: dict[str, np.ndarray]) -> None:
        rec, cfg = self.recipe, self.model.config
        ck_path = self.dir / "checkpoint.pt"
        step = 0
        opt = torch.optim.Adam(self.model.parameters(), lr=rec.lr)
        if ck_path.is_file():
            ck = torch.load(ck_path, weights_only=True)
            self.model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            step = ck["step"]
        sched = _cosine(opt, rec.steps, rec.lr_floor, step)
        rng = np.random.default_rng(rec.seed + step)
        window = int(rec.window_s * cfg.sample_rate) // cfg.hop * cfg.hop
        self.model.train()
        prepared: dict[int, tuple[torch.Tensor, ...]] = {}  # the inputs are constants
        t0, seen = time.time(), 0.0
        while step < rec.steps:
            xs, ds, fs, refs = [], [], [], []
            for i in rng.integers(0, len(data["decoded"]), rec.batch):
                if i not in prepared:
                    y = data["decoded"][i].astype(np.float32) / 32768
                    prepared[i] = self.model.prepare(y, float(data["kbps"][i]))
                x, d, feats = prepared[i]
                start = int(rng.integers(0, (len(x) - window) // cfg.hop + 1)) * cfg.hop
                ref = data["clean"][data["source"][i]].astype(np.float32) / 32768
                xs.append(x)
                ds.append(d)
                fs.append(feats)
                refs.append((start, torch.from_numpy(ref)))
            # the network sees the whole chunk; only the window is filtered and scored
            clean, shape = self.model.filters(torch.stack(fs))
            frames = [slice(s // cfg.hop, (s + window) // cfg.hop + 1) for s, _ in refs]
            y_win = self.model.apply_filters(
                torch.stack([x[s : s + window] for x, (s, _) in zip(xs, refs, strict=True)]),
                torch.stack([d[s : s + window] for d, (s, _) in zip(ds, refs, strict=True)]),
                torch.stack([c[f] for c, f in zip(clean, frames, strict=True)]),
                torch.stack([k[f] for k, f in zip(shape, frames, strict=True)]))
            x_win = torch.stack([r[s : s + window] for s, r in refs])
            total, terms = self.loss(y_win[:, None], x_win[:, None])
            added = added_energy_loss(y_win, x_win)
            loss = total + rec.added * added
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), rec.grad_clip)
            opt.step()
            sched.step()
            step += 1
            seen += rec.batch * window / cfg.sample_rate
            if step == 1 or step % 50 == 0:
                log.info("postfilter step %d/%d loss %.4f added %.4f %s %.1f audio-s/s", step,
                         rec.steps, total.item(), added.item(),
                         " ".join(f"{k} {v.item():.4f}" for k, v in terms.items()),
                         seen / (time.time() - t0))
            if step % rec.checkpoint_every == 0 or step == rec.steps:
                tmp = ck_path.with_suffix(".tmp")
                torch.save({"model": self.model.state_dict(), "optimizer": opt.state_dict(),
                            "step": step}, tmp)
                tmp.replace(ck_path)
        self.model.eval()

    def run(self, out: Path) -> str:
        self.train(self.data())
        self.model.save(out)
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        log.info("export: postfilter to %s sha256 %s", out, digest)
        return digest
