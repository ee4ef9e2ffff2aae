"""Multiple-choice benchmarks from local files, scored by the log-likelihood of each choice.

Supported file layouts (fields beyond these are ignored):

- **CLIcK**: a JSON array of objects, or JSONL, with ``question``, ``choices`` (a list of 4 or 5
  strings), ``answer`` (the text of the right choice) and an optional ``paragraph`` shown
  before the question.
- **KMMLU**: CSV with a header row and the columns ``question``, ``A``, ``B``, ``C``, ``D`` and
  ``answer`` (1 to 4). An optional ``Category`` column groups the accuracy.
- **HAE-RAE**: CSV with a header row and the columns ``query``, ``o1`` … ``o4``, an optional
  ``o5`` and ``gold`` (1-based). This is the layout of the ``amphora/haerae_bench`` release
  that lm-evaluation-harness's Korean fork reads; other releases must be converted to it.

Each question is rendered as one user turn with every choice lettered (``A. …``); the model then
scores each continuation ``"A. text"`` after the generation prompt. ``accuracy`` picks the choice
with the largest summed log-probability, ``accuracy_norm`` the largest mean per token, which
does not favour short choices.
"""

from __future__ import annotations

import csv
import json
import os
import string
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cultural_env.errors import DatasetError
from cultural_env.evaluation.model import EvalModel
from cultural_env.prompts import student_messages

FORMATS = ("click", "kmmlu", "haerae")
LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class MultipleChoiceItem:
    """One question with its choices and the index of the right one."""

    question: str
    """The question text."""
    choices: tuple[str, ...]
    """The choice texts, in file order."""
    answer_index: int
    """0-based index of the right choice."""
    context: str | None = None
    """A passage shown before the question (CLIcK's ``paragraph``), or None."""
    category: str | None = None
    """A group for per-category accuracy (KMMLU's ``Category``), or None."""


def load_items(benchmark: str, path: str | os.PathLike) -> list[MultipleChoiceItem]:
    """Read a benchmark file in the layout of ``benchmark`` ("click", "kmmlu" or "haerae")."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"{benchmark} file not found: {path}; pass an existing file with --data-file {benchmark}=FILE")
    loaders = {"click": _load_click, "kmmlu": _load_kmmlu, "haerae": _load_haerae}
    items = loaders[benchmark](path)
    if not items:
        raise DatasetError(f"{path} has no {benchmark} questions; check that it is the right file")
    return items


def render_question(item: MultipleChoiceItem) -> str:
    """Render the user turn: optional context, the question, then each choice on a lettered line."""
    lines = [] if not item.context else [item.context, ""]
    lines.append(item.question)
    lines.append("")
    lines.extend(f"{LETTERS[index]}. {choice}" for index, choice in enumerate(item.choices))
    lines.append("")
    lines.append("Answer:")
    return "\n".join(lines)


@torch.no_grad()
def continuation_log_likelihoods(model: EvalModel, prompt_ids: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[tuple[float, int]]:
    """Return (summed log-probability, token count) of each continuation after ``prompt_ids``.

    All continuations run as one right-padded batch; the attention mask covers the whole
    sequence, so padding never changes a real position's logits.
    """
    lengths = [len(ids) for ids in continuations]
    longest = max(lengths)
    batch = torch.zeros((len(continuations), len(prompt_ids) + longest), dtype=torch.long)  # (C, P+L)
    mask = torch.zeros_like(batch)
    for row, ids in enumerate(continuations):
        batch[row, : len(prompt_ids) + len(ids)] = torch.tensor(list(prompt_ids) + list(ids))
        mask[row, : len(prompt_ids) + len(ids)] = 1
    batch, mask = batch.to(model.device), mask.to(model.device)
    # The logits at positions P-1 .. P+L-2 predict the L continuation tokens.
    logits = model.model(input_ids=batch, attention_mask=mask, logits_to_keep=longest + 1).logits[:, :-1, : model.vocab_size]  # (C, L, V)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    targets = batch[:, len(prompt_ids) :]  # (C, L)
    token_log_probs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (C, L)
    results = []
    for row, length in enumerate(lengths):
        results.append((float(token_log_probs[row, :length].sum()), length))
    return results


def predict(model: EvalModel, item: MultipleChoiceItem) -> tuple[int, int]:
    """Return the model's choice by summed and by per-token log-likelihood."""
    prompt_ids = model.prompt_ids(student_messages(render_question(item), model.prompt))
    continuations = [
        model.tokenizer(f"{LETTERS[index]}. {choice}", add_special_tokens=False)["input_ids"]
        for index, choice in enumerate(item.choices)
    ]
    scores = continuation_log_likelihoods(model, prompt_ids, continuations)
    summed = int(np.argmax([total for total, _ in scores]))
    per_token = int(np.argmax([total / max(1, count) for total, count in scores]))
    return summed, per_token


def multiple_choice_accuracy(model: EvalModel, items: Sequence[MultipleChoiceItem]) -> dict[str, Any]:
    """Score every item; return ``accuracy``, ``accuracy_norm``, ``items`` and per-category accuracy."""
    correct: list[tuple[str | None, bool, bool]] = []
    for item in items:
        summed, per_token = predict(model, item)
        correct.append((item.category, summed == item.answer_index, per_token == item.answer_index))
    result: dict[str, Any] = {
        "items": len(correct),
        "accuracy": float(np.mean([hit for _, hit, _ in correct])),
        "accuracy_norm": float(np.mean([hit for _, _, hit in correct])),
    }
    by_category: dict[str, list[bool]] = defaultdict(list)
    for category, hit, _ in correct:
        if category is not None:
            by_category[category].append(hit)
    if by_category:
        result["by_category"] = {category: float(np.mean(hits)) for category, hits in sorted(by_category.items())}
    return result


# ----------------------------------------------------------------- file layouts


def _load_click(path: str) -> list[MultipleChoiceItem]:
    records = _read_json_records(path)
    items = []
    for number, record in enumerate(records, start=1):
        where = f"{path}, record {number}"
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected a JSON object with question, choices and answer, got {type(record).__name__}")
        question = _required_text(record, "question", where)
        choices = record.get("choices")
        if not isinstance(choices, list) or not 4 <= len(choices) <= 5 or not all(isinstance(choice, str) for choice in choices):
            raise DatasetError(f"{where}: 'choices' must be a list of 4 or 5 strings, got {choices!r}")
        answer = _required_text(record, "answer", where)
        if answer not in choices:
            raise DatasetError(f"{where}: 'answer' {answer!r} is not one of the choices; it must repeat the right choice's text")
        paragraph = record.get("paragraph")
        items.append(MultipleChoiceItem(question, tuple(choices), choices.index(answer), context=paragraph or None))
    return items


def _load_kmmlu(path: str) -> list[MultipleChoiceItem]:
    items = []
    for number, row in _read_csv(path, ("question", "A", "B", "C", "D", "answer")):
        choices = tuple(row[letter] for letter in "ABCD")
        answer = _one_based_answer(row["answer"], 4, f"{path}, row {number}, column 'answer'")
        items.append(MultipleChoiceItem(row["question"], choices, answer, category=row.get("Category") or None))
    return items


def _load_haerae(path: str) -> list[MultipleChoiceItem]:
    items = []
    for number, row in _read_csv(path, ("query", "o1", "o2", "o3", "o4", "gold")):
        choices = [row[f"o{index}"] for index in range(1, 5)]
        if (row.get("o5") or "").strip():
            choices.append(row["o5"])
        answer = _one_based_answer(row["gold"], len(choices), f"{path}, row {number}, column 'gold'")
        items.append(MultipleChoiceItem(row["query"], tuple(choices), answer))
    return items


def _read_json_records(path: str) -> list[Any]:
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path} is not valid JSON or JSONL: {error}; CLIcK files are a JSON array of objects or one object per line") from None


def _read_csv(path: str, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path} lacks the column(s) {', '.join(missing)}; its header is {reader.fieldnames}, expected {', '.join(required)}")
        # Row numbers count the header as row 1, as a spreadsheet shows them.
        return [(number, row) for number, row in enumerate(reader, start=2)]


def _required_text(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: '{name}' must be a non-empty string, got {value!r}")
    return value


def _one_based_answer(value: str | None, num_choices: int, where: str) -> int:
    try:
        parsed = float((value or "").strip())
    except ValueError:
        parsed = 0.0
    # KMMLU files written by pandas may hold "2.0"; a fractional answer is invalid.
    number = int(parsed) if parsed.is_integer() else 0
    if not 1 <= number <= num_choices:
        raise DatasetError(f"{where}: the answer must be a number from 1 to {num_choices}, got {value!r}")
    return number - 1
