"""The teacher's acceptance rule for drafted tokens.

A drafted token is accepted when it is among the teacher's ``top_k`` most likely tokens **and**
its teacher probability (at the teacher's temperature) is at least ``min_prob``. The accepted
prefix of a block ends at the first rejected token. The functions are pure.

With ``adaptive_top_k`` set, k varies per query and per draft position; see
:mod:`cultural_env.adaptive_top_k`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cultural_env.adaptive_top_k import AdaptiveTopKConfig
from cultural_env.config_fields import require_range


@dataclass(frozen=True)
class AcceptanceConfig:
    """How the teacher verifies drafted tokens and draws its corrections."""

    top_k: int = 5
    """A drafted token must be among this many most likely teacher tokens (>= 1)."""
    min_prob: float = 0.05
    """A drafted token must have at least this teacher probability, in [0, 1]."""
    temperature: float = 0.7
    """Teacher temperature for acceptance, corrections and the recorded distributions (> 0)."""
    top_p: float = 1.0
    """Nucleus mass for the teacher's corrections, in (0, 1]."""
    adaptive_top_k: AdaptiveTopKConfig | None = None
    """Adaptive top-k settings; when set, they replace the fixed ``top_k``. None keeps k fixed."""

    def __post_init__(self) -> None:
        require_range("top_k", self.top_k, minimum=1, integer=True)
        require_range("min_prob", self.min_prob, minimum=0.0, maximum=1.0)
        require_range("temperature", self.temperature, minimum=0.0, exclusive_minimum=True)
        require_range("top_p", self.top_p, minimum=0.0, maximum=1.0, exclusive_minimum=True)


def accept_tokens(teacher_log_probs: torch.Tensor, draft: torch.Tensor, top_k: int | torch.Tensor, min_prob: float) -> torch.Tensor:
    """Return a boolean mask (B, G) of drafted tokens that the teacher accepts.

    Args:
        teacher_log_probs: (B, G, V) teacher log-probabilities at each draft position, already
            scaled by the teacher's temperature.
        draft: (B, G) drafted token ids.
        top_k: a token is in the top-k when fewer than ``top_k`` tokens are strictly more likely,
            so ties at the k-th place are all accepted. An int, or a tensor that broadcasts to
            (B, G) for a k per position.
        min_prob: the minimum teacher probability of an accepted token.
    """
    in_top_k = token_ranks(teacher_log_probs, draft) < top_k  # (B, G)
    draft_log_probs = teacher_log_probs.gather(-1, draft.unsqueeze(-1)).squeeze(-1)  # (B, G)
    probable = draft_log_probs.exp() >= min_prob
    return in_top_k & probable


def accepted_prefix_length(accepted: torch.Tensor) -> torch.Tensor:
    """Return, per row of a boolean mask (B, G), the number of leading accepted tokens (B,)."""
    return accepted.long().cumprod(dim=-1).sum(dim=-1)


def token_ranks(teacher_log_probs: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Return the 0-based rank of each token (..., ) under the teacher's log-probabilities (..., V)."""
    token_log_probs = teacher_log_probs.gather(-1, tokens.unsqueeze(-1))
    return (teacher_log_probs > token_log_probs).sum(dim=-1)
