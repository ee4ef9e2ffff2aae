"""Before/after measurements of a run: closed-book recall, the teacher's use of K, validation KL."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from agents.base import run_episode
from cultural_env.data import CulturalSample
from cultural_env.decoding import CachedSequenceModel
from cultural_env.text_metrics import knowledge_overlap


@torch.no_grad()
def greedy_answer(model: torch.nn.Module, prompt_ids: Sequence[int], max_new_tokens: int, stop_ids: frozenset[int], vocab_size: int) -> list[int]:
    """Decode greedily after ``prompt_ids`` until a stop token or ``max_new_tokens``; return the new ids."""
    lm = CachedSequenceModel(model, vocab_size)
    sequence = list(prompt_ids)
    answer: list[int] = []
    for _ in range(max_new_tokens):
        token = int(lm.forward(lm.sync(sequence))[-1].argmax())
        answer.append(token)
        sequence.append(token)
        if token in stop_ids:
            break
    return answer


def _decode(tokenizer: Any, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True)


def closed_book_recall(model: torch.nn.Module, env: Any, samples: Sequence[CulturalSample], max_new_tokens: int) -> float:
    """Mean overlap with K of the model's greedy answers to Q alone (the student's prompt)."""
    model.eval()
    scores = []
    for sample in samples:
        answer = greedy_answer(model, env.student_prompt_ids(sample), max_new_tokens, env.stop_ids, env.vocab_size)
        scores.append(knowledge_overlap(_decode(env.tokenizer, answer), sample.knowledge or ""))
    return float(np.mean(scores)) if scores else 0.0


def teacher_knowledge_use(env: Any, samples: Sequence[CulturalSample], max_new_tokens: int) -> dict[str, float]:
    """Overlap with each item's own K of the teacher's greedy answer given its own K vs another item's K.

    A teacher that really reads K scores far higher with its own K (``own_k``) than with a
    shuffled one (``other_k``).
    """
    samples = [sample for sample in samples if sample.knowledge]
    own, other = [], []
    model = env.teacher.lm.model
    for index, sample in enumerate(samples):
        swapped = dataclasses.replace(sample, knowledge=samples[(index + 1) % len(samples)].knowledge)
        for target, prompt_sample in ((own, sample), (other, swapped)):
            answer = greedy_answer(model, env.teacher_prompt_ids(prompt_sample), max_new_tokens, env.stop_ids, env.vocab_size)
            target.append(knowledge_overlap(_decode(env.tokenizer, answer), sample.knowledge))
    return {"own_k": float(np.mean(own)) if own else 0.0, "other_k": float(np.mean(other)) if other else 0.0}


@torch.no_grad()
def validation_kl(agent: Any, env: Any, samples: Sequence[CulturalSample], seed: int) -> float:
    """Mean per-token divergence of the agent's student on on-policy rollouts of ``samples``, without learning."""
    losses = []
    for index, sample in enumerate(samples):
        episode = run_episode(env, agent, options={"sample_id": sample.id}, seed=seed + index)
        loss, _ = agent.loss(episode)
        losses.append(float(loss))
    return float(np.mean(losses)) if losses else float("nan")
