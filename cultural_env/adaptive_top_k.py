"""Adaptive top-k: the teacher's k moves with recent acceptance and with its own uncertainty.

For each query, K_baseline starts at ``k_init``. After every verified drafted token, an
exponential moving average (EMA) of the per-token acceptance is updated. When the EMA is above
``r_plus`` the student is doing well, so K_baseline drops by one (a stricter teacher). When the
EMA is below ``r_minus`` K_baseline rises by one (a more lenient teacher). At each draft position
the teacher's normalised entropy H̃ = H(p_t) / log V, in [0, 1], adds an offset
ΔK = round(c · (2H̃ − 1)). An uncertain teacher (H̃ > 1/2) therefore accepts from more tokens and
a confident one from fewer. The k used is K_eff = clip(K_baseline + ΔK, k_min, k_max).

The maths is in pure functions. :class:`AdaptiveTopK` holds the per-episode state (baseline and
EMA) that the teacher updates as it verifies blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cultural_env.config_fields import require_range
from cultural_env.errors import ConfigError


@dataclass(frozen=True)
class AdaptiveTopKConfig:
    """Bounds, thresholds and smoothing of the adaptive top-k rule."""

    k_init: int = 5
    """K_baseline at the start of each query (>= 1, within [k_min, k_max])."""
    k_min: int = 1
    """Smallest k ever used (>= 1)."""
    k_max: int = 20
    """Largest k ever used (>= k_min)."""
    ema_decay: float = 0.9
    """Weight of the previous EMA value at each token, in [0, 0.999]; 0 follows the last token only."""
    r_plus: float = 0.8
    """K_baseline drops by one while the acceptance EMA is above this rate, in [0, 1]."""
    r_minus: float = 0.4
    """K_baseline rises by one while the acceptance EMA is below this rate, in [0, r_plus]."""
    entropy_scale: float = 2.0
    """c in ΔK = round(c · (2H̃ − 1)): the largest entropy offset, in tokens (>= 0)."""

    def __post_init__(self) -> None:
        require_range("k_min", self.k_min, minimum=1, integer=True)
        require_range("k_max", self.k_max, minimum=self.k_min, integer=True)
        require_range("k_init", self.k_init, minimum=self.k_min, maximum=self.k_max, integer=True)
        require_range("ema_decay", self.ema_decay, minimum=0.0, maximum=0.999)
        require_range("r_plus", self.r_plus, minimum=0.0, maximum=1.0)
        require_range("r_minus", self.r_minus, minimum=0.0, maximum=1.0)
        if self.r_minus > self.r_plus:
            raise ConfigError(f"r_minus={self.r_minus} must not exceed r_plus={self.r_plus}; swap them or lower r_minus")
        require_range("entropy_scale", self.entropy_scale, minimum=0.0)


def normalised_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Return H(p) / log V in [0, 1] for each row of log-probabilities (..., V); V = 1 gives 0."""
    vocab_size = log_probs.shape[-1]
    if vocab_size < 2:
        return torch.zeros(log_probs.shape[:-1], dtype=log_probs.dtype, device=log_probs.device)
    probs = log_probs.exp()
    # Tokens with probability 0 (log-prob -inf) contribute 0, not NaN, to the sum.
    entropy = -(probs * log_probs.clamp(min=torch.finfo(log_probs.dtype).min)).sum(dim=-1)  # (...,)
    return (entropy / math.log(vocab_size)).clamp(0.0, 1.0)


def entropy_offset(normalised: torch.Tensor, entropy_scale: float) -> torch.Tensor:
    """Return ΔK = round(c · (2H̃ − 1)) as int64, element-wise; half values round to even."""
    return torch.round(entropy_scale * (2.0 * normalised - 1.0)).long()


def effective_top_k(baseline: int, offset: torch.Tensor, k_min: int, k_max: int) -> torch.Tensor:
    """Return K_eff = clip(baseline + offset, k_min, k_max) as int64, element-wise."""
    return (baseline + offset).clamp(k_min, k_max)


def update_ema(ema: float, accepted: bool, decay: float) -> float:
    """Return the acceptance EMA after one token: decay · ema + (1 − decay) · A_t."""
    return decay * ema + (1.0 - decay) * float(accepted)


def update_baseline(baseline: int, ema: float, config: AdaptiveTopKConfig) -> int:
    """Move K_baseline one step down above ``r_plus``, one step up below ``r_minus``, within bounds."""
    if ema > config.r_plus:
        baseline -= 1
    elif ema < config.r_minus:
        baseline += 1
    return min(max(baseline, config.k_min), config.k_max)


class AdaptiveTopK:
    """Per-episode state of the adaptive top-k rule: K_baseline and the acceptance EMA.

    The EMA starts each query halfway between ``r_minus`` and ``r_plus``, so the baseline only
    moves after the student's acceptance has left that band.
    """

    def __init__(self, config: AdaptiveTopKConfig) -> None:
        self.config = config
        self.baseline = config.k_init
        self.ema = self.neutral_ema

    @property
    def neutral_ema(self) -> float:
        """The EMA value at the start of a query: the midpoint of [r_minus, r_plus]."""
        return (self.config.r_minus + self.config.r_plus) / 2.0

    def begin(self) -> None:
        """Start a new query: K_baseline = k_init and a neutral EMA."""
        self.baseline = self.config.k_init
        self.ema = self.neutral_ema

    def top_k(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Return K_eff (G,) int64 for teacher log-probabilities (G, V) at the draft positions."""
        offset = entropy_offset(normalised_entropy(log_probs), self.config.entropy_scale)  # (G,)
        return effective_top_k(self.baseline, offset, self.config.k_min, self.config.k_max)

    def observe(self, judged: Sequence[bool]) -> None:
        """Update the EMA and K_baseline with the acceptance of each judged token, in order.

        ``judged`` contains the tokens the teacher ruled on: the accepted prefix and the first
        rejected token, if any. Tokens after a rejection never enter the response, so they do
        not count.
        """
        for accepted in judged:
            self.ema = update_ema(self.ema, bool(accepted), self.config.ema_decay)
            self.baseline = update_baseline(self.baseline, self.ema, self.config)
