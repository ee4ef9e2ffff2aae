"""Wrappers that give the CulturalKD environment other interfaces."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class PerTokenWrapper(gym.Wrapper):
    """One token per step: a ``Discrete(V)`` action for classic RL agents.

    ## Action space

    ``Discrete(V)`` with V = ``len(tokenizer)``: the next token of the response. Each step sends
    it to the wrapped environment as a block of one.

    ## Observation space

    The wrapped environment's ``Dict(query, response)``, unchanged.

    ## Rewards

    The wrapped environment's step reward. With the default ``reward_mode="accept"`` this is
    A_t: 1.0 when the teacher accepts the token, 0.0 when it replaces it. After a rejection the
    response grows by the teacher's correction instead of the chosen token, as in the wrapped
    environment; ``info["correction"]`` names it. With ``reward_mode="neg_reverse_kl"`` the
    agent calls ``env.unwrapped.set_draft_log_probs([log_prob])`` before each step.

    ## Episode end and info

    As in the wrapped environment.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.action_space = gym.spaces.Discrete(env.unwrapped.vocab_size)

    def step(self, action: Any):
        """Send ``action``, one token id, to the wrapped environment as a block of one."""
        return self.env.step(np.asarray([action], dtype=np.int64))
