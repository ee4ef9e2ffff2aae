"""The REINFORCE agent: action bookkeeping, returns, config checks, and learning on tiny models."""


import numpy as np
import pytest

from agents.base import Episode, Transition, run_episode
from agents.optim import OptimConfig
from agents.reinforce import ReinforceAgent, ReinforceConfig, discounted_returns, sampled_actions
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError
from tests.conftest import sharpened_pair, without_knowledge



def transition(action, accepted, appended):
    info = {"accepted": np.asarray(accepted, dtype=bool), "appended": np.asarray(appended, dtype=np.int64)}
    return Transition(np.asarray(action, dtype=np.int64), {}, float(sum(accepted)), False, False, info)


def test_sampled_actions_use_rejected_draft():
    episode = Episode("x", np.zeros(2, dtype=np.int64), np.asarray([5, 6, 9, 7], dtype=np.int64))
    episode.transitions = [
        transition([5, 6, 8, 4], [True, True, False, False], [5, 6, 9]),  # 8 rejected, 9 is the correction
        transition([7], [True], [7]),
    ]
    actions, acceptance = sampled_actions(episode)
    assert actions.tolist() == [5, 6, 8, 7]
    assert acceptance.tolist() == [1.0, 1.0, 0.0, 1.0]


def test_discounted_returns_sum_future_rewards():
    rewards = np.asarray([1.0, 0.0, 1.0])
    assert discounted_returns(rewards, 1.0).tolist() == [2.0, 1.0, 1.0]
    assert discounted_returns(rewards, 0.0).tolist() == [1.0, 0.0, 1.0]
    assert np.allclose(discounted_returns(rewards, 0.5), [1.25, 0.5, 1.0])


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"draft_temperature": 0.0}, "draft_temperature must be a number > 0.0, got 0.0"),
        ({"draft_top_p": 0.9}, "draft_top_p must be 1.0 for a policy-gradient agent, got 0.9"),
        ({"discount": 1.5}, "discount must be a number >= 0.0 and <= 1.0, got 1.5"),
        ({"kl_coef": -1.0}, "kl_coef must be a number >= 0.0, got -1.0"),
    ],
)
def test_config_rejects_invalid_fields(fields, fragment):
    with pytest.raises(ConfigError) as raised:
        ReinforceConfig(**fields)
    assert fragment in str(raised.value)


def test_reinforce_raises_acceptance(tiny_tokenizer, english_samples):
    student, teacher = sharpened_pair(tiny_tokenizer)
    env = CulturalTokenEnv(
        teacher_model=teacher, tokenizer=tiny_tokenizer, samples=without_knowledge(english_samples[:1]), max_new_tokens=16, block_size=4,
        acceptance={"top_k": 20, "min_prob": 0.0, "temperature": 1.0},
    )
    optim = OptimConfig(learning_rate=1e-2, warmup_ratio=0.0, scheduler="constant")
    agent = ReinforceAgent(ReinforceConfig(draft_temperature=1.0, discount=0.0), env, optim, total_steps=30, model=student)
    agent.seed(0)
    history = [agent.learn(run_episode(env, agent, seed=episode)) for episode in range(30)]
    acceptance = [metrics["rollout/acceptance_rate"] for metrics in history]
    assert all(metrics["optim/stepped"] == 1.0 for metrics in history)
    assert np.mean(acceptance[-8:]) > np.mean(acceptance[:8]) + 0.3


def test_kl_penalty_starts_at_zero(tiny_tokenizer, english_samples):
    student, teacher = sharpened_pair(tiny_tokenizer)
    env = CulturalTokenEnv(teacher_model=teacher, tokenizer=tiny_tokenizer, samples=english_samples[:1], max_new_tokens=8)
    agent = ReinforceAgent(ReinforceConfig(draft_temperature=1.0, kl_coef=0.1, entropy_coef=0.01), env, model=student)
    first = agent.learn(run_episode(env, agent, seed=0))
    second = agent.learn(run_episode(env, agent, seed=1))
    assert first["losses/kl_reference"] == pytest.approx(0.0, abs=1e-6)
    assert second["losses/kl_reference"] > 0.0
    assert agent.reference_model is not None
    assert not any(parameter.requires_grad for parameter in agent.reference_model.parameters())


def test_reinforce_resume_is_bitwise_equal(tiny_model_dirs, tmp_path_factory):
    from agents.reinforce import from_run_config
    from agents.run_config import load_run_config
    from agents.training import Trainer
    from tests.agents.test_resume import StopAtStep, assert_same_weights, run_overrides, student_weights

    # A wide top-k accepts most random drafts, so rewards vary and the running baseline matters.
    accepting = ("env.acceptance.top_k=300", "env.acceptance.min_prob=0")
    reference = tmp_path_factory.mktemp("reinforce-reference")
    Trainer(load_run_config(None, run_overrides(tiny_model_dirs, reference, *accepting)), agent_factory=from_run_config).run()
    resumed = tmp_path_factory.mktemp("reinforce-resumed")
    overrides = run_overrides(tiny_model_dirs, resumed, *accepting)

    def die_at_step_three(record):
        if record["step"] == 3:
            raise StopAtStep

    with pytest.raises(StopAtStep):
        Trainer(load_run_config(None, overrides), agent_factory=from_run_config, on_step=die_at_step_three).run()
    Trainer(load_run_config(None, overrides), agent_factory=from_run_config, resume=True).run()
    assert_same_weights(student_weights(reference), student_weights(resumed))
