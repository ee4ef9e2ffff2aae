"""The agent protocol, the records of a rollout, and the loop that produces them.

An agent turns observations into drafted blocks (``act``), hears what happened after each step
(``observe``) and learns from finished episodes (``learn``). Any object with these methods can
be trained by ``cultural-kd train --agent module:Class``; the environment does not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@dataclass
class Transition:
    """One environment step as an agent sees it."""

    action: np.ndarray
    """The drafted block that was sent, (G,) int64."""
    observation: dict[str, np.ndarray]
    """The observation after the step."""
    reward: float
    """The step's reward."""
    terminated: bool
    """Whether a stop token ended the episode."""
    truncated: bool
    """Whether the length budget ended the episode."""
    info: dict[str, Any]
    """The environment's step info (acceptance, correction, teacher log-probabilities ...)."""


@dataclass
class Episode:
    """A finished episode: the prompt, the response and every step."""

    sample_id: str
    """Id of the dataset item."""
    query_ids: np.ndarray
    """The student's prompt, (P,) int64."""
    response_ids: np.ndarray
    """The final response, (T,) int64."""
    transitions: list[Transition] = field(default_factory=list)
    """Steps in order."""
    draft_lengths: list[int] = field(default_factory=list)
    """The block length requested at each step, where the rollout recorded it (batched rollouts do)."""

    @property
    def total_reward(self) -> float:
        """Sum of the step rewards."""
        return float(sum(transition.reward for transition in self.transitions))


@runtime_checkable
class Agent(Protocol):
    """What the training loop needs from an agent.

    :func:`run_episode` calls ``begin_episode`` once after ``reset``, then ``act`` and
    ``observe`` once per step, and the trainer calls ``learn`` on each finished episode. The
    agent receives the unwrapped environment when it is built, so it can read the tokenizer,
    ``config.block_size``, ``config.max_new_tokens`` and ``stop_ids``, and it must not change
    the environment's configuration. :class:`agents.training.Trainer` also uses these optional
    members when present: ``seed(seed)`` before training, ``model`` (a transformers causal LM,
    required for the before/after evaluations and for saving the student),
    ``loss(episode) -> (loss, tokens)`` for the validation KL, and, for ``train.num_envs`` > 1,
    ``rollout_batch(envs, sample_ids, seeds) -> list[Episode]``, which rolls out one episode
    per sample id in a :class:`~cultural_env.vector.CulturalTokenVectorEnv` (see
    :meth:`agents.skd.SKDAgent.rollout_batch`).
    """

    def begin_episode(self, observation: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        """Prepare for a new episode that starts at ``observation`` (reset caches and draft length)."""

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Return the next drafted block, a (G,) int64 array with 1 <= G <= the env's block_size.

        With ``reward_mode="neg_reverse_kl"`` the agent also passes the block's log-probabilities
        to ``env.set_draft_log_probs`` before returning it.
        """

    def observe(self, transition: Transition) -> None:
        """Take note of the step that followed the last ``act``, such as adapting the draft length."""

    def learn(self, episode: Episode) -> dict[str, float]:
        """Learn from a finished episode and return metrics.

        The trainer counts an optimizer step when ``metrics["optim/stepped"]`` is 1.0 and writes
        one record per step. Other keys are namespaced, ``losses/...`` for loss terms and
        ``rollout/...`` for acceptance and draft-length figures (see
        :func:`agents.skd.rollout_metrics`).
        """


def run_episode(env: gym.Env, agent: Agent, options: dict[str, Any] | None = None, seed: int | None = None) -> Episode:
    """Roll out one episode of ``agent`` in ``env`` and return it."""
    observation, info = env.reset(seed=seed, options=options)
    agent.begin_episode(observation, info)
    episode = Episode(sample_id=info.get("sample_id", ""), query_ids=observation["query"], response_ids=observation["response"])
    done = False
    while not done:
        action = np.asarray(agent.act(observation), dtype=np.int64)
        observation, reward, terminated, truncated, step_info = env.step(action)
        transition = Transition(action, observation, float(reward), bool(terminated), bool(truncated), step_info)
        agent.observe(transition)
        episode.transitions.append(transition)
        done = terminated or truncated
    episode.response_ids = observation["response"]
    return episode
