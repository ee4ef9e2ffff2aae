"""Every bad input a user can give, with the error text it must produce.

Files, configs, paths and model pairs go through the CLI (``cultural_env.cli.main``), which must
exit with status 2 and one line on stderr, without a traceback. Environment actions and reset
options go through the Python API, where they raise a :class:`CulturalKDError` subclass.
"""

from __future__ import annotations

import json
import logging
import shutil
import unicodedata

import numpy as np
import pytest

from cultural_env.cli import main
from cultural_env.data import CulturalSample, load_cultural_dataset
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError, CulturalKDError, EpisodeStateError, InvalidActionError

RECORD = {
    "id": "tradition_001",
    "category": "tradition",
    "query": "What does 홍동백서 mean on a ritual table?",
    "knowledge": "홍동백서 places red fruit to the east and white fruit to the west.",
    "sources": ["a ritual handbook"],
}


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run the CLI; return its exit status and stderr."""
    status = main(argv)
    return status, capsys.readouterr().err


def assert_one_line_error(status: int, stderr: str, fragment: str) -> None:
    """Check for exit status 2 and one ``error:`` line with ``fragment``; log lines may precede it."""
    assert status == 2, stderr
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, stderr
    assert fragment in error_lines[0]


# ----------------------------------------------------------------- dataset files

DATASET_ERRORS = [
    ("invalid JSON", '{"id": "tradition_001",\n', "line 1 is not valid JSON"),
    ("top-level string", '"records"', "the top-level JSON value is a string; write a JSON array of record objects"),
    ("array of strings", '["tradition_001"]', "record 1: is a string; write a JSON object with the fields"),
    ("missing field", jsonl({key: value for key, value in RECORD.items() if key != "knowledge"}), "field 'knowledge' is missing"),
    ("empty field", jsonl({**RECORD, "query": "   "}), "field 'query' is empty"),
    ("wrong field type", jsonl({**RECORD, "query": 5}), "field 'query' must be a string, not a number"),
    ("duplicate id", jsonl(RECORD, RECORD), "field 'id' repeats the id of record 1; give each record a unique id"),
    ("no records", "", "no records found"),
    ("missing file", None, "dataset file not found"),
]


@pytest.mark.parametrize("text, fragment", [case[1:] for case in DATASET_ERRORS], ids=[case[0] for case in DATASET_ERRORS])
def test_bad_dataset_file(text, fragment, tmp_path, capsys):
    path = tmp_path / "data.jsonl"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    assert_one_line_error(*run_cli(["data", "validate", str(path)], capsys), fragment)


ACCEPTED_ENCODINGS = [
    ("byte order mark", lambda text: "\ufeff" + text),
    ("CRLF line ends", lambda text: text.replace("\n", "\r\n")),
    ("NFD Hangul", lambda text: unicodedata.normalize("NFD", text)),
]


@pytest.mark.parametrize("encode", [case[1] for case in ACCEPTED_ENCODINGS], ids=[case[0] for case in ACCEPTED_ENCODINGS])
def test_dataset_encoding_normalised(encode, tmp_path, capsys):
    path = tmp_path / "data.jsonl"
    path.write_bytes(encode(jsonl(RECORD, {**RECORD, "id": "tradition_002"})).encode("utf-8"))
    status, _ = run_cli(["data", "validate", str(path)], capsys)
    assert status == 0
    samples = load_cultural_dataset(path=path)
    assert [sample.id for sample in samples] == ["tradition_001", "tradition_002"]
    assert samples[0].query == unicodedata.normalize("NFC", RECORD["query"])
    assert samples[0].knowledge == unicodedata.normalize("NFC", RECORD["knowledge"])


# ----------------------------------------------------------------- YAML configs and overrides

CONFIG_ERRORS = [
    ("unknown key", "env:\n  acceptance:\n    topk: 3\n", "unknown key 'env.acceptance.topk' (did you mean 'top_k'?)"),
    ("unknown section", "trian:\n  epochs: 3\n", "unknown key 'trian' (did you mean 'train'?)"),
    ("wrong type", "optim:\n  learning_rate: fast\n", "optim.learning_rate must be a number, got 'fast'"),
    ("wrong type of section", "env: 3\n", "env must be a mapping of keys to values, got int"),
    ("top_k zero", "env:\n  acceptance:\n    top_k: 0\n", "top_k must be an integer >= 1, got 0"),
    ("min_prob above one", "env:\n  acceptance:\n    min_prob: 1.5\n", "min_prob must be a number >= 0.0 and <= 1.0, got 1.5"),
    ("min_prob negative", "env:\n  acceptance:\n    min_prob: -0.1\n", "min_prob must be a number >= 0.0 and <= 1.0, got -0.1"),
    ("gamma zero", "agent:\n  gamma_init: 0\n", "gamma_init must be an integer >= 1, got 0"),
    ("block size zero", "env:\n  block_size: 0\n", "block_size must be an integer >= 1, got 0"),
    ("negative teacher temperature", "env:\n  acceptance:\n    temperature: -1\n", "temperature must be a number > 0.0, got -1"),
    ("negative draft temperature", "agent:\n  draft_temperature: -0.5\n", "draft_temperature must be a number >= 0.0, got -0.5"),
    ("keep no checkpoints", "train:\n  keep_checkpoints: 0\n", "keep_checkpoints must be an integer >= 1, got 0"),
    ("not a mapping", "- env\n", "must contain a mapping of sections, got list"),
    ("invalid YAML", "env: [\n", "expected the node content, but found '<stream end>' at line 2, column 1"),
]


@pytest.mark.parametrize("text, fragment", [case[1:] for case in CONFIG_ERRORS], ids=[case[0] for case in CONFIG_ERRORS])
def test_bad_yaml_config(text, fragment, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    argv = ["train", "--config", str(path), "--output-dir", str(tmp_path / "run")]
    assert_one_line_error(*run_cli(argv, capsys), fragment)


def test_bad_override_and_tracker(tmp_path, capsys):
    status, stderr = run_cli(["train", "env.acceptance.top_k=-3", "--output-dir", str(tmp_path)], capsys)
    assert_one_line_error(status, stderr, "top_k must be an integer >= 1, got -3")
    status, stderr = run_cli(["train", "train.log_with=[mlflow]", "--output-dir", str(tmp_path)], capsys)
    assert_one_line_error(status, stderr, "log_with must be one of 'tensorboard', 'wandb', got 'mlflow'")


def test_debug_shows_traceback(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("env:\n  acceptance:\n    topk: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'top_k'"):
        main(["--debug", "train", "--config", str(path)])


# ----------------------------------------------------------------- CLI paths and model pairs


@pytest.fixture()
def mismatched_students(tiny_model_dirs, tmp_path):
    """Copies of the tiny student with another vocabulary, and with another chat template."""
    from cultural_env import embedded

    other_vocabulary = tmp_path / "other-vocabulary"
    shutil.copytree(tiny_model_dirs["student"], other_vocabulary)
    embedded.build_tokenizer(["completely different text for another vocabulary"] * 5, vocab_size=300).save_pretrained(other_vocabulary)
    other_template = tmp_path / "other-template"
    shutil.copytree(tiny_model_dirs["student"], other_template)
    (other_template / "chat_template.jinja").write_text("{% for message in messages %}{{ message['content'] }}{% endfor %}")
    return {"vocabulary": str(other_vocabulary), "template": str(other_template)}


PATH_ERRORS = [
    ("missing config file", ["--config", "{tmp}/no-such.yaml"], "config file not found"),
    ("missing teacher", ["env.teacher={tmp}/no-such-model"], "model path not found"),
    ("teacher not a model folder", ["env.teacher={tmp}"], "not a model folder"),
    ("student not a model folder", ["env.teacher={teacher}", "agent.student={tmp}"], "not a model folder"),
    ("vocabulary mismatch", ["env.teacher={teacher}", "agent.student={vocabulary}"], "teacher and student vocabularies differ"),
    ("chat template mismatch", ["env.teacher={teacher}", "agent.student={template}"], "teacher and student chat templates differ"),
    ("output folder is a file", ["--output-dir", "{tmp}/file/run"], "is not writable"),
    ("missing dataset file", ["env.data.path={tmp}/no-such.jsonl"], "dataset file not found"),
]


@pytest.mark.parametrize("arguments, fragment", [case[1:] for case in PATH_ERRORS], ids=[case[0] for case in PATH_ERRORS])
def test_bad_paths_and_model_pairs(arguments, fragment, tiny_model_dirs, mismatched_students, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    names = {"tmp": tmp_path, "teacher": tiny_model_dirs["teacher"], **mismatched_students}
    argv = ["train", "env.device=cpu", "agent.device=cpu", *[argument.format(**names) for argument in arguments]]
    if "--output-dir" not in arguments:
        argv += ["--output-dir", str(tmp_path / "run")]
    assert_one_line_error(*run_cli(argv, capsys), fragment)


# ----------------------------------------------------------------- environment actions and reset options

ACTION_ERRORS = [
    ("id out of range", lambda vocab: np.array([vocab]), "is outside the vocabulary"),
    ("negative id", lambda vocab: np.array([3, -1]), "token id -1 is outside the vocabulary"),
    ("float dtype", lambda vocab: np.array([1.0, 2.0]), "integer dtype"),
    ("empty block", lambda vocab: np.array([], dtype=np.int64), "empty block; draft at least one token"),
    ("over-long block", lambda vocab: np.arange(7), "action has 7 tokens but block_size is 6"),
    ("two-dimensional", lambda vocab: np.ones((2, 2), dtype=np.int64), "1-D array"),
    ("boolean", lambda vocab: True, "got the boolean True"),
    ("string", lambda vocab: "five", "got str"),
]


@pytest.mark.parametrize("make_action, fragment", [case[1:] for case in ACTION_ERRORS], ids=[case[0] for case in ACTION_ERRORS])
def test_bad_action(make_action, fragment, tiny_env):
    tiny_env.reset(seed=0)
    with pytest.raises(InvalidActionError) as raised:
        tiny_env.step(make_action(tiny_env.vocab_size))
    assert fragment in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_step_after_termination(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_tokens=1)
    env.reset(seed=0)
    env.step(5)
    with pytest.raises(EpisodeStateError, match="after the episode ended; call env.reset"):
        env.step(5)


RESET_ERRORS = [
    ("unknown sample id", {"sample_id": "tradition_999"}, "unknown sample_id 'tradition_999'"),
    ("sample index out of range", {"sample_index": 99}, "sample_index must be an integer in [0, 10), got 99"),
    ("unknown option", {"sample": 1}, "unknown reset options ['sample']; use 'sample_id' or 'sample_index'"),
]


@pytest.mark.parametrize("options, fragment", [case[1:] for case in RESET_ERRORS], ids=[case[0] for case in RESET_ERRORS])
def test_bad_reset_options(options, fragment, tiny_env):
    with pytest.raises(ConfigError) as raised:
        tiny_env.reset(options=options)
    assert fragment in str(raised.value)


# ----------------------------------------------------------------- knowledge longer than the teacher's context


def long_knowledge_sample() -> CulturalSample:
    sentence = "Ancestral rite tables place red fruit east and white fruit west, with fish east and meat west. "
    return CulturalSample(id="tradition_900", category="tradition", query="How is a rite table laid out?", knowledge=sentence * 200)


def test_long_knowledge_cut_to_context(tiny_teacher, tiny_tokenizer, caplog, monkeypatch):
    # Only the first knowledge cut in the process logs a warning; make this cut the first.
    monkeypatch.setattr("cultural_env.env._knowledge_cut_warned", False)
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=[long_knowledge_sample()],
        prompt={"max_knowledge_tokens": None}, max_new_tokens=100,
    )
    with caplog.at_level(logging.WARNING):
        _, info = env.reset(seed=0)
    assert "to fit the teacher's context of 1024 tokens" in caplog.text
    assert info["teacher_prompt_length"] + 100 <= 1024


def test_prompt_without_room_rejected(tiny_teacher, tiny_tokenizer):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=[long_knowledge_sample()],
        prompt={"max_knowledge_tokens": None}, max_new_tokens=1024,
    )
    with pytest.raises(CulturalKDError, match="exceeds the teacher's context of 1024 tokens even without knowledge; lower max_new_tokens"):
        env.reset(seed=0)
