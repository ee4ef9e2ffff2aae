"""The SKD loss from each teacher record the environment can keep: full log-probabilities, final hidden states, top-k."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.base import run_episode
from agents.skd import SKDAgent, SKDConfig
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError
from cultural_env.vector import CulturalTokenVectorEnv
from tests.conftest import make_model

TEACHER_TEMPERATURE = 0.7


def record_env(tiny_teacher, tiny_tokenizer, english_samples, **overrides):
    return CulturalTokenEnv(
        teacher_model=tiny_teacher,
        tokenizer=tiny_tokenizer,
        samples=english_samples,
        max_new_tokens=24,
        block_size=6,
        acceptance={"top_k": 50, "min_prob": 0.0, "temperature": TEACHER_TEMPERATURE},
        **overrides,
    )


def episode_and_agents(env, student, modes=("full", "chunked")):
    """Roll one seeded episode in ``env`` and return it with one agent per loss mode."""
    agents = {mode: SKDAgent(SKDConfig(device="cpu", loss_mode=mode, loss_chunk_size=5), env, model=student) for mode in modes}
    first = agents[modes[0]]
    first.seed(0)
    return run_episode(env, first, seed=3), agents


@pytest.fixture(scope="module")
def student(tiny_tokenizer):
    return make_model(tiny_tokenizer, seed=2)


@pytest.fixture(scope="module")
def exact_loss(tiny_teacher, tiny_tokenizer, english_samples, student):
    """The loss of the seeded episode from the env's default full log-probability record."""
    env = record_env(tiny_teacher, tiny_tokenizer, english_samples)
    episode, agents = episode_and_agents(env, student, modes=("full",))
    with torch.no_grad():
        loss, tokens = agents["full"].loss(episode)
    env.close()
    return episode.response_ids, loss, tokens


def test_hidden_record_gives_recorded_log_probs(tiny_teacher, tiny_tokenizer, english_samples):
    full_env = record_env(tiny_teacher, tiny_tokenizer, english_samples)
    hidden_env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record="hidden")
    full_env.reset(seed=1)
    hidden_env.reset(seed=1)
    block = np.arange(5, 11)
    _, _, _, _, full_info = full_env.step(block)
    _, _, _, _, hidden_info = hidden_env.step(block)

    assert "teacher_log_probs" not in hidden_info
    hidden = hidden_info["teacher_hidden"].hidden  # (n', H)
    logits = hidden @ hidden_env.teacher_output_weight[: hidden_env.vocab_size].T  # (n', V)
    rebuilt = torch.log_softmax(logits / TEACHER_TEMPERATURE, dim=-1)
    expected = full_info["teacher_log_probs"].log_probs
    assert rebuilt.shape == expected.shape
    assert torch.allclose(rebuilt, expected, atol=1e-5)


def test_top_k_record_keeps_largest(tiny_teacher, tiny_tokenizer, english_samples):
    full_env = record_env(tiny_teacher, tiny_tokenizer, english_samples)
    top_env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record="top_k", record_top_k=7)
    full_env.reset(seed=1)
    top_env.reset(seed=1)
    block = np.arange(5, 11)
    _, _, _, _, full_info = full_env.step(block)
    _, _, _, _, top_info = top_env.step(block)

    record = top_info["teacher_top_k"]
    expected_values, expected_ids = full_info["teacher_log_probs"].log_probs.topk(7, dim=-1)
    assert record.log_probs.shape == (len(top_info["appended"]), 7)
    assert torch.equal(record.token_ids, expected_ids)
    assert torch.allclose(record.log_probs, expected_values)


@pytest.mark.parametrize("mode", ["full", "chunked"])
def test_hidden_record_loss_equals_exact(tiny_teacher, tiny_tokenizer, english_samples, student, exact_loss, mode):
    response_ids, expected, expected_tokens = exact_loss
    env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record="hidden")
    episode, agents = episode_and_agents(env, student)
    assert np.array_equal(episode.response_ids, response_ids), "the record kind must not change the trajectory"
    with torch.no_grad():
        loss, tokens = agents[mode].loss(episode)
    assert tokens == expected_tokens
    assert torch.allclose(loss, expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["full", "chunked"])
def test_top_k_record_loss_bounds_exact(tiny_teacher, tiny_tokenizer, english_samples, student, exact_loss, mode):
    response_ids, expected, _ = exact_loss
    losses = {}
    for k in (8, len(tiny_tokenizer)):
        env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record="top_k", record_top_k=k)
        episode, agents = episode_and_agents(env, student)
        assert np.array_equal(episode.response_ids, response_ids)
        with torch.no_grad():
            losses[k] = agents[mode].loss(episode)[0]
    assert losses[8] <= expected + 1e-6, "merging tokens into one bucket can only lower a KL"
    assert losses[8] > 0.0
    assert torch.allclose(losses[len(tiny_tokenizer)], expected, atol=1e-4), "keeping every token gives the exact loss"


def test_hidden_record_loss_has_student_gradients(tiny_teacher, tiny_tokenizer, english_samples, student):
    env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record="hidden")
    episode, agents = episode_and_agents(env, student, modes=("chunked",))
    loss, _ = agents["chunked"].loss(episode)
    loss.backward()
    gradient = student.get_output_embeddings().weight.grad
    assert gradient is not None and gradient.abs().sum() > 0
    assert tiny_teacher.get_output_embeddings().weight.grad is None, "the teacher's output matrix must stay frozen"
    student.zero_grad(set_to_none=True)


def test_vector_env_hidden_record_matches_log_probs(tiny_teacher, tiny_tokenizer, english_samples):
    kwargs = dict(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_tokens=24, block_size=6)
    full_envs = CulturalTokenVectorEnv(2, **kwargs)
    hidden_envs = CulturalTokenVectorEnv(2, record="hidden", **kwargs)
    full_envs.reset(seed=4)
    hidden_envs.reset(seed=4)
    actions = [np.arange(5, 9), np.arange(20, 23)]
    *_, full_infos = full_envs.step(actions)
    *_, hidden_infos = hidden_envs.step(actions)

    weight = hidden_envs.envs[0].teacher_output_weight[: hidden_envs.vocab_size]
    temperature = hidden_envs.config.acceptance.temperature
    for row in range(2):
        rebuilt = torch.log_softmax(hidden_infos["teacher_hidden"][row].hidden @ weight.T / temperature, dim=-1)
        assert torch.allclose(rebuilt, full_infos["teacher_log_probs"][row].log_probs, atol=1e-4)


@pytest.mark.parametrize("record", ["top_k", "hidden"])
def test_check_env_passes_with_record(tiny_teacher, tiny_tokenizer, english_samples, record):
    from gymnasium.utils.env_checker import check_env

    env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record=record, record_top_k=5)
    check_env(env, skip_render_check=True)


def test_unknown_record_rejected():
    with pytest.raises(ConfigError, match="record"):
        gym.make("CulturalKD-v0", record="logits")


def test_record_top_k_above_vocabulary_rejected(tiny_teacher, tiny_tokenizer, english_samples):
    with pytest.raises(ConfigError, match="record_top_k"):
        record_env(tiny_teacher, tiny_tokenizer, english_samples, record="top_k", record_top_k=len(tiny_tokenizer) + 1)


def test_on_policy_distill_small_top_k_record(tiny_teacher, tiny_tokenizer, english_samples, student):
    from agents.on_policy_distill import OnPolicyDistillAgent, OnPolicyDistillConfig

    env = record_env(tiny_teacher, tiny_tokenizer, english_samples, record="top_k", record_top_k=5)
    agent = OnPolicyDistillAgent(OnPolicyDistillConfig(device="cpu"), env, model=student)
    agent.seed(0)
    metrics = agent.learn(run_episode(env, agent, seed=0))
    assert math.isfinite(metrics["losses/policy"])
    assert metrics["losses/reverse_kl"] >= 0.0
