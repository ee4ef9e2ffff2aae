"""Batched rollouts in training: rows equal single episodes, shared blocks keep the tokens, resume stays exact."""

import json
import math

import pytest

from agents.base import run_episode
from agents.batched_rollout import run_batched_episodes
from agents.batched_student import BatchedStudentDrafter
from agents.checkpoint import list_checkpoints
from agents.run_config import load_run_config
from agents.training import Trainer
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError
from cultural_env.vector import CulturalTokenVectorEnv
from tests.agents.test_resume import StopAtStep, assert_same_weights, metric_steps, run_overrides, student_weights

SEEDS = [11, 12, 13]
# Greedy drafts and corrections that keep only the teacher's likeliest token make every
# trajectory deterministic, so batched and single rollouts must write the same tokens.
DETERMINISTIC = {"max_new_tokens": 12, "block_size": 6, "acceptance": {"top_k": 3, "min_prob": 0.0, "top_p": 1e-6}}


@pytest.fixture()
def vector_env(tiny_teacher, tiny_tokenizer, english_samples):
    return CulturalTokenVectorEnv(3, teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, **DETERMINISTIC)


def batched_responses(vector_env, student, ids, shared_blocks):
    drafter = BatchedStudentDrafter(student, vector_env.vocab_size, vector_env.stop_ids, vector_env.num_envs)
    episodes = run_batched_episodes(
        vector_env, drafter, ids, SEEDS[: len(ids)], gamma_init=2, gamma_max=6, temperature=0.0, top_p=1.0, shared_blocks=shared_blocks
    )
    return episodes, [episode.response_ids.tolist() for episode in episodes]


class GreedyAgent:
    """Drafts greedily with the student's cache, with the same gamma rule as the batched rollout."""

    def __init__(self, student, env):
        from agents.student import StudentDrafter

        self.drafter = StudentDrafter(student, env.vocab_size, env.stop_ids)
        self.env = env

    def begin_episode(self, observation, info):
        self.drafter.reset()
        self.gamma = 2

    def act(self, observation):
        sequence = observation["query"].tolist() + observation["response"].tolist()
        remaining = self.env.config.max_new_tokens - len(observation["response"])
        return self.drafter.draft(sequence, min(self.gamma, remaining), 0.0, 1.0)

    def observe(self, transition):
        from agents.gamma import next_block_size

        self.gamma = next_block_size(self.gamma, transition.info["num_accepted"], len(transition.info["accepted"]), 6)


def test_batched_rows_match_single_episodes(vector_env, tiny_teacher, tiny_tokenizer, english_samples, sharpened_student):
    ids = [english_samples[index].id for index in (2, 0, 5)]
    episodes, responses = batched_responses(vector_env, sharpened_student, ids, shared_blocks=False)
    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, **DETERMINISTIC)
    agent = GreedyAgent(sharpened_student, env)
    for row, sample_id in enumerate(ids):
        single = run_episode(env, agent, options={"sample_id": sample_id}, seed=SEEDS[row])
        assert responses[row] == single.response_ids.tolist(), f"row {row}"
        assert [len(t.action) for t in episodes[row].transitions] == [len(t.action) for t in single.transitions]
        assert episodes[row].sample_id == sample_id


def test_shared_blocks_write_the_same_tokens(vector_env, english_samples, sharpened_student):
    ids = [english_samples[index].id for index in (2, 0, 5)]
    per_row_episodes, per_row = batched_responses(vector_env, sharpened_student, ids, shared_blocks=False)
    shared_episodes, shared = batched_responses(vector_env, sharpened_student, ids, shared_blocks=True)
    assert shared == per_row
    # Shared blocks cover the same tokens in no more steps.
    assert max(len(e.transitions) for e in shared_episodes) <= max(len(e.transitions) for e in per_row_episodes)


def test_spare_rows_stay_idle(vector_env, english_samples, sharpened_student):
    episodes, responses = batched_responses(vector_env, sharpened_student, [english_samples[1].id], shared_blocks=True)
    assert len(episodes) == 1
    assert len(responses[0]) > 0
    assert all(length >= 1 for length in episodes[0].draft_lengths)


@pytest.fixture()
def sharpened_student(tiny_tokenizer):
    from tests.conftest import sharpened_pair

    return sharpened_pair(tiny_tokenizer)[0]


@pytest.fixture(scope="module")
def uninterrupted_batched(tiny_model_dirs, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted-batched")
    Trainer(load_run_config(None, run_overrides(tiny_model_dirs, run_dir, "train.num_envs=2"))).run()
    return run_dir


def test_batched_training_checkpoints_between_batches(tiny_model_dirs, tmp_path):
    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=2", "train.save_every=1", "train.keep_checkpoints=4")
    Trainer(load_run_config(None, overrides)).run()
    assert metric_steps(tmp_path) == [1, 2, 3, 4]
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2, 4]


def test_batched_resume_is_bitwise_equal(tiny_model_dirs, uninterrupted_batched, tmp_path):
    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=2")

    def die_at_step_three(record):
        if record["step"] == 3:
            raise StopAtStep

    with pytest.raises(StopAtStep):
        Trainer(load_run_config(None, overrides), on_step=die_at_step_three).run()
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2]
    Trainer(load_run_config(None, overrides), resume=True).run()
    assert_same_weights(student_weights(uninterrupted_batched), student_weights(tmp_path))


def test_batched_needs_rollout_batch(tiny_model_dirs, tmp_path):
    from examples.custom_agent import ImitationAgent

    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=2"))
    with pytest.raises(ConfigError, match="rollout_batch"):
        Trainer(config, agent_factory=ImitationAgent).run()


def test_batched_rejects_neg_reverse_kl(tiny_model_dirs, tmp_path):
    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=2", "env.reward_mode=neg_reverse_kl"))
    with pytest.raises(ConfigError, match="neg_reverse_kl"):
        Trainer(config).run()


def test_resume_mid_accumulation_exact(tiny_model_dirs, tmp_path_factory):
    # Two episodes per rollout batch and three per optimizer step: checkpoints fall inside an accumulation.
    extra = ("train.num_envs=2", "optim.gradient_accumulation_steps=3", "train.num_items=3", "train.save_every=1")
    reference = tmp_path_factory.mktemp("reference")
    Trainer(load_run_config(None, run_overrides(tiny_model_dirs, reference, *extra))).run()
    resumed = tmp_path_factory.mktemp("resumed")
    overrides = run_overrides(tiny_model_dirs, resumed, *extra)

    def die_at_step_two(record):
        if record["step"] == 2:
            raise StopAtStep

    with pytest.raises(StopAtStep):
        Trainer(load_run_config(None, overrides), on_step=die_at_step_two).run()
    # Step 1 came with the 3rd episode, and the checkpoint after the 4th contains its gradient.
    assert [step for step, _ in list_checkpoints(resumed)] == [1]
    Trainer(load_run_config(None, overrides), resume=True).run()
    assert_same_weights(student_weights(reference), student_weights(resumed))
    assert metric_steps(resumed) == metric_steps(reference)


def test_batches_sized_to_remaining_steps(tiny_model_dirs, tmp_path):
    from agents.skd import SKDAgent

    rolled = []

    class CountingAgent(SKDAgent):
        def rollout_batch(self, envs, sample_ids, seeds):
            rolled.append(len(sample_ids))
            return super().rollout_batch(envs, sample_ids, seeds)

    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=64", "train.max_steps=2"))
    Trainer(config, agent_factory=lambda cfg, env, total: CountingAgent(cfg.agent, env, cfg.optim, total)).run()
    assert rolled == [2]
    assert metric_steps(tmp_path) == [1, 2]


def test_policy_gradient_warns_stale_drafts(tiny_model_dirs, tmp_path, caplog):
    from agents.on_policy_distill import from_run_config

    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=2", "train.max_steps=2"))
    with caplog.at_level("WARNING", logger="agents.training"):
        Trainer(config, agent_factory=from_run_config).run()
    assert "policy gradient" in caplog.text
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(record["loss"])
    assert "loss_policy" in record


def test_num_envs_capped_to_run(tiny_model_dirs, tmp_path, caplog):
    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "train.num_envs=1000", "train.max_steps=2"))
    with caplog.at_level("WARNING", logger="agents.training"):
        trainer = Trainer(config)
        trainer.run()
    assert "using 2 rows" in caplog.text
    assert trainer.agent.batched_drafter.lm.batch_size == 2
