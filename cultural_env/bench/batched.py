"""Throughput of batched rollouts: the vector environment with the batched student drafter."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from agents.batched_student import BatchedStudentDrafter
from agents.gamma import batch_block_lengths, next_block_size
from cultural_env.bench.rollouts import DRAFT_TEMPERATURE
from cultural_env.bench.setup import BENCH_PROMPT, BenchModels, acceptance_for
from cultural_env.vector import CulturalTokenVectorEnv


@dataclass(frozen=True)
class BatchedStats:
    """Counts and CPU time of one batched rollout."""

    tokens: int
    """Response tokens written by all rows."""
    seconds: float
    """CPU seconds of the rollout."""
    steps: int
    """Vector steps, each one batched teacher forward."""
    student_forwards: int
    """Batched student forwards."""

    @property
    def tokens_per_s(self) -> float:
        """Response tokens per CPU second."""
        return self.tokens / self.seconds


@torch.no_grad()
def batched_rollout(
    models: BenchModels, num_envs: int, max_new_tokens: int, block_size: int, regime: str, seed: int = 0, shared_blocks: bool = True
) -> BatchedStats:
    """Step ``num_envs`` episodes together until each has ended once; return the counts and time.

    Rows that end before the others are reset by the vector environment and keep writing; their
    tokens count too, because the work is real. ``shared_blocks`` chooses the block lengths as
    :func:`agents.gamma.batch_block_lengths` does.
    """
    envs = CulturalTokenVectorEnv(
        num_envs,
        teacher_model=models.teacher,
        tokenizer=models.tokenizer,
        samples=models.samples,
        max_new_tokens=max_new_tokens,
        block_size=block_size,
        acceptance=acceptance_for(regime, len(models.tokenizer)),
        prompt=BENCH_PROMPT,
    )
    for env in envs.envs:
        env.stop_ids = frozenset()  # fixed-length episodes, as in the single-episode rollouts
    drafter = BatchedStudentDrafter(models.student, envs.vocab_size, frozenset(), num_envs)
    drafter.seed(seed)

    start = time.process_time()
    observations, _ = envs.reset(seed=seed)
    gammas = [4] * num_envs
    resetting = np.zeros(num_envs, dtype=bool)
    finished_once = np.zeros(num_envs, dtype=bool)
    tokens = steps = 0
    while not finished_once.all():
        sequences = [observations["query"][row].tolist() + observations["response"][row].tolist() for row in range(num_envs)]
        remaining = [0 if resetting[row] else max_new_tokens - len(observations["response"][row]) for row in range(num_envs)]
        blocks = drafter.draft(sequences, batch_block_lengths(gammas, remaining, shared_blocks), DRAFT_TEMPERATURE, 1.0)
        observations, _, terminations, truncations, infos = envs.step(blocks)  # an empty block: the row sits the step out
        steps += 1
        for row in np.flatnonzero(infos.get("_appended", np.zeros(num_envs, dtype=bool))):
            tokens += len(infos["appended"][row])
            gammas[row] = next_block_size(gammas[row], int(infos["num_accepted"][row]), len(infos["accepted"][row]), block_size)
        for row in np.flatnonzero(resetting):
            gammas[row] = 4
        resetting = terminations | truncations
        finished_once |= resetting
    seconds = time.process_time() - start
    envs.close()
    return BatchedStats(tokens, seconds, steps, drafter.lm.forward_calls)


def batched_tokens_per_s(
    models: BenchModels, num_envs: int, max_new_tokens: int, block_size: int, regime: str, seed: int = 0, shared_blocks: bool = True
) -> float:
    """Return the response tokens per CPU second of :func:`batched_rollout`."""
    return batched_rollout(models, num_envs, max_new_tokens, block_size, regime, seed, shared_blocks).tokens_per_s
