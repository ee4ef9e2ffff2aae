"""Configuration of the environment: which teacher, which data, which rules.

The defaults are the embedded default: the project's tiny teacher, built locally, on the English
dataset. ``configs/qwen3-32b-to-4b.yaml`` overrides them with the reference setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cultural_env.acceptance import AcceptanceConfig
from cultural_env.config_fields import require_choice, require_range
from cultural_env.prompts import PromptConfig

REWARD_MODES = ("accept", "teacher_logprob", "neg_reverse_kl")
"""Per-token reward terms of a step; the class docstring of CulturalTokenEnv defines each."""

RECORD_KINDS = ("log_probs", "top_k", "hidden")
"""Forms in which ``step`` returns the teacher's distributions; the class docstring of CulturalTokenEnv defines each."""


def embedded_prompt_config() -> PromptConfig:
    """Return the prompt layout of the embedded tiny teacher: K cut to 64 tokens, placed after Q."""
    from cultural_env.embedded import TinyRecipe

    return TinyRecipe().prompt_config()


@dataclass(frozen=True)
class DataConfig:
    """Source of the (query, knowledge) items that episodes are drawn from."""

    language: str = "en"
    """Packaged dataset language, "en" or "ko"; ignored when ``path`` is set."""
    path: str | None = None
    """A JSON or JSONL dataset file in the project's format, instead of the packaged one."""
    split: Literal["train", "validation", "all"] = "train"
    """Part of the deterministic split that the environment samples from."""
    validation_fraction: float = 0.1
    """Share of items held out for validation, in [0, 1)."""
    seed: int = 42
    """Seed of the split."""
    categories: tuple[str, ...] | None = None
    """Keep only these categories; None keeps all."""
    general_path: str | None = None
    """JSONL of general-domain prompts (``query`` only) to mix with the cultural items."""
    mix: str | None = None
    """Cultural/general mixing schedule such as "50/50", "70/30" or "70/30,30/70"; needs ``general_path``."""
    num_items: int | None = None
    """Number of items after mixing; None uses the number of cultural items."""
    limit: int | None = None
    """Keep only the first N items of the split (sorted by id); None keeps all."""

    def __post_init__(self) -> None:
        require_choice("language", self.language, ("en", "ko"))
        require_choice("split", self.split, ("train", "validation", "all"))
        require_range("validation_fraction", self.validation_fraction, minimum=0.0, maximum=0.999)
        if self.mix is not None and self.general_path is None:
            from cultural_env.errors import ConfigError

            raise ConfigError(f"mix={self.mix!r} needs general_path, a JSONL file of general-domain prompts")
        if self.limit is not None:
            require_range("limit", self.limit, minimum=1, integer=True)


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines a CulturalKD environment."""

    teacher: str = "embedded:tiny-teacher"
    """Teacher model: a hub id, a local folder, or ``embedded:tiny-teacher``."""
    tokenizer: str | None = None
    """Tokenizer id or folder; None loads it from the teacher."""
    data: DataConfig = field(default_factory=DataConfig)
    """Source of the episodes."""
    prompt: PromptConfig = field(default_factory=lambda: embedded_prompt_config())
    """Prompt layout of teacher and student; the default is the layout the embedded tiny teacher was trained on."""
    acceptance: AcceptanceConfig = field(default_factory=AcceptanceConfig)
    """The teacher's acceptance rule and sampling."""
    block_size: int = 8
    """Maximum number of tokens in one action (the largest draft block, gamma_max)."""
    max_new_tokens: int = 40
    """Response length at which an episode is truncated."""
    reward_mode: str = "accept"
    """Reward of a step, summed over the accepted prefix and the first rejected drafted token: "accept" counts
    accepted tokens, "teacher_logprob" adds the teacher's log-probabilities, "neg_reverse_kl" adds
    log p_teacher - log p_student (the agent passes the student's through ``set_draft_log_probs``)."""
    record: str = "log_probs"
    """Form of the teacher's distributions that ``info`` keeps at the n appended positions. "log_probs" keeps
    the full (n, V) log-probabilities. "top_k" keeps the ``record_top_k`` largest with their token ids
    (approximate, n * K values). "hidden" keeps the teacher's final hidden states (exact, n * H values),
    to which the loss applies the teacher's output matrix, ``CulturalTokenEnv.teacher_output_weight``."""
    record_top_k: int = 64
    """K, the number of teacher log-probabilities kept per position when ``record`` is "top_k" (1 <= K <= V)."""
    device: str = "auto"
    """Teacher device: "auto", "cpu", "cuda", "cuda:N"; ignored when ``device_map`` is set."""
    device_map: Any = None
    """A transformers device_map (e.g. "auto") to spread a large teacher over several GPUs."""
    dtype: str = "float32"
    """Teacher weights dtype: "float32", "bfloat16" or "float16"."""
    attn_implementation: str | None = None
    """Attention kernel passed to transformers ("sdpa", "eager", "flash_attention_2"); None keeps its default."""
    trust_remote_code: bool = False
    """Allow model code from the model's repository to run; off unless you trust it."""

    def __post_init__(self) -> None:
        require_range("block_size", self.block_size, minimum=1, integer=True)
        require_range("max_new_tokens", self.max_new_tokens, minimum=1, integer=True)
        require_choice("reward_mode", self.reward_mode, REWARD_MODES)
        require_choice("record", self.record, RECORD_KINDS)
        require_range("record_top_k", self.record_top_k, minimum=1, integer=True)
