"""Resumable training of a cascade tier from a recipe (``nwc train RECIPE``), on the CPU or
on a CUDA device (``--device``; checkpoints are device-independent, so a run may move between
machines at any checkpoint).

Phases, each checkpointed in the work directory so a killed run resumes where it stopped:

1. ``lpc``: fit the LSF quantiser's centroids on training LSFs.
2. ``data``: cut the training speech into codec chunks and run the LPC stage over them.
3. ``stage k`` (greedy CMRL): train autoencoder k on what stages < k leave, earlier stages
   frozen; soft quantisation first, then straight-through; a rate controller steers the
   stage's estimated bitrate toward its target.
4. ``joint`` (if the recipe asks): fine-tune every stage at once, straight-through, on a
   weighted sum of every prefix's loss (each prefix is a tier of the ladder), each stage's rate
   held at its target by its own controller: greedy training never lets a lower stage learn
   what helps the stages above it.
5. ``export``: count hard symbols over the training chunks, freeze integer tables, save the
   weights file and its SHA-256.

Under ``torchrun`` the same phases run data-parallel (``nwcodec/train/distributed.py``): rank 0
fits the LPC stage and builds the data cache while the others wait, each rank draws its own
batches of ``batch`` chunks, and only rank 0 writes checkpoints, logs and the weights file.

The loss is computed on speech, not on the residual: the decoded residual goes through the
decoder's ``1/Â(z)`` and de-emphasis (differentiable torch versions), and the reference is the
same synthesis of the true residual, so the loss sees exactly the error the listener gets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from nwcodec.corpus import data_dir, read_manifest
from nwcodec.dsp import lpc
from nwcodec.losses import CodecLoss, LossWeights
from nwcodec.nn.autoencoder import AEConfig
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.lpc_module import LpcConfig
from nwcodec.nn.quantizer import RateController
from nwcodec.train.data import ChunkSet, build_chunks, read_coded
from nwcodec.train.distributed import CountSync, World, quantizer_counts

log = logging.getLogger("nwcodec.train")


@dataclass
class StagePlan:
    config: dict
    target_kbps: float
    steps: int
    soft_fraction: float = 0.3


@dataclass
class JointPlan:
    """Joint fine-tuning of the whole cascade after the greedy stages (the CMRL schedule)."""

    steps: int
    lr: float = 1e-4
    # Weight of each prefix's distortion (prefix k = the tier of k+1 layers); default equal.
    prefix_weights: list[float] = field(default_factory=list)
    # The stages' rates are already at target: a faster controller than greedy training's
    # finds the λ that holds them within a few dozen steps.
    rate_gain: float = 0.2
    lambda_start: float = 1e-6


@dataclass
class Recipe:
    """Everything that defines a training run; stored as JSON in ``train/recipes``."""

    name: str
    train_tsv: str
    # Free text: what the recipe is for and why its numbers are what they are.
    notes: str = ""
    lpc: dict = field(default_factory=dict)
    lsf_lambda: float = 3e-5
    lsf_files: int = 300
    lsf_steps: int = 300
    train_files: int = 0  # 0 = all
    # 0 = all; else a seeded random subset of the files of about this many seconds (whole
    # files, drawn over the manifest, so every source is represented): bounds the memory of
    # the chunk set (residual, and the frozen reconstruction and reference of every chunk).
    train_seconds: float = 0.0
    stages: list[StagePlan] = field(default_factory=list)
    # 0 = export's tables count the symbols of every training chunk; else of a seeded random
    # subset of this many chunks (the histograms settle long before a large set is done, and
    # the closed-loop pass costs as much as encoding every chunk with every layer).
    export_chunks: int = 0
    batch: int = 16
    lr: float = 1e-3
    # The cosine schedule decays the learning rate to this fraction of ``lr``, not to zero,
    # so the last steps still move the straight-through stage.
    lr_floor: float = 0.05
    # Weight of the quantisers' hardness penalty: small, it only nudges soft assignments
    # toward one-hot so the switch to hard symbols costs little distortion.
    penalty_weight: float = 0.1
    # Gradient-norm clip: straight-through gradients spike when symbols change; 5 leaves
    # ordinary steps untouched (their norm is well below it).
    grad_clip: float = 5.0
    # Initial rate weight λ of the first stage, per bit/s: its distortion gradient is strong
    # from the start, so rate pressure can act at once (the controller then steers λ).
    lambda_start: float = 1e-4
    # Initial λ of refinement stages: near zero, because their distortion gradient is weak at
    # first and an early rate term collapses them to zero bits.
    lambda_start_refine: float = 1e-9
    # How a refinement stage starts: "zero" (a no-op: its decoder's output is zeroed) or
    # "previous" (a copy of the stage below, whose config it must share). Without the PAM-1
    # terms' strong early gradient, a zero-output music layer collapses to zero bits within
    # 150 steps and never recovers; a copy starts coding at once.
    refine_init: str = "zero"
    loss: dict = field(default_factory=dict)
    seed: int = 0
    threads: int = 2
    # Warm start: {"weights": FILE, "stages": N} loads the LPC stage and the first N stages
    # from a weights file (their configs must match the recipe's first N) and trains only
    # the stages above them, so a new CMRL layer is added on top of a shipped model. With
    # "fine_tune": true the loaded stages are only starting points and train again from
    # stage 0 (e.g. a lower-rate tier started from a higher tier's base layer).
    init: dict = field(default_factory=dict)
    joint: JointPlan | None = None

    @classmethod
    def load(cls, path: str | Path, data: str | Path | None = None) -> Recipe:
        """Read a recipe; a relative ``train_tsv`` is taken from the data directory ``data``
        (default: :func:`nwcodec.corpus.data_dir`, i.e. ``$NWC_DATA`` or ../shared/data), a
        relative ``init.weights`` from the recipe's folder."""
        raw = json.loads(Path(path).read_text())
        raw["stages"] = [StagePlan(**s) for s in raw.get("stages", [])]
        if raw.get("joint"):
            raw["joint"] = JointPlan(**raw["joint"])
        recipe = cls(**raw)
        recipe.train_tsv = str((data_dir(data) / recipe.train_tsv).resolve())
        if recipe.init:
            recipe.init["weights"] = _beside(path, recipe.init["weights"])
        return recipe


def _beside(recipe_path: str | Path, path: str) -> str:
    """``path`` taken relative to the recipe file's folder (absolute paths stay)."""
    return path if Path(path).is_absolute() else str((Path(recipe_path).parent / path).resolve())


def _speech(model: CascadeModel, residual: torch.Tensor, a_sub: torch.Tensor,
            gain: torch.Tensor) -> torch.Tensor:
    """Decoder path in torch: normalised residual (B, 1, T) -> speech (B, T)."""
    cfg = model.lpc.config
    b, _, t = residual.shape
    e = (residual.reshape(b, -1, cfg.frame) * gain[..., None]).reshape(b, t)
    y, _ = lpc.synthesize(e, a_sub.to(e.dtype))
    x, _ = lpc.deemphasis(y, cfg.preemphasis)
    return x


def _subset(files: list[Path], seconds: float, seed: int) -> list[Path]:
    """Files drawn at random (``seed``) until their durations reach ``seconds``, in manifest
    order."""
    picked, total = [], 0.0
    for i in np.random.default_rng(seed).permutation(len(files)):
        if total >= seconds:
            break
        picked.append(int(i))
        total += sf.info(str(files[i])).duration
    return [files[i] for i in sorted(picked)]


def _on_cpu(obj):
    """``obj`` (nested dicts/lists of tensors) with every tensor on the CPU, so a checkpoint
    written on a GPU loads anywhere."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


def _cosine(opt: torch.optim.Optimizer, steps: int, floor: float,
            step: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay from the optimiser's rate to ``floor`` times it over ``steps``, advanced
    to ``step`` (a resumed run)."""
    for group in opt.param_groups:  # LambdaLR's base rate; a resumed optimiser carries it
        group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))) * (1 - floor) + floor,
        last_epoch=step - 1,
    )


def _lpc_weights_config(model: CascadeModel) -> dict:
    return {k: v for k, v in model.config_dict()["lpc"].items() if k != "side_context"}


def _refinable(src: AEConfig, dst: AEConfig) -> bool:
    """A stage of config ``dst`` can start from one of ``src``: the same, or finer codebooks
    (more centroids, warm-started by ``SoftmaxQuantizer.refine_from``)."""
    return (dst.num_centroids >= src.num_centroids and dst.skip_centroids >= src.skip_centroids
            and dataclasses.replace(dst, num_centroids=src.num_centroids,
                                    skip_centroids=src.skip_centroids) == src)


def training_files(recipe: Recipe) -> list[Path]:
    """The files a recipe trains on (and its export counts symbols over)."""
    files = read_manifest(recipe.train_tsv)
    if recipe.train_files:
        files = files[: recipe.train_files]
    if recipe.train_seconds:
        files = _subset(files, recipe.train_seconds, recipe.seed)
    return files


class Trainer:
    def __init__(self, recipe: Recipe, workdir: str | Path, world: World | None = None,
                 device: str | torch.device = "cpu") -> None:
        """``world``: the training processes (default: as ``torchrun`` sets them, else one);
        each rank takes its share of ``recipe.threads``. ``device``: where the networks train
        (the LPC fit, the data cache and the export stay on the CPU)."""
        self.recipe = recipe
        self.device = torch.device(device)
        self.world = World.from_env() if world is None else world
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(self.world.threads(recipe.threads))
        torch.manual_seed(recipe.seed)
        lpc_cfg = LpcConfig(**recipe.lpc)
        self.model = CascadeModel.from_config(
            {"lpc": lpc_cfg.to_dict(), "stages": [s.config for s in recipe.stages]}
        )
        self.loss = CodecLoss(lpc_cfg.sample_rate, LossWeights(**recipe.loss)).to(self.device)
        loaded = self._warm_start() if recipe.init else 0
        self.first_stage = 0 if recipe.init.get("fine_tune") else loaded
        self.files = training_files(recipe)

    def _warm_start(self) -> int:
        """Copy the LPC stage and the first ``init.stages`` stages from ``init.weights``."""
        src = CascadeModel.from_file(self.recipe.init["weights"])
        n = int(self.recipe.init["stages"])
        if n > min(src.num_layers, self.model.num_layers):
            raise ValueError(f"init: {n} stages asked, the weights file has {src.num_layers}")
        # side_context only decides the tables the export freezes: weights carry over either way
        if _lpc_weights_config(src) != _lpc_weights_config(self.model) or any(
            not _refinable(src.stages[k].config, self.model.stages[k].config) for k in range(n)
        ):
            raise ValueError("init: the recipe's LPC/stage configs differ from the weights file")
        self.model.lpc.load_state_dict(src.lpc.state_dict())
        for k in range(n):
            mine, theirs = self.model.stages[k], src.stages[k]
            shapes = {name: t.shape for name, t in mine.state_dict().items()}
            mine.load_state_dict({name: t for name, t in theirs.state_dict().items()
                                  if t.shape == shapes[name]}, strict=False)
            for q, coarse in zip(mine.quantizers, theirs.quantizers, strict=True):
                if q.num_centroids != coarse.num_centroids:
                    q.refine_from(coarse)
            self.model.stage_scale[k] = src.stage_scale[k]
        log.info("init: LPC and %d stages from %s", n, self.recipe.init["weights"])
        return n

    # -- phases -----------------------------------------------------------------------------

    def fit_lpc(self) -> None:
        path = self.dir / "lpc.pt"
        if self.recipe.init or not self.model.lpc.config.order:  # loaded, or no LSFs
            if self.world.is_main:
                torch.save(self.model.lpc.state_dict(), path)
            return
        with self.world.main_first():
            if path.exists():
                state = torch.load(path, weights_only=True, map_location="cpu")
                self.model.lpc.load_state_dict(state)
                return
            stage = self.model.lpc
            rng = np.random.default_rng(self.recipe.seed)
            pick = rng.choice(len(self.files), min(self.recipe.lsf_files, len(self.files)), False)
            lsf = np.concatenate([
                stage.analysis_lsf(x)
                for i in pick
                for x in read_coded(self.files[i], stage.config.sample_rate,
                                    self.model.chunk_samples)
            ])
            stats = stage.fit_lsf(lsf, steps=self.recipe.lsf_steps, lam=self.recipe.lsf_lambda)
            log.info("lpc: fitted on %d frames: %s", lsf.shape[0], stats)
            torch.save(stage.state_dict(), path)
            (self.dir / "lpc.json").write_text(json.dumps(stats) + "\n")

    def chunks(self) -> ChunkSet:
        path = self.dir / "chunks.npz"
        with self.world.main_first():
            # A cache written before the side counts were transition counts is rebuilt.
            if path.exists() and (data := ChunkSet.load(path)).side_counts[0].ndim == 2:
                return data
            t0 = time.time()
            data = build_chunks(self.model.lpc, self.files, self.model.chunk_samples)
            data.save(path)
            log.info("data: %d chunks (%.2f GB of residual) from %d files in %.0f s", len(data),
                     data.residual.nbytes / 1e9, len(self.files), time.time() - t0)
            return data

    def _checkpoint(self) -> Path:
        return self.dir / "checkpoint.pt"

    def _resume(self) -> tuple[int, int, dict]:
        """(stage, step, optimiser/controller state) from the checkpoint, or a fresh start."""
        path = self._checkpoint()
        if not path.exists():
            return self.first_stage, 0, {}
        ck = torch.load(path, weights_only=True, map_location="cpu")
        self.model.load_state_dict(ck["model"])
        return ck["stage"], ck["step"], ck

    def train_stages(self, data: ChunkSet, layers: int | None = None) -> None:
        """Train (or resume) stages up to ``layers`` (all by default)."""
        start_stage, start_step, ck = self._resume()
        self.model.to(self.device)
        for k in range(start_stage, layers or len(self.recipe.stages)):
            resume = ck if k == start_stage else {}
            self._train_stage(k, data, start_step if k == start_stage else 0, resume)

    @torch.no_grad()
    def _set_scale(self, k: int, data: ChunkSet) -> None:
        """Scale stage k's target (what stages < k leave) to unit RMS on 64 chunks."""
        residual = self._batch(data, np.arange(min(64, len(data))))["residual"]
        left = residual - self.model(residual, upto=k, frozen=k).residual_hat
        self.model.stage_scale[k] = 1.0 / left.pow(2).mean().sqrt().clamp_min(1e-6)
        log.info("stage %d: input scale %.3f", k, float(self.model.stage_scale[k]))

    @torch.no_grad()
    def _frozen_pass(self, k: int, data: ChunkSet
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """What the frozen stages < k reconstruct of every chunk's residual, every chunk's
        reference speech, and the reference's PAM-1 masking threshold (dB SPL, float16; None
        when the loss has no PAM-1 term). All stay fixed while stage k trains, so they are
        computed once here rather than at every step (the frozen stages cost as much as the
        trained one; the threshold is numpy, a GPU step's bottleneck if done per step)."""
        done, reference = np.empty_like(data.residual), np.empty_like(data.residual)
        masks = None
        for start in range(0, len(data), 64):
            idx = np.arange(start, min(start + 64, len(data)))
            b = self._batch(data, idx)
            out = self.model(b["residual"], upto=k, frozen=k)
            done[idx] = out.residual_hat[:, 0].cpu().numpy()
            x = _speech(self.model, b["residual"], b["a_sub"], b["gain"])
            reference[idx] = x.cpu().numpy()
            mask = self.loss.mask(x)
            if mask is not None:
                if masks is None:
                    masks = np.empty((len(data), *mask.shape[1:]), np.float16)
                masks[idx] = mask.cpu().numpy()
        return done, reference, masks

    def _mask(self, masks: np.ndarray | None, idx: np.ndarray) -> torch.Tensor | None:
        return None if masks is None else self._tensor(masks[idx]).float()

    def _train_stage(self, k: int, data: ChunkSet, step: int, ck: dict) -> None:
        plan, rec = self.recipe.stages[k], self.recipe
        stage = self.model.stages[k]
        if step == 0:
            self._set_scale(k, data)
            if k and rec.refine_init == "previous":
                below = self.model.stages[k - 1]
                if below.config != stage.config:
                    raise ValueError(f"refine_init previous: stage {k} differs from stage {k - 1}")
                stage.load_state_dict(below.state_dict())
            elif k:
                # A refinement stage starts as a no-op: a random decoder would add noise and
                # the stage collapses to zero bits before it learns.
                stage.zero_output()
        opt = torch.optim.Adam(stage.parameters(), lr=rec.lr)
        ctrl = RateController(target_bps=plan.target_kbps * 1000,
                              lam=rec.lambda_start_refine if k else rec.lambda_start)
        # A committed (slim) checkpoint keeps the controller but not the optimiser's moments.
        if ck.get("optimizer"):
            opt.load_state_dict(ck["optimizer"])
        if ck.get("controller"):
            ctrl = RateController(**json.loads(ck["controller"]))
        sched = _cosine(opt, plan.steps, rec.lr_floor, step)
        rng = self.world.rng(rec.seed + 1000 * k + step)
        sr = self.model.sample_rate
        for s in range(k):
            self.model.stages[s].eval()
        stage.train()
        self._start_phase()
        done, reference, masks = self._frozen_pass(k, data)
        t0, seen = time.time(), 0
        while step < plan.steps:
            mode = "soft" if step < plan.soft_fraction * plan.steps else "ste"
            idx = rng.integers(0, len(data), rec.batch)
            batch = self._batch(data, idx)
            out = self.model(batch["residual"], upto=k + 1, mode=mode, frozen=k,
                             done=self._tensor(done[idx])[:, None])
            x_hat = _speech(self.model, out.residual_hat, batch["a_sub"], batch["gain"])
            x_ref = self._tensor(reference[idx])
            dist, terms = self.loss(x_hat, x_ref, self._mask(masks, idx), batch["a_sub"])
            seconds = batch["residual"].shape[0] * batch["residual"].shape[-1] / sr
            bps = out.bits[-1] / seconds  # stage k's: the only stage that ran
            loss = dist + ctrl.lam * bps + rec.penalty_weight * out.penalty
            opt.zero_grad()
            loss.backward()
            (rate,) = self.world.sync_step(stage.parameters(), bps.reshape(1))
            torch.nn.utils.clip_grad_norm_(stage.parameters(), rec.grad_clip)
            opt.step()
            sched.step()
            ctrl.update(rate)
            step += 1
            seen += seconds * self.world.size
            if step == 1 or step % 50 == 0 or step == plan.steps:
                snr = 10 * torch.log10(x_ref.pow(2).sum() / (x_hat - x_ref).pow(2).sum())
                log.info(
                    "stage %d step %d/%d %s loss %.4f %s kbps %.2f lam %.2e snr %.2f dB "
                    "%.1f audio-s/s",
                    k, step, plan.steps, mode, dist.item(),
                    " ".join(f"{n}={v.item():.4f}" for n, v in terms.items()),
                    rate / 1000, ctrl.lam, snr.item(), seen / (time.time() - t0),
                )
            if step % 200 == 0 or step == plan.steps:
                self._save(k, step, opt, dataclasses.asdict(ctrl))
        stage.eval()
        self._save(k + 1, 0, None, None)

    def train_joint(self, data: ChunkSet) -> None:
        """Fine-tune all stages together (or resume); the checkpoint's stage index is the
        number of stages while this runs and one more once it is done."""
        plan, rec, n = self.recipe.joint, self.recipe, len(self.recipe.stages)
        stage_at, step, ck = self._resume()
        if plan is None or stage_at > n:
            return
        weights = torch.tensor(plan.prefix_weights or [1.0] * n, device=self.device)
        weights = weights / weights.sum()
        params = [p for stage in self.model.stages for p in stage.parameters()]
        opt = torch.optim.Adam(params, lr=plan.lr)
        ctrls = [RateController(target_bps=s.target_kbps * 1000, lam=plan.lambda_start,
                                gain=plan.rate_gain) for s in rec.stages]
        if ck.get("optimizer"):
            opt.load_state_dict(ck["optimizer"])
        if ck.get("controller"):
            ctrls = [RateController(**c) for c in json.loads(ck["controller"])]
        sched = _cosine(opt, plan.steps, rec.lr_floor, step)
        rng = self.world.rng(rec.seed + 1000 * n + step)
        self.model.to(self.device)
        _, reference, masks = self._frozen_pass(0, data)
        self.model.train()
        self._start_phase()
        t0, seen = time.time(), 0.0
        while step < plan.steps:
            batch = self._batch(data, idx := rng.integers(0, len(data), rec.batch))
            x_ref = self._tensor(reference[idx])
            mask = self._mask(masks, idx)
            out = self.model(batch["residual"], mode="ste")
            dists = torch.stack([
                self.loss(_speech(self.model, r, batch["a_sub"], batch["gain"]), x_ref, mask,
                          batch["a_sub"])[0]
                for r in out.prefixes
            ])
            seconds = rec.batch * batch["residual"].shape[-1] / self.model.sample_rate
            bps = [b / seconds for b in out.bits]
            rate = sum(c.lam * b for c, b in zip(ctrls, bps, strict=True))
            loss = (weights * dists).sum() + rate + rec.penalty_weight * out.penalty
            opt.zero_grad()
            loss.backward()
            rates = self.world.sync_step(params, torch.stack(bps))
            torch.nn.utils.clip_grad_norm_(params, rec.grad_clip)
            opt.step()
            sched.step()
            for c, b in zip(ctrls, rates, strict=True):
                c.update(b)
            step += 1
            seen += seconds * self.world.size
            if step == 1 or step % 25 == 0 or step == plan.steps:
                log.info("joint step %d/%d loss/prefix %s kbps/stage %s %.1f audio-s/s",
                         step, plan.steps, " ".join(f"{d:.4f}" for d in dists.tolist()),
                         " ".join(f"{b / 1000:.2f}" for b in rates),
                         seen / (time.time() - t0))
            if step % 100 == 0 or step == plan.steps:
                self._save(n, step, opt, [dataclasses.asdict(c) for c in ctrls])
        self.model.eval()
        self._save(n + 1, 0, None, None)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(self.device, non_blocking=True)

    def _batch(self, data: ChunkSet, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return {name: t.to(self.device, non_blocking=True)
                for name, t in data.batch(idx).items()}

    def _start_phase(self) -> None:
        """Before a training loop: every rank takes rank 0's model (they should already agree)
        and starts summing its quantisers' symbol counts from there."""
        self.world.broadcast_(self.model)
        self._counts = CountSync(self.world, self.model.stages)

    def _save(self, stage: int, step: int, opt, ctrl_state: dict | list | None) -> None:
        """Checkpoint (rank 0 writes; every rank calls it, with the same model)."""
        self._counts.sync()
        if self.world.is_main:
            blob = {"model": self.model.state_dict(), "stage": stage, "step": step}
            if opt is not None:
                blob["optimizer"] = opt.state_dict()
                blob["controller"] = json.dumps(ctrl_state)
            tmp = self._checkpoint().with_suffix(".tmp")
            torch.save(_on_cpu(blob), tmp)
            tmp.replace(self._checkpoint())
        self.world.barrier()

    @torch.no_grad()
    def export(self, data: ChunkSet, out: Path, layers: int | None = None) -> str:
        """Count hard symbols of every stream over the training chunks (closed loop, as the
        encoder runs), freeze the tables, save the first ``layers`` stages (all by default);
        return the file's SHA-256. Ranks count a share of the chunks each and sum the
        (integer) counts, so the tables are those of one process; rank 0 writes the file."""
        model = self.model.prefix(layers or self.model.num_layers)
        model.eval()
        model.reset_counts()
        world = self.world
        chunks = np.arange(len(data))
        if 0 < self.recipe.export_chunks < len(data):
            rng = np.random.default_rng(self.recipe.seed)
            chunks = np.sort(rng.choice(len(data), self.recipe.export_chunks, replace=False))
        for start in range(64 * world.rank, len(chunks), 64 * world.size):
            batch = data.batch(chunks[start : start + 64])
            model.calibrate(batch["residual"])
        world.sum_(quantizer_counts(model.stages))
        model.lpc.reset_counts(data.side_counts)
        model.update()
        digest = ""
        if world.is_main:
            model.save(out)
            digest = hashlib.sha256(out.read_bytes()).hexdigest()
            log.info("export: %d layers to %s sha256 %s", model.num_layers, out, digest)
        return str(world.broadcast_object(digest))

    def run(self, out: Path, layers: int | None = None) -> str:
        """Every phase, resuming where the work directory says; ``layers`` stops after that
        many stages and exports them (a later run without it trains the rest)."""
        self.fit_lpc()
        data = self.chunks()
        self.train_stages(data, layers)
        if layers is None or layers >= len(self.recipe.stages):
            self.train_joint(data)
        return self.export(data, out, layers)
