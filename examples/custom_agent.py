"""A custom agent in about 40 lines: the student imitates the response the teacher let stand.

``cultural-kd train --agent examples.custom_agent:ImitationAgent`` trains it from the repository
root. The trainer builds it as ``ImitationAgent(run_config, env, total_steps)``, reads
``agent.model`` for its evaluations, and counts an optimizer step when ``learn`` returns
``"optim/stepped": 1.0``.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.optim import GuardedOptimizer
from agents.skd import rollout_metrics
from agents.student import StudentDrafter
from cultural_env.models import load_causal_lm


class ImitationAgent:
    """Drafts like SKD and learns the cross-entropy of the final response: accepted drafts plus corrections."""

    def __init__(self, config, env, total_steps: int) -> None:
        self.env, self.config = env, config.agent
        self.model = load_causal_lm(self.config.student, device=self.config.device, dtype=self.config.dtype)
        self.drafter = StudentDrafter(self.model, env.vocab_size, env.stop_ids)
        self.optimizer = GuardedOptimizer(self.model, config.optim, total_steps)

    def seed(self, seed: int) -> None:
        self.drafter.seed(seed)

    def begin_episode(self, observation, info) -> None:
        self.drafter.reset()
        self.block_lengths: list[int] = []

    def act(self, observation) -> np.ndarray:
        self.model.eval()
        sequence = observation["query"].tolist() + observation["response"].tolist()
        remaining = self.env.config.max_new_tokens - len(observation["response"])
        length = max(1, min(self.config.gamma_init, remaining))
        self.block_lengths.append(length)
        return self.drafter.draft(sequence, length, self.config.draft_temperature, self.config.draft_top_p)

    def observe(self, transition) -> None:
        pass

    def learn(self, episode) -> dict[str, float]:
        self.model.train()
        input_ids = torch.as_tensor(np.concatenate([episode.query_ids, episode.response_ids]))[None]  # (1, P+T)
        length = len(episode.response_ids)
        logits = self.model(input_ids=input_ids.to(self.model.device), logits_to_keep=length + 1).logits[0, :-1, : self.env.vocab_size]
        loss = torch.nn.functional.cross_entropy(logits.float(), input_ids[0, -length:].to(logits.device))
        metrics = self.optimizer.backward(loss)
        metrics["losses/imitation"] = float(loss.detach())
        return {**metrics, **rollout_metrics(episode, self.block_lengths)}
