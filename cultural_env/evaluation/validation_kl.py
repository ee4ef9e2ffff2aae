"""Validation KL: the mean per-token divergence to the teacher on the model's own rollouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cultural_env.data import CulturalSample
from cultural_env.evaluation.model import EvalModel
from cultural_env.models import check_tokenizers_match
from cultural_env.prompts import check_enable_thinking


def model_validation_kl(model: EvalModel, env: Any, agent_config: Any, samples: Sequence[CulturalSample], seed: int) -> float:
    """Roll out ``model`` as an SKD student in ``env`` (which contains the teacher) and return the mean divergence.

    The divergence is the agent's loss (``agent_config.loss``, forward KL by default) averaged
    per token within an episode, then over episodes; nothing is learned.
    """
    from agents.evaluation import validation_kl
    from agents.skd import SKDAgent

    check_tokenizers_match(env.tokenizer, model.tokenizer)
    check_enable_thinking(model.prompt.enable_thinking, env.config.prompt, "--enable-thinking")
    agent = SKDAgent(agent_config, env, model=model.model)
    agent.seed(seed)
    return validation_kl(agent, env, samples, seed=seed)
