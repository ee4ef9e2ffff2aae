"""Registration and Gymnasium's own checks on the embedded default."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cultural_env


def test_import_registers_env():
    assert "CulturalKD-v0" in gym.registry


def test_make_without_arguments_builds_embedded_default():
    env = gym.make("CulturalKD-v0")
    try:
        core = env.unwrapped
        assert isinstance(core, cultural_env.CulturalTokenEnv)
        assert core.action_space.vocab_size == len(core.tokenizer)
        assert len(core.samples) > 100
        observation, info = env.reset(seed=0)
        assert observation["query"].dtype == np.int64
        assert info["sample_id"] in {sample.id for sample in core.samples}
    finally:
        env.close()


def test_check_env_passes_without_warnings():
    env = gym.make("CulturalKD-v0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [str(warning.message) for warning in caught if "gymnasium" in str(warning.filename) or "env_checker" in str(warning.message)]
    assert messages == []
    env.close()


def test_make_accepts_model_paths(tiny_model_dirs):
    env = gym.make("CulturalKD-v0", teacher=tiny_model_dirs["teacher"], max_new_tokens=4)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([3, 4]))
    assert 0 <= reward <= 2
    env.close()


def test_spec_kwargs_survive_deep_copy(tiny_model_dirs):
    import copy

    env = gym.make("CulturalKD-v0", teacher=tiny_model_dirs["teacher"], max_new_tokens=4)
    again = copy.deepcopy(env.spec).make()
    assert again.unwrapped.config == env.unwrapped.config
    env.close()
    again.close()


@pytest.mark.parametrize("mode", ["ansi", "human"])
def test_render_modes(mode, tiny_model_dirs, capsys):
    env = gym.make("CulturalKD-v0", teacher=tiny_model_dirs["teacher"], render_mode=mode, max_new_tokens=4)
    env.reset(seed=0)
    env.step(np.array([3, 4]))
    output = env.render()
    if mode == "ansi":
        assert "block   1" in output
    else:
        assert output is None
    env.close()
