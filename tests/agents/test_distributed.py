"""Data-parallel training on the CPU: two processes launched by accelerate, compared with one process.

accelerate 1.16 runs a ``--cpu`` launch with more than one process only through MPI. The test
therefore uses ``--multi_gpu``, which starts the processes with torchrun, and on a machine without
CUDA the training loop joins a gloo process group. The processes talk over 127.0.0.1 only.
"""

import json
import socket
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from agents.run_config import load_run_config
from agents.training import Trainer

# The test process runs torch on one thread (tests/conftest.py); subprocesses must match it,
# because the thread count changes the order of float reductions and so the bits of the result.
SINGLE_THREAD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
REPO = Path(__file__).resolve().parents[2]

RANK_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from safetensors.torch import save_file
    from agents.run_config import load_run_config
    from agents.training import Trainer

    output_dir, overrides = sys.argv[1], sys.argv[2:]
    trainer = Trainer(load_run_config(None, overrides))
    trainer.run()
    rank = torch.distributed.get_rank()
    weights = {name: parameter.detach().contiguous() for name, parameter in trainer.agent.model.named_parameters()}
    save_file(weights, f"{output_dir}/rank{rank}.safetensors")
    """
)


def overrides(model_dirs: dict[str, str], output_dir: Path, *extra: str) -> list[str]:
    """Four items, one epoch: two optimizer steps of two episodes each."""
    return [
        f"env.teacher={model_dirs['teacher']}", f"agent.student={model_dirs['student']}",
        "env.device=cpu", "agent.device=cpu", "env.max_new_tokens=6", "env.data.limit=4",
        "train.num_items=4", "train.epochs=1", "train.eval_samples=0", "train.validation_samples=0",
        f"train.output_dir={output_dir}", *extra,
    ]


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_two_processes(model_dirs: dict[str, str], parallel_dir: Path, *extra: str) -> dict[str, torch.Tensor]:
    """Train with two processes through accelerate; check both end with the same weights and return rank 0's."""
    parallel_dir.mkdir()
    script = parallel_dir.parent / "rank_script.py"
    script.write_text(RANK_SCRIPT)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_local_port()),
        str(script), str(parallel_dir), *overrides(model_dirs, parallel_dir, *extra),
    ]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=SINGLE_THREAD_ENV)
    assert completed.returncode == 0, completed.stderr[-3000:]

    rank0 = load_file(str(parallel_dir / "rank0.safetensors"))
    rank1 = load_file(str(parallel_dir / "rank1.safetensors"))
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    return rank0


def test_two_processes_match_one_with_double_accumulation(tiny_model_dirs, tmp_path):
    parallel_dir = tmp_path / "parallel"
    rank0 = launch_two_processes(tiny_model_dirs, parallel_dir)

    # Only the main process wrote the run folder: one record per step, episodes of both processes counted.
    records = [json.loads(line) for line in (parallel_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2]

    # One process with twice the gradient accumulation rolls out the same episodes in each step.
    single_dir = tmp_path / "single"
    single = Trainer(load_run_config(None, overrides(tiny_model_dirs, single_dir, "optim.gradient_accumulation_steps=2")))
    single.run()
    single_records = [json.loads(line) for line in (single_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in single_records] == [1, 2]
    assert records[0]["tokens_drafted"] == single_records[0]["tokens_drafted"]
    # The gradients are summed in another order, and AdamW's division by sqrt(v) magnifies that
    # rounding where a gradient is near zero, so the weights agree to within 2% of how far they moved.
    initial = load_file(str(Path(tiny_model_dirs["student"]) / "model.safetensors"))
    for name, parameter in single.agent.model.named_parameters():
        moved = (parameter.detach() - initial[name]).abs().max()
        difference = (parameter.detach() - rank0[name]).abs().max()
        assert moved > 1e-3, name
        assert difference <= 0.02 * moved, name


def test_two_processes_with_batched_rollouts(tiny_model_dirs, tmp_path):
    # Each process rolls out its two episodes in one batch and steps after each, in step with the other.
    parallel_dir = tmp_path / "parallel"
    launch_two_processes(tiny_model_dirs, parallel_dir, "train.num_envs=2")
    records = [json.loads(line) for line in (parallel_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2]
