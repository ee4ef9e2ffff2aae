"""A random agent on the per-token view: every step drafts one uniformly random token.

It learns nothing; its acceptance rate is the floor that any trained student should beat.
Run from the repository root: ``python -m examples.random_agent``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import cultural_env  # noqa: F401  (registers CulturalKD-v0)
from cultural_env.wrappers import PerTokenWrapper


def run_random_episodes(env: gym.Env, episodes: int, seed: int = 0) -> float:
    """Play ``episodes`` episodes of ``env`` (a :class:`PerTokenWrapper`) with random tokens; return the mean reward per token."""
    env.action_space.seed(seed)
    rewards = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            rewards.append(reward)
            done = terminated or truncated
    return float(np.mean(rewards))


if __name__ == "__main__":
    env = PerTokenWrapper(gym.make("CulturalKD-v0", max_new_tokens=16))
    print(f"random tokens: mean reward per token {run_random_episodes(env, episodes=3):.3f}")
    env.close()
