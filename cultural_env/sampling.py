"""Token sampling from logits: temperature, nucleus (top-p) filtering and draws.

Pure tensor functions shared by the teacher's corrections and the student's drafts. Shapes use
B for rows and V for the vocabulary.
"""

from __future__ import annotations

import torch


def scaled_log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return log-softmax of ``logits / temperature`` in float32.

    A temperature of 0 means greedy decoding; the distribution is then the one at temperature 1,
    and callers pick the argmax.
    """
    logits = logits.float()
    if temperature > 0:
        logits = logits / temperature
    return torch.log_softmax(logits, dim=-1)


def top_p_filter(log_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to -inf every token outside the smallest set whose probability mass reaches ``top_p``.

    The most likely token always survives, so the result is never empty. ``top_p >= 1`` returns
    the input unchanged.
    """
    if top_p >= 1.0:
        return log_probs
    sorted_log_probs, order = torch.sort(log_probs, dim=-1, descending=True)  # (..., V)
    cumulative = sorted_log_probs.exp().cumsum(dim=-1)
    # A token is dropped when the mass before it already reaches top_p.
    drop_sorted = (cumulative - sorted_log_probs.exp()) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return log_probs.masked_fill(drop, float("-inf"))


def sample_tokens(
    logits: torch.Tensor,
    temperature: float,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row of ``logits`` (B, V) and return the ids (B,).

    ``temperature == 0`` returns the argmax. Sampling uses ``generator`` when given, so a seeded
    generator makes the draws reproducible.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    log_probs = top_p_filter(scaled_log_probs(logits, temperature), top_p)  # (B, V)
    probs = log_probs.exp()
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
