"""A distillation loss that never materialises full-vocabulary logits for the whole trajectory.

The full loss builds (T, V) student logits, their log-softmax and the teacher's (T, V)
log-probabilities at once: with T = 2,048 and Qwen3's V = 151,936 each such tensor is 1.2 GB in
float32, and autograd keeps several. Here the student's logits are computed from its final
hidden states (T, H) one chunk of C positions at a time, under activation checkpointing, so
forward and backward hold O(C * V) floats whatever T is.

The teacher side comes in three forms:

- :class:`TeacherLogProbRows`: recorded (T, V) log-probabilities, sliced per chunk (exact; the
  record itself is still T * V floats);
- :class:`TeacherHiddenStates`: the teacher's final hidden states (T, H_t) and output matrix,
  turned into log-probabilities one chunk at a time (exact);
- :class:`TeacherTopK`: the teacher's K largest log-probabilities and their ids per position
  (approximate, T * K floats). The divergence is then taken between K + 1 buckets: the teacher's
  top-K tokens, each alone, and one bucket for all other tokens, which holds the remaining mass
  of each side. Merging tokens into a bucket never increases a KL divergence or the JSD (the
  data-processing inequality), so this is a lower bound of the exact value, tight when the
  teacher's top-K mass is near 1.

Notation: T positions, V vocabulary columns, H hidden size, C chunk size, K kept tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from agents.losses import token_divergence


@dataclass(frozen=True)
class TeacherLogProbRows:
    """Teacher log-probabilities recorded at every position."""

    log_probs: torch.Tensor
    """(T, V) log-probabilities at the teacher temperature."""

    def chunk(self, start: int, stop: int, vocab_size: int) -> torch.Tensor:
        """Log-probabilities (C, V) of positions ``start:stop``."""
        return self.log_probs[start:stop, :vocab_size]


@dataclass(frozen=True)
class TeacherHiddenStates:
    """The teacher's final hidden states and output matrix, from which any chunk's log-probabilities follow."""

    hidden: torch.Tensor
    """(T, H_t) final hidden states (after the last norm) at the positions that predict each token."""
    output_weight: torch.Tensor
    """(V_padded, H_t) output embedding matrix; columns past ``vocab_size`` are padding and dropped."""
    temperature: float
    """Teacher temperature of the distributions."""

    @torch.no_grad()
    def chunk(self, start: int, stop: int, vocab_size: int) -> torch.Tensor:
        """Log-probabilities (C, V) of positions ``start:stop``."""
        logits = self.hidden[start:stop] @ self.output_weight[:vocab_size].T  # (C, V)
        return torch.log_softmax(logits.float() / self.temperature, dim=-1)


@dataclass(frozen=True)
class TeacherTopK:
    """The teacher's K most likely tokens per position and their log-probabilities."""

    log_probs: torch.Tensor
    """(T, K) log-probabilities of the kept tokens at the teacher temperature."""
    token_ids: torch.Tensor
    """(T, K) int64 ids of the kept tokens."""

    @classmethod
    def from_log_probs(cls, log_probs: torch.Tensor, k: int) -> "TeacherTopK":
        """Keep the ``k`` largest of full log-probabilities (T, V)."""
        values, ids = log_probs.topk(k, dim=-1)  # (T, K)
        return cls(values, ids)


TeacherSide = TeacherLogProbRows | TeacherHiddenStates | TeacherTopK


def chunked_token_divergence(
    student_hidden: torch.Tensor,
    student_output_weight: torch.Tensor,
    teacher: TeacherSide,
    vocab_size: int,
    *,
    kind: str = "forward_kl",
    beta: float = 0.5,
    temperature: float = 1.0,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Per-position divergence (T,) between the teacher and the student, computed chunk by chunk.

    Args:
        student_hidden: (T, H) student final hidden states (after the last norm) at the positions
            that predict each response token; gradients flow into it.
        student_output_weight: (V_padded, H) the student's output embedding matrix; gradients
            flow into it too.
        teacher: the teacher side, one of the three forms of this module.
        vocab_size: V, the number of real vocabulary columns; padded rows are dropped.
        kind, beta: the divergence, as in :func:`agents.losses.token_divergence`.
        temperature: temperature of the student's distribution.
        chunk_size: C, positions per chunk; peak memory grows with C * V, not with T.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    per_chunk = []
    for start in range(0, student_hidden.shape[0], chunk_size):
        stop = min(start + chunk_size, student_hidden.shape[0])
        chunk_loss = _chunk_loss_function(teacher, start, stop, vocab_size, kind, beta, temperature)
        if torch.is_grad_enabled() and (student_hidden.requires_grad or student_output_weight.requires_grad):
            # Recompute the chunk's logits in backward instead of keeping them: O(C * V) memory.
            per_chunk.append(checkpoint(chunk_loss, student_hidden[start:stop], student_output_weight, use_reentrant=False))
        else:
            per_chunk.append(chunk_loss(student_hidden[start:stop], student_output_weight))
    return torch.cat(per_chunk)  # (T,)


def _chunk_loss_function(
    teacher: TeacherSide, start: int, stop: int, vocab_size: int, kind: str, beta: float, temperature: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The divergence (C,) of one chunk as a function of the student's hidden chunk and output matrix."""

    def chunk_loss(hidden: torch.Tensor, output_weight: torch.Tensor) -> torch.Tensor:
        logits = hidden @ output_weight[:vocab_size].T  # (C, V)
        student_log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)  # (C, V)
        return teacher_side_divergence(student_log_probs, teacher, start, stop, vocab_size, kind, beta)

    return chunk_loss


def teacher_side_divergence(
    student_log_probs: torch.Tensor, teacher: TeacherSide, start: int, stop: int, vocab_size: int, kind: str, beta: float
) -> torch.Tensor:
    """Divergence (C,) between the teacher side at positions ``start:stop`` and the student's log-probabilities (C, V) there.

    Called with ``start`` 0 and ``stop`` T, it is the loss of the whole trajectory at once. The
    teacher's tensors are moved to the student's device, which may differ from the teacher's.
    """
    device = student_log_probs.device
    if isinstance(teacher, TeacherTopK):
        teacher_buckets = with_remainder(teacher.log_probs[start:stop].to(device).float())  # (C, K + 1)
        student_kept = student_log_probs.gather(-1, teacher.token_ids[start:stop].to(device))  # (C, K)
        return token_divergence(with_remainder(student_kept), teacher_buckets, kind, beta)
    return token_divergence(student_log_probs, teacher.chunk(start, stop, vocab_size).to(device), kind, beta)


def with_remainder(kept_log_probs: torch.Tensor) -> torch.Tensor:
    """Append the log of the mass outside the kept tokens: (..., K) -> (..., K + 1)."""
    kept_mass = torch.logsumexp(kept_log_probs, dim=-1, keepdim=True)  # (..., 1)
    # log(1 - exp(a)) for a <= 0; clamping keeps the remainder finite when the kept mass rounds to 1.
    remainder = torch.log(-torch.expm1(kept_mass.clamp(max=-1e-7)))
    return torch.cat([kept_log_probs, remainder], dim=-1)


def final_hidden_states(model: torch.nn.Module, input_ids: torch.Tensor, num_predicted: int) -> torch.Tensor:
    """Final hidden states (T, H) at the positions that predict the last T = ``num_predicted`` tokens of ``input_ids`` (1, P+T).

    Runs the model's decoder without its output layer, so no logits are built.
    """
    hidden = model.get_decoder()(input_ids=input_ids).last_hidden_state  # (1, P+T, H)
    return hidden[0, -num_predicted - 1 : -1]
