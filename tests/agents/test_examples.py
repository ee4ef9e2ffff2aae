"""The example agents, agents swapping on one environment, and `cultural-kd train --agent`."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from agents.base import Agent, run_episode
from agents.on_policy_distill import OnPolicyDistillAgent, OnPolicyDistillConfig
from agents.reinforce import ReinforceAgent, ReinforceConfig
from agents.run_config import load_run_config
from agents.skd import SKDAgent, SKDConfig
from cultural_env.cli import main
from cultural_env.env import CulturalTokenEnv
from cultural_env.wrappers import PerTokenWrapper
from examples.custom_agent import ImitationAgent
from examples.greedy_agent import GreedyAgent
from examples.random_agent import run_random_episodes

REPO = Path(__file__).resolve().parents[2]


def test_agents_swap_on_one_env(tiny_model_dirs, english_samples):
    env = CulturalTokenEnv(teacher=tiny_model_dirs["teacher"], samples=english_samples[:1], max_new_tokens=8, block_size=4)
    config_before = asdict(env.config)
    student = tiny_model_dirs["student"]
    run_config = load_run_config(None, [f"agent.student={student}", "agent.device=cpu"])
    agents = [
        SKDAgent(SKDConfig(student=student), env),
        ReinforceAgent(ReinforceConfig(student=student), env),
        OnPolicyDistillAgent(OnPolicyDistillConfig(student=student, kd_coef=0.5), env),
        ImitationAgent(run_config, env, total_steps=1),
        GreedyAgent(env, student=student),
    ]
    for index, agent in enumerate(agents):
        assert isinstance(agent, Agent)
        metrics = agent.learn(run_episode(env, agent, seed=index))
        assert "optim/stepped" in metrics, type(agent).__name__
        assert 0.0 <= metrics["rollout/acceptance_rate"] <= 1.0
    assert asdict(env.config) == config_before


def test_random_agent_reward_in_range(tiny_env):
    reward = run_random_episodes(PerTokenWrapper(tiny_env), episodes=1)
    assert 0.0 <= reward <= 1.0


def test_imitation_agent_lowers_its_loss(tiny_model_dirs, english_samples):
    env = CulturalTokenEnv(teacher=tiny_model_dirs["teacher"], samples=english_samples[:1], max_new_tokens=8)
    run_config = load_run_config(None, [f"agent.student={tiny_model_dirs['student']}", "agent.device=cpu", "optim.warmup_ratio=0.0", "optim.scheduler=constant"])
    agent = ImitationAgent(run_config, env, total_steps=10)
    agent.seed(0)
    episode = run_episode(env, agent, seed=0)
    losses = [agent.learn(episode)["losses/imitation"] for _ in range(10)]
    assert losses[-1] < 0.8 * losses[0]


def test_train_cli_runs_custom_agent(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    output_dir = tmp_path / "run"
    status = main([
        "train", "--agent", "examples.custom_agent:ImitationAgent", "--max-steps", "2", "--output-dir", str(output_dir),
        f"env.teacher={tiny_model_dirs['teacher']}", f"agent.student={tiny_model_dirs['student']}", "env.device=cpu", "agent.device=cpu",
        "env.max_new_tokens=6", "env.data.limit=2", "env.prompt.enable_thinking=null",
        "train.num_items=2", "train.eval_samples=1", "train.validation_samples=0", "train.eval_max_new_tokens=4",
    ])
    assert status == 0
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2
    assert (output_dir / "student" / "config.json").is_file()


@pytest.mark.parametrize("factory", ["agents.reinforce:from_run_config", "agents.on_policy_distill:from_run_config"])
def test_train_cli_runs_policy_gradient_agents(tiny_model_dirs, tmp_path, factory):
    output_dir = tmp_path / "run"
    status = main([
        "train", "--agent", factory, "--max-steps", "1", "--output-dir", str(output_dir),
        f"env.teacher={tiny_model_dirs['teacher']}", f"agent.student={tiny_model_dirs['student']}", "env.device=cpu", "agent.device=cpu",
        "env.max_new_tokens=6", "env.data.limit=1", "env.prompt.enable_thinking=null",
        "train.num_items=1", "train.eval_samples=0", "train.validation_samples=0", "train.save_student=false",
    ])
    assert status == 0
    assert len((output_dir / "metrics.jsonl").read_text().splitlines()) == 1


def test_train_cli_rejects_missing_agent_class(capsys):
    assert main(["train", "--agent", "examples.custom_agent:NoSuchAgent"]) == 2
    assert "has no class 'NoSuchAgent'" in capsys.readouterr().err
