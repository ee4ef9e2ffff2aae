"""Wrappers that give the CulturalKD environment other interfaces."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from cultural_env.errors import InvalidActionError


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
        """Send ``action``, one token id, to the wrapped environment as a block of one.

        The id must be an integer (a Python or NumPy integer, or a 0-d or one-element integer
        array); anything else raises :class:`InvalidActionError` instead of being cast.
        """
        return self.env.step(np.asarray([self._token_id(action)], dtype=np.int64))

    @staticmethod
    def _token_id(action: Any) -> int:
        if isinstance(action, np.ndarray) and action.size == 1 and np.issubdtype(action.dtype, np.integer):
            return int(action.reshape(()))
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise InvalidActionError(
                f"the per-token action must be one integer token id, got {action!r} ({type(action).__name__}); "
                "pass an int such as 42"
            )
        return int(action)
