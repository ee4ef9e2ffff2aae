"""The on-policy distillation agent: its gradient estimate, the env's neg_reverse_kl reward, learning."""


import numpy as np
import pytest
import torch

from agents.base import run_episode
from agents.losses import reverse_kl
from agents.on_policy_distill import OnPolicyDistillAgent, OnPolicyDistillConfig, reverse_kl_rewards
from agents.optim import OptimConfig
from agents.reinforce import policy_gradient_loss, response_logits, sampled_actions
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError
from cultural_env.teacher_record import TeacherLogProbs
from tests.conftest import sharpened_pair, without_knowledge



def test_policy_gradient_estimates_reverse_kl_gradient():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, generator=generator, requires_grad=True)  # (T, V)
    teacher_log_probs = torch.log_softmax(2.0 * torch.randn(3, 6, generator=generator), dim=-1)
    student_log_probs = torch.log_softmax(logits, dim=-1)
    (exact,) = torch.autograd.grad(reverse_kl(student_log_probs, teacher_log_probs).mean(), logits, retain_graph=True)

    samples = 20000
    actions = torch.multinomial(student_log_probs.detach().exp(), samples, replacement=True, generator=generator).T  # (N, T)
    repeated = student_log_probs.expand(samples, -1, -1).reshape(-1, 6)  # (N*T, V)
    flat_actions = actions.reshape(-1)
    baseline = reverse_kl(student_log_probs.detach(), teacher_log_probs).repeat(samples)
    advantages = reverse_kl_rewards(repeated.detach(), teacher_log_probs.repeat(samples, 1), flat_actions) + baseline
    (estimate,) = torch.autograd.grad(policy_gradient_loss(repeated, flat_actions, advantages), logits)
    assert torch.allclose(estimate, exact, atol=0.02), (estimate, exact)


def test_config_rejects_greedy_drafts():
    with pytest.raises(ConfigError, match="draft_temperature must be a number > 0.0, got 0.0"):
        OnPolicyDistillConfig(draft_temperature=0.0)
    with pytest.raises(ConfigError, match="kd_coef must be a number >= 0.0, got -0.5"):
        OnPolicyDistillConfig(kd_coef=-0.5)


def test_env_reward_equals_agent_rewards(tiny_tokenizer, english_samples):
    student, teacher = sharpened_pair(tiny_tokenizer)
    env = CulturalTokenEnv(
        teacher_model=teacher, tokenizer=tiny_tokenizer, samples=english_samples[:1], max_new_tokens=12, block_size=4,
        acceptance={"top_k": 20, "min_prob": 0.0, "temperature": 1.0}, reward_mode="neg_reverse_kl",
    )
    agent = OnPolicyDistillAgent(OnPolicyDistillConfig(draft_temperature=1.0), env, model=student)
    agent.seed(0)
    episode = run_episode(env, agent, seed=0)
    actions, _ = sampled_actions(episode)
    teacher_log_probs = TeacherLogProbs.concatenate([step.info["teacher_log_probs"] for step in episode.transitions])
    with torch.no_grad():
        student_log_probs = torch.log_softmax(response_logits(student, episode.query_ids, episode.response_ids, env.vocab_size), dim=-1)
    rewards = reverse_kl_rewards(student_log_probs, teacher_log_probs, torch.as_tensor(actions))
    assert episode.total_reward == pytest.approx(float(rewards.sum()), abs=1e-3)
    assert episode.total_reward < 0.0


def test_on_policy_distill_lowers_reverse_kl(tiny_tokenizer, english_samples):
    student, teacher = sharpened_pair(tiny_tokenizer)
    env = CulturalTokenEnv(
        teacher_model=teacher, tokenizer=tiny_tokenizer, samples=without_knowledge(english_samples[:1]), max_new_tokens=16, block_size=4,
        acceptance={"top_k": 100, "min_prob": 0.0, "temperature": 1.0},
    )
    optim = OptimConfig(learning_rate=5e-3, warmup_ratio=0.0, scheduler="constant")
    agent = OnPolicyDistillAgent(OnPolicyDistillConfig(draft_temperature=1.0), env, optim, total_steps=40, model=student)
    agent.seed(0)
    history = [agent.learn(run_episode(env, agent, seed=episode)) for episode in range(40)]
    divergence = [metrics["losses/reverse_kl"] for metrics in history]
    assert "losses/kd" not in history[0]
    assert np.mean(divergence[-8:]) < 0.5 * np.mean(divergence[:8])


def test_kd_mix_reports_kd_loss(tiny_tokenizer, english_samples):
    student, teacher = sharpened_pair(tiny_tokenizer)
    env = CulturalTokenEnv(teacher_model=teacher, tokenizer=tiny_tokenizer, samples=english_samples[:1], max_new_tokens=8)
    agent = OnPolicyDistillAgent(OnPolicyDistillConfig(draft_temperature=1.0, kd_coef=0.5), env, model=student)
    metrics = agent.learn(run_episode(env, agent, seed=0))
    assert metrics["losses/kd"] > 0.0
    assert metrics["losses/total"] == pytest.approx(metrics["losses/policy"] + 0.5 * metrics["losses/kd"], rel=1e-4)


@pytest.mark.parametrize("record", ["hidden", "top_k"])
def test_learns_from_every_record_kind(tiny_tokenizer, english_samples, record):
    metrics = {}
    for kind in ("log_probs", record):
        student, teacher = sharpened_pair(tiny_tokenizer)
        env = CulturalTokenEnv(
            teacher_model=teacher, tokenizer=tiny_tokenizer, samples=english_samples[:1], max_new_tokens=10, block_size=4,
            acceptance={"top_k": 20, "min_prob": 0.0, "temperature": 1.0}, record=kind, record_top_k=len(tiny_tokenizer),
        )
        agent = OnPolicyDistillAgent(OnPolicyDistillConfig(draft_temperature=1.0, kd_coef=0.5), env, model=student)
        agent.seed(0)
        metrics[kind] = agent.learn(run_episode(env, agent, seed=0))
    # The hidden record is exact, and a top-k record that keeps all V tokens loses nothing.
    for key in ("losses/reverse_kl", "losses/policy", "losses/kd", "rollout/reward_mean"):
        assert metrics[record][key] == pytest.approx(metrics["log_probs"][key], abs=1e-4), key


def test_top_k_rewards_bound_reverse_kl():
    from agents.chunked_loss import TeacherTopK
    from agents.on_policy_distill import top_k_rewards

    generator = torch.Generator().manual_seed(1)
    student = torch.log_softmax(torch.randn(5, 12, generator=generator), dim=-1)
    teacher = torch.log_softmax(torch.randn(5, 12, generator=generator), dim=-1)
    actions = torch.tensor([0, 3, 7, 11, 5])
    rewards, bucket_kl = top_k_rewards(student, TeacherTopK.from_log_probs(teacher, 4), actions, vocab_size=12)
    exact = reverse_kl(student, teacher)
    assert torch.all(bucket_kl <= exact + 1e-6)
    assert torch.all(bucket_kl >= -1e-6)
    kept_ids = TeacherTopK.from_log_probs(teacher, 4).token_ids
    inside = (kept_ids == actions[:, None]).any(dim=-1)
    exact_rewards = reverse_kl_rewards(student, teacher, actions)
    assert torch.allclose(rewards[inside], exact_rewards[inside])
