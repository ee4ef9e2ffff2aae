"""Math word problems: the final number, the JSONL layout, and exact match."""

import json
from decimal import Decimal

import pytest

from cultural_env.env_config import EnvConfig
from cultural_env.errors import DatasetError
from cultural_env.evaluation.math_word_problems import final_number, load_problems, math_exact_match
from cultural_env.evaluation.model import EvalModel


@pytest.mark.parametrize(
    "text, expected",
    [
        ("She has 3 + 4 = 7 apples.\n#### 7", Decimal(7)),
        ("so 1,000 in total #### 1,000", Decimal(1000)),
        ("the answer is 12.", Decimal(12)),
        ("#### -5", Decimal(-5)),
        ("first 3 then #### 8 and later 9", Decimal(8)),
        ("#### none, but 4 before", Decimal(4)),
        ("no number at all", None),
    ],
)
def test_final_number(text, expected):
    assert final_number(text) == expected


def test_final_number_compares_as_decimal():
    assert final_number("#### 1000.0") == final_number("#### 1,000")


def test_load_problems_gsm8k_layout(tmp_path):
    path = tmp_path / "math.jsonl"
    rows = [{"question": "2 + 2?", "answer": "2 + 2 = 4\n#### 4"}, {"question": "10 / 4?", "answer": "#### 2.5"}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    problems = load_problems(path)
    assert [problem.answer for problem in problems] == [Decimal(4), Decimal("2.5")]


def test_load_problems_rejects_answer_without_number(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "many"}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1: 'answer' has no final number"):
        load_problems(path)


def test_load_problems_rejects_invalid_json(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text('{"question": "q", "answer": "#### 1"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2: invalid JSON"):
        load_problems(path)


def test_exact_match_counts(tmp_path, tiny_teacher, tiny_tokenizer):
    path = tmp_path / "math.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"{n} + 1?", "answer": f"#### {n + 1}"}) for n in range(3)), encoding="utf-8")
    model = EvalModel(name="tiny", model=tiny_teacher, tokenizer=tiny_tokenizer, prompt=EnvConfig().prompt)
    result = math_exact_match(model, load_problems(path), max_new_tokens=6)
    assert result["items"] == 3
    assert 0.0 <= result["exact_match"] <= 1.0
    assert 0 <= result["no_number"] <= 3
