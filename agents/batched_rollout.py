"""Roll out B episodes together: the vector environment verifies, a batched drafter writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import Episode, Transition
from agents.batched_student import BatchedStudentDrafter
from agents.gamma import batch_block_lengths, next_block_size
from cultural_env.vector import CulturalTokenVectorEnv


def run_batched_episodes(
    envs: CulturalTokenVectorEnv,
    drafter: BatchedStudentDrafter,
    sample_ids: Sequence[str],
    seeds: Sequence[int],
    *,
    gamma_init: int,
    gamma_max: int,
    temperature: float,
    top_p: float,
    shared_blocks: bool = True,
) -> list[Episode]:
    """Roll out one episode per item of ``sample_ids`` (at most ``envs.num_envs``) and return them in that order.

    Row r resets with ``seeds[r]`` on ``sample_ids[r]``, so its teacher corrections are those
    of ``CulturalTokenEnv.reset(seed=seeds[r])`` given the same blocks. Every step drafts one
    block per running row (lengths from :func:`~agents.gamma.batch_block_lengths` with each
    row's adaptive gamma) and verifies them in one batched teacher forward. A row whose episode
    ended, and every row beyond ``len(sample_ids)``, sends an empty block and sits the steps out
    until all episodes have ended. The drafter and the teacher's batched cache start empty, so
    the result depends only on the arguments and the weights, which resuming from a
    checkpoint needs. Each episode's ``draft_lengths`` lists the lengths requested for it.
    """
    count = len(sample_ids)
    if not 1 <= count <= envs.num_envs or len(seeds) != count:
        raise ValueError(f"need 1 to {envs.num_envs} sample ids and as many seeds, got {count} ids and {len(seeds)} seeds")
    rows = envs.num_envs
    padded_ids = list(sample_ids) + [sample_ids[0]] * (rows - count)  # idle rows take any item; they never step
    padded_seeds = list(seeds) + [0] * (rows - count)
    drafter.reset()
    observations, infos = envs.reset(seed=padded_seeds, options={"sample_id": padded_ids})

    episodes = [
        Episode(sample_id=str(infos["sample_id"][row]), query_ids=observations["query"][row], response_ids=observations["response"][row])
        for row in range(count)
    ]
    running = np.zeros(rows, dtype=bool)
    running[:count] = True
    gammas = [gamma_init] * rows
    max_new_tokens = envs.config.max_new_tokens
    while running.any():
        sequences = [observations["query"][row].tolist() + observations["response"][row].tolist() for row in range(rows)]
        remaining = [max_new_tokens - len(observations["response"][row]) if running[row] else 0 for row in range(rows)]
        lengths = batch_block_lengths(gammas, remaining, shared_blocks)
        blocks = drafter.draft(sequences, lengths, temperature, top_p)
        observations, rewards, terminations, truncations, infos = envs.step(blocks)
        for row in np.flatnonzero(running):
            info = _row_info(infos, row)
            transition = Transition(
                blocks[row], _row_observation(observations, row), float(rewards[row]), bool(terminations[row]), bool(truncations[row]), info
            )
            episode = episodes[row]
            episode.transitions.append(transition)
            episode.draft_lengths.append(lengths[row])
            gammas[row] = next_block_size(gammas[row], int(info["num_accepted"]), len(info["accepted"]), gamma_max)
            if terminations[row] or truncations[row]:
                running[row] = False
                episode.response_ids = observations["response"][row]
    return episodes


def _row_info(infos: dict[str, Any], row: int) -> dict[str, Any]:
    """Return row ``row``'s info from the vector env's per-key arrays and ``_key`` masks."""
    return {key: values[row] for key, values in infos.items() if not key.startswith("_") and infos[f"_{key}"][row]}


def _row_observation(observations: dict[str, Any], row: int) -> dict[str, np.ndarray]:
    return {key: values[row] for key, values in observations.items()}
