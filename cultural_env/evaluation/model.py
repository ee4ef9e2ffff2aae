"""A model under evaluation: weights, tokenizer, prompt layout, and greedy answers without the think span."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from agents.evaluation import greedy_answer
from cultural_env.models import load_causal_lm, load_tokenizer, stop_token_ids
from cultural_env.prompts import PromptConfig, render_prompt_ids, think_span_mask, think_token_ids


@dataclass
class EvalModel:
    """A causal LM with its tokenizer and the prompt layout used to question it."""

    name: str
    """The model's name as given on the command line (a path or id), used in reports."""
    model: torch.nn.Module
    """The causal LM, in eval mode."""
    tokenizer: Any
    """Its tokenizer, with a chat template."""
    prompt: PromptConfig
    """Prompt layout: the student's system prompt, the knowledge template, ``enable_thinking``."""

    def __post_init__(self) -> None:
        self.model.eval()
        self.vocab_size = len(self.tokenizer)
        self.stop_ids = stop_token_ids(self.tokenizer, self.model)
        self.think_ids = think_token_ids(self.tokenizer)

    @property
    def device(self) -> torch.device:
        """The device of the model's first parameter."""
        return next(self.model.parameters()).device

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` rendered with the chat template and a generation prompt."""
        return render_prompt_ids(self.tokenizer, messages, self.prompt)

    def answer(self, prompt_ids: list[int], max_new_tokens: int) -> str:
        """Decode greedily after ``prompt_ids`` and return the text, without any think span."""
        ids = greedy_answer(self.model, prompt_ids, max_new_tokens, self.stop_ids, self.vocab_size)
        if self.think_ids is not None:
            inside = think_span_mask(ids, *self.think_ids)
            ids = [token for token, masked in zip(ids, inside) if not masked]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()


def load_eval_model(name: str, prompt: PromptConfig, device: str = "auto", dtype: str = "float32", trust_remote_code: bool = False) -> EvalModel:
    """Load a model and its tokenizer by hub id, local folder or ``embedded:`` name."""
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    model = load_causal_lm(name, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    return EvalModel(name=name, model=model, tokenizer=tokenizer, prompt=prompt)
