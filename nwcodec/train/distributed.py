"""Data-parallel training on several CPU processes (``torchrun``, gloo backend).

A :class:`World` says which process this is. Launched by ``torchrun --nproc_per_node N``
(``RANK``/``WORLD_SIZE`` in the environment, ``WORLD_SIZE`` > 1) it joins a gloo process group;
otherwise it is the single process of a world of one and every method is a no-op, so the trainer
behaves exactly as without it.

Every rank keeps an identical model. Gradients are averaged with an explicit all-reduce rather
than DistributedDataParallel: the trainer's forward runs the whole cascade while only some
stages train (DDP would need ``find_unused_parameters``), the step also has to average the
measured bitrates the rate controllers see (same collective here), and DDP's buffer broadcast
would overwrite the quantisers' symbol counts with rank 0's instead of summing them. Those
counts are summed over the ranks by :class:`CountSync`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from nwcodec.nn.quantizer import SoftmaxQuantizer


@dataclass(frozen=True)
class World:
    """This process's place among the training processes: ``rank`` of ``size``."""

    rank: int = 0
    size: int = 1

    @classmethod
    def from_env(cls) -> World:
        """The world ``torchrun`` describes in the environment, joining its gloo process group
        on first use (``WORLD_SIZE`` absent or 1: a world of one, no process group)."""
        if env_size() <= 1:
            return cls()
        if not dist.is_initialized():
            # A rank waits at a barrier while rank 0 builds the data cache: allow hours.
            dist.init_process_group("gloo", timeout=timedelta(hours=6))
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and the weights file."""
        return self.rank == 0

    def threads(self, total: int) -> int:
        """This rank's share of ``total`` CPU threads (at least one)."""
        return max(1, total // self.size)

    def rng(self, seed: int) -> np.random.Generator:
        """A generator seeded by ``seed`` and the rank, so each rank draws its own batches;
        rank 0 draws exactly what a single process would."""
        return np.random.default_rng(seed if self.is_main else [seed, self.rank])

    def close(self) -> None:
        """Leave the process group (end of training)."""
        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    # -- collectives (no-ops in a world of one) -----------------------------------------------

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. builds a cache file); the others run it once rank
        0 is done (and find the file)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def sum_(self, tensors: list[Tensor]) -> None:
        """Replace every tensor by its sum over the ranks: one collective."""
        if not self.active or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        for t, part in zip(tensors, flat.split([t.numel() for t in tensors]), strict=True):
            t.copy_(part.view_as(t))

    def sync_step(self, params: Iterable[nn.Parameter], rates: Tensor) -> list[float]:
        """Average the gradients of ``params`` and the measured bitrates ``rates`` (1-D) over
        the ranks in one collective, so every rank takes the same optimiser step and its rate
        controllers see the same rate; return the (averaged) rates."""
        rates = rates.detach().clone()
        if self.active:
            parts = [p.grad for p in params if p.grad is not None] + [rates]
            self.sum_(parts)  # (torch.cat promotes mixed dtypes; each copies back to its own)
            for t in parts:
                t.div_(self.size)
        return rates.tolist()

    def broadcast_(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers into every rank's ``module``."""
        if self.active:
            with torch.no_grad():
                for t in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(t.data, src=0)

    def broadcast_object(self, obj: object) -> object:
        """Rank 0's ``obj`` (picklable) on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def env_size() -> int:
    """The number of processes ``torchrun`` launched (``WORLD_SIZE``; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


class CountSync:
    """Keeps the symbol counts (``running_counts``) of the quantisers in ``module`` equal on
    every rank: each rank adds the histograms of its own batches, and :meth:`sync` makes every
    rank's counts the sum over all ranks' batches since the last sync, as one process that had
    seen every batch would hold. Start it when the ranks' counts are equal (after
    :meth:`World.broadcast_`)."""

    def __init__(self, world: World, module: nn.Module) -> None:
        self.world = world
        self.counts = quantizer_counts(module)
        self.base = [c.clone() for c in self.counts]

    def sync(self) -> None:
        if not self.world.active:
            return
        added = [c - b for c, b in zip(self.counts, self.base, strict=True)]
        self.world.sum_(added)
        for c, b, a in zip(self.counts, self.base, added, strict=True):
            c.copy_(b + a)
            b.copy_(c)


def quantizer_counts(module: nn.Module) -> list[Tensor]:
    """The ``running_counts`` buffers of every quantiser in ``module``."""
    return [q.running_counts for q in module.modules() if isinstance(q, SoftmaxQuantizer)]
