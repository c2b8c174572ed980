"""The CMRL cascade: the LPC stage, then residual autoencoders each coding what the earlier
ones left, with frozen integer entropy tables for every symbol stream.

    x ─ LPC stage ─ r₀ (normalised residual) ─ AE₁ ─ r̂₁        layer 0 = side info + AE₁
                     r₀ − r̂₁ ─────────────── AE₂ ─ r̂₂        layer 1 = AE₂ ...
    decoder: Σ r̂ₖ × gain ─ 1/Â(z) ─ de-emphasis ─ x̂

A cascade may end in an MDCT layer (``nn/mdct_stage.py``), which codes what the decoded
autoencoder layers leave of the *signal* (after synthesis) and adds its decoding to the output:
it is the top layer, so it needs every layer below it.

Every stage offers the interface of ``nn/stage.py`` and owns its tables. The cascade adds one
thing, :meth:`CascadeModel.closed_loop`: stage k codes ``r₀ − Σ_{i<k} r̂ᵢ`` where ``r̂ᵢ`` is
exactly what the decoder reconstructs. Training (:meth:`~CascadeModel.forward`), table
calibration, encoding, decoding and the benchmarks all run through it.

Weights files are plain ``torch.save`` dicts of tensors and primitives (config, state dict,
serialised tables), loaded with ``weights_only=True``: no pickle code runs. The tables are
stored as one list: the LPC stage's, then each autoencoder's, in stream and group order, then
the MDCT layer's (format ``nwcodec-cascade-1``, unchanged since the first shipped tier; a
cascade without an MDCT layer has no ``mdct`` entry in its config, so its hash is as before).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from nwcodec.dsp.comfort_noise import comfort_noise
from nwcodec.entropy import FrequencyTable, tables_from_bytes, tables_to_bytes
from nwcodec.errors import NwcodecError
from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.lpc_module import LpcConfig, LpcStage
from nwcodec.nn.mdct_stage import MdctConfig, MdctStage
from nwcodec.nn.quantizer import Mode
from nwcodec.nn.stage import Stage

FORMAT = "nwcodec-cascade-1"

StageStep = Callable[[int, Stage, Tensor], Tensor | None]
LayerCoder = Callable[[float], bytes]  # rate weight -> one layer's payload (layer_coders)


class ModelFileError(NwcodecError):
    """A weights file is not a cascade this version can load."""


@dataclass
class CascadeOutput:
    """The cascade's training pass: the sum of the stages' reconstructions, each stage's
    estimated bits for the batch, the summed hardness penalty, and the reconstruction after
    each stage that ran (``prefixes[-1]`` is ``residual_hat``): what a decoder of that many
    layers gets, for losses on every tier of a ladder at once."""

    residual_hat: Tensor
    bits: list[Tensor]
    penalty: Tensor
    prefixes: list[Tensor]


class CascadeModel(nn.Module):
    def __init__(self, lpc_config: LpcConfig, stage_configs: list[AEConfig],
                 mdct_config: MdctConfig | None = None) -> None:
        super().__init__()
        self.lpc = LpcStage(lpc_config)
        self.stages = nn.ModuleList(ResidualAutoencoder(c) for c in stage_configs)
        self.mdct = MdctStage(mdct_config) if mdct_config is not None else None
        # Stage k sees its target multiplied by stage_scale[k] (set by the trainer so that every
        # stage works at unit scale, as its tanh latent and centroids expect) and its output
        # divided by it again.
        self.register_buffer("stage_scale", torch.ones(len(stage_configs)))
        self._hash: bytes | None = None

    # -- identity -------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.lpc.config.sample_rate

    @property
    def chunk_samples(self) -> int:
        """Samples per independently coded chunk: two seconds (container overhead stays
        under 0.5 % at 16 kbit/s; see bitstream_spec/PERFORMANCE.md)."""
        return 2 * self.sample_rate

    @property
    def algorithmic_delay_ms(self) -> float:
        """A chunk is coded once it is complete: the delay is one chunk."""
        return 1000.0 * self.chunk_samples / self.sample_rate

    @property
    def num_layers(self) -> int:
        """Autoencoder layers, plus the MDCT layer if there is one."""
        return len(self.stages) + (self.mdct is not None)

    def config_dict(self) -> dict:
        config = {
            "lpc": self.lpc.config.to_dict(),
            "stages": [asdict(s.config) for s in self.stages],
        }
        if self.mdct is not None:
            config["mdct"] = self.mdct.config.to_dict()
        return config

    @property
    def model_hash(self) -> bytes:
        """The identity a stream's header carries (bitstream_spec/SPEC.md §2): the first 8
        bytes of SHA-256 over the config as sorted-key JSON, then every state-dict entry in
        name order (UTF-8 name, then the tensor's bytes, C order, little-endian), then the
        serialised table set (``entropy.tables_to_bytes``)."""
        if self._hash is None:
            h = hashlib.sha256(json.dumps(self.config_dict(), sort_keys=True).encode())
            for name, tensor in sorted(self.state_dict().items()):
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            h.update(tables_to_bytes(self.tables))
            self._hash = h.digest()[:8]
        return self._hash

    # -- tables ---------------------------------------------------------------------------

    @property
    def tables(self) -> list[FrequencyTable]:
        """Every stage's tables in file order: the LPC stage's, each autoencoder's, the MDCT
        layer's."""
        return [*self.lpc.tables, *(t for stage in self.stages for t in stage.tables),
                *(self.mdct.tables if self.mdct is not None else [])]

    def load_tables(self, tables: list[FrequencyTable]) -> None:
        """Hand each stage its tables from a list in :attr:`tables` order."""
        it = iter(tables)
        for stage in [self.lpc, *self.stages, *([self.mdct] if self.mdct else [])]:
            stage.load_tables(it)
        if next(it, None) is not None:
            raise NwcodecError(f"{len(tables)} tables are more than the model's streams")
        self._hash = None

    def reset_counts(self) -> None:
        """Clear the autoencoder stages' symbol counts (before a calibration pass)."""
        for stage in self.stages:
            stage.reset_counts()

    @torch.no_grad()
    def calibrate(self, residual: Tensor) -> None:
        """Count every autoencoder stream's hard symbols on ``residual`` (B, 1, T), closed
        loop as the encoder runs."""
        self.closed_loop(residual, lambda k, stage, x: stage.calibrate(x))

    def update(self) -> None:
        """Every stage freezes its tables from its own counts. Changes the model hash."""
        self.lpc.update()
        for stage in self.stages:
            stage.update()
        if self.mdct is not None:
            self.mdct.update()
        self._hash = None

    # -- the closed loop ------------------------------------------------------------------

    def closed_loop(self, target: Tensor, step: StageStep, upto: int | None = None,
                    start: int = 0, done: Tensor | None = None) -> Tensor:
        """Run stages ``start .. upto-1`` (all by default) on ``target`` (B, 1, T) as CMRL
        does: ``step(k, stage, x)`` codes stage k's input ``x``, what the earlier stages left
        of ``target`` at the stage's scale, and returns its reconstruction of ``x`` (or None
        when no later stage needs it). ``done`` stands for what stages < ``start`` already
        reconstructed (zero by default). Returns the sum of all reconstructions, at the
        target's scale."""
        upto = len(self.stages) if upto is None else min(upto, len(self.stages))
        acc = torch.zeros_like(target) if done is None else done
        for k in range(start, upto):
            scale = self.stage_scale[k]
            x_hat = step(k, self.stages[k], (target - acc) * scale)
            if x_hat is not None:
                acc = acc + x_hat / scale
        return acc

    def forward(self, residual: Tensor, upto: int | None = None, mode: Mode = "soft",
                frozen: int = 0, done: Tensor | None = None) -> CascadeOutput:
        """Training pass on normalised residuals (B, 1, T) through the first ``upto`` stages.
        Stages below ``frozen`` run as the decoder will (hard quantisation) and without
        gradient (greedy stage-wise training); ``done``, if given, is their precomputed
        reconstruction and they are skipped (``bits`` then lists the other stages only)."""
        bits: list[Tensor] = []
        prefixes: list[Tensor] = []
        penalty = residual.new_zeros(())
        start = 0 if done is None else frozen
        acc = torch.zeros_like(residual) if done is None else done

        def step(k: int, stage: Stage, x: Tensor) -> Tensor:
            nonlocal penalty, acc
            with torch.set_grad_enabled(torch.is_grad_enabled() and k >= frozen):
                out = stage(x, "hard" if k < frozen else mode)
            bits.append(out.bits)
            penalty = penalty + out.penalty
            acc = acc + out.x_hat / self.stage_scale[k]
            prefixes.append(acc)
            return out.x_hat

        residual_hat = self.closed_loop(residual, step, upto, start, done)
        return CascadeOutput(residual_hat, bits, penalty, prefixes)

    # -- coding -----------------------------------------------------------------------------

    @torch.inference_mode()
    def layer_coders(self, residual: Tensor, layers: int | None = None,
                     reconstruct: bool = False) -> tuple[list[LayerCoder], Tensor]:
        """Normalised residual (1, 1, T) -> one payload per autoencoder stage, as a function
        of the rate weight (0: as trained; more: coarser and fewer bytes, ``nn/stage.py``),
        for the first ``layers`` stages (all by default: a tier that writes fewer never runs
        the stages above); and what the decoder reconstructs of the residual from them at
        weight 0 (complete only with ``reconstruct``: the top stage is decoded only then).
        Each stage codes what the ones below it leave at weight 0, and runs its network once
        whatever weights are asked for later."""
        upto = min(len(self.stages), self.num_layers if layers is None else layers)
        coders: list[LayerCoder] = []

        def step(k: int, stage: Stage, x: Tensor) -> Tensor | None:
            code = stage.compressor(x)
            plain = code(0.0)
            coders.append(lambda w: code(w).strings[0] if w else plain.strings[0])
            # the next stage codes what the decoder will lack
            last = k + 1 == upto and not reconstruct
            return None if last else stage.decompress(plain.strings, plain.shape)

        return coders, self.closed_loop(residual, step, upto=upto)

    def compress_residual(self, residual: Tensor, layers: int | None = None) -> list[bytes]:
        """Normalised residual (1, 1, T) -> one payload per stage, for the first ``layers``
        stages (:meth:`layer_coders` at weight 0)."""
        return [code(0.0) for code in self.layer_coders(residual, layers)[0]]

    @torch.inference_mode()
    def decompress_residual(self, layers: list[bytes], length: int) -> Tensor:
        """The first ``len(layers)`` autoencoder layers -> decoded residual (1, 1, length)."""
        return self.closed_loop(torch.zeros(1, 1, length),
                                lambda k, stage, _: stage.decompress([layers[k]], length),
                                upto=min(len(layers), len(self.stages)))

    def encode_chunk(self, x: np.ndarray, layers: int | None = None
                     ) -> tuple[bytes, list[bytes]]:
        """One channel's chunk (n,) -> (side information, one payload per layer, for the
        first ``layers`` layers; all by default)."""
        side, coders = self.chunk_coders(x, layers)
        return side, [code(0.0) for code in coders]

    def chunk_coders(self, x: np.ndarray, layers: int | None = None
                     ) -> tuple[bytes, list[LayerCoder]]:
        """:meth:`encode_chunk` with each layer's payload a function of the rate weight
        (:meth:`layer_coders`; the MDCT layer's, if asked for, codes what the autoencoder
        layers leave at weight 0)."""
        side, an = self.lpc.compress(x)
        residual = torch.from_numpy(an.residual)[None, None]
        upto = self.num_layers if layers is None else layers
        with_mdct = self.mdct is not None and upto > len(self.stages)
        coders, residual_hat = self.layer_coders(residual, upto, reconstruct=with_mdct)
        if with_mdct:
            params = self.lpc.decompress(side.strings, x.shape[0])
            y = self.lpc.synthesize(residual_hat[0, 0].numpy(), params, x.shape[0])
            coders.append(self.mdct.compressor(x.astype(np.float64) - y))
        return side.strings[0], coders

    def encode_stationary(self, x: np.ndarray) -> bytes:
        """One channel's chunk (n,) -> side information of one frame standing for all of it
        (mean envelope, overall level): stationary comfort noise, no layers."""
        return self.lpc.compress_stationary(x)

    def decode_chunk(self, side: bytes, layers: list[bytes], n: int, index: int = 0,
                     channel: int = 0, stationary: bool = False) -> np.ndarray:
        """Inverse of :meth:`encode_chunk` using the first ``len(layers)`` layers (or of
        :meth:`encode_stationary`, ``stationary``). With no layers the residual is the comfort
        noise of chunk ``index``, ``channel`` (``nwcodec/dsp/comfort_noise.py``): the side
        information's envelope and level."""
        params = self.lpc.decompress([side], n, stationary)
        length = self.lpc.frames(n) * self.lpc.config.frame
        if layers:
            residual_hat = self.decompress_residual(layers, length)[0, 0].numpy()
        else:
            residual_hat = comfort_noise(length, index, channel)
        y = self.lpc.synthesize(residual_hat, params, n)
        if self.mdct is not None and len(layers) > len(self.stages):
            y = y + self.mdct.decompress(layers[len(self.stages)], n)
        return y

    # -- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        blob = {
            "format": FORMAT,
            "config": json.dumps(self.config_dict()),
            "state": self.state_dict(),
            "tables": torch.frombuffer(bytearray(tables_to_bytes(self.tables)),
                                       dtype=torch.uint8),
        }
        buf = io.BytesIO()
        torch.save(blob, buf)
        Path(path).write_bytes(buf.getvalue())

    def prefix(self, layers: int, mdct: MdctConfig | None = None) -> CascadeModel:
        """A new cascade of this one's LPC stage and first ``layers`` autoencoder stages,
        topped by an MDCT layer of ``mdct`` if given (weights copied, tables not: call
        :meth:`update` after calibrating)."""
        config = self.config_dict()
        model = CascadeModel.from_config({"lpc": config["lpc"],
                                          "stages": config["stages"][:layers],
                                          **({"mdct": asdict(mdct)} if mdct else {})})
        model.lpc.load_state_dict(self.lpc.state_dict())
        for mine, theirs in zip(model.stages, self.stages, strict=False):
            mine.load_state_dict(theirs.state_dict())
        model.stage_scale.copy_(self.stage_scale[:layers])
        return model

    @classmethod
    def from_config(cls, config: dict) -> CascadeModel:
        mdct = config.get("mdct")
        return cls(LpcConfig(**config["lpc"]),
                   [AEConfig(**_tuples(c)) for c in config["stages"]],
                   MdctConfig(**mdct) if mdct is not None else None)

    @classmethod
    def from_file(cls, path: str | Path) -> CascadeModel:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a bad file
            raise ModelFileError(f"cannot load weights {path}: {exc}") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ModelFileError(f"{path} is not an {FORMAT} weights file")
        try:
            model = cls.from_config(json.loads(blob["config"]))
            model.load_state_dict(blob["state"])
            model.load_tables(tables_from_bytes(blob["tables"].numpy().tobytes()))
        except (KeyError, TypeError, ValueError, RuntimeError, NwcodecError) as exc:
            raise ModelFileError(f"{path} does not hold a loadable cascade: {exc}") from None
        model.eval()
        return model

    @classmethod
    def test_model(cls) -> CascadeModel:
        """Deterministic random-weight model (tier ``test-random``): machinery tests only."""
        state = torch.random.get_rng_state()
        torch.manual_seed(20261122)
        try:
            small = AEConfig(channels=(16, 24), strides=(8, 10), blocks=(1, 1),
                             latent_channels=4, num_centroids=8, skips=1, skip_channels=2,
                             skip_stride=5, skip_centroids=4)
            model = cls(LpcConfig(), [small, small])
        finally:
            torch.random.set_rng_state(state)
        model.update()
        model.eval()
        return model


def _tuples(d: dict) -> dict:
    """JSON turns tuples into lists; AEConfig wants tuples back."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
