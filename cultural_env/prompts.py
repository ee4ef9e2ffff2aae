"""Prompts of the teacher (query plus privileged knowledge) and of the student (query only).

Both prompts are rendered with the tokenizer's chat template, with the same template options on
both sides, so teacher and student tokens line up from the first response token on. The system
prompt, the knowledge layout and the few-shot examples are configuration, not code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cultural_env.errors import ConfigError

DEFAULT_TEACHER_SYSTEM_PROMPT = (
    "You are an expert on Korean culture. Read the background knowledge, then answer the "
    "question accurately, relying on the facts it gives."
)


@dataclass(frozen=True)
class FewShotExample:
    """One worked example shown to the teacher before the real question."""

    query: str
    """The example question."""
    answer: str
    """The answer the teacher should imitate."""
    knowledge: str | None = None
    """Background knowledge for the example; omitted from its user turn when None."""


@dataclass(frozen=True)
class PromptConfig:
    """Layout of the teacher and student prompts."""

    teacher_system_prompt: str | None = DEFAULT_TEACHER_SYSTEM_PROMPT
    """System message of the teacher; None leaves it out."""
    student_system_prompt: str | None = None
    """System message of the student; None (the default) gives the student the user turn only."""
    knowledge_template: str = "[Background Knowledge]\n{knowledge}\n\n{query}"
    """The teacher's user turn; must contain both {knowledge} and {query}."""
    few_shot: tuple[FewShotExample, ...] = ()
    """Examples shown to the teacher as earlier user/assistant turns."""
    enable_thinking: bool | None = None
    """Qwen3's chat-template switch, passed identically to teacher and student; None omits it."""
    max_knowledge_tokens: int | None = None
    """Knowledge longer than this many tokens is cut to its first tokens, with a warning; None keeps it whole."""

    def __post_init__(self) -> None:
        for placeholder in ("{knowledge}", "{query}"):
            if placeholder not in self.knowledge_template:
                raise ConfigError(
                    f"knowledge_template must contain {placeholder}, got {self.knowledge_template!r}"
                )
        if self.max_knowledge_tokens is not None and self.max_knowledge_tokens < 1:
            raise ConfigError(f"max_knowledge_tokens must be >= 1 or null, got {self.max_knowledge_tokens}")
        examples = tuple(FewShotExample(**item) if isinstance(item, dict) else item for item in self.few_shot)
        object.__setattr__(self, "few_shot", examples)


def teacher_messages(query: str, knowledge: str | None, config: PromptConfig) -> list[dict[str, str]]:
    """Build the teacher's chat: system prompt, few-shot turns, then knowledge and query.

    Without knowledge (a general-domain item) the teacher gets exactly the student's chat, so both
    models see the same input.
    """
    if knowledge is None:
        return student_messages(query, config)
    messages = _system(config.teacher_system_prompt)
    for example in config.few_shot:
        messages.append({"role": "user", "content": _user_turn(example.query, example.knowledge, config)})
        messages.append({"role": "assistant", "content": example.answer})
    messages.append({"role": "user", "content": _user_turn(query, knowledge, config)})
    return messages


def student_messages(query: str, config: PromptConfig) -> list[dict[str, str]]:
    """Build the student's chat: an optional system prompt and the query alone."""
    return _system(config.student_system_prompt) + [{"role": "user", "content": query}]


def render_prompt_ids(tokenizer: Any, messages: list[dict[str, str]], config: PromptConfig) -> list[int]:
    """Apply the chat template with a generation prompt and return the token ids."""
    template_options = {} if config.enable_thinking is None else {"enable_thinking": config.enable_thinking}
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **template_options)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
"""Qwen3's markers around the reasoning span of a response."""


def check_enable_thinking(value: bool | None, config: PromptConfig, where: str) -> None:
    """Raise :class:`ConfigError` when a student-side ``enable_thinking`` differs from the env's prompt.

    The teacher and the student must render their prompts with the same template options, or the
    tokens after the generation prompt would not line up; None at ``where`` means "follow the env".
    """
    if value is None or value == config.enable_thinking:
        return
    raise ConfigError(
        f"{where}={value} but env.prompt.enable_thinking={config.enable_thinking}; teacher and student templates "
        f"must use the same setting, so set env.prompt.enable_thinking={value} instead, or drop {where}"
    )


def think_token_ids(tokenizer: Any) -> tuple[int, int] | None:
    """Return the ids of ``<think>`` and ``</think>`` when both are single tokens of ``tokenizer``, else None."""
    ids = []
    for marker in (THINK_OPEN, THINK_CLOSE):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if not isinstance(token_id, int) or token_id < 0 or token_id == tokenizer.unk_token_id:
            return None
        ids.append(token_id)
    return ids[0], ids[1]


def think_span_mask(token_ids: Sequence[int], open_id: int, close_id: int) -> list[bool]:
    """Mark the tokens of each ``<think>`` … ``</think>`` span, both markers included.

    A span that is never closed (a truncated response) runs to the end. A ``</think>`` without
    an opening marker closes a span that began before the response, as when the generation
    prompt already ends with ``<think>``, so every token up to it is marked.
    """
    mask = [False] * len(token_ids)
    first_open = next((i for i, token in enumerate(token_ids) if token == open_id), len(token_ids))
    first_close = next((i for i, token in enumerate(token_ids) if token == close_id), len(token_ids))
    inside = first_close < first_open
    for index, token in enumerate(token_ids):
        if token == open_id:
            inside = True
        mask[index] = inside
        if token == close_id:
            inside = False
    return mask


def truncate_knowledge(knowledge: str, tokenizer: Any, max_tokens: int | None) -> tuple[str, int | None]:
    """Cut ``knowledge`` to its first ``max_tokens`` tokens.

    Returns the text and, when it was cut, the original token count (else None), so the caller
    can report the cut: the policy is to keep the head of the paragraph, never silently.
    """
    if max_tokens is None:
        return knowledge, None
    ids = tokenizer(knowledge, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return knowledge, None
    return tokenizer.decode(ids[:max_tokens]), len(ids)


def _system(content: str | None) -> list[dict[str, str]]:
    return [] if content is None else [{"role": "system", "content": content}]


def _user_turn(query: str, knowledge: str | None, config: PromptConfig) -> str:
    if knowledge is None:
        return query
    return config.knowledge_template.format(knowledge=knowledge, query=query)
