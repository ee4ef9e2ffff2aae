"""Peak memory of one loss computation (forward and backward): chunked from hidden states vs full logits."""

from __future__ import annotations

import math

import torch

from agents.chunked_loss import TeacherHiddenStates, chunked_token_divergence
from agents.losses import forward_kl
from cultural_env.bench.memory import TensorMemoryTracker

QWEN3_VOCAB_SIZE = 151_936
"""Rows of Qwen3's embedding matrix (its tokenizer has 151,669 tokens, padded for alignment)."""


def loss_peak_bytes(num_positions: int, vocab_size: int = QWEN3_VOCAB_SIZE, hidden_size: int = 64, chunk_size: int = 256) -> dict[str, int]:
    """Measure the peak tensor bytes of the forward-KL loss and its backward, both ways.

    Only the output layer and the loss are built (V x H matrices and T x H hidden states), since
    the model body is the same in both. The full way records the teacher's (T, V)
    log-probabilities, as the environment's info does, then builds the student's (T, V) logits.
    The chunked way keeps the teacher's final hidden states and uses
    :func:`agents.chunked_loss.chunked_token_divergence`.
    """
    generator = torch.Generator().manual_seed(0)
    scale = 1.0 / math.sqrt(hidden_size)
    student_weight = (torch.randn(vocab_size, hidden_size, generator=generator) * scale).requires_grad_()  # (V, H)
    teacher_weight = torch.randn(vocab_size, hidden_size, generator=generator) * scale  # (V, H)
    student_hidden = torch.randn(num_positions, hidden_size, generator=generator).requires_grad_()  # (T, H)
    teacher_hidden = torch.randn(num_positions, hidden_size, generator=generator)  # (T, H)

    with TensorMemoryTracker() as full_tracker:
        with torch.no_grad():
            teacher_log_probs = torch.log_softmax(teacher_hidden @ teacher_weight.T, dim=-1)  # (T, V)
        student_log_probs = torch.log_softmax(student_hidden @ student_weight.T, dim=-1)  # (T, V)
        forward_kl(student_log_probs, teacher_log_probs).mean().backward()
        del teacher_log_probs, student_log_probs
    student_weight.grad = None
    student_hidden.grad = None

    with TensorMemoryTracker() as chunked_tracker:
        teacher = TeacherHiddenStates(teacher_hidden, teacher_weight, temperature=1.0)
        per_token = chunked_token_divergence(student_hidden, student_weight, teacher, vocab_size, chunk_size=chunk_size)
        per_token.mean().backward()
        del per_token
    return {"T": num_positions, "V": vocab_size, "peak_bytes": chunked_tracker.peak_bytes, "naive_peak_bytes": full_tracker.peak_bytes}
