"""The SKD agent: the student drafts blocks and learns a per-token divergence to the teacher.

With the environment's acceptance rule this is speculative knowledge distillation (SKD). Set the
env's ``acceptance.top_k`` to 1 and ``min_prob`` to 1 for a teacher that replaces every draft:
the trajectory is then written by the teacher and the agent does supervised knowledge
distillation (KD) on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.base import Episode, Transition
from agents.chunked_loss import (
    TeacherHiddenStates,
    TeacherLogProbRows,
    TeacherSide,
    TeacherTopK,
    chunked_token_divergence,
    final_hidden_states,
    teacher_side_divergence,
)
from agents.batched_rollout import run_batched_episodes
from agents.batched_student import BatchedStudentDrafter
from agents.gamma import next_block_size
from agents.losses import DIVERGENCES
from agents.optim import GuardedOptimizer, OptimConfig
from agents.student import StudentDrafter
from cultural_env.config_fields import require_choice, require_range
from cultural_env.errors import ConfigError
from cultural_env.models import check_tokenizers_match, load_causal_lm, load_tokenizer
from cultural_env.prompts import THINK_CLOSE, THINK_OPEN, check_enable_thinking, think_span_mask, think_token_ids
from cultural_env.teacher_record import TeacherFinalHidden, TeacherLogProbs, TeacherTopKLogProbs

logger = logging.getLogger(__name__)

LOSS_MODES = ("full", "chunked")
"""Ways to compute the student side of the loss, which give the same value (see SKDConfig.loss_mode)."""


@dataclass(frozen=True)
class SKDConfig:
    """The student model, its drafting, and its distillation loss."""

    student: str = "embedded:tiny-student"
    """Student model: a hub id, a local folder, or ``embedded:tiny-student``."""
    device: str = "auto"
    """Student device: "auto", "cpu", "cuda", "cuda:N"."""
    dtype: str = "float32"
    """Student weights dtype: "float32", "bfloat16" or "float16"."""
    attn_implementation: str | None = None
    """Attention kernel passed to transformers; None keeps its default."""
    trust_remote_code: bool = False
    """Allow model code from the student's repository to run."""
    gamma_init: int = 4
    """Draft length of the first block of each episode."""
    gamma_max: int | None = None
    """Largest draft length; None uses the env's block_size."""
    draft_temperature: float = 0.7
    """Student sampling temperature while drafting (0 = greedy)."""
    draft_top_p: float = 1.0
    """Student nucleus mass while drafting, in (0, 1]."""
    shared_blocks: bool = True
    """In batched rollouts (``train.num_envs`` > 1), let every row draft the longest of the rows' gammas.
    The rows draft in lockstep, so this costs no extra forward; see agents.gamma.batch_block_lengths."""
    loss: str = "forward_kl"
    """Per-token divergence: "forward_kl" KL(p_t||p_s), "reverse_kl" KL(p_s||p_t), or "jsd"."""
    jsd_beta: float = 0.5
    """Teacher weight of the generalized JSD, in (0, 1)."""
    loss_temperature: float | None = None
    """Temperature of the student's distribution in the loss; None uses the teacher's acceptance temperature."""
    loss_mode: str = "full"
    """"full" builds the student's (T, V) log-probabilities at once. "chunked" computes the same loss from
    the student's final hidden states ``loss_chunk_size`` positions at a time (see agents.chunked_loss),
    so the student side needs O(chunk * V) floats instead of O(T * V). Both modes work with each
    ``env.record``: "log_probs" and "hidden" give the exact loss, "top_k" a lower bound of it."""
    loss_chunk_size: int = 256
    """Positions per chunk when ``loss_mode`` is "chunked" (>= 1)."""
    kl_clip: float | None = None
    """Clip each position's divergence to at most this value (in nats, > 0) before the mean; None does not clip."""
    mask_think: bool = False
    """Leave the tokens of each ``<think>`` … ``</think>`` span (markers included) out of the loss."""
    enable_thinking: bool | None = None
    """The student's Qwen3 thinking switch; it must equal env.prompt.enable_thinking, and None follows the env."""

    def __post_init__(self) -> None:
        require_range("gamma_init", self.gamma_init, minimum=1, integer=True)
        if self.gamma_max is not None:
            require_range("gamma_max", self.gamma_max, minimum=1, integer=True)
        require_range("draft_temperature", self.draft_temperature, minimum=0.0)
        require_range("draft_top_p", self.draft_top_p, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        require_choice("loss", self.loss, DIVERGENCES)
        require_range("jsd_beta", self.jsd_beta, minimum=0.0, maximum=1.0)
        if self.loss == "jsd" and self.jsd_beta in (0.0, 1.0):
            require_range("jsd_beta", self.jsd_beta, minimum=0.0, maximum=0.999, exclusive_minimum=True)
        if self.loss_temperature is not None:
            require_range("loss_temperature", self.loss_temperature, minimum=0.0, exclusive_minimum=True)
        require_choice("loss_mode", self.loss_mode, LOSS_MODES)
        require_range("loss_chunk_size", self.loss_chunk_size, minimum=1, integer=True)
        if self.kl_clip is not None:
            require_range("kl_clip", self.kl_clip, minimum=0.0, exclusive_minimum=True)


class SKDAgent:
    """A student policy that drafts for the environment and distils the teacher's distributions.

    Args:
        config: student, drafting and loss settings.
        env: the (unwrapped) :class:`~cultural_env.env.CulturalTokenEnv`; the agent reads its
            tokenizer, block size, length budget, stop tokens and teacher temperature.
        optim: optimizer settings.
        total_steps: optimizer steps in the run, for the learning-rate schedule.
        model: an already loaded student, instead of ``config.student``.
    """

    learns_on_policy = False
    """Whether the gradient assumes the episode was drafted by the current weights (policy-gradient agents)."""

    def __init__(
        self,
        config: SKDConfig,
        env: Any,
        optim: OptimConfig | None = None,
        total_steps: int = 1,
        model: torch.nn.Module | None = None,
    ) -> None:
        self.config = config
        self.env = env
        self.tokenizer = env.tokenizer
        check_enable_thinking(config.enable_thinking, env.config.prompt, "agent.enable_thinking")
        self.think_ids = think_token_ids(env.tokenizer) if config.mask_think else None
        if config.mask_think and self.think_ids is None:
            raise ConfigError(
                f"agent.mask_think is true but the tokenizer has no single {THINK_OPEN} and {THINK_CLOSE} tokens; "
                "set agent.mask_think=false or use a tokenizer with them, such as Qwen3's"
            )
        if model is None:
            check_tokenizers_match(env.tokenizer, load_tokenizer(config.student, config.trust_remote_code))
        self.model = load_causal_lm(
            model if model is not None else config.student,
            device=config.device,
            dtype=config.dtype,
            attn_implementation=config.attn_implementation,
            trust_remote_code=config.trust_remote_code,
        )
        self.device = next(self.model.parameters()).device
        self.vocab_size = env.vocab_size
        self.gamma_max = config.gamma_max or env.config.block_size
        if self.gamma_max > env.config.block_size:
            raise ConfigError(
                f"agent.gamma_max={self.gamma_max} exceeds env.block_size={env.config.block_size}; lower gamma_max or raise block_size"
            )
        self.loss_temperature = config.loss_temperature or env.config.acceptance.temperature
        self.drafter = StudentDrafter(self.model, self.vocab_size, env.stop_ids)
        self.optimizer = GuardedOptimizer(self.model, optim or OptimConfig(), total_steps)
        self.gamma = min(config.gamma_init, self.gamma_max)
        self.gamma_history: list[int] = []
        self.batched_drafter: BatchedStudentDrafter | None = None

    # ----------------------------------------------------------------- acting

    def seed(self, seed: int) -> None:
        """Seed the drafting RNG."""
        self.drafter.seed(seed)

    def state_dict(self) -> dict[str, Any]:
        """Training state besides the weights: optimizer, schedule, counters and the drafting RNG."""
        return {"optimizer": self.optimizer.state_dict(), "drafter_rng": self.drafter.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.drafter.generator.set_state(state["drafter_rng"])

    def begin_episode(self, observation: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        """Reset the draft length and the student's cache."""
        self.drafter.reset()
        self.gamma = min(self.config.gamma_init, self.gamma_max)
        self.gamma_history = []

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Draft the next block of up to gamma tokens, within the remaining length budget."""
        sequence = observation["query"].tolist() + observation["response"].tolist()
        remaining = self.env.config.max_new_tokens - len(observation["response"])
        length = max(1, min(self.gamma, remaining))
        self.gamma_history.append(length)
        self.model.eval()
        return self.drafter.draft(sequence, length, self.config.draft_temperature, self.config.draft_top_p)

    def rollout_batch(self, envs: Any, sample_ids: list[str], seeds: list[int]) -> list[Episode]:
        """Roll out one episode per item in ``envs``, a :class:`~cultural_env.vector.CulturalTokenVectorEnv`, together.

        The drafting RNG is seeded with ``seeds[0]``, and the drafter and the teacher's batched
        cache start empty, so a batch depends only on its items, seeds and the current weights.
        All episodes are drafted with the same weights, those before the batch's first learning
        step. See :func:`agents.batched_rollout.run_batched_episodes`.
        """
        if envs.config.reward_mode == "neg_reverse_kl":
            raise ConfigError(
                "env.reward_mode='neg_reverse_kl' needs the draft's log-probabilities, which batched rollouts do not pass; "
                "set train.num_envs=1 or choose another reward_mode"
            )
        if self.batched_drafter is None or self.batched_drafter.lm.batch_size != envs.num_envs:
            self.batched_drafter = BatchedStudentDrafter(self.model, self.vocab_size, self.env.stop_ids, envs.num_envs)
        self.batched_drafter.seed(seeds[0])
        self.model.eval()
        return run_batched_episodes(
            envs,
            self.batched_drafter,
            sample_ids,
            seeds,
            gamma_init=min(self.config.gamma_init, self.gamma_max),
            gamma_max=self.gamma_max,
            temperature=self.config.draft_temperature,
            top_p=self.config.draft_top_p,
            shared_blocks=self.config.shared_blocks,
        )

    def observe(self, transition: Transition) -> None:
        """Adapt gamma to how much of the block the teacher accepted."""
        block_length = len(transition.info["accepted"])
        self.gamma = next_block_size(self.gamma, transition.info["num_accepted"], block_length, self.gamma_max)

    # ----------------------------------------------------------------- learning

    def loss(self, episode: Episode) -> tuple[torch.Tensor, int]:
        """Return the mean per-token divergence over the episode's response and the number of tokens in it.

        One student forward with gradients runs over prompt plus response. The teacher side is what
        the environment recorded while verifying (see :meth:`teacher_side`), so the teacher is not run again.
        With ``kl_clip`` each position's divergence is clipped first; with ``mask_think`` the
        think span is left out, and a response that is all think span gives a zero loss.
        """
        teacher = self.teacher_side(episode)
        if self.config.loss_mode == "chunked":
            per_token = self.chunked_divergence(episode.query_ids, episode.response_ids, teacher)  # (T,)
        else:
            student_log_probs = self.student_log_probs(episode.query_ids, episode.response_ids)  # (T, V)
            per_token = teacher_side_divergence(
                student_log_probs, teacher, 0, len(episode.response_ids), self.vocab_size, self.config.loss, self.config.jsd_beta
            )  # (T,)
        if self.config.kl_clip is not None:
            per_token = per_token.clamp(max=self.config.kl_clip)
        if self.think_ids is not None:
            inside = think_span_mask(episode.response_ids.tolist(), *self.think_ids)
            keep = torch.tensor([not masked for masked in inside], dtype=torch.bool, device=per_token.device)  # (T,)
            per_token = per_token[keep]
            if per_token.numel() == 0:
                return per_token.sum() * 0.0, 0
        return per_token.mean(), per_token.shape[0]

    def teacher_side(self, episode: Episode) -> TeacherSide:
        """Collect the teacher's distributions along the episode, in the form of the env's ``record``.

        "log_probs" gives the recorded (T, V) rows, "top_k" the (T, K) kept log-probabilities and
        ids, and "hidden" the (T, H_t) final hidden states with the teacher's output matrix.
        """
        infos = [transition.info for transition in episode.transitions]
        record = self.env.config.record
        if record == "top_k":
            log_probs, token_ids = TeacherTopKLogProbs.concatenate([info["teacher_top_k"] for info in infos])  # (T, K) each
            return TeacherTopK(log_probs, token_ids)
        if record == "hidden":
            hidden = TeacherFinalHidden.concatenate([info["teacher_hidden"] for info in infos])  # (T, H_t)
            return TeacherHiddenStates(hidden, self.env.teacher_output_weight, self.env.config.acceptance.temperature)
        log_probs = TeacherLogProbs.concatenate([info["teacher_log_probs"] for info in infos])  # (T, V)
        return TeacherLogProbRows(log_probs.to(self.device))

    def chunked_divergence(self, query_ids: np.ndarray, response_ids: np.ndarray, teacher: TeacherSide) -> torch.Tensor:
        """Per-token divergence (T,) from the student's final hidden states, one chunk of positions at a time."""
        input_ids = torch.as_tensor(np.concatenate([query_ids, response_ids]), device=self.device)[None]  # (1, P+T)
        hidden = final_hidden_states(self.model, input_ids, len(response_ids))  # (T, H)
        return chunked_token_divergence(
            hidden,
            self.model.get_output_embeddings().weight,
            teacher,
            self.vocab_size,
            kind=self.config.loss,
            beta=self.config.jsd_beta,
            temperature=self.loss_temperature,
            chunk_size=self.config.loss_chunk_size,
        )

    def student_log_probs(self, query_ids: np.ndarray, response_ids: np.ndarray) -> torch.Tensor:
        """Student log-probabilities (T, V) at the loss temperature for each response position."""
        response_length = len(response_ids)
        input_ids = torch.as_tensor(np.concatenate([query_ids, response_ids]), device=self.device)[None]  # (1, P+T)
        # The logits at positions P-1 .. P+T-2 predict the T response tokens; keep only those.
        logits = self.model(input_ids=input_ids, logits_to_keep=response_length + 1).logits[0, :-1, : self.vocab_size]
        return torch.log_softmax(logits.float() / self.loss_temperature, dim=-1)  # (T, V)

    def learn(self, episode: Episode) -> dict[str, float]:
        """Accumulate the episode's loss and step the optimizer when due; return metrics."""
        self.model.train()
        loss, num_tokens = self.loss(episode)
        metrics = self.optimizer.backward(loss)
        metrics["losses/kd"] = float(loss.detach())
        metrics["losses/tokens"] = float(num_tokens)
        metrics.update(rollout_metrics(episode, self.gamma_history))
        return metrics


def rollout_metrics(episode: Episode, gamma_history: list[int]) -> dict[str, float]:
    """Return acceptance and draft-length statistics of one episode, namespaced ``rollout/``.

    The draft lengths are the episode's ``draft_lengths`` when the rollout recorded them (batched
    rollouts do), else ``gamma_history``, the lengths the agent kept while acting.
    """
    blocks = [transition.info["accepted"] for transition in episode.transitions]
    drafted = sum(len(block) for block in blocks)
    accepted = sum(int(block.sum()) for block in blocks)
    gammas = np.asarray(episode.draft_lengths or gamma_history or [0], dtype=np.float64)
    return {
        "rollout/acceptance_rate": accepted / max(1, drafted),
        "rollout/first_token_acceptance": float(np.mean([bool(block[0]) for block in blocks])) if blocks else 0.0,
        "rollout/full_match_rate": float(np.mean([bool(block.all()) for block in blocks])) if blocks else 0.0,
        "rollout/gamma_mean": float(gammas.mean()),
        "rollout/gamma_min": float(gammas.min()),
        "rollout/gamma_max": float(gammas.max()),
        "rollout/gamma_std": float(gammas.std()),
        "rollout/tokens_drafted": float(drafted),
        "rollout/tokens_accepted": float(accepted),
        "rollout/response_length": float(len(episode.response_ids)),
    }
