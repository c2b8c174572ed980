"""Softmax ("soft-to-hard") scalar quantiser with learned centroids, and its rate controller.

A latent ``z`` of shape (B, C, L) is split into ``groups`` contiguous channel groups
(channel ``c`` belongs to group ``c // (C // groups)``). Each group has its own ``K`` learned
centroids and its own symbol histogram, i.e. its own zeroth-order entropy model; the entropy
coder builds one integer frequency table per group from :meth:`SoftmaxQuantizer.export_counts`.

Soft assignment (seed papers §1.5): ``a_k = softmax_k(-hardness * |z - c_k|)``.
Modes: ``"soft"`` (training: ``z_hat = sum_k a_k c_k``), ``"hard"`` (inference: nearest
centroid), ``"ste"`` (hard value forward, soft gradient backward).

The quantiser also owns its integer entropy tables (one per group, frozen by :meth:`update`
from the counted hard symbols) and turns symbols into range-coder streams and back: the byte
coding of every stage is built from these (see ``nwcodec.nn.stage``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from nwcodec.entropy import FrequencyTable
from nwcodec.errors import NwcodecError

Mode = Literal["soft", "hard", "ste"]
MODES: tuple[str, ...] = ("soft", "hard", "ste")


@dataclass
class Quantized:
    """What :meth:`SoftmaxQuantizer.forward` returns for a latent ``z`` (B, C, L)."""

    z_hat: Tensor  # (B, C, L) quantised latent (soft, hard or straight-through)
    bits: Tensor  # estimated total bits of the batch (differentiable, pooled soft probabilities)
    entropy: Tensor  # (groups,) estimated bits per symbol
    penalty: Tensor  # hardness penalty mean_i(sum_k sqrt(a_ik) - 1): 0 iff one-hot
    symbols: Tensor  # (B, C, L) hard symbols, int64


class SoftmaxQuantizer(nn.Module):
    """Scalar quantiser over learned centroids with a pooled-batch entropy estimate.

    The rate estimate in :meth:`forward` pools the soft assignment probabilities over the
    whole batch (every batch item, channel of the group and time step) before taking the
    entropy, so it estimates the cost under one static table per group, which is what the
    range coder uses. (Per-frame entropies averaged would be optimistic: seed-papers §4.3.)
    """

    def __init__(
        self,
        channels: int,
        num_centroids: int = 32,
        groups: int = 1,
        init_range: tuple[float, float] = (-1.0, 1.0),
        hardness: float = 50.0,
    ) -> None:
        super().__init__()
        if groups < 1 or channels % groups:
            raise ValueError(f"channels={channels} not divisible by groups={groups}")
        self.channels = channels
        self.groups = groups
        self.num_centroids = num_centroids
        self.centroids = nn.Parameter(torch.linspace(*init_range, num_centroids).repeat(groups, 1))
        # A fixed hyper-parameter. It stays a (frozen) Parameter because weights files, model
        # hashes and optimiser checkpoints already hold it as one.
        self.log_hardness = nn.Parameter(torch.tensor(math.log(hardness)), requires_grad=False)
        self.register_buffer("running_counts", torch.zeros(groups, num_centroids, dtype=torch.long))
        self.register_buffer(
            "last_counts", torch.zeros(groups, num_centroids, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "group_of_channel",
            torch.arange(channels) // (channels // groups),
            persistent=False,
        )
        self.tables: list[FrequencyTable] | None = None  # one per group, set by update()

    @property
    def hardness(self) -> float:
        return float(self.log_hardness.exp())

    @hardness.setter
    def hardness(self, value: float) -> None:
        with torch.no_grad():
            self.log_hardness.fill_(math.log(value))

    def _distances(self, z: Tensor) -> Tensor:
        """|z - c| of shape (B, C, L, K), each channel against its group's centroids."""
        if z.dim() != 3 or z.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, L), got {tuple(z.shape)}")
        c = self.centroids[self.group_of_channel]  # (C, K)
        return (z.float().unsqueeze(-1) - c[None, :, None, :]).abs()

    def symbols(self, z: Tensor, rate_weight: float = 0.0) -> Tensor:
        """Hard symbols, LongTensor: the nearest centroid's index (ties -> lowest index).

        ``rate_weight`` > 0 quantises for rate as well as distortion under the frozen tables
        (encoder-side rate-distortion quantisation): ``argmin_k (z - c_k)^2 + rate_weight *
        bits_k``, so a symbol moves to a cheaper neighbour where that costs little. The
        decoder is the same for any symbols, so this changes no format.
        """
        with torch.no_grad():
            dist = self._distances(z)
            if rate_weight <= 0:
                return dist.argmin(dim=-1)
            bits = torch.from_numpy(np.stack([t.code_lengths() for t in self.frozen_tables()]))
            per_channel = bits.to(dist)[self.group_of_channel]  # (C, K)
            return (dist.square() + rate_weight * per_channel[None, :, None, :]).argmin(dim=-1)

    def dequantize(self, symbols: Tensor) -> Tensor:
        """Centroid values of ``symbols`` (B, C, L)."""
        return self.centroids[self.group_of_channel[None, :, None], symbols]

    def count_symbols(self, symbols: Tensor) -> Tensor:
        """Exact histogram of hard symbols, shape (groups, K), int64."""
        flat = self.group_of_channel[None, :, None] * self.num_centroids + symbols
        counts = torch.bincount(flat.reshape(-1), minlength=self.groups * self.num_centroids)
        return counts.view(self.groups, self.num_centroids)

    def hard_entropy(self, symbols: Tensor) -> Tensor:
        """Plug-in entropy of the hard symbols per group, bits/symbol, shape (groups,)."""
        return _entropy_bits(self.count_symbols(symbols).double())

    def forward(self, z: Tensor, mode: Mode = "soft") -> Quantized:
        """Quantise ``z`` (B, C, L) (see :class:`Quantized`). In training mode the hard-symbol
        histogram is added to ``running_counts``. Always float32, also under autocast."""
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(z, mode)

    def _quantize(self, z: Tensor, mode: Mode) -> Quantized:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        dist = self._distances(z)
        probs = torch.softmax(-self.log_hardness.exp() * dist, dim=-1)  # (B, C, L, K)
        symbols = dist.detach().argmin(dim=-1)
        hard = self.dequantize(symbols)
        if mode == "hard":
            z_hat = hard
        else:
            c = self.centroids[self.group_of_channel]
            soft = (probs * c[None, :, None, :]).sum(-1)
            z_hat = soft if mode == "soft" else _StraightThrough.apply(hard, soft)

        b, ch, length, k = probs.shape
        per_group = probs.view(b, self.groups, ch // self.groups, length, k)
        p = per_group.mean(dim=(0, 2, 3))  # (groups, K)
        entropy = _entropy_bits(p)
        bits = entropy.sum() * (b * (ch // self.groups) * length)
        penalty = (probs + 1e-20).sqrt().sum(-1).sub(1.0).mean()

        with torch.no_grad():
            self.last_counts.copy_(self.count_symbols(symbols))
            if self.training:
                self.running_counts += self.last_counts
        return Quantized(z_hat, bits, entropy, penalty, symbols)

    @torch.no_grad()
    def calibrate(self, z: Tensor) -> Tensor:
        """Add the hard-symbol histogram of ``z`` to ``running_counts`` (calibration pass);
        return the hard symbols."""
        symbols = self.symbols(z)
        self.last_counts.copy_(self.count_symbols(symbols))
        self.running_counts += self.last_counts
        return symbols

    def reset_counts(self) -> None:
        self.running_counts.zero_()
        self.last_counts.zero_()

    def export_counts(self, running: bool = True) -> np.ndarray:
        """Hard-symbol counts, np.int64 of shape (groups, K), indexed by symbol.

        ``running=True``: the accumulated histogram (training or :meth:`calibrate`);
        ``running=False``: the histogram of the most recent forward/calibrate call.
        Call :meth:`sort_` first if symbol order should follow centroid order.
        """
        counts = self.running_counts if running else self.last_counts
        return counts.cpu().numpy().astype(np.int64)

    @torch.no_grad()
    def sort_(self) -> None:
        """Sort each group's centroids ascending, permuting the histograms to match.

        Changes the symbol alphabet: do it before freezing tables, never after.
        """
        order = self.centroids.argsort(dim=-1)
        self.centroids.copy_(self.centroids.gather(-1, order))
        self.running_counts.copy_(self.running_counts.gather(-1, order))
        self.last_counts.copy_(self.last_counts.gather(-1, order))


    @torch.no_grad()
    def refine_from(self, coarse: SoftmaxQuantizer) -> None:
        """Warm start from a quantiser of the same groups with fewer centroids: this one's K
        levels are spread evenly (by index) along ``coarse``'s sorted levels, ends kept, so
        training starts where the coarse codebook was and only has finer steps to learn."""
        if coarse.groups != self.groups or coarse.num_centroids > self.num_centroids:
            raise ValueError(f"cannot refine {self.groups}x{self.num_centroids} centroids from "
                             f"{coarse.groups}x{coarse.num_centroids}")
        old = coarse.centroids.detach().sort(dim=-1).values.cpu().double().numpy()
        at = np.linspace(0, coarse.num_centroids - 1, self.num_centroids)
        new = np.stack([np.interp(at, np.arange(coarse.num_centroids), g) for g in old])
        self.centroids.copy_(torch.from_numpy(new).to(self.centroids))
        self.log_hardness.copy_(coarse.log_hardness)
        self.reset_counts()
        self.tables = None

    # -- entropy tables and streams ---------------------------------------------------------

    def update(self, counts: np.ndarray | None = None) -> None:
        """Freeze one integer table per group from ``counts`` (groups, K), by default the
        running hard-symbol counts. Symbols never seen get frequency 1."""
        counts = self.export_counts() if counts is None else counts
        self.tables = [FrequencyTable.from_counts(c) for c in counts]

    def load_tables(self, tables: Iterator[FrequencyTable]) -> None:
        """Take this quantiser's tables (one per group) from ``tables``, in group order."""
        mine = [next(tables, None) for _ in range(self.groups)]
        if any(t is None or t.num_symbols != self.num_centroids for t in mine):
            raise NwcodecError(f"expected {self.groups} tables of {self.num_centroids} symbols")
        self.tables = mine

    def frozen_tables(self) -> list[FrequencyTable]:
        if self.tables is None:
            raise NwcodecError("entropy tables are not frozen; call update() first")
        return self.tables

    def streams(self, symbols: Tensor) -> list[tuple[np.ndarray, FrequencyTable]]:
        """One item's symbols (C, L) as range-coder streams: one per channel group, its
        channels one after another, each with its group's table."""
        parts = np.split(symbols.cpu().numpy(), self.groups, axis=0)
        return [(p.reshape(-1), t) for p, t in zip(parts, self.frozen_tables(), strict=True)]

    def stream_specs(self, frames: int) -> list[tuple[int, FrequencyTable]]:
        """(symbol count, table) of each stream of :meth:`streams` for ``frames`` frames."""
        return [(self.channels // self.groups * frames, t) for t in self.frozen_tables()]

    def from_streams(self, streams: list[np.ndarray], frames: int) -> Tensor:
        """Inverse of :meth:`streams`: decoded streams -> symbols (C, L)."""
        per_group = self.channels // self.groups
        return torch.from_numpy(np.concatenate([s.reshape(per_group, frames) for s in streams]))


class _StraightThrough(torch.autograd.Function):
    """Value of ``hard`` exactly (``hard + soft - soft.detach()`` is off by rounding),
    gradient of ``soft``."""

    @staticmethod
    def forward(ctx, hard: Tensor, soft: Tensor) -> Tensor:
        return hard.detach().clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:
        return None, grad


def _entropy_bits(p: Tensor) -> Tensor:
    """Entropy in bits of (unnormalised) histograms along the last axis."""
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-30)
    return -(p * torch.log2(p.clamp_min(1e-30))).sum(-1)


@dataclass
class RateController:
    """Multiplicative controller steering a rate weight ``lam`` toward ``target_bps``.

    ``lam <- lam * (ema / target_bps) ** gain``, with ``ema`` an exponential moving average
    of the measured rate, clipped to [lam_min, lam_max]. Multiplicative, so ``lam`` never
    changes sign (seed-papers §4.5); call :meth:`update` every step or every few steps.
    Plain fields, so ``dataclasses.asdict`` / ``RateController(**state)`` checkpoint it.
    """

    target_bps: float
    lam: float = 1e-5
    gain: float = 0.05
    smoothing: float = 0.9
    lam_min: float = 1e-9
    lam_max: float = 1.0
    ema: float | None = None

    def update(self, measured_bps: float) -> float:
        m = float(measured_bps)
        self.ema = m if self.ema is None else self.smoothing * self.ema + (1 - self.smoothing) * m
        ratio = max(self.ema, 1e-9) / self.target_bps
        self.lam = min(max(self.lam * ratio**self.gain, self.lam_min), self.lam_max)
        return self.lam

    def state_dict(self) -> dict[str, float | None]:
        return dataclasses.asdict(self)
