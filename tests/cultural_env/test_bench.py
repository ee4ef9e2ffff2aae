"""The benchmark: counts of the three rollouts, the JSON layout, and the CLI."""

import json
import re

import pytest

from cultural_env.bench import BenchConfig, rollout_row
from cultural_env.bench.batched import batched_tokens_per_s
from cultural_env.bench.loss_memory import loss_peak_bytes
from cultural_env.bench.rollouts import naive_rollout
from cultural_env.bench.setup import build_bench_env, build_bench_models
from cultural_env.cli import main

ROLLOUT_KEYS = {
    "regime", "T", "acceptance", "tokens_per_s", "naive_tokens_per_s", "floor_tokens_per_s",
    "speedup_vs_naive", "floor_ratio", "teacher_forwards_per_block", "student_forwards_per_drafted_token",
}
TINY = BenchConfig(
    lengths=(24,), batch_sizes=(1, 2), batched_length=12, block_size=6, loss_length=32, loss_vocab_size=3000,
    loss_chunk_size=8, vocab_size=400, hidden_size=32,
)


@pytest.fixture(scope="module")
def bench_models():
    return build_bench_models(vocab_size=TINY.vocab_size, hidden_size=TINY.hidden_size, context_length=2048, num_samples=2)


@pytest.mark.parametrize("regime", ["0%", "100%"])
def test_rollout_row_counts(bench_models, regime):
    row = rollout_row(bench_models, regime, 24, TINY)
    assert set(row) == ROLLOUT_KEYS
    assert row["teacher_forwards_per_block"] == 1.0
    assert row["student_forwards_per_drafted_token"] == 1.0
    if regime == "100%":
        assert row["acceptance"] == 1.0
    else:
        assert row["acceptance"] < 0.2


def test_naive_rollout_pays_extra_teacher_forwards(bench_models):
    env = build_bench_env(bench_models, "0%", 24, 6)
    stats = naive_rollout(env, bench_models.student, 6, seed=0)
    assert stats.tokens == 24
    # Each rejected block costs a verification, a correction forward, and one final forward for the loss.
    assert stats.teacher_forwards > 1.5 * stats.blocks
    env.close()


def test_batched_throughput_positive(bench_models):
    assert batched_tokens_per_s(bench_models, 2, 12, 6, "50%") > 0


def test_chunked_loss_peak_below_full():
    memory = loss_peak_bytes(64, vocab_size=3000, hidden_size=16, chunk_size=8)
    assert memory["T"] == 64
    assert memory["V"] == 3000
    assert 0 < memory["peak_bytes"] < memory["naive_peak_bytes"]


def test_cli_writes_json(tmp_path, monkeypatch, capsys):
    import cultural_env.bench

    monkeypatch.setattr(cultural_env.bench, "QUICK", TINY)
    output = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(output)]) == 0
    console = capsys.readouterr().out
    assert "naive" in console.split("loss peak memory")[1]
    assert "full logits" not in console
    results = json.loads(output.read_text())
    assert {"rollout", "batched", "loss_memory"} <= set(results)
    assert len(results["rollout"]) == 3
    assert set(results["rollout"][0]) == ROLLOUT_KEYS
    assert set(results["batched"]) == {"1", "2"}
    assert set(results["batched_per_row_blocks"]) == {"1", "2"}
    assert {"python", "torch", "transformers"} <= set(results["machine"])
    assert set(results["loss_memory"]) == {"T", "V", "peak_bytes", "naive_peak_bytes"}


@pytest.mark.parametrize(
    ("relative_path", "message"),
    [("missing/out.json", "folder .*missing not found; create it"), (".", "is a folder; give a file path")],
)
def test_cli_rejects_bad_json_path(tmp_path, monkeypatch, capsys, relative_path, message):
    import cultural_env.bench

    def fail(config):
        raise AssertionError("the benchmark ran before the --json path was checked")

    monkeypatch.setattr(cultural_env.bench, "run_benchmark", fail)
    assert main(["bench", "--quick", "--json", str(tmp_path / relative_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert re.search(message, error)


def test_cli_rejects_an_empty_json_path(capsys):
    from cultural_env.cli import main

    assert main(["bench", "--quick", "--json", ""]) == 2
    assert "--json needs a file path" in capsys.readouterr().err
