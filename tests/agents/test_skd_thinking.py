"""SKD loss options for Qwen3 thinking: per-token KL clipping, masking the think span, template checks."""

import numpy as np
import pytest
import torch

from agents.base import Episode, Transition
from agents.losses import token_divergence
from agents.skd import SKDAgent, SKDConfig
from cultural_env.errors import ConfigError
from cultural_env.prompts import think_token_ids
from cultural_env.teacher_record import TeacherLogProbs
from tests.conftest import make_model


def episode_with_response(env, response_ids, seed=0):
    """An episode whose single step appended ``response_ids``, with random teacher log-probabilities."""
    generator = torch.Generator().manual_seed(seed)
    teacher_log_probs = torch.log_softmax(torch.randn(len(response_ids), env.vocab_size, generator=generator) * 3, dim=-1)
    query_ids = np.asarray(env.student_prompt_ids(env.samples[0]), dtype=np.int64)
    response = np.asarray(response_ids, dtype=np.int64)
    info = {"teacher_log_probs": TeacherLogProbs(teacher_log_probs), "accepted": np.ones(len(response_ids), dtype=bool)}
    transition = Transition(response, {"query": query_ids, "response": response}, 0.0, False, True, info)
    return Episode("x", query_ids, response, [transition]), teacher_log_probs


def make_agent(env, tokenizer, **fields):
    return SKDAgent(SKDConfig(**fields), env, model=make_model(tokenizer, seed=2))


def per_token_divergence(agent, episode, teacher_log_probs):
    with torch.no_grad():
        student_log_probs = agent.student_log_probs(episode.query_ids, episode.response_ids)
    return token_divergence(student_log_probs, teacher_log_probs)


def test_kl_clip_caps_each_position(tiny_env, tiny_tokenizer):
    episode, teacher_log_probs = episode_with_response(tiny_env, [40, 41, 42, 43, 44])
    agent = make_agent(tiny_env, tiny_tokenizer, kl_clip=0.5)
    per_token = per_token_divergence(agent, episode, teacher_log_probs)
    assert per_token.max() > 0.5  # the case must actually clip
    loss, tokens = agent.loss(episode)
    assert tokens == 5
    assert float(loss.detach()) == pytest.approx(float(per_token.clamp(max=0.5).mean()), rel=1e-5)


def test_mask_think_leaves_span_out(tiny_env, tiny_tokenizer):
    open_id, close_id = think_token_ids(tiny_tokenizer)
    response = [open_id, 50, 51, close_id, 60, 61, 62]
    episode, teacher_log_probs = episode_with_response(tiny_env, response)
    agent = make_agent(tiny_env, tiny_tokenizer, mask_think=True)
    per_token = per_token_divergence(agent, episode, teacher_log_probs)
    loss, tokens = agent.loss(episode)
    assert tokens == 3
    assert float(loss.detach()) == pytest.approx(float(per_token[4:].mean()), rel=1e-5)


def test_mask_think_all_span_gives_zero(tiny_env, tiny_tokenizer):
    open_id, _ = think_token_ids(tiny_tokenizer)
    episode, _ = episode_with_response(tiny_env, [open_id, 50, 51])
    agent = make_agent(tiny_env, tiny_tokenizer, mask_think=True)
    loss, tokens = agent.loss(episode)
    assert tokens == 0
    assert float(loss.detach()) == 0.0
    loss.backward()  # still part of the graph, so a training step does not fail


def test_mask_think_needs_think_tokens(tiny_env, tiny_tokenizer, monkeypatch):
    monkeypatch.setattr("agents.skd.think_token_ids", lambda tokenizer: None)
    with pytest.raises(ConfigError, match="agent.mask_think is true but the tokenizer has no single <think> and </think> tokens"):
        make_agent(tiny_env, tiny_tokenizer, mask_think=True)


def test_enable_thinking_mismatch_rejected(tiny_env, tiny_tokenizer):
    with pytest.raises(ConfigError, match="agent.enable_thinking=False but env.prompt.enable_thinking=None"):
        make_agent(tiny_env, tiny_tokenizer, enable_thinking=False)


def test_kl_clip_must_be_positive():
    with pytest.raises(ConfigError, match="kl_clip must be a number > 0.0"):
        SKDConfig(kl_clip=0.0)
