"""Shared fixtures: tiny real models and tokenizers built locally, and dataset samples.

The models are real transformers Qwen3 models with random weights, small enough to build in a
second. Tests that need the trained embedded default use ``embedded_env`` instead.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

import cultural_env  # noqa: F401  (registers the environment)
from cultural_env import embedded
from cultural_env.data import load_cultural_dataset

# Tiny models gain nothing from intra-op threads, and on a loaded two-core machine OpenMP
# threads spin against each other and slow every test many times over.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def english_samples():
    """The first ten packaged English items."""
    return load_cultural_dataset("en")[:10]


@pytest.fixture(scope="session")
def tiny_tokenizer(english_samples):
    """A byte-level BPE tokenizer with the project's chat template, trained on a few items."""
    texts = [text for sample in english_samples for text in (sample.query, sample.knowledge)]
    return embedded.build_tokenizer(texts, vocab_size=400)


def make_model(tokenizer, seed: int, layers: int = 2, hidden: int = 32):
    """A random tiny Qwen3 model for ``tokenizer``."""
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(embedded.tiny_model_config(len(tokenizer), layers, hidden, tokenizer))
    return model.eval()


def without_knowledge(samples):
    """The items with K removed: the teacher then reads the student's prompt, so the best student is a sharper copy of itself."""
    return [dataclasses.replace(sample, knowledge=None) for sample in samples]


def sharpened_pair(tokenizer):
    """A student and a teacher that is the same network with 3x the logits, so the task is learnable in a few steps."""
    student = make_model(tokenizer, seed=2)
    teacher = copy.deepcopy(student)
    with torch.no_grad():
        student.model.norm.weight.mul_(5.0)
        teacher.model.norm.weight.mul_(15.0)
    return student, teacher


@pytest.fixture(scope="session")
def tiny_teacher(tiny_tokenizer):
    """A random tiny teacher."""
    return make_model(tiny_tokenizer, seed=1)


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, tiny_tokenizer):
    """Teacher and student saved with save_pretrained, as {"teacher": path, "student": path}."""
    root = tmp_path_factory.mktemp("tiny-models")
    paths = {}
    for name, seed in (("teacher", 1), ("student", 2)):
        model = make_model(tiny_tokenizer, seed=seed)
        model.save_pretrained(root / name)
        tiny_tokenizer.save_pretrained(root / name)
        paths[name] = str(root / name)
    return paths


@pytest.fixture()
def tiny_env(tiny_teacher, tiny_tokenizer, english_samples):
    """A CulturalTokenEnv over the random tiny teacher with a short length budget."""
    from cultural_env.env import CulturalTokenEnv

    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_tokens=24, block_size=6)
    yield env
    env.close()
