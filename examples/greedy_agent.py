"""A greedy agent: the student drafts its most likely tokens and never learns.

It follows the :class:`agents.base.Agent` protocol, so :func:`agents.base.run_episode` runs it
on the block environment unchanged. Run from the repository root:
``python -m examples.greedy_agent``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Episode, Transition, run_episode
from agents.skd import rollout_metrics
from agents.student import StudentDrafter
from cultural_env.models import load_causal_lm


class GreedyAgent:
    """Drafts blocks of ``block_length`` argmax tokens with the student; ``learn`` only reports metrics."""

    def __init__(self, env: Any, student: Any = "embedded:tiny-student", block_length: int = 4) -> None:
        self.env = env
        self.model = load_causal_lm(student, device="cpu")
        self.block_length = min(block_length, env.config.block_size)
        self.drafter = StudentDrafter(self.model, env.vocab_size, env.stop_ids)

    def begin_episode(self, observation: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        self.drafter.reset()
        self.block_lengths: list[int] = []

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        sequence = observation["query"].tolist() + observation["response"].tolist()
        remaining = self.env.config.max_new_tokens - len(observation["response"])
        self.block_lengths.append(max(1, min(self.block_length, remaining)))
        return self.drafter.draft(sequence, self.block_lengths[-1], temperature=0.0, top_p=1.0)

    def observe(self, transition: Transition) -> None:
        pass

    def learn(self, episode: Episode) -> dict[str, float]:
        return {"optim/stepped": 0.0, **rollout_metrics(episode, self.block_lengths)}


if __name__ == "__main__":
    env = gym.make("CulturalKD-v0", max_new_tokens=24)
    agent = GreedyAgent(env.unwrapped)
    metrics = agent.learn(run_episode(env, agent, seed=0))
    print(f"greedy student: acceptance rate {metrics['rollout/acceptance_rate']:.3f}")
    env.close()
