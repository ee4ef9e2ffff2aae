"""General-ability regression: exact match on the final number of math word problems.

The file is JSONL with ``question`` and ``answer`` per line; the reference number is the one
after the last ``####`` in ``answer`` (GSM8K's layout, e.g. ``... #### 42``), or else the last
number in it. The model answers greedily; its number is taken the same way from its answer with
the think span removed. Numbers compare as decimals, so "1,000", "1000" and "1000.0" match.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from cultural_env.errors import DatasetError
from cultural_env.evaluation.model import EvalModel
from cultural_env.prompts import student_messages

ANSWER_MARKER = "####"
INSTRUCTION = "Solve the problem. End your answer with '#### ' followed by the final number."
"""Appended to each question so that the model's final number can be found."""

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class MathProblem:
    """A word problem and its reference final number."""

    question: str
    """The problem text."""
    answer: Decimal
    """The final number of the reference answer."""


def final_number(text: str) -> Decimal | None:
    """Return the first number after the last ``####``, else the last number in ``text``; None when there is none."""
    _, marker, after = text.rpartition(ANSWER_MARKER)
    if marker:
        numbers = _NUMBER.findall(after)
        if numbers:
            return _to_decimal(numbers[0])
    numbers = _NUMBER.findall(text)
    return _to_decimal(numbers[-1]) if numbers else None


def _to_decimal(number: str) -> Decimal | None:
    try:
        return Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None


def load_problems(path: str | os.PathLike) -> list[MathProblem]:
    """Read a JSONL file of ``question`` / ``answer`` objects; raise :class:`DatasetError` naming the line."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"math file not found: {path}; pass a JSONL file with --data-file math=FILE")
    problems = []
    with open(path, encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{where}: invalid JSON ({error}); write one object per line") from None
            if not isinstance(record, dict) or not isinstance(record.get("question"), str) or not isinstance(record.get("answer"), str):
                raise DatasetError(f"{where}: expected an object with string fields 'question' and 'answer'")
            number = final_number(record["answer"])
            if number is None:
                raise DatasetError(f"{where}: 'answer' has no final number; end it with '#### NUMBER'")
            problems.append(MathProblem(record["question"], number))
    if not problems:
        raise DatasetError(f"{path} has no problems; write one JSON object per line")
    return problems


def math_exact_match(model: EvalModel, problems: Sequence[MathProblem], max_new_tokens: int) -> dict[str, Any]:
    """Answer each problem greedily; return ``exact_match``, ``items`` and ``no_number`` (answers without a number)."""
    hits, without_number = [], 0
    for problem in problems:
        prompt = model.prompt_ids(student_messages(f"{problem.question}\n\n{INSTRUCTION}", model.prompt))
        predicted = final_number(model.answer(prompt, max_new_tokens))
        without_number += predicted is None
        hits.append(predicted is not None and predicted == problem.answer)
    return {"items": len(hits), "exact_match": float(np.mean(hits)), "no_number": without_number}
