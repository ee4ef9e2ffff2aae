"""Checkpoints and exact resume: a run stopped at any step and resumed ends with the same student.

The comparison is bitwise (torch.equal) because the CPU kernels are deterministic for a fixed
thread count, and every source of randomness is either restored from the checkpoint or derived
from the episode's place in the data order.
"""

import json
import signal
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from agents.checkpoint import CheckpointError, join_tensors, latest_checkpoint, list_checkpoints, split_tensors
from agents.run_config import load_run_config
from agents.training import Trainer

# The test process runs torch on one thread (tests/conftest.py); subprocesses must match it,
# because the thread count changes the order of float reductions and so the bits of the result.
SINGLE_THREAD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
REPO = Path(__file__).resolve().parents[2]
TOTAL_STEPS = 4


def run_overrides(model_dirs: dict[str, str], output_dir: Path, *extra: str) -> list[str]:
    """A four-step run on the random tiny models, checkpointing every second step."""
    return [
        f"env.teacher={model_dirs['teacher']}", f"agent.student={model_dirs['student']}",
        "env.device=cpu", "agent.device=cpu", "env.max_new_tokens=6", "env.data.limit=4",
        "train.num_items=2", "train.epochs=2", "train.eval_samples=0", "train.validation_samples=0",
        "train.save_every=2", "train.keep_checkpoints=2", f"train.output_dir={output_dir}", *extra,
    ]


def student_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "student" / "model.safetensors"))


def metric_steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> None:
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


class StopAtStep(Exception):
    """Injected fault: the run dies after a given step was logged."""


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dirs, tmp_path_factory):
    """The reference: the same run without interruption."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    Trainer(load_run_config(None, run_overrides(tiny_model_dirs, run_dir))).run()
    return run_dir


def test_checkpoints_written_and_pruned(uninterrupted):
    steps = [step for step, _ in list_checkpoints(uninterrupted)]
    assert steps == [2, 4]
    folder = latest_checkpoint(uninterrupted)
    for name in ("model.safetensors", "state.safetensors", "state.json"):
        assert (folder / name).is_file(), name
    assert not [child for child in (uninterrupted / "checkpoints").iterdir() if child.name.startswith(".tmp-")]


def test_resume_after_fault_is_bitwise_equal(tiny_model_dirs, uninterrupted, tmp_path):
    overrides = run_overrides(tiny_model_dirs, tmp_path)

    def die_at_step_three(record):
        if record["step"] == 3:
            raise StopAtStep

    with pytest.raises(StopAtStep):
        Trainer(load_run_config(None, overrides), on_step=die_at_step_three).run()
    assert metric_steps(tmp_path) == [1, 2, 3]
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2]

    Trainer(load_run_config(None, overrides), resume=True).run()
    assert_same_weights(student_weights(uninterrupted), student_weights(tmp_path))
    assert metric_steps(tmp_path) == [1, 2, 3, 4]


def test_resume_after_sigkill_is_bitwise_equal(tiny_model_dirs, uninterrupted, tmp_path):
    overrides = run_overrides(tiny_model_dirs, tmp_path)
    script = textwrap.dedent(
        f"""
        import os, signal
        from agents.run_config import load_run_config
        from agents.training import Trainer

        def kill_at_step_three(record):
            if record["step"] == 3:
                os.kill(os.getpid(), signal.SIGKILL)

        Trainer(load_run_config(None, {overrides!r}), on_step=kill_at_step_three).run()
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300, env=SINGLE_THREAD_ENV)
    assert completed.returncode == -signal.SIGKILL, completed.stderr[-2000:]
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2]

    Trainer(load_run_config(None, overrides), resume=True).run()
    assert_same_weights(student_weights(uninterrupted), student_weights(tmp_path))
    assert metric_steps(tmp_path) == [1, 2, 3, 4]


def test_sigterm_checkpoints_and_resumes(tiny_model_dirs, uninterrupted, tmp_path):
    overrides = run_overrides(tiny_model_dirs, tmp_path, "train.save_every=0")
    command = [sys.executable, "-m", "cultural_env.cli", "train", *overrides]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=SINGLE_THREAD_ENV)
    metrics = tmp_path / "metrics.jsonl"
    try:
        # Wait for the first logged step, so that the signal arrives inside the training loop.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if metrics.is_file() and metrics.read_text().strip():
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, output[-2000:]
    assert "Traceback" not in output
    assert "continues with --resume" in output
    stopped_at = [step for step, _ in list_checkpoints(tmp_path)]
    assert len(stopped_at) == 1
    assert 1 <= stopped_at[0] <= TOTAL_STEPS
    assert json.loads((tmp_path / "summary.json").read_text())["interrupted"] == "SIGTERM"

    Trainer(load_run_config(None, overrides), resume=True).run()
    assert_same_weights(student_weights(uninterrupted), student_weights(tmp_path))
    assert metric_steps(tmp_path) == list(range(1, TOTAL_STEPS + 1))


def test_resume_without_checkpoint_rejected(tiny_model_dirs, tmp_path):
    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path))
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        Trainer(config, resume=True).run()


def test_resume_with_changed_config_rejected(tiny_model_dirs, uninterrupted, tmp_path):
    import shutil

    shutil.copytree(uninterrupted / "checkpoints", tmp_path / "checkpoints")
    config = load_run_config(None, run_overrides(tiny_model_dirs, tmp_path, "optim.learning_rate=0.01"))
    with pytest.raises(CheckpointError, match=r"config differs in optim.learning_rate \(0.003 in the checkpoint, 0.01 now\)"):
        Trainer(config, resume=True).run()


def test_model_card_has_metadata(uninterrupted):
    import yaml

    text = (uninterrupted / "student" / "README.md").read_text()
    assert text.startswith("---\n")
    metadata = yaml.safe_load(text.split("---\n")[1])
    assert metadata["base_model"].endswith("student")
    assert metadata["language"] == ["en"]
    assert metadata["datasets"] == ["cultural-kd/korean_culture.en"]
    assert metadata["training_hyperparameters"]["learning_rate"] == 0.003
    assert metadata["final_metrics"]["steps"] == TOTAL_STEPS


def test_state_round_trip_keeps_types():
    import numpy as np

    state = {
        "counts": {0: {"step": torch.tensor(3.0)}, 1: {"step": torch.tensor(4.0)}},
        "betas": (0.9, 0.999),
        "rng": np.random.get_state(legacy=False),
        "python": (3, tuple(range(5)), None),
    }
    tensors: dict = {}
    rebuilt = join_tensors(json.loads(json.dumps(split_tensors(state, tensors))), tensors)
    assert set(rebuilt["counts"]) == {0, 1}
    assert torch.equal(rebuilt["counts"][1]["step"], torch.tensor(4.0))
    assert rebuilt["betas"] == (0.9, 0.999)
    assert rebuilt["python"] == (3, (0, 1, 2, 3, 4), None)
    assert np.array_equal(rebuilt["rng"]["state"]["key"], state["rng"]["state"]["key"])
