"""Agents that wrap a student policy for the CulturalKD environment.

- :class:`SKDAgent`: speculative knowledge distillation (and plain KD with a strict teacher).
- :class:`Agent`: the protocol any custom agent follows; :func:`run_episode` rolls one out.
"""

import cultural_env  # noqa: F401  (registers CulturalKD-v0)
from agents.base import Agent, Episode, Transition, run_episode
from agents.skd import SKDAgent, SKDConfig

__all__ = ["Agent", "Episode", "SKDAgent", "SKDConfig", "Transition", "run_episode"]
