"""Faults during training: non-finite values, signals, and an output folder that is unwritable or full."""

import errno
import json
import logging
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import agents.checkpoint as checkpoint_module
import agents.training as training_module
from agents.checkpoint import CheckpointError, list_checkpoints, save_checkpoint
from agents.optim import GuardedOptimizer, OptimConfig
from agents.run_config import load_run_config
from agents.skd import SKDAgent
from agents.training import Trainer
from cultural_env.errors import ConfigError


def short_run(model_dirs: dict[str, str], output_dir: Path, *extra: str):
    return load_run_config(None, [
        f"env.teacher={model_dirs['teacher']}", f"agent.student={model_dirs['student']}",
        "env.device=cpu", "agent.device=cpu", "env.max_new_tokens=6", "env.data.limit=3",
        "train.num_items=3", "train.epochs=1", "train.eval_samples=0", "train.validation_samples=0",
        "train.save_every=1", "train.keep_checkpoints=5", f"train.output_dir={output_dir}", *extra,
    ])


def copy_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


# ----------------------------------------------------------------- non-finite loss and gradients


@pytest.mark.parametrize("fault", ["nan loss", "inf loss", "inf gradient"])
def test_non_finite_step_skipped(fault, tiny_tokenizer, caplog):
    from tests.conftest import make_model

    model = make_model(tiny_tokenizer, seed=3).train()
    optimizer = GuardedOptimizer(model, OptimConfig(warmup_ratio=0.0), total_steps=4)
    before = copy_weights(model)
    loss = model(input_ids=torch.tensor([[1, 2, 3]])).logits.float().mean()
    if fault == "nan loss":
        loss = loss * float("nan")
    elif fault == "inf loss":
        loss = loss + float("inf")
    else:
        model.model.embed_tokens.weight.register_hook(lambda grad: grad * float("inf"))
    with caplog.at_level(logging.WARNING):
        metrics = optimizer.backward(loss)
    assert metrics["optim/skipped"] == 1.0
    assert optimizer.skipped_steps == 1
    assert "skipped optimizer step 0: non-finite" in caplog.text
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name


def test_nan_loss_counted_and_kept_out_of_checkpoints(tiny_model_dirs, tmp_path, caplog):
    calls = {"loss": 0}

    def agent_with_nan_second_loss(config, env, total_steps):
        agent = SKDAgent(config.agent, env, config.optim, total_steps)
        original = agent.loss

        def loss(episode):
            calls["loss"] += 1
            value, tokens = original(episode)
            return (value * float("nan"), tokens) if calls["loss"] == 2 else (value, tokens)

        agent.loss = loss
        return agent

    with caplog.at_level(logging.WARNING):
        summary = Trainer(short_run(tiny_model_dirs, tmp_path), agent_factory=agent_with_nan_second_loss).run()
    assert "non-finite loss" in caplog.text
    assert summary["skipped_steps"] == 1
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [record["skipped_steps"] for record in records] == [0, 1, 1]
    # The skipped step left the weights as they were after step 1.
    step_one = load_file(str(tmp_path / "checkpoints" / "step-00000001" / "model.safetensors"))
    step_two = load_file(str(tmp_path / "checkpoints" / "step-00000002" / "model.safetensors"))
    for name in step_one:
        assert torch.equal(step_one[name], step_two[name]), name
    for _, folder in list_checkpoints(tmp_path):
        for name, tensor in load_file(str(folder / "model.safetensors")).items():
            assert torch.isfinite(tensor).all(), (folder.name, name)


def test_non_finite_weights_never_saved(tiny_tokenizer, tmp_path):
    from tests.conftest import make_model

    model = make_model(tiny_tokenizer, seed=3)
    with torch.no_grad():
        model.model.norm.weight[0] = float("nan")
    with pytest.raises(CheckpointError, match="parameter model.norm.weight contains NaN or infinite values"):
        save_checkpoint(tmp_path, 1, model, {"step": 1}, keep=2)
    assert list_checkpoints(tmp_path) == []


# ----------------------------------------------------------------- signals


def test_sigint_stops_with_checkpoint(tiny_model_dirs, tmp_path):
    def interrupt_after_first_step(record):
        if record["step"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(short_run(tiny_model_dirs, tmp_path, "train.save_every=0"), on_step=interrupt_after_first_step)
    summary = trainer.run()
    assert trainer.interrupted_by == signal.SIGINT
    assert summary["interrupted"] == "SIGINT"
    assert [step for step, _ in list_checkpoints(tmp_path)] == [1]
    assert not (tmp_path / "student").exists()
    # The handler is removed again after the run.
    assert signal.getsignal(signal.SIGINT) is not trainer


# ----------------------------------------------------------------- output folder


def test_full_disk_rejected_before_training(tiny_model_dirs, tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(training_module.shutil, "disk_usage", lambda path: usage._replace(free=1_000_000))
    with pytest.raises(ConfigError, match=r"has 1.0 MB free but checkpoints and the student need about"):
        Trainer(short_run(tiny_model_dirs, tmp_path)).run()
    assert not (tmp_path / "metrics.jsonl").exists()


def test_unwritable_output_rejected_before_training(tiny_model_dirs, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not writable"):
        Trainer(short_run(tiny_model_dirs, tmp_path / "file" / "run")).run()


def test_disk_full_while_saving_leaves_no_partial_checkpoint(tiny_tokenizer, tmp_path, monkeypatch):
    from tests.conftest import make_model

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module, "save_file", no_space)
    with pytest.raises(CheckpointError, match="No space left on device; free disk space"):
        save_checkpoint(tmp_path, 1, make_model(tiny_tokenizer, seed=3), {"step": 1}, keep=2)
    assert list((tmp_path / "checkpoints").iterdir()) == []
