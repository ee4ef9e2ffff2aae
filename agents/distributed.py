"""Processes of a data-parallel run under ``accelerate launch``: ranks, sharding and metric gathering.

Each process has its own environment (teacher replica) and student copy, rolls out the episodes
of its shard of the data order, and averages gradients with the others (see
:class:`agents.optim.GuardedOptimizer`). Only the main process writes files. Without
``accelerate launch`` (or ``torchrun``) there is one process and every function here is a no-op.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessLayout:
    """The rank, process count and local rank of this process."""

    rank: int = 0
    """Global index of this process, 0 .. world_size - 1."""
    world_size: int = 1
    """Number of processes."""
    local_rank: int = 0
    """Index of this process on its machine; picks its GPU."""

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder."""
        return self.rank == 0

    def owns_episode(self, episode_index: int) -> bool:
        """Return whether episode ``episode_index`` of the global data order is in this process's shard."""
        return episode_index % self.world_size == self.rank


def process_layout() -> ProcessLayout:
    """Join the process group when launched with several processes, and return this process's place.

    ``accelerate launch`` and ``torchrun`` set ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``;
    accelerate's :class:`~accelerate.PartialState` initialises torch.distributed from them,
    with NCCL on GPUs and gloo on a machine without CUDA.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ProcessLayout()
    from accelerate import PartialState

    # Without cpu=True, accelerate 1.16 treats several processes on a machine without CUDA as one.
    state = PartialState(cpu=not torch.cuda.is_available())
    layout = ProcessLayout(rank=state.process_index, world_size=state.num_processes, local_rank=state.local_process_index)
    logger.info("process %d of %d (local rank %d)", layout.rank, layout.world_size, layout.local_rank)
    return layout


def process_device(name: str, layout: ProcessLayout) -> str:
    """Give each process its own GPU when the device is ``"auto"`` in a multi-process run on GPUs."""
    if name == "auto" and layout.world_size > 1 and torch.cuda.is_available():
        return f"cuda:{layout.local_rank}"
    return name


def gather_objects(value: Any, layout: ProcessLayout) -> list[Any]:
    """Return ``value`` from every process, in rank order (a list of one without distribution)."""
    if layout.world_size == 1:
        return [value]
    gathered: list[Any] = [None] * layout.world_size
    torch.distributed.all_gather_object(gathered, value)
    return gathered


def barrier(layout: ProcessLayout) -> None:
    """Wait until every process reaches this point."""
    if layout.world_size > 1:
        torch.distributed.barrier()
