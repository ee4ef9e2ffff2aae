"""Multiple-choice benchmark files (CLIcK, KMMLU, HAE-RAE) and log-likelihood scoring."""

import csv
import json

import pytest
import torch

from cultural_env.env_config import EnvConfig
from cultural_env.errors import DatasetError
from cultural_env.evaluation.model import EvalModel
from cultural_env.evaluation.multiple_choice import (
    MultipleChoiceItem,
    continuation_log_likelihoods,
    load_items,
    multiple_choice_accuracy,
    predict,
    render_question,
)

CLICK_RECORDS = [
    {"id": "a", "paragraph": "", "question": "Which dish is fermented?", "choices": ["kimchi", "bulgogi", "japchae", "bibimbap"], "answer": "kimchi"},
    {"id": "b", "paragraph": "Seoul is the capital.", "question": "What is the capital?", "choices": ["Busan", "Seoul", "Daegu", "Incheon", "Ulsan"], "answer": "Seoul"},
]


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def eval_model(tiny_teacher, tiny_tokenizer):
    return EvalModel(name="tiny", model=tiny_teacher, tokenizer=tiny_tokenizer, prompt=EnvConfig().prompt)


def test_click_json_array(tmp_path):
    path = tmp_path / "click.json"
    path.write_text(json.dumps(CLICK_RECORDS, ensure_ascii=False), encoding="utf-8")
    items = load_items("click", path)
    assert [item.answer_index for item in items] == [0, 1]
    assert len(items[1].choices) == 5
    assert items[0].context is None
    assert items[1].context == "Seoul is the capital."


def test_click_jsonl(tmp_path):
    path = tmp_path / "click.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in CLICK_RECORDS) + "\n", encoding="utf-8")
    assert len(load_items("click", path)) == 2


def test_click_rejects_answer_not_in_choices(tmp_path):
    path = tmp_path / "click.json"
    path.write_text(json.dumps([{**CLICK_RECORDS[0], "answer": "tteok"}]), encoding="utf-8")
    with pytest.raises(DatasetError, match="record 1: 'answer' 'tteok' is not one of the choices"):
        load_items("click", path)


def test_click_rejects_three_choices(tmp_path):
    path = tmp_path / "click.json"
    path.write_text(json.dumps([{**CLICK_RECORDS[0], "choices": ["kimchi", "a", "b"]}]), encoding="utf-8")
    with pytest.raises(DatasetError, match="'choices' must be a list of 4 or 5 strings"):
        load_items("click", path)


def test_kmmlu_csv(tmp_path):
    path = write_csv(
        tmp_path / "kmmlu.csv",
        ["question", "answer", "A", "B", "C", "D", "Category", "Human Accuracy"],
        [["q1", "3", "a", "b", "c", "d", "law", "0.5"], ["q2", "1.0", "a", "b", "c", "d", "math", "0.4"]],
    )
    items = load_items("kmmlu", path)
    assert [item.answer_index for item in items] == [2, 0]
    assert [item.category for item in items] == ["law", "math"]


def test_kmmlu_rejects_answer_out_of_range(tmp_path):
    path = write_csv(tmp_path / "kmmlu.csv", ["question", "answer", "A", "B", "C", "D"], [["q", "5", "a", "b", "c", "d"]])
    with pytest.raises(DatasetError, match="row 2, column 'answer': the answer must be a number from 1 to 4, got '5'"):
        load_items("kmmlu", path)


def test_kmmlu_rejects_missing_column(tmp_path):
    path = write_csv(tmp_path / "kmmlu.csv", ["question", "answer", "A", "B", "C"], [["q", "1", "a", "b", "c"]])
    with pytest.raises(DatasetError, match="lacks the column\\(s\\) D"):
        load_items("kmmlu", path)


def test_haerae_csv_with_fifth_option(tmp_path):
    path = write_csv(
        tmp_path / "haerae.csv",
        ["query", "o1", "o2", "o3", "o4", "o5", "gold"],
        [["q1", "a", "b", "c", "d", "e", "5"], ["q2", "a", "b", "c", "d", "", "2"]],
    )
    items = load_items("haerae", path)
    assert [len(item.choices) for item in items] == [5, 4]
    assert [item.answer_index for item in items] == [4, 1]


def test_missing_file_names_fix(tmp_path):
    with pytest.raises(DatasetError, match="--data-file haerae=FILE"):
        load_items("haerae", tmp_path / "absent.csv")


def test_render_question_letters_every_choice():
    text = render_question(MultipleChoiceItem("Q?", ("x", "y", "z", "w"), 0, context="ctx"))
    assert text.splitlines() == ["ctx", "", "Q?", "", "A. x", "B. y", "C. z", "D. w", "", "Answer:"]


def test_batched_log_likelihood_matches_single(eval_model):
    prompt = eval_model.prompt_ids([{"role": "user", "content": "Which dish is fermented?"}])
    continuations = [eval_model.tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("A. kimchi", "B. a much longer choice text")]
    batched = continuation_log_likelihoods(eval_model, prompt, continuations)
    for (total, count), ids in zip(batched, continuations):
        with torch.no_grad():
            logits = eval_model.model(torch.tensor([prompt + ids])).logits[0, :, : eval_model.vocab_size]
        log_probs = torch.log_softmax(logits.float(), dim=-1)[len(prompt) - 1 : -1]
        expected = log_probs.gather(-1, torch.tensor(ids)[:, None]).sum()
        assert count == len(ids)
        assert total == pytest.approx(float(expected), abs=1e-4)


def test_accuracy_follows_gold_index(eval_model):
    item = MultipleChoiceItem("Which dish is fermented?", ("kimchi", "bulgogi", "japchae", "bibimbap"), 0, category="food")
    summed, per_token = predict(eval_model, item)
    right = MultipleChoiceItem(item.question, item.choices, summed, category="food")
    wrong = MultipleChoiceItem(item.question, item.choices, (summed + 1) % 4, category="food")
    result = multiple_choice_accuracy(eval_model, [right, wrong])
    assert result["items"] == 2
    assert result["accuracy"] == 0.5
    assert result["by_category"] == {"food": 0.5}
    assert 0.0 <= result["accuracy_norm"] <= 1.0
