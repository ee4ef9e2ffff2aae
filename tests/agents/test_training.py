"""Training end to end on tiny real models: config loading, the loop, the run folder."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from agents.base import run_episode
from agents.run_config import RunConfig, load_run_config
from agents.skd import SKDAgent, SKDConfig
from agents.optim import OptimConfig
from agents.checkpoint import CheckpointError, list_checkpoints
from agents.training import Trainer
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError, ModelLoadError

REPO = Path(__file__).resolve().parents[2]


def test_short_run_lowers_loss_and_raises_acceptance(tiny_model_dirs, english_samples):
    from transformers import AutoModelForCausalLM

    teacher = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["teacher"]).eval()
    with torch.no_grad():
        # A random model's next-token distribution is nearly flat; scaling the final norm sharpens
        # it, so the teacher has clear preferences for the student to learn.
        teacher.model.norm.weight.mul_(30.0)
    env = CulturalTokenEnv(
        teacher_model=teacher, tokenizer=tiny_model_dirs["teacher"], samples=english_samples[:2],
        max_new_tokens=16, block_size=4, acceptance={"top_k": 3, "min_prob": 0.0},
    )
    optim = OptimConfig(learning_rate=3e-3, warmup_ratio=0.0, scheduler="constant")
    agent = SKDAgent(SKDConfig(student=tiny_model_dirs["student"], gamma_init=4), env, optim, total_steps=40)
    agent.seed(0)
    history = [agent.learn(run_episode(env, agent, options={"sample_index": step % 2}, seed=step)) for step in range(40)]
    losses = [metrics["losses/kd"] for metrics in history]
    acceptance = [metrics["rollout/acceptance_rate"] for metrics in history]
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])
    assert np.mean(acceptance[-8:]) > np.mean(acceptance[:8]) + 0.3


def test_loss_is_per_token_mean(tiny_model_dirs, english_samples):
    env = CulturalTokenEnv(teacher=tiny_model_dirs["teacher"], samples=english_samples[:1], max_new_tokens=12)
    agent = SKDAgent(SKDConfig(student=tiny_model_dirs["student"]), env)
    episode = run_episode(env, agent, seed=0)
    loss, tokens = agent.loss(episode)
    assert tokens == len(episode.response_ids)
    # The mean does not scale with length: it stays in the range of one token's divergence.
    assert 0 < float(loss.detach()) < 20


def test_vocabulary_mismatch_rejected(tiny_model_dirs, english_samples, tmp_path):
    from cultural_env import embedded

    other = embedded.build_tokenizer(["completely different text for another vocabulary"] * 5, vocab_size=300)
    other.save_pretrained(tmp_path / "other")
    import shutil

    shutil.copytree(tiny_model_dirs["student"], tmp_path / "student")
    other.save_pretrained(tmp_path / "student")
    env = CulturalTokenEnv(teacher=tiny_model_dirs["teacher"], samples=english_samples[:1])
    with pytest.raises(ModelLoadError, match="vocabularies differ"):
        SKDAgent(SKDConfig(student=str(tmp_path / "student")), env)


def test_missing_model_path_rejected(english_samples):
    with pytest.raises(ModelLoadError, match="model path not found: ./no/such/model"):
        CulturalTokenEnv(teacher="./no/such/model", samples=english_samples[:1])


def test_folder_without_config_rejected(tmp_path, english_samples):
    with pytest.raises(ModelLoadError, match="not a model folder"):
        CulturalTokenEnv(teacher=str(tmp_path), samples=english_samples[:1])


def test_yaml_unknown_key_suggests(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("env:\n  acceptance:\n    topk: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'env.acceptance.topk' \(did you mean 'top_k'\?\)"):
        load_run_config(path)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("env.acceptance.top_k=0", "env.acceptance: top_k must be an integer >= 1, got 0"),
        ("env.acceptance.min_prob=2", "min_prob must be a number >= 0.0 and <= 1.0, got 2"),
        ("env.block_size=0", "block_size must be an integer >= 1, got 0"),
        ("env.acceptance.temperature=-1", "temperature must be a number > 0.0, got -1"),
        ("agent.loss=kl", "loss must be one of 'forward_kl', 'reverse_kl', 'jsd', got 'kl'"),
        ("optim.learning_rate=fast", "optim.learning_rate must be a number, got 'fast'"),
        ("train.epochs=1.5", "train.epochs must be an integer, got 1.5"),
        ("nonsense", "invalid override 'nonsense'"),
    ],
)
def test_bad_overrides_rejected(override, fragment):
    with pytest.raises(ConfigError) as raised:
        load_run_config(None, [override])
    assert fragment in str(raised.value)


def test_tiny_yaml_equals_defaults():
    assert load_run_config(REPO / "configs" / "tiny.yaml") == RunConfig()


def test_reference_yaml_has_reference_values():
    config = load_run_config(REPO / "configs" / "qwen3-32b-to-4b.yaml")
    assert config.env.teacher == "Qwen/Qwen3-32B"
    assert config.agent.student == "Qwen/Qwen3-4B"
    assert (config.env.block_size, config.env.acceptance.top_k, config.env.acceptance.min_prob) == (20, 5, 0.05)
    assert (config.env.max_new_tokens, config.optim.learning_rate, config.train.epochs) == (4096, 1e-5, 5)
    assert config.env.dtype == config.agent.dtype == "bfloat16"
    assert config.env.data.seed == 42
    assert config.env.data.validation_fraction == 0.1


def test_reference_yaml_runs_with_local_models(tiny_model_dirs, tmp_path):
    overrides = [
        f"env.teacher={tiny_model_dirs['teacher']}", f"agent.student={tiny_model_dirs['student']}",
        "env.dtype=float32", "agent.dtype=float32", "env.device=cpu", "agent.device=cpu",
        "env.max_new_tokens=8", "env.data.limit=2", "env.prompt.enable_thinking=null",
        "train.epochs=1", "train.num_items=2", "train.eval_samples=1", "train.validation_samples=1", "train.eval_max_new_tokens=4",
        f"train.output_dir={tmp_path / 'run'}",
    ]
    config = load_run_config(REPO / "configs" / "qwen3-32b-to-4b.yaml", overrides)
    summary = Trainer(config).run()
    run_dir = tmp_path / "run"
    assert summary["steps"] == 2
    assert (run_dir / "config.yaml").is_file()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["env"]["block_size"] == 20
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2]
    for key in ("loss", "lr", "acceptance_rate", "first_token_acceptance", "full_match_rate", "gamma_mean", "gamma_min", "gamma_max", "tokens_drafted", "tokens_accepted"):
        assert key in records[0], key
    saved = json.loads((run_dir / "summary.json").read_text())
    for key in ("acceptance_rate_first", "acceptance_rate_last", "recall_before", "recall_after", "teacher_uses_k", "val_kl_first", "val_kl_last", "wall_time_s"):
        assert key in saved, key
    assert (run_dir / "student" / "model.safetensors").is_file()
    assert (run_dir / "student" / "tokenizer.json").is_file()


def test_unwritable_output_dir_rejected(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = load_run_config(None, [f"train.output_dir={blocker / 'run'}"])
    with pytest.raises(ConfigError, match="not writable"):
        Trainer(config).run()


def test_new_run_rejects_used_folder(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.max_steps=1", "train.save_student=false")
    Trainer(load_run_config(None, overrides)).run()
    metrics = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError, match="already contains a run .*--resume.*--overwrite"):
        Trainer(load_run_config(None, overrides)).run()
    assert (tmp_path / "metrics.jsonl").read_text() == metrics

    Trainer(load_run_config(None, overrides), overwrite=True).run()
    assert [step for step, _ in list_checkpoints(tmp_path)] == [1]


def test_rejected_resume_keeps_the_folder_config(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.max_steps=1", "train.save_student=false")
    Trainer(load_run_config(None, overrides)).run()
    saved = (tmp_path / "config.yaml").read_text()
    changed = load_run_config(None, [*overrides, "train.num_envs=2"])
    with pytest.raises(CheckpointError, match="config differs"):
        Trainer(changed, resume=True).run()
    assert (tmp_path / "config.yaml").read_text() == saved


def test_batch_size_sets_episodes_per_step(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.batch_size=2", "train.save_student=false")
    Trainer(load_run_config(None, overrides)).run()
    # 2 items x 2 epochs = 4 episodes, 2 per optimizer step.
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2]


def test_overwrite_rejected_run_keeps_folder(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.max_steps=1", "train.save_student=false")
    Trainer(load_run_config(None, overrides)).run()
    before = sorted(path.name for path in tmp_path.iterdir())
    rejected = load_run_config(None, [*overrides, "train.num_envs=2", "env.reward_mode=neg_reverse_kl"])
    with pytest.raises(ConfigError, match="neg_reverse_kl"):
        Trainer(rejected, overwrite=True).run()
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_resume_and_overwrite_together_raise(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    with pytest.raises(ConfigError, match="only one of them"):
        Trainer(load_run_config(None, run_overrides(tiny_model_dirs, tmp_path)), resume=True, overwrite=True)


def test_broken_output_symlink_counts_as_run(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    (tmp_path / "metrics.jsonl").symlink_to(tmp_path / "missing" / "metrics.jsonl")
    with pytest.raises(ConfigError, match="already contains a run .metrics.jsonl"):
        Trainer(load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "train.max_steps=1"))).run()


def test_resume_without_checkpoint_names_overwrite(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    with pytest.raises(CheckpointError, match="--overwrite"):
        Trainer(load_run_config(None, run_overrides(tiny_model_dirs, tmp_path)), resume=True).run()


def test_neg_reverse_kl_needs_log_prob_agent(tiny_model_dirs, tmp_path):
    from tests.agents.test_resume import run_overrides

    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "env.reward_mode=neg_reverse_kl"))
    with pytest.raises(ConfigError, match="on_policy_distill"):
        Trainer(config).run()
    assert not (tmp_path / "config.yaml").exists()
