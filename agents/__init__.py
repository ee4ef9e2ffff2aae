"""Agents that wrap a student policy for the CulturalKD environment.

- :class:`SKDAgent`: speculative knowledge distillation (and plain KD with a strict teacher).
- :class:`ReinforceAgent`: policy gradient on the teacher's per-token acceptance.
- :class:`OnPolicyDistillAgent`: policy gradient on the per-token reverse KL to the teacher.
- :class:`Agent`: the protocol any custom agent follows; :func:`run_episode` rolls one out.
"""

import cultural_env  # noqa: F401  (registers CulturalKD-v0)
from agents.base import Agent, Episode, Transition, run_episode
from agents.on_policy_distill import OnPolicyDistillAgent, OnPolicyDistillConfig
from agents.reinforce import ReinforceAgent, ReinforceConfig
from agents.skd import SKDAgent, SKDConfig

__all__ = [
    "Agent", "Episode", "OnPolicyDistillAgent", "OnPolicyDistillConfig", "ReinforceAgent", "ReinforceConfig",
    "SKDAgent", "SKDConfig", "Transition", "run_episode",
]
