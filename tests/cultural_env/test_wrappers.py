import pytest
"""The per-token view: Discrete(V) actions, reward A_t, and Gymnasium's checker."""

import warnings

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

from cultural_env.wrappers import PerTokenWrapper


def test_per_token_wrapper_passes_check_env(tiny_env):
    wrapper = PerTokenWrapper(tiny_env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(wrapper, skip_render_check=True)
    messages = [str(warning.message) for warning in caught]
    # The checker always notes that it was given a wrapper; nothing else may be reported.
    assert [message for message in messages if "different from the unwrapped version" not in message] == []


def test_per_token_action_space_is_vocabulary(tiny_env):
    wrapper = PerTokenWrapper(tiny_env)
    assert wrapper.action_space == gym.spaces.Discrete(len(tiny_env.tokenizer))
    assert wrapper.observation_space == tiny_env.observation_space


def test_per_token_reward_is_acceptance(tiny_env):
    wrapper = PerTokenWrapper(tiny_env)
    observation, _ = wrapper.reset(seed=0)
    wrapper.action_space.seed(0)
    for _ in range(6):
        length = len(observation["response"])
        observation, reward, terminated, truncated, info = wrapper.step(wrapper.action_space.sample())
        assert reward == float(info["accepted"][0])
        assert len(observation["response"]) == length + 1
        if terminated or truncated:
            break


def test_per_token_accepts_numpy_integer(tiny_env):
    wrapper = PerTokenWrapper(tiny_env)
    wrapper.reset(seed=0)
    _, _, _, _, info = wrapper.step(np.int64(5))
    assert len(info["accepted"]) == 1


@pytest.mark.parametrize("action", [2.5, "5", True, None, np.array([1, 2])])
def test_per_token_rejects_non_integer_action(tiny_env, action):
    from cultural_env.errors import InvalidActionError
    from cultural_env.wrappers import PerTokenWrapper

    wrapped = PerTokenWrapper(tiny_env)
    wrapped.reset(seed=0)
    with pytest.raises(InvalidActionError, match="one integer token id"):
        wrapped.step(action)
