"""The CMRL cascade: the LPC stage, then residual autoencoders each coding what the earlier
ones left, with frozen integer entropy tables for every symbol stream.

    x ─ LPC stage ─ r₀ (normalised residual) ─ AE₁ ─ r̂₁        layer 0 = side info + AE₁
                     r₀ − r̂₁ ─────────────── AE₂ ─ r̂₂        layer 1 = AE₂ ...
    decoder: Σ r̂ₖ × gain ─ 1/Â(z) ─ de-emphasis ─ x̂

The encoder runs the cascade closed-loop: module k codes ``r₀ − Σ_{i<k} r̂ᵢ`` where ``r̂ᵢ``
is exactly what the decoder reconstructs from the symbols. Training (``nwcodec.train``) calls
:meth:`CascadeModel.forward`; coding calls :meth:`encode_chunk` / :meth:`decode_chunk`.

Weights files are plain ``torch.save`` dicts of tensors and primitives (config, state dict,
serialised tables), loaded with ``weights_only=True``: no pickle code runs.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from nwcodec.entropy import (
    FrequencyTable,
    decode_streams,
    encode_streams,
    tables_from_bytes,
    tables_to_bytes,
)
from nwcodec.errors import NwcodecError
from nwcodec.nn.autoencoder import AEConfig, ResidualAutoencoder
from nwcodec.nn.blocks import encoder_field
from nwcodec.nn.lpc_module import LpcConfig, LpcStage
from nwcodec.nn.quantizer import Mode

FORMAT = "nwcodec-cascade-1"


class ModelFileError(NwcodecError):
    """A weights file is not a cascade this version can load."""


class CascadeModel(nn.Module):
    def __init__(self, lpc_config: LpcConfig, stage_configs: list[AEConfig]) -> None:
        super().__init__()
        self.lpc = LpcStage(lpc_config)
        self.stages = nn.ModuleList(ResidualAutoencoder(c) for c in stage_configs)
        # Stage k sees its target multiplied by stage_scale[k] (set by the trainer so that every
        # stage works at unit scale, as its tanh latent and centroids expect) and its output
        # divided by it again.
        self.register_buffer("stage_scale", torch.ones(len(stage_configs)))
        self.tables: list[FrequencyTable] | None = None
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
        return len(self.stages)

    def config_dict(self) -> dict:
        return {
            "lpc": self.lpc.config.to_dict(),
            "stages": [asdict(s.config) for s in self.stages],
        }

    @property
    def model_hash(self) -> bytes:
        """First 8 bytes of SHA-256 over config, every tensor and the tables."""
        if self._hash is None:
            h = hashlib.sha256(json.dumps(self.config_dict(), sort_keys=True).encode())
            for name, tensor in sorted(self.state_dict().items()):
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            h.update(tables_to_bytes(self._frozen_tables()))
            self._hash = h.digest()[:8]
        return self._hash

    # -- tables ---------------------------------------------------------------------------

    def _frozen_tables(self) -> list[FrequencyTable]:
        if self.tables is None:
            raise NwcodecError("entropy tables are not frozen; call freeze_tables() first")
        return self.tables

    def _stage_groups(self, stage: ResidualAutoencoder) -> list[int]:
        return [q.groups for q in stage.quantizers]

    def freeze_tables(self, side_counts: list[np.ndarray] | None = None) -> None:
        """Build the integer tables from the quantisers' running counts (and ``side_counts``
        for the LPC side streams: gain histogram, then one per LSF). Changes the model hash."""
        lpc_counts = side_counts or [np.ones(k, np.int64) for k in self.lpc.side_alphabets]
        tables = [FrequencyTable.from_counts(c) for c in lpc_counts]
        for stage in self.stages:
            for q in stage.quantizers:
                tables += [FrequencyTable.from_counts(c) for c in q.export_counts()]
        self.tables = tables
        self._hash = None

    def _split_tables(self) -> tuple[list[FrequencyTable], list[list[list[FrequencyTable]]]]:
        """(side tables, per stage → per stream → per channel-group tables)."""
        tables = self._frozen_tables()
        n_side = len(self.lpc.side_alphabets)
        side, pos, per_stage = tables[:n_side], n_side, []
        for stage in self.stages:
            streams = []
            for groups in self._stage_groups(stage):
                streams.append(tables[pos : pos + groups])
                pos += groups
            per_stage.append(streams)
        return side, per_stage

    # -- training -------------------------------------------------------------------------

    def forward(self, residual: Tensor, upto: int | None = None, mode: Mode | None = None,
                frozen: int = 0) -> dict:
        """Cascade on normalised residuals (B, 1, T): returns ``residual_hat`` (sum of the
        first ``upto`` stages), per-stage ``bits`` and hardness ``penalty``. Stages below
        ``frozen`` run without gradient (greedy stage-wise training)."""
        upto = self.num_layers if upto is None else upto
        acc = torch.zeros_like(residual)
        bits, penalty = [], residual.new_zeros(())
        for k, stage in enumerate(self.stages[:upto]):
            scale = self.stage_scale[k]
            # frozen stages run exactly as the decoder will: hard quantisation, no gradient
            with torch.set_grad_enabled(torch.is_grad_enabled() and k >= frozen):
                out = stage((residual - acc) * scale, "hard" if k < frozen else mode)
            acc = acc + out["x_hat"] / scale
            bits.append(out["bits"])
            penalty = penalty + out["penalty"]
        return {"residual_hat": acc, "bits": bits, "penalty": penalty}

    # -- coding -----------------------------------------------------------------------------

    def _stream_shapes(self, stage: ResidualAutoencoder, n: int) -> list[tuple[int, int]]:
        padded = -(-n // stage.hop) * stage.hop
        shapes = []
        for (enc, _), q in zip(stage.stream_spans(), stage.quantizers, strict=True):
            shapes.append((q.channels, padded // encoder_field(enc)[2]))
        return shapes

    @staticmethod
    def _by_group(sym: np.ndarray, groups: int) -> list[np.ndarray]:
        """(C, L) symbols -> one flat stream per channel group, channel-major."""
        return [g.reshape(-1) for g in np.split(sym, groups, axis=0)]

    @torch.inference_mode()
    def encode_chunk(self, x: np.ndarray) -> tuple[bytes, list[bytes]]:
        """One channel's chunk (n,) -> (side information, one payload per layer)."""
        side_tables, stage_tables = self._split_tables()
        an = self.lpc.analyze(x)
        side = encode_streams(list(zip(self.lpc.side_symbols(an), side_tables, strict=True)))
        target = torch.from_numpy(an.residual)[None, None]
        acc = torch.zeros_like(target)
        layers = []
        for k, (stage, tables) in enumerate(zip(self.stages, stage_tables, strict=True)):
            scale = self.stage_scale[k]
            symbols = stage.compress((target - acc) * scale)["symbols"]
            streams = []
            for sym, q, tabs in zip(symbols, stage.quantizers, tables, strict=True):
                groups = self._by_group(sym[0].numpy(), q.groups)
                streams += list(zip(groups, tabs, strict=True))
            layers.append(encode_streams(streams))
            if k + 1 < self.num_layers:  # the next stage codes what the decoder will lack
                acc = acc + stage.decompress(symbols, target.shape[-1]) / scale
        return side, layers

    @torch.inference_mode()
    def decode_chunk(self, side: bytes, layers: list[bytes], n: int) -> np.ndarray:
        """Inverse of :meth:`encode_chunk` using the first ``len(layers)`` layers."""
        side_tables, stage_tables = self._split_tables()
        lengths = self.lpc.side_stream_lengths(n)
        side_streams = decode_streams(side, list(zip(lengths, side_tables, strict=True)))
        a_sub, gain = self.lpc.decoder_params(side_streams)
        length = self.lpc.frames(n) * self.lpc.config.frame
        acc = torch.zeros(1, 1, length)
        stages = zip(layers, self.stages, stage_tables, self.stage_scale, strict=False)
        for payload, stage, tables, scale in stages:
            specs, shapes = [], self._stream_shapes(stage, length)
            for (ch, frames), q, tabs in zip(shapes, stage.quantizers, tables, strict=True):
                specs += [((ch // q.groups) * frames, t) for t in tabs]
            flat = decode_streams(payload, specs)
            symbols, pos = [], 0
            for (ch, frames), q in zip(shapes, stage.quantizers, strict=True):
                parts = flat[pos : pos + q.groups]
                pos += q.groups
                sym = np.concatenate([p.reshape(ch // q.groups, frames) for p in parts])
                symbols.append(torch.from_numpy(sym)[None])
            acc = acc + stage.decompress(symbols, length) / scale
        return self.lpc.synthesize(acc[0, 0].numpy(), a_sub, gain, n)

    # -- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        blob = {
            "format": FORMAT,
            "config": json.dumps(self.config_dict()),
            "state": self.state_dict(),
            "tables": torch.frombuffer(bytearray(tables_to_bytes(self._frozen_tables())),
                                       dtype=torch.uint8),
        }
        buf = io.BytesIO()
        torch.save(blob, buf)
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def from_config(cls, config: dict) -> CascadeModel:
        return cls(LpcConfig(**config["lpc"]),
                   [AEConfig(**_tuples(c)) for c in config["stages"]])

    @classmethod
    def from_file(cls, path: str | Path) -> CascadeModel:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a bad file
            raise ModelFileError(f"cannot load weights {path}: {exc}") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ModelFileError(f"{path} is not an {FORMAT} weights file")
        model = cls.from_config(json.loads(blob["config"]))
        model.load_state_dict(blob["state"])
        model.tables = tables_from_bytes(blob["tables"].numpy().tobytes())
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
        model.freeze_tables()
        model.eval()
        return model


def _tuples(d: dict) -> dict:
    """JSON turns tuples into lists; AEConfig wants tuples back."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
