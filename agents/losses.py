"""Per-token divergences between teacher and student next-token distributions.

All functions take log-probabilities of shape (T, V) (or (B, T, V)) over the same vocabulary and
return one value per position, (T,) or (B, T), so callers choose the reduction. The method's
loss is the mean over generated positions: unlike a sum, it does not grow with the response
length. Notation: p_t is the teacher, p_s the student.
"""

from __future__ import annotations

import math

import torch

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd")


def forward_kl(student_log_probs: torch.Tensor, teacher_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(p_t || p_s) = sum_v p_t(v) (log p_t(v) - log p_s(v)); mass-covering, the SKD default."""
    teacher_probs = teacher_log_probs.exp()
    return (teacher_probs * (teacher_log_probs - student_log_probs)).sum(dim=-1)


def reverse_kl(student_log_probs: torch.Tensor, teacher_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(p_s || p_t) = sum_v p_s(v) (log p_s(v) - log p_t(v)); mode-seeking."""
    student_probs = student_log_probs.exp()
    return (student_probs * (student_log_probs - teacher_log_probs)).sum(dim=-1)


def generalized_jsd(student_log_probs: torch.Tensor, teacher_log_probs: torch.Tensor, beta: float) -> torch.Tensor:
    """Generalized Jensen-Shannon divergence with weight ``beta`` in [0, 1].

    With the mixture m = beta * p_t + (1 - beta) * p_s,
    JSD_beta = beta * KL(p_t || m) + (1 - beta) * KL(p_s || m).
    It is 0 for identical distributions, symmetric at beta = 0.5, at most the binary entropy
    H(beta) <= log 2, and it vanishes at beta = 0 and beta = 1 (use the KL losses there).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if beta in (0.0, 1.0):
        return torch.zeros(student_log_probs.shape[:-1], dtype=student_log_probs.dtype, device=student_log_probs.device)
    mixture_log_probs = torch.logsumexp(
        torch.stack([teacher_log_probs + math.log(beta), student_log_probs + math.log(1.0 - beta)]), dim=0
    )  # (..., V)
    teacher_term = forward_kl(mixture_log_probs, teacher_log_probs)  # KL(p_t || m)
    student_term = forward_kl(mixture_log_probs, student_log_probs)  # KL(p_s || m)
    return beta * teacher_term + (1.0 - beta) * student_term


def token_divergence(
    student_log_probs: torch.Tensor, teacher_log_probs: torch.Tensor, kind: str = "forward_kl", beta: float = 0.5
) -> torch.Tensor:
    """Divergence ``kind`` ("forward_kl", "reverse_kl" or "jsd") at every position."""
    if kind == "forward_kl":
        return forward_kl(student_log_probs, teacher_log_probs)
    if kind == "reverse_kl":
        return reverse_kl(student_log_probs, teacher_log_probs)
    if kind == "jsd":
        return generalized_jsd(student_log_probs, teacher_log_probs, beta)
    raise ValueError(f"unknown divergence {kind!r}; use one of {', '.join(DIVERGENCES)}")
