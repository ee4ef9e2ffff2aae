"""The on-policy distillation agent: a policy gradient on the per-token reverse KL to the teacher.

At each response position t the student sampled a token a_t from p_s(. | s_t) at its draft
temperature: the accepted drafted token, or where the teacher wrote a correction, the drafted
token it rejected (see :func:`agents.reinforce.sampled_actions`). The correction was written by
the teacher, so it is never an action. Its position still counts, through the rejected draft
that the student sampled there. The per-token reward is

    r_t = -(log p_s(a_t | s_t) - log p_t(a_t | s_t)),

whose expectation over the student's sampling is -KL(p_s || p_t) at s_t. Here p_t is the
teacher's distribution at its acceptance temperature, as the environment recorded it while
verifying. The loss averaged over the T positions is

    L = -mean_t (r_t - b_t) log p_s(a_t | s_t)  +  c_KD mean_t D(p_t || p_s),

with r_t held constant and the baseline b_t = -KL(p_s || p_t) at s_t, so its gradient is the
reverse-KL policy gradient. Each token is credited
with its own reward only; the effect of a token on later positions is not credited. The optional
second term is the SKD distillation loss of :mod:`agents.losses`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from agents.base import Episode
from agents.chunked_loss import TeacherTopK, teacher_side_divergence, with_remainder
from agents.losses import reverse_kl
from agents.optim import OptimConfig
from agents.reinforce import policy_gradient_loss, require_sampling_policy, response_logits, sampled_actions
from agents.skd import SKDAgent, SKDConfig, rollout_metrics
from cultural_env.config_fields import require_range
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError
from cultural_env.sampling import scaled_log_probs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnPolicyDistillConfig(SKDConfig):
    """The student and its drafting (as for SKD), plus the weight of the mixed-in distillation loss.

    ``loss``, ``jsd_beta`` and ``loss_temperature`` choose the divergence D of the mixed-in
    term and of :meth:`SKDAgent.loss`, which the trainer reports as the validation KL.
    """

    kd_coef: float = 0.0
    """Weight c_KD of the distillation loss D(p_t || p_s) added to the policy gradient (>= 0); 0 disables it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        require_sampling_policy(self)
        require_range("kd_coef", self.kd_coef, minimum=0.0)


class OnPolicyDistillAgent(SKDAgent):
    """A student that minimizes the reverse KL to the teacher along its own drafts.

    Drafting and the adaptive block size come from :class:`SKDAgent`; :meth:`learn` differs, as
    the module docstring explains. The agent needs no particular ``reward_mode``: it reads the
    teacher's distributions from the env's record. With ``record`` "log_probs" or "hidden" the
    rewards and baseline are exact. With "top_k" they are approximate: an action outside the
    teacher's kept tokens gets the mass outside them spread evenly over the other V - K tokens,
    and the baseline is the reverse KL between the K + 1 buckets (kept tokens and the rest),
    a lower bound of the true one. When the environment's
    ``reward_mode`` is ``"neg_reverse_kl"``, :meth:`act` also hands the student's
    log-probabilities of each block to the environment, so that the step rewards are the
    episode's r_t summed per block.

    Args:
        config: student, drafting and loss settings.
        env: the unwrapped :class:`~cultural_env.env.CulturalTokenEnv`.
        optim: optimizer settings.
        total_steps: optimizer steps in the run, for the learning-rate schedule.
        model: an already loaded student, instead of ``config.student``.
    """

    learns_on_policy = True

    def __init__(
        self,
        config: OnPolicyDistillConfig,
        env: Any,
        optim: OptimConfig | None = None,
        total_steps: int = 1,
        model: torch.nn.Module | None = None,
    ) -> None:
        super().__init__(config, env, optim, total_steps, model)
        self.hands_log_probs = env.config.reward_mode == "neg_reverse_kl"
        if self.hands_log_probs and not isinstance(env, CulturalTokenEnv):
            raise ConfigError("reward_mode='neg_reverse_kl' needs the unwrapped CulturalTokenEnv; pass env.unwrapped to the agent")

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Draft the next block; in ``neg_reverse_kl`` mode also hand its log-probabilities to the environment."""
        block = super().act(observation)
        if self.hands_log_probs:
            sequence = observation["query"].tolist() + observation["response"].tolist()
            self.env.set_draft_log_probs(self.block_log_probs(sequence, block))
        return block

    @torch.no_grad()
    def block_log_probs(self, sequence: list[int], block: np.ndarray) -> torch.Tensor:
        """Log-probabilities (G,) of the drafted ``block`` after ``sequence`` at the draft temperature.

        The drafter's cache contains ``sequence`` plus all but the last drafted token. This crops it
        back to ``sequence`` minus its last token and reruns the block in one forward, which
        leaves the cache as drafting left it.
        """
        # NOTE: this costs one extra student forward over G tokens per block; the drafter does
        # not return the log-probabilities it sampled from.
        lm = self.drafter.lm
        pending = lm.sync(sequence)
        logits = lm.forward(pending + block[:-1].tolist())[-len(block):]  # (G, V)
        log_probs = scaled_log_probs(logits, self.config.draft_temperature)  # (G, V)
        block_ids = torch.as_tensor(block, device=log_probs.device)
        return log_probs.gather(-1, block_ids[:, None]).squeeze(-1)  # (G,)

    def learn(self, episode: Episode) -> dict[str, float]:
        """Accumulate the reverse-KL policy-gradient loss (plus the weighted KD loss) and step when due; return metrics."""
        config: OnPolicyDistillConfig = self.config
        actions, _ = sampled_actions(episode)
        action_ids = torch.as_tensor(actions, device=self.device)  # (T,)
        teacher = self.teacher_side(episode)

        # ---- per-token rewards, from one student forward over prompt plus response
        self.model.train()
        logits = response_logits(self.model, episode.query_ids, episode.response_ids, self.vocab_size)  # (T, V)
        student_log_probs = torch.log_softmax(logits / config.draft_temperature, dim=-1)  # (T, V)
        if isinstance(teacher, TeacherTopK):
            rewards, token_reverse_kl = top_k_rewards(student_log_probs.detach(), teacher, action_ids, self.vocab_size)  # (T,) each
        else:
            teacher_log_probs = teacher.chunk(0, len(actions), self.vocab_size).to(self.device)  # (T, V)
            rewards = reverse_kl_rewards(student_log_probs.detach(), teacher_log_probs, action_ids)  # (T,)
            token_reverse_kl = reverse_kl(student_log_probs.detach(), teacher_log_probs)  # (T,)
        advantages = rewards + token_reverse_kl  # (T,), see reverse_kl_rewards for the baseline

        # ---- loss: the policy gradient, plus the distillation loss when mixed in
        policy_loss = policy_gradient_loss(student_log_probs, action_ids, advantages)
        total = policy_loss
        metrics_kd = {}
        if config.kd_coef > 0:
            kd_log_probs = torch.log_softmax(logits / self.loss_temperature, dim=-1)  # (T, V)
            kd = teacher_side_divergence(kd_log_probs, teacher, 0, len(actions), self.vocab_size, config.loss, config.jsd_beta).mean()
            total = total + config.kd_coef * kd
            metrics_kd["losses/kd"] = float(kd.detach())

        metrics = self.optimizer.backward(total)
        metrics.update(metrics_kd)
        metrics["losses/policy"] = float(policy_loss.detach())
        metrics["losses/total"] = float(total.detach())
        metrics["losses/reverse_kl"] = float(token_reverse_kl.mean())
        metrics["losses/tokens"] = float(len(actions))
        metrics["rollout/reward_mean"] = float(rewards.mean())
        metrics.update(rollout_metrics(episode, self.gamma_history))
        return metrics


def reverse_kl_rewards(student_log_probs: torch.Tensor, teacher_log_probs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Per-token rewards r_t = log p_t(a_t) - log p_s(a_t), (T,), from log-probabilities (T, V) and sampled actions (T,).

    The agent's advantage is r_t - b_t with the baseline b_t = -KL(p_s || p_t) at s_t, which is
    the exact expectation of r_t. It depends on the state only, so subtracting it keeps the
    gradient unbiased and lowers its variance.
    """
    student = student_log_probs.gather(-1, actions[:, None]).squeeze(-1)  # (T,)
    teacher = teacher_log_probs.gather(-1, actions[:, None]).squeeze(-1)  # (T,)
    return teacher - student


def top_k_rewards(
    student_log_probs: torch.Tensor, teacher: TeacherTopK, actions: torch.Tensor, vocab_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate rewards r_t (T,) and the bucketed reverse KL (T,) from a top-K teacher record.

    The teacher's log-probability of an action outside its K kept tokens is the log of the mass
    outside them divided by V - K. The reverse KL is taken between the student's and the
    teacher's distributions over K + 1 buckets, the kept tokens and the rest, so it is at most
    the true reverse KL.
    """
    device = student_log_probs.device
    kept_ids = teacher.token_ids.to(device)  # (T, K)
    teacher_buckets = with_remainder(teacher.log_probs.to(device).float())  # (T, K + 1)
    student_buckets = with_remainder(student_log_probs.gather(-1, kept_ids))  # (T, K + 1)
    outside = max(1, vocab_size - kept_ids.shape[1])
    matches = kept_ids == actions[:, None]  # (T, K)
    position = matches.int().argmax(dim=-1, keepdim=True)  # (T, 1), 0 where the action is outside
    kept_teacher = teacher_buckets[:, :-1].gather(-1, position).squeeze(-1)  # (T,)
    teacher_action = torch.where(matches.any(dim=-1), kept_teacher, teacher_buckets[:, -1] - math.log(outside))  # (T,)
    student_action = student_log_probs.gather(-1, actions[:, None]).squeeze(-1)  # (T,)
    bucket_reverse_kl = (student_buckets.exp() * (student_buckets - teacher_buckets)).sum(dim=-1)  # (T,)
    return teacher_action - student_action, bucket_reverse_kl


def from_run_config(run_config: Any, env: Any, total_steps: int) -> OnPolicyDistillAgent:
    """Build the agent for ``cultural-kd train --agent agents.on_policy_distill:from_run_config``.

    The run's ``agent`` section sets the student and drafting fields and ``optim`` the
    optimizer. The YAML schema has no section for the other fields of :class:`OnPolicyDistillConfig`, so they
    keep their defaults there; set them from Python instead.
    """
    return OnPolicyDistillAgent(OnPolicyDistillConfig(**asdict(run_config.agent)), env, run_config.optim, total_steps)
