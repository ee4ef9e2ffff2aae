"""Closed-book knowledge recall: does the model's answer to Q alone contain what K says?

Each item is answered greedily in three settings:

- ``closed_book``: the student's prompt, Q alone, which measures knowledge the model holds;
- ``with_knowledge``: the teacher's prompt with the item's own K, an upper bound;
- ``other_knowledge``: the teacher's prompt with the next item's K (a control), which shows how much
  of the score comes from copying whatever paragraph is in the prompt.

Every answer is scored against the item's own K by word-level F1, ROUGE-L and key-fact recall
(the share of K's names, numbers and dates found in the answer). Scores are averaged per
category and overall.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from cultural_env.data import CulturalSample
from cultural_env.evaluation.model import EvalModel
from cultural_env.prompts import student_messages, teacher_messages, truncate_knowledge
from cultural_env.text_metrics import key_fact_recall, rouge_l, token_f1

logger = logging.getLogger(__name__)

SETTINGS = ("closed_book", "with_knowledge", "other_knowledge")
METRICS = ("token_f1", "rouge_l", "key_fact_recall")


def score_answer(answer: str, knowledge: str) -> dict[str, float | None]:
    """Score one answer against a knowledge paragraph; key-fact recall is None when K has no facts."""
    return {
        "token_f1": token_f1(answer, knowledge),
        "rouge_l": rouge_l(answer, knowledge),
        "key_fact_recall": key_fact_recall(answer, knowledge),
    }


def knowledge_recall(model: EvalModel, samples: Sequence[CulturalSample], max_new_tokens: int) -> dict[str, Any]:
    """Answer each item in the three settings and return mean scores per setting and category.

    Returns ``{"items": N, "settings": {setting: {"overall": {metric: mean}, "by_category":
    {category: {metric: mean}}}}}``. Items without knowledge are skipped. A mean over no values
    (no item's K had key facts) is None.
    """
    samples = [sample for sample in samples if sample.knowledge]
    if len(samples) < 2:
        logger.warning("knowledge recall has %d items with knowledge; the other-knowledge control needs 2 or more", len(samples))
    scores: dict[str, list[tuple[str, dict[str, float | None]]]] = defaultdict(list)
    for index, sample in enumerate(samples):
        other = samples[(index + 1) % len(samples)]
        for setting, prompt in _prompts(model, sample, other).items():
            answer = model.answer(prompt, max_new_tokens)
            scores[setting].append((sample.category, score_answer(answer, sample.knowledge)))
        logger.debug("recall: item %s done (%d of %d)", sample.id, index + 1, len(samples))
    return {"items": len(samples), "settings": {setting: _summarise(scores[setting]) for setting in SETTINGS}}


def _prompts(model: EvalModel, sample: CulturalSample, other: CulturalSample) -> dict[str, list[int]]:
    config = model.prompt
    own_knowledge, _ = truncate_knowledge(sample.knowledge, model.tokenizer, config.max_knowledge_tokens)
    other_knowledge, _ = truncate_knowledge(other.knowledge, model.tokenizer, config.max_knowledge_tokens)
    # The knowledge settings use the teacher's whole prompt (system prompt, few-shot turns, K), so
    # "with_knowledge" shows what the model does with the privileged input the teacher gets.
    return {
        "closed_book": model.prompt_ids(student_messages(sample.query, config)),
        "with_knowledge": model.prompt_ids(teacher_messages(sample.query, own_knowledge, config)),
        "other_knowledge": model.prompt_ids(teacher_messages(sample.query, other_knowledge, config)),
    }


def _summarise(scored: list[tuple[str, dict[str, float | None]]]) -> dict[str, Any]:
    by_category: dict[str, list[dict[str, float | None]]] = defaultdict(list)
    for category, score in scored:
        by_category[category].append(score)
    return {
        "overall": _means([score for _, score in scored]),
        "by_category": {category: _means(values) for category, values in sorted(by_category.items())},
    }


def _means(scores: list[dict[str, float | None]]) -> dict[str, float | None]:
    means: dict[str, float | None] = {}
    for metric in METRICS:
        values = [score[metric] for score in scores if score[metric] is not None]
        means[metric] = float(np.mean(values)) if values else None
    return means
