"""Resumable, seeded, rank-sharded data order.

:class:`EpochSampler` gives the batches of indices of one epoch as a pure function of
``(seed, epoch)``: a resumed run asks for the same epoch and skips the batches it already
consumed (``start``), so the data order never depends on process history. Under distributed
training each rank takes an interleaved shard of the same permutation (padded by wrapping, as
``DistributedSampler`` does). With ``batches_per_epoch`` an epoch is that many batches on every
rank, drawn from successive permutations (the first is the usual one) when the items run out.
:func:`epoch_generator` gives a fresh ``torch.Generator`` for any
other per-epoch random draws (e.g. crop offsets), again a function of ``(seed, epoch, purpose)``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch


def epoch_generator(seed: int, epoch: int, purpose: str = "order") -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch, purpose)`` alone."""
    salt = zlib.crc32(purpose.encode()) & 0xFFFF
    g = torch.Generator()
    g.manual_seed((int(seed) * 1_000_003 + int(epoch) * 7919 + salt) % (2**63 - 1))
    return g


@dataclass
class EpochSampler:
    """Batches of dataset indices per epoch, shuffled from ``(seed, epoch)``, sharded by rank."""

    n_items: int
    batch_size: int
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = False
    rank: int = 0
    world_size: int = 1
    batches_per_epoch: int = 0  # 0: one pass over the items

    def __post_init__(self) -> None:
        if self.n_items <= 0:
            raise ValueError("EpochSampler needs at least one item")
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive")

    def indices(self, epoch: int) -> list[int]:
        """This rank's item order for ``epoch``."""
        if self.batches_per_epoch > 0:
            need = self.batches_per_epoch * self.batch_size * self.world_size
            orders = [self._order(epoch, r) for r in range(-(-need // self.n_items))]
            return [i for o in orders for i in o][:need][self.rank :: self.world_size]
        order = self._order(epoch, 0)
        if self.world_size > 1:
            total = -(-self.n_items // self.world_size) * self.world_size
            order = (order * (total // len(order) + 1))[:total]
            order = order[self.rank :: self.world_size]
        return order

    def _order(self, epoch: int, repeat: int) -> list[int]:
        """The ``repeat``-th permutation of ``epoch`` (0: the one-pass order)."""
        if self.shuffle:
            gen = epoch_generator(self.seed, epoch, "order" if repeat == 0 else f"order{repeat}")
            return torch.randperm(self.n_items, generator=gen).tolist()
        return list(range(self.n_items))

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """The batches of ``epoch`` from batch number ``start`` on."""
        order = self.indices(epoch)
        out = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and out and len(out[-1]) < self.batch_size and len(out) > 1:
            out = out[:-1]
        return out[start:]

    def num_batches(self, epoch: int = 0) -> int:
        return len(self.batches(epoch))
