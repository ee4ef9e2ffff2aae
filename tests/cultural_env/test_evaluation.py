"""Knowledge recall, the evaluation suite and the `cultural-kd eval` command."""

import csv
import json

import pytest

from agents.run_config import load_run_config
from cultural_env.cli import main
from cultural_env.env_config import EnvConfig
from cultural_env.errors import ConfigError
from cultural_env.evaluation.model import EvalModel, load_eval_model
from cultural_env.evaluation.recall import METRICS, SETTINGS, knowledge_recall
from cultural_env.evaluation.suite import EvalOptions


@pytest.fixture()
def dataset_file(tmp_path, english_samples):
    path = tmp_path / "dataset.jsonl"
    rows = [{"id": s.id, "category": s.category, "query": s.query, "knowledge": s.knowledge} for s in english_samples[:3]]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def kmmlu_file(tmp_path):
    path = tmp_path / "kmmlu.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer", "A", "B", "C", "D", "Category"])
        writer.writerow(["Which dish is fermented?", "1", "kimchi", "bulgogi", "japchae", "bibimbap", "food"])
        writer.writerow(["Where is Seoul?", "2", "Japan", "Korea", "China", "Peru", "geography"])
    return path


def test_recall_result_layout(tiny_teacher, tiny_tokenizer, english_samples):
    model = EvalModel(name="tiny", model=tiny_teacher, tokenizer=tiny_tokenizer, prompt=EnvConfig().prompt)
    result = knowledge_recall(model, english_samples[:3], max_new_tokens=4)
    assert result["items"] == 3
    assert set(result["settings"]) == set(SETTINGS)
    for summary in result["settings"].values():
        assert set(summary["overall"]) == set(METRICS)
        assert set(summary["by_category"]) == {sample.category for sample in english_samples[:3]}
        for value in summary["overall"].values():
            assert value is None or 0.0 <= value <= 1.0


def test_recall_knowledge_in_prompt_helps_embedded_teacher(english_samples):
    # The embedded teacher was trained to restate K, so K in its prompt must raise the overlap
    # with K above the closed-book answer and above the answer given another item's K.
    model = load_eval_model("embedded:tiny-teacher", EnvConfig().prompt, device="cpu")
    overall = {
        setting: summary["overall"]
        for setting, summary in knowledge_recall(model, english_samples[:3], max_new_tokens=16)["settings"].items()
    }
    assert overall["with_knowledge"]["token_f1"] > overall["closed_book"]["token_f1"]
    assert overall["with_knowledge"]["token_f1"] > overall["other_knowledge"]["token_f1"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"benchmarks": ("mmlu",)}, "benchmark must be one of"),
        ({"benchmarks": ("click",)}, "benchmark 'click' needs a local file; pass --data-file click=FILE"),
        ({"benchmarks": ()}, "no benchmark selected"),
        ({"limit": 0}, "limit must be an integer >= 1"),
    ],
)
def test_options_reject_invalid(fields, message):
    with pytest.raises(ConfigError, match=message):
        EvalOptions(**fields)


def test_cli_model_and_baseline(tmp_path, tiny_model_dirs, dataset_file, kmmlu_file):
    out = tmp_path / "report" / "eval.json"
    config = tmp_path / "short.yaml"
    config.write_text("env:\n  max_new_tokens: 6\n", encoding="utf-8")
    status = main([
        "eval", "--config", str(config), "--model", tiny_model_dirs["student"], "--baseline", tiny_model_dirs["teacher"],
        "--teacher", tiny_model_dirs["teacher"], "--benchmark", "recall", "--benchmark", "kmmlu",
        "--data-file", f"recall={dataset_file}", "--data-file", f"kmmlu={kmmlu_file}",
        "--split", "all", "--limit", "2", "--max-new-tokens", "4", "--json", str(out),
    ])
    assert status == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["benchmarks"] == ["recall", "kmmlu"]
    assert list(report["models"]) == [tiny_model_dirs["student"], tiny_model_dirs["teacher"]]
    for result in report["models"].values():
        assert result["recall"]["items"] == 2
        assert result["recall"]["validation_kl"] >= 0.0
        assert result["kmmlu"]["items"] == 2
        assert set(result["kmmlu"]["by_category"]) == {"food", "geography"}


def test_cli_benchmark_needs_file(capsys):
    assert main(["eval", "--benchmark", "click,math", "--no-kl"]) == 2
    assert "benchmark 'click' needs a local file; pass --data-file click=FILE" in capsys.readouterr().err


def test_cli_bare_data_file_needs_one_benchmark(capsys, kmmlu_file):
    assert main(["eval", "--benchmark", "kmmlu,math", "--data-file", str(kmmlu_file)]) == 2
    assert "write NAME=FILE" in capsys.readouterr().err


def test_cli_thinking_mismatch_with_teacher(capsys, tiny_model_dirs, dataset_file):
    status = main([
        "eval", "--model", tiny_model_dirs["student"], "--teacher", tiny_model_dirs["teacher"],
        "--data-file", f"recall={dataset_file}", "--split", "all", "--limit", "2", "--max-new-tokens", "2",
        "--enable-thinking", "true",
    ])
    assert status == 2
    assert "--enable-thinking=True but env.prompt.enable_thinking=None" in capsys.readouterr().err


def test_run_config_accepts_adaptive_top_k():
    config = load_run_config(None, ["env.acceptance.adaptive_top_k={k_init: 3, k_max: 8}"])
    assert config.env.acceptance.adaptive_top_k.k_init == 3
    assert config.env.acceptance.adaptive_top_k.k_max == 8
