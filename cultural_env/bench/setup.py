"""The benchmark's models and environments: tiny random Qwen3 models built in-process.

Timing needs models whose work scales like a real model's (attention over the whole context,
one forward per token), not trained weights, so teacher and student are random and
independent. The acceptance rule sets the regime, with ``min_prob`` 0: ``top_k`` = 1 accepts
only the teacher's argmax (about 0%), ``top_k`` = V accepts every token (100%), and
``top_k`` = 3V/4 gave about 50% with these models (0.49 measured at T = 256; a share of
k/V = 1/2 gave about 0.3, because the student's samples are not uniform over the teacher's ranks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from cultural_env.attention import use_default_attention
from cultural_env.data import load_cultural_dataset
from cultural_env.env import CulturalTokenEnv

REGIMES = ("0%", "50%", "100%")
"""Acceptance regimes, named by their target acceptance rate."""

BENCH_PROMPT = {"max_knowledge_tokens": None}
"""Prompt settings of the bench envs: the whole knowledge paragraph goes to the teacher, uncut."""


@dataclass(frozen=True)
class BenchModels:
    """Tokenizer, teacher and student of one benchmark run."""

    tokenizer: Any
    teacher: torch.nn.Module
    student: torch.nn.Module
    samples: list


def build_bench_models(
    vocab_size: int = 2000, layers: int = 2, hidden_size: int = 128, context_length: int = 4096, num_samples: int = 8
) -> BenchModels:
    """Train a BPE tokenizer on the packaged dataset and build a random teacher and student for it."""
    from cultural_env import embedded

    samples = load_cultural_dataset("en")[:num_samples]
    texts = [text for sample in load_cultural_dataset("en") for text in (sample.query, sample.knowledge)]
    tokenizer = embedded.build_tokenizer(texts, vocab_size=vocab_size)
    teacher = _random_model(tokenizer, layers, hidden_size, context_length, seed=1)
    student = _random_model(tokenizer, layers, hidden_size, context_length, seed=2)
    return BenchModels(tokenizer, teacher, student, samples)


def _random_model(tokenizer: Any, layers: int, hidden_size: int, context_length: int, seed: int) -> torch.nn.Module:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=int(math.ceil(len(tokenizer) / 64) * 64),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 3,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=context_length,
        tie_word_embeddings=True,
    )
    model = Qwen3ForCausalLM(config).eval()
    use_default_attention(model)  # as cultural_env.models.load_causal_lm does for the models it loads
    return model


def acceptance_for(regime: str, vocab_size: int) -> dict[str, Any]:
    """Return the acceptance config of a regime (see the module docstring)."""
    top_k = {"0%": 1, "50%": (3 * vocab_size) // 4, "100%": vocab_size}[regime]
    return {"top_k": top_k, "min_prob": 0.0, "temperature": 1.0}


def build_bench_env(models: BenchModels, regime: str, max_new_tokens: int, block_size: int) -> CulturalTokenEnv:
    """Build a CulturalTokenEnv over the bench teacher whose episodes always run ``max_new_tokens`` tokens."""
    env = CulturalTokenEnv(
        teacher_model=models.teacher,
        tokenizer=models.tokenizer,
        samples=models.samples,
        max_new_tokens=max_new_tokens,
        block_size=block_size,
        acceptance=acceptance_for(regime, len(models.tokenizer)),
        prompt=BENCH_PROMPT,
    )
    # Rollouts are compared at a fixed length T, so a random model's stop token must not end one early.
    env.stop_ids = frozenset()
    return env
