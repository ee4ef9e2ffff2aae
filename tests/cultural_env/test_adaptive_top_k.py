"""Adaptive top-k: the pure rule, the per-episode state, and its use by the environment."""

import math

import numpy as np
import pytest
import torch

from cultural_env.adaptive_top_k import (
    AdaptiveTopK,
    AdaptiveTopKConfig,
    effective_top_k,
    entropy_offset,
    normalised_entropy,
    update_baseline,
    update_ema,
)
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError


def test_normalised_entropy_bounds():
    vocab_size = 16
    uniform = torch.full((vocab_size,), -math.log(vocab_size))
    one_hot = torch.full((vocab_size,), float("-inf"))
    one_hot[3] = 0.0
    values = normalised_entropy(torch.stack([uniform, one_hot]))
    assert values[0].item() == pytest.approx(1.0, abs=1e-6)
    assert values[1].item() == pytest.approx(0.0, abs=1e-6)
    assert not torch.isnan(values).any()


def test_entropy_offset_sign_and_scale():
    offsets = entropy_offset(torch.tensor([0.0, 0.5, 1.0, 0.75]), entropy_scale=3.0)
    assert offsets.tolist() == [-3, 0, 3, 2]  # round(3 * 0.5) = round(1.5) = 2


def test_effective_top_k_clipped():
    top_k = effective_top_k(4, torch.tensor([-10, -1, 0, 2, 10]), k_min=2, k_max=6)
    assert top_k.tolist() == [2, 3, 4, 6, 6]


def test_update_ema_weights():
    assert update_ema(0.5, True, decay=0.9) == pytest.approx(0.55)
    assert update_ema(0.5, False, decay=0.0) == 0.0


def test_update_baseline_thresholds():
    config = AdaptiveTopKConfig(k_init=5, k_min=2, k_max=6, r_plus=0.8, r_minus=0.4)
    assert update_baseline(5, 0.9, config) == 4
    assert update_baseline(5, 0.3, config) == 6
    assert update_baseline(5, 0.6, config) == 5
    assert update_baseline(2, 0.95, config) == 2
    assert update_baseline(6, 0.0, config) == 6


def test_state_moves_baseline_and_resets():
    state = AdaptiveTopK(AdaptiveTopKConfig(k_init=5, k_min=1, k_max=9, ema_decay=0.5, r_plus=0.8, r_minus=0.4))
    state.observe([True, True, True])  # EMA 0.6 -> 0.8 -> 0.9 -> 0.95: above r_plus twice
    assert state.baseline == 3
    state.observe([False] * 4)  # EMA falls below r_minus from the second token on
    assert state.baseline == 6
    state.begin()
    assert state.baseline == 5
    assert state.ema == pytest.approx(0.6)


def test_state_top_k_follows_entropy():
    state = AdaptiveTopK(AdaptiveTopKConfig(k_init=5, k_min=1, k_max=9, entropy_scale=2.0))
    vocab_size = 8
    uniform = torch.full((vocab_size,), -math.log(vocab_size))
    confident = torch.full((vocab_size,), -30.0)
    confident[0] = 0.0
    top_k = state.top_k(torch.stack([uniform, confident]))
    assert top_k.tolist() == [7, 3]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"k_min": 0}, "k_min must be an integer >= 1"),
        ({"k_min": 4, "k_max": 3, "k_init": 4}, "k_max must be an integer >= 4"),
        ({"k_init": 30}, "k_init must be an integer >= 1 and <= 20"),
        ({"r_plus": 0.3, "r_minus": 0.5}, "r_minus=0.5 must not exceed r_plus=0.3"),
        ({"ema_decay": 1.0}, "ema_decay must be a number >= 0.0 and <= 0.999"),
        ({"entropy_scale": -1.0}, "entropy_scale must be a number >= 0.0"),
    ],
)
def test_config_rejects_invalid(fields, message):
    with pytest.raises(ConfigError, match=message):
        AdaptiveTopKConfig(**fields)


def test_env_reports_fixed_top_k(tiny_env):
    tiny_env.reset(seed=0, options={"sample_index": 0})
    _, _, _, _, info = tiny_env.step(np.array([30, 31, 32]))
    assert info["top_k"].tolist() == [5, 5, 5][: len(info["top_k"])]


def test_env_uses_adaptive_top_k(tiny_teacher, tiny_tokenizer, english_samples):
    adaptive = {"k_init": 4, "k_min": 1, "k_max": 12, "ema_decay": 0.5, "r_plus": 0.9, "r_minus": 0.6, "entropy_scale": 0.0}
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher,
        tokenizer=tiny_tokenizer,
        samples=english_samples,
        max_new_tokens=12,
        block_size=6,
        acceptance={"adaptive_top_k": adaptive, "min_prob": 0.0},
    )
    env.reset(seed=0, options={"sample_index": 0})
    observed = []
    done = False
    while not done:
        # A token the random teacher rarely ranks in its top 4, so acceptance stays low.
        _, _, terminated, truncated, info = env.step(np.array([7, 7, 7]))
        observed.append(info["top_k"].tolist())
        done = terminated or truncated
    env.close()

    assert observed[0] == [4, 4, 4]  # K_init; with entropy_scale 0 there is no offset
    assert max(max(block) for block in observed) > 4  # low acceptance raised the baseline
    assert env.teacher.adaptive_top_k.baseline <= 12


def test_env_config_rejects_unknown_adaptive_key(tiny_teacher, tiny_tokenizer, english_samples):
    with pytest.raises(ConfigError, match="unknown key 'env.acceptance.adaptive_top_k.k_start'"):
        CulturalTokenEnv(
            teacher_model=tiny_teacher,
            tokenizer=tiny_tokenizer,
            samples=english_samples,
            acceptance={"adaptive_top_k": {"k_start": 3}},
        )
