"""``cultural-kd bench``: time this project's rollout against the naive reference and the floor.

:func:`run_benchmark` builds tiny random models in-process, so nothing is downloaded. It runs
the three rollouts of :mod:`cultural_env.bench.rollouts` in three acceptance regimes and at
several lengths T, the vector environment at several batch sizes, and the loss's peak memory.
It returns a JSON-ready dict with ``rollout``, ``batched`` (rows share each step's block
length, the default of batched training), ``batched_per_row_blocks`` (each row drafts its own
gamma) and ``loss_memory``.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import asdict, dataclass
from collections.abc import Callable
from typing import Any

import torch
import transformers

from cultural_env.bench.batched import batched_rollout
from cultural_env.bench.loss_memory import QWEN3_VOCAB_SIZE, loss_peak_bytes
from cultural_env.bench.rollouts import RolloutStats, floor_rollout, naive_rollout, project_rollout
from cultural_env.bench.setup import REGIMES, build_bench_env, build_bench_models
from cultural_env.config_fields import require_range

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run: lengths, regimes, batch sizes, model size and timing."""

    lengths: tuple[int, ...] = (256, 1024)
    """Response lengths T of the single-episode rollouts."""
    regimes: tuple[str, ...] = REGIMES
    """Acceptance regimes to run, from "0%", "50%", "100%"."""
    batch_sizes: tuple[int, ...] = (1, 4, 8)
    """Numbers of episodes B of the batched rollouts."""
    batched_length: int = 256
    """Response length T of each batched episode."""
    batched_regime: str = "50%"
    """Acceptance regime of the batched rollouts; rows then accept different lengths."""
    block_size: int = 16
    """Largest draft block (gamma_max) of the project's and the naive rollouts."""
    loss_length: int = 2048
    """T of the loss-memory measurement."""
    loss_vocab_size: int = QWEN3_VOCAB_SIZE
    """V of the loss-memory measurement."""
    loss_chunk_size: int = 128
    """Positions per chunk of the chunked loss."""
    vocab_size: int = 2000
    """Size of the BPE vocabulary trained for the bench models."""
    hidden_size: int = 128
    """Width of the bench teacher and student."""
    layers: int = 2
    """Depth of the bench teacher and student."""
    repeats: int = 1
    """Runs of each rollout; the fastest counts, which filters out pauses caused by other load on the machine."""
    threads: int = 1
    """torch CPU threads; 1 gives steadier timings on a shared machine."""
    seed: int = 0
    """Seed of the rollouts' sampling."""

    def __post_init__(self) -> None:
        for length in self.lengths:
            require_range("lengths", length, minimum=1, integer=True)
        for batch_size in self.batch_sizes:
            require_range("batch_sizes", batch_size, minimum=1, integer=True)
        require_range("threads", self.threads, minimum=1, integer=True)
        require_range("repeats", self.repeats, minimum=1, integer=True)
        require_range("loss_length", self.loss_length, minimum=1, integer=True)
        require_range("loss_chunk_size", self.loss_chunk_size, minimum=1, integer=True)


QUICK = BenchConfig(lengths=(256,), batched_length=128, loss_length=512)
"""The reduced set of ``--quick``: T = 256 only, batched episodes of 128 tokens, loss memory at T = 512."""


def run_benchmark(config: BenchConfig = BenchConfig()) -> dict[str, Any]:
    """Run every measurement of ``config`` and return the results as a JSON-ready dict."""
    torch.set_num_threads(config.threads)
    context_length = max(config.lengths + (config.batched_length,)) + 1024  # room for the teacher's prompt
    models = build_bench_models(config.vocab_size, config.layers, config.hidden_size, context_length)
    rows = []
    for regime in config.regimes:
        for length in config.lengths:
            rows.append(rollout_row(models, regime, length, config))
            logger.info("rollout %s T=%d: %s", regime, length, rows[-1])
    batched: dict[str, float] = {}
    per_row: dict[str, float] = {}
    for batch_size in config.batch_sizes:
        for shared, table in ((True, batched), (False, per_row)):
            runs = [
                batched_rollout(models, batch_size, config.batched_length, config.block_size, config.batched_regime, config.seed, shared)
                for _ in range(config.repeats)
            ]
            table[str(batch_size)] = max(run.tokens_per_s for run in runs)
        logger.info("batched B=%d: %.1f tokens/s (per-row blocks: %.1f)", batch_size, batched[str(batch_size)], per_row[str(batch_size)])
    loss_memory = loss_peak_bytes(config.loss_length, config.loss_vocab_size, chunk_size=config.loss_chunk_size)
    logger.info("loss memory: %s", loss_memory)
    return {
        "rollout": rows,
        "batched": batched,
        "batched_per_row_blocks": per_row,
        "loss_memory": loss_memory,
        "machine": {
            "cpu_threads": config.threads,
            "cpu_count": _cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "config": asdict(config),
    }


def rollout_row(models: Any, regime: str, length: int, config: BenchConfig) -> dict[str, Any]:
    """Time the three rollouts of one (regime, T) cell and return its row of the ``rollout`` table."""
    env = build_bench_env(models, regime, length, config.block_size)
    project_rollout(env, models.student, config.block_size, config.seed)  # warm-up: first-call costs of torch
    project = _fastest(lambda: project_rollout(env, models.student, config.block_size, config.seed), config.repeats)
    naive = _fastest(lambda: naive_rollout(env, models.student, config.block_size, config.seed), config.repeats)
    floor = _fastest(lambda: floor_rollout(env, models.student, config.seed), config.repeats)
    env.close()
    return {
        "regime": regime,
        "T": length,
        "acceptance": project.accepted / max(1, project.drafted),
        "tokens_per_s": _tokens_per_s(project),
        "naive_tokens_per_s": _tokens_per_s(naive),
        "floor_tokens_per_s": _tokens_per_s(floor),
        "speedup_vs_naive": naive.seconds / project.seconds,
        "floor_ratio": project.seconds / floor.seconds,
        "teacher_forwards_per_block": project.teacher_forwards / max(1, project.blocks),
        "student_forwards_per_drafted_token": project.student_forwards / max(1, project.drafted),
    }


def _fastest(rollout: Callable[[], RolloutStats], repeats: int) -> RolloutStats:
    return min((rollout() for _ in range(repeats)), key=lambda stats: stats.seconds)


def _tokens_per_s(stats: RolloutStats) -> float:
    return stats.tokens / stats.seconds


def _cpu_count() -> int:
    return os.cpu_count() or 0
