"""The REINFORCE agent: a policy gradient on the teacher's per-token acceptance.

The student is the policy pi(a_t | s_t) at its draft temperature, s_t = (q, y_<t). Each response
position t has exactly one token that the student sampled there: the accepted drafted token,
or, where the teacher wrote a correction, the drafted token that it rejected. That token is the
action a_t and its acceptance A_t (1 or 0) the reward. The correction itself was written by the
teacher, so it is never treated as a student action. It only shapes the states that follow.
Drafted tokens after the first rejected one in a block were never judged, so they take no part.

The loss per episode, averaged over the T response positions:

    L = -mean_t (G_t - b) log pi(a_t | s_t)  -  c_H mean_t H(pi(. | s_t))  +  c_KL mean_t KL(pi || pi_0)

with G_t = sum_{k >= t} discount^(k-t) A_k the per-token return, b a running mean of past
returns (the baseline), H the entropy and pi_0 a frozen copy of the initial student.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from agents.base import Episode
from agents.losses import reverse_kl
from agents.optim import OptimConfig
from agents.skd import SKDAgent, SKDConfig, rollout_metrics
from cultural_env.config_fields import require_range
from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------- pure functions


def sampled_actions(episode: Episode) -> tuple[np.ndarray, np.ndarray]:
    """Return the student's sampled token at each response position (T,) int64 and its acceptance A_t (T,) float64.

    Where a block was rejected at position n, the response contains the teacher's correction but
    the action is the drafted token d_n that the teacher rejected (A_t = 0).
    """
    actions: list[int] = []
    acceptance: list[float] = []
    for transition in episode.transitions:
        accepted = transition.info["accepted"]  # (G,) bool, the verified part of the block
        judged = len(transition.info["appended"])  # the accepted prefix, plus the rejected token
        actions.extend(int(token) for token in transition.action[:judged])
        acceptance.extend(float(flag) for flag in accepted[:judged])
    return np.asarray(actions, dtype=np.int64), np.asarray(acceptance, dtype=np.float64)


def discounted_returns(rewards: np.ndarray, discount: float) -> np.ndarray:
    """Return G_t = sum_{k >= t} discount^(k-t) r_k for each position of ``rewards`` (T,)."""
    returns = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for position in range(len(rewards) - 1, -1, -1):
        running = rewards[position] + discount * running
        returns[position] = running
    return returns


def policy_gradient_loss(log_probs: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """Return -mean_t advantages_t * log_probs[t, actions_t], the REINFORCE surrogate.

    ``log_probs`` (T, V) carries gradients; ``actions`` (T,) and ``advantages`` (T,) do not.
    """
    action_log_probs = log_probs.gather(-1, actions[:, None]).squeeze(-1)  # (T,)
    return -(advantages.detach() * action_log_probs).mean()


def token_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy -sum_v p(v) log p(v) at every position of ``log_probs`` (T, V); returns (T,)."""
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def response_logits(model: torch.nn.Module, query_ids: np.ndarray, response_ids: np.ndarray, vocab_size: int) -> torch.Tensor:
    """Return the student's logits (T, V) for each response position, from one forward with gradients."""
    device = next(model.parameters()).device
    input_ids = torch.as_tensor(np.concatenate([query_ids, response_ids]), device=device)[None]  # (1, P+T)
    # The logits at positions P-1 .. P+T-2 predict the T response tokens; keep only those.
    logits = model(input_ids=input_ids, logits_to_keep=len(response_ids) + 1).logits[0, :-1, :vocab_size]
    return logits.float()  # (T, V)


def require_sampling_policy(config: SKDConfig) -> None:
    """Raise :class:`ConfigError` unless the drafts are samples from the full softmax at a temperature > 0.

    A policy gradient needs the log-probability of each sampled token under the distribution it
    was drawn from. Greedy drafts have none, and the nucleus filter is not part of the policy
    that the agents differentiate.
    """
    require_range("draft_temperature", config.draft_temperature, minimum=0.0, exclusive_minimum=True)
    if config.draft_top_p != 1.0:
        raise ConfigError(
            f"draft_top_p must be 1.0 for a policy-gradient agent, got {config.draft_top_p}; "
            "the gradient assumes drafts are sampled from the full softmax"
        )


# ----------------------------------------------------------------- the agent


@dataclass(frozen=True)
class ReinforceConfig(SKDConfig):
    """The student and its drafting (as for SKD), plus the policy-gradient settings.

    ``loss``, ``jsd_beta`` and ``loss_temperature`` only set the divergence that
    :meth:`SKDAgent.loss` reports as the trainer's validation KL; they do not enter the update.
    """

    discount: float = 0.9
    """Discount of the per-token return G_t, in [0, 1]; 0 credits each token with its own acceptance only."""
    baseline_decay: float = 0.9
    """Weight of the old value in the running-mean baseline, in [0, 1); the first episode sets it."""
    entropy_coef: float = 0.0
    """Weight c_H of the entropy bonus (>= 0); 0 disables it."""
    kl_coef: float = 0.0
    """Weight c_KL of KL(pi || pi_0) to the initial student (>= 0); above 0 the agent keeps a frozen copy of the student."""

    def __post_init__(self) -> None:
        super().__post_init__()
        require_sampling_policy(self)
        require_range("discount", self.discount, minimum=0.0, maximum=1.0)
        require_range("baseline_decay", self.baseline_decay, minimum=0.0, maximum=0.999)
        require_range("entropy_coef", self.entropy_coef, minimum=0.0)
        require_range("kl_coef", self.kl_coef, minimum=0.0)


class ReinforceAgent(SKDAgent):
    """A student that learns by policy gradient to draft tokens the teacher accepts.

    Drafting, the adaptive block size and :meth:`loss` (the divergence to the teacher, used by
    the trainer as the validation KL) come from :class:`SKDAgent`; only :meth:`learn` differs.
    The reward is read from ``info["accepted"]``, so the environment's ``reward_mode`` does not
    matter. The module docstring defines the loss and which tokens count as actions.

    Args:
        config: student, drafting and policy-gradient settings.
        env: the unwrapped :class:`~cultural_env.env.CulturalTokenEnv`.
        optim: optimizer settings.
        total_steps: optimizer steps in the run, for the learning-rate schedule.
        model: an already loaded student, instead of ``config.student``.
    """

    learns_on_policy = True

    def __init__(
        self,
        config: ReinforceConfig,
        env: Any,
        optim: OptimConfig | None = None,
        total_steps: int = 1,
        model: torch.nn.Module | None = None,
    ) -> None:
        super().__init__(config, env, optim, total_steps, model)
        self.baseline: float | None = None
        self.reference_model: torch.nn.Module | None = None
        if config.kl_coef > 0:
            # NOTE: the frozen copy doubles the student's memory; it exists only while kl_coef > 0.
            self.reference_model = copy.deepcopy(self.model).eval().requires_grad_(False)

    def state_dict(self) -> dict[str, Any]:
        """Return the SKD agent's training state plus the running baseline and the frozen initial student of the KL penalty."""
        state = super().state_dict()
        state["baseline"] = self.baseline
        state["reference"] = None if self.reference_model is None else self.reference_model.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, so a resumed run continues with the same baseline and reference."""
        super().load_state_dict(state)
        self.baseline = state.get("baseline")
        if self.reference_model is not None and state.get("reference") is not None:
            self.reference_model.load_state_dict(state["reference"])

    def learn(self, episode: Episode) -> dict[str, float]:
        """Accumulate the policy-gradient loss of the episode and step the optimizer when due; return metrics."""
        config: ReinforceConfig = self.config

        # ---- returns and advantages, from the teacher's acceptance of each sampled token
        actions, acceptance = sampled_actions(episode)  # (T,), (T,)
        returns = discounted_returns(acceptance, config.discount)  # (T,)
        baseline = float(returns.mean()) if self.baseline is None else self.baseline
        advantages = torch.as_tensor(returns - baseline, dtype=torch.float32, device=self.device)  # (T,)

        # ---- policy terms, from one student forward over prompt plus response
        self.model.train()
        logits = response_logits(self.model, episode.query_ids, episode.response_ids, self.vocab_size)  # (T, V)
        log_probs = torch.log_softmax(logits / config.draft_temperature, dim=-1)  # (T, V)
        action_ids = torch.as_tensor(actions, device=self.device)
        policy_loss = policy_gradient_loss(log_probs, action_ids, advantages)
        entropy = token_entropy(log_probs).mean()
        total = policy_loss - config.entropy_coef * entropy
        metrics_kl = {}
        if self.reference_model is not None:
            kl = reverse_kl(log_probs, self._reference_log_probs(episode)).mean()
            total = total + config.kl_coef * kl
            metrics_kl["losses/kl_reference"] = float(kl.detach())

        # ---- update, then move the baseline towards this episode's returns
        metrics = self.optimizer.backward(total)
        self.baseline = config.baseline_decay * baseline + (1.0 - config.baseline_decay) * float(returns.mean())
        metrics.update(metrics_kl)
        metrics["losses/policy"] = float(policy_loss.detach())
        metrics["losses/entropy"] = float(entropy.detach())
        metrics["losses/total"] = float(total.detach())
        metrics["losses/tokens"] = float(len(actions))
        metrics["rollout/return_mean"] = float(returns.mean())
        metrics["rollout/baseline"] = baseline
        metrics.update(rollout_metrics(episode, self.gamma_history))
        return metrics

    @torch.no_grad()
    def _reference_log_probs(self, episode: Episode) -> torch.Tensor:
        logits = response_logits(self.reference_model, episode.query_ids, episode.response_ids, self.vocab_size)  # (T, V)
        return torch.log_softmax(logits / self.config.draft_temperature, dim=-1)


def from_run_config(run_config: Any, env: Any, total_steps: int) -> ReinforceAgent:
    """Build the agent for ``cultural-kd train --agent agents.reinforce:from_run_config``.

    The run's ``agent`` section sets the student and drafting fields and ``optim`` the
    optimizer. The YAML schema has no section for the other fields of :class:`ReinforceConfig`, so they
    keep their defaults there; set them from Python instead.
    """
    return ReinforceAgent(ReinforceConfig(**asdict(run_config.agent)), env, run_config.optim, total_steps)
