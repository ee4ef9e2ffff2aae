"""CulturalTokenEnv: token-level knowledge distillation as a Gymnasium environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from cultural_env.config_fields import build_dataclass
from cultural_env.data import CulturalSample
from cultural_env.env_config import EnvConfig
from cultural_env.errors import ConfigError, EpisodeStateError, InvalidActionError
from cultural_env.models import load_causal_lm, load_tokenizer, stop_token_ids
from cultural_env.prompts import render_prompt_ids, student_messages, teacher_messages, truncate_knowledge
from cultural_env.spaces import TokenBlock, token_sequence_space
from cultural_env.teacher import Teacher, Verification
from cultural_env.teacher_record import TeacherFinalHidden, TeacherLogProbs, TeacherTopKLogProbs

logger = logging.getLogger(__name__)

_knowledge_cut_warned = False
"""Whether this process has logged a knowledge cut at warning level; later cuts, in any environment, log at debug."""


class CulturalTokenEnv(gym.Env):
    """A student writes a response token by token; a teacher who reads privileged knowledge judges it.

    ## Description

    Each episode is one (query Q, knowledge K) item. The student policy sees only Q and the
    response so far; the teacher, held inside the environment, reads a chat prompt with a system
    message, optional few-shot turns and ``[Background Knowledge] K`` before Q. The agent proposes
    a block of drafted tokens; the teacher verifies the whole block with one forward pass, accepts
    the longest prefix whose tokens are each in its top-k and above ``min_prob``, and replaces the
    first rejected token with a token of its own. This is speculative knowledge distillation (SKD)
    with learning using privileged information (LUPI): the trajectory is mostly the student's own,
    and the teacher's distributions along it are returned for learning.

    ## Action space

    :class:`~cultural_env.spaces.TokenBlock`: a 1-D int array of 1 to ``block_size`` token ids in
    [0, V), where V = ``len(tokenizer)``. A Python or NumPy integer is a block of one. Tokens after
    the first stop token (EOS or ``<|im_end|>``) and tokens beyond the ``max_new_tokens`` budget
    are not verified.

    ## Observation space

    ``Dict(query, response)``, each a 1-D int64 array of token ids in [0, V):

    - ``query``: the student's prompt (chat template applied to Q, with the generation prompt);
    - ``response``: the response tokens so far, y_<t.

    The knowledge K never appears in an observation.

    ## Rewards

    The reward of a step is a sum over the judged drafted tokens d_i: the accepted prefix and,
    when the teacher rejected one, the first rejected token. ``reward_mode`` selects the
    per-token term:

    - ``"accept"`` (default): A_i, 1 for an accepted token and 0 for the rejected one, so the
      reward is the accepted prefix length n.
    - ``"teacher_logprob"``: log p_t(d_i), the teacher's log-probability at the teacher
      temperature; the reward is at most 0.
    - ``"neg_reverse_kl"``: log p_t(d_i) - log p_s(d_i), where log p_s(d_i) is the student's
      log-probability of its own drafted token. Its expectation over the student's sampling is
      -KL(p_s || p_t) at each judged position, so the return is the negative reverse KL of the
      response. The environment has no student, so before each ``step`` the agent passes the
      log-probabilities of the block's tokens, under the distribution it sampled them from, to
      :meth:`set_draft_log_probs`; ``step`` raises :class:`EpisodeStateError` without them.

    Drafted tokens after the first rejected one are discarded unjudged and earn nothing.

    ## Starting state

    ``reset`` picks an item: ``options={"sample_id": ID}`` or ``{"sample_index": I}`` selects one,
    otherwise it is drawn uniformly with the environment's RNG. The response is empty.

    ## Episode end

    ``terminated`` is true when a stop token was appended (drafted and accepted, or the teacher's
    correction). ``truncated`` is true when the response reaches ``max_new_tokens`` without one.

    ## Info

    ``reset`` returns ``sample_id``, ``category`` and ``teacher_prompt_length``. ``step`` returns:

    - ``accepted``: (G,) bool, A_t per verified drafted token (true for the accepted prefix);
    - ``teacher_accepts``: (G,) bool, the rule's verdict on each token on its own;
    - ``num_accepted``: n, the accepted prefix length;
    - ``correction``: the teacher's replacement token id, or -1 when the whole block was accepted;
    - ``appended``: the tokens appended to the response (accepted prefix, then the correction);
    - ``draft_ranks``, ``draft_probs``: (G,) teacher rank (0-based) and probability of each drafted token;
    - ``top_k``: (G,) int64, the k that the acceptance rule used at each drafted token. It equals
      ``acceptance.top_k`` everywhere unless ``acceptance.adaptive_top_k`` is set; then it is
      K_eff = clip(K_baseline + round(c · (2H̃ − 1)), k_min, k_max), where K_baseline starts at
      ``k_init`` each episode and moves with an EMA of per-token acceptance, and H̃ is the
      teacher's entropy at that position divided by log V (see :mod:`cultural_env.adaptive_top_k`);
    - the teacher's distributions at the n' = len(appended) appended positions, at the teacher
      temperature and on the teacher's device, under one key that ``record`` selects:

      - ``"log_probs"`` (default): ``teacher_log_probs``, a
        :class:`~cultural_env.teacher_record.TeacherLogProbs` with the (n', V) log-probabilities;
      - ``"top_k"``: ``teacher_top_k``, a :class:`~cultural_env.teacher_record.TeacherTopKLogProbs`
        with the K = ``record_top_k`` largest log-probabilities (n', K), largest first, and their
        token ids (n', K). It is approximate: the rest of the distribution is known only as its
        total mass;
      - ``"hidden"``: ``teacher_hidden``, a :class:`~cultural_env.teacher_record.TeacherFinalHidden`
        with the teacher's final hidden states (n', H) from the verification forward. It is exact:
        ``log_softmax(hidden @ teacher_output_weight[:V].T / acceptance.temperature)`` gives the
        log-probabilities of ``"log_probs"``, up to float rounding;
    - ``num_ignored``: drafted tokens dropped after a stop token or beyond the length budget;
    - ``response_length``, ``teacher_forwards`` (teacher forward passes in this episode so far).

    ## Arguments

    ``config``: an :class:`~cultural_env.env_config.EnvConfig`, a mapping of its fields, or a
    YAML run-config path (its ``env`` section is used). Keyword ``overrides`` replace top-level
    fields (``max_new_tokens=64``, ``acceptance={"top_k": 3}``). ``teacher_model`` and
    ``tokenizer`` take already loaded objects; ``samples`` a list of
    :class:`~cultural_env.data.CulturalSample` to use instead of the configured dataset.
    ``record="hidden"`` needs a teacher whose logits are its final hidden states times its output
    matrix (no bias, no logit soft-capping), as in Qwen3 and Llama; other teachers raise
    :class:`~cultural_env.errors.ConfigError`.
    With no arguments the embedded default is built: tiny models, offline, on the CPU.

    ## Version history

    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    _draft_log_probs_fix = "call env.unwrapped.set_draft_log_probs(log_probs) before each step"
    """Fix named by the error for missing draft log-probabilities. The vector environment sets its own method here."""

    def __init__(
        self,
        config: EnvConfig | Mapping[str, Any] | str | os.PathLike | None = None,
        *,
        render_mode: str | None = None,
        teacher_model: torch.nn.Module | None = None,
        tokenizer: Any = None,
        samples: Sequence[CulturalSample] | None = None,
        **overrides: Any,
    ) -> None:
        self.config = resolve_env_config(config, overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"invalid render_mode {render_mode!r}; use one of {self.metadata['render_modes']} or None")
        self.render_mode = render_mode

        self.tokenizer = load_tokenizer(
            tokenizer if tokenizer is not None else (self.config.tokenizer or self.config.teacher),
            trust_remote_code=self.config.trust_remote_code,
        )
        teacher = load_causal_lm(
            teacher_model if teacher_model is not None else self.config.teacher,
            device=self.config.device,
            role="teacher",
            dtype=self.config.dtype,
            device_map=self.config.device_map,
            attn_implementation=self.config.attn_implementation,
            trust_remote_code=self.config.trust_remote_code,
        )
        teacher.eval()
        self.vocab_size = len(self.tokenizer)
        self.stop_ids = stop_token_ids(self.tokenizer, teacher)
        check_record_config(self.config, teacher, self.vocab_size)
        self.teacher = Teacher(teacher, self.vocab_size, self.config.acceptance, keep_hidden=self.config.record == "hidden")
        self.samples = list(samples) if samples is not None else load_samples(self.config)
        if not self.samples:
            raise ConfigError("the environment has no samples; check data.path, data.split and data.categories")
        self._sample_index = {sample.id: index for index, sample in enumerate(self.samples)}

        self.action_space = TokenBlock(self.vocab_size, self.config.block_size)
        self.observation_space = gym.spaces.Dict(
            {"query": token_sequence_space(self.vocab_size), "response": token_sequence_space(self.vocab_size)}
        )

        self.sample: CulturalSample | None = None
        self.query_ids = np.zeros(0, dtype=np.int64)
        self.response: list[int] = []
        self.done = True
        self.history: list[dict[str, Any]] = []
        self._forwards_at_reset = 0
        self._draft_log_probs: np.ndarray | None = None

    # ----------------------------------------------------------------- episode API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode on a chosen or random item; see the class docstring."""
        super().reset(seed=seed)
        self.sample = self.samples[self._choose_sample(options or {})]
        self.query_ids = np.asarray(self.student_prompt_ids(self.sample), dtype=np.int64)
        teacher_prompt = self.teacher_prompt_ids(self.sample)
        self.teacher.begin(teacher_prompt, seed=int(self.np_random.integers(2**63 - 1)))
        self.response = []
        self.history = []
        self.done = False
        self._draft_log_probs = None
        self._forwards_at_reset = self.teacher.forward_calls
        info = {"sample_id": self.sample.id, "category": self.sample.category, "teacher_prompt_length": len(teacher_prompt)}
        return self._observation(), info

    def step(self, action: Any):
        """Verify one drafted block; see the class docstring for the returned values."""
        verified, num_ignored, draft_log_probs = self.prepare_step(action)
        verification = self.teacher.verify(verified)
        return self.finish_step(verified, verification, num_ignored, draft_log_probs)

    def check_step(self, action: Any) -> list[int]:
        """Check ``action`` and its draft log-probabilities as ``step`` does, without changing any state.

        Return the block as token ids. The vector environment checks every row with this before
        any row's :meth:`prepare_checked_step` takes its draft log-probabilities, so a failed step
        changes no row.
        """
        block = self._validate_action(action)
        self._check_draft_log_probs(len(block))
        return block

    def prepare_step(self, action: Any) -> tuple[list[int], int, np.ndarray | None]:
        """Validate ``action``; return the block to verify, the count of ignored tokens and the draft log-probabilities.

        ``step`` is ``prepare_step``, the teacher's verification, then ``finish_step``; the vector
        environment calls the two halves around one batched verification of all its rows. When
        ``prepare_step`` raises, the draft log-probabilities stay set for a retry.
        """
        return self.prepare_checked_step(self.check_step(action))

    def prepare_checked_step(self, block: list[int]) -> tuple[list[int], int, np.ndarray | None]:
        """Do what :meth:`prepare_step` does for a ``block`` that :meth:`check_step` returned, without checking it again."""
        draft_log_probs = self._take_draft_log_probs()
        verified, num_ignored = self._verifiable_part(block)
        return verified, num_ignored, draft_log_probs

    def finish_step(self, verified: list[int], verification: Verification, num_ignored: int, draft_log_probs: np.ndarray | None):
        """Apply the teacher's verdict on ``verified``; return what ``step`` returns."""
        self.response.extend(verification.appended)

        terminated = verification.appended[-1] in self.stop_ids
        truncated = not terminated and len(self.response) >= self.config.max_new_tokens
        self.done = terminated or truncated

        reward = self._reward(verification, verified, draft_log_probs)
        info = self._step_info(verified, verification, num_ignored)
        self.history.append({"draft": verified, **info})
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, truncated, info

    def set_draft_log_probs(self, log_probs: Any) -> None:
        """Hand over the student's log-probabilities of the next action's tokens, (G,) floats <= 0.

        ``reward_mode="neg_reverse_kl"`` needs them before every ``step``; the other modes ignore
        them. They apply to the next ``step`` only, and ``reset`` discards them.
        """
        values = np.asarray(log_probs.detach().cpu() if hasattr(log_probs, "detach") else log_probs, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise InvalidActionError(f"draft log-probabilities must be a non-empty 1-D array, got shape {values.shape}")
        if not np.isfinite(values).all():
            raise InvalidActionError("draft log-probabilities contain NaN or infinity; pass finite log-probabilities of the sampled tokens")
        if values.max() > 1e-4:
            raise InvalidActionError(
                f"draft log-probabilities must be <= 0, got {values.max():.4g}; pass log-probabilities, not probabilities or logits"
            )
        self._draft_log_probs = values

    def render(self) -> str | None:
        """Render the episode so far: text for "ansi", printed to the console for "human"."""
        from cultural_env.rendering import render_episode_text, print_episode

        if self.render_mode == "ansi":
            return render_episode_text(self)
        if self.render_mode == "human":
            print_episode(self)
        return None

    def close(self) -> None:
        """Free the teacher's KV cache; safe to call more than once."""
        self.teacher.lm.reset()

    @property
    def teacher_output_weight(self) -> torch.Tensor:
        """The teacher's output matrix (V_padded, H), which maps ``teacher_hidden`` records to logits; rows from V on are padding."""
        return self.teacher.lm.model.get_output_embeddings().weight

    # ----------------------------------------------------------------- prompts

    def student_prompt_ids(self, sample: CulturalSample) -> list[int]:
        """Token ids of the student's prompt for ``sample`` (query only)."""
        return render_prompt_ids(self.tokenizer, student_messages(sample.query, self.config.prompt), self.config.prompt)

    def teacher_prompt_ids(self, sample: CulturalSample) -> list[int]:
        """Token ids of the teacher's prompt for ``sample``, with knowledge cut to fit the context."""
        return self._teacher_prompt(sample)[0]

    def teacher_knowledge(self, sample: CulturalSample) -> str | None:
        """Return the knowledge text the teacher reads for ``sample``, after the cuts of :meth:`teacher_prompt_ids`."""
        return self._teacher_prompt(sample)[1]

    def _teacher_prompt(self, sample: CulturalSample) -> tuple[list[int], str | None]:
        """Render the teacher's prompt; return its token ids and the knowledge text it contains.

        Knowledge is cut to ``prompt.max_knowledge_tokens`` when that is set, and further when
        the prompt plus ``max_new_tokens`` would pass the teacher's context length. The first cut
        in the process is logged as a warning and later ones at debug level.
        """
        prompt_config = self.config.prompt
        knowledge = sample.knowledge
        if knowledge is not None:
            knowledge = self._cut_knowledge(knowledge, prompt_config.max_knowledge_tokens, sample.id)
        ids = render_prompt_ids(self.tokenizer, teacher_messages(sample.query, knowledge, prompt_config), prompt_config)
        context_length = getattr(self.teacher.lm.model.config, "max_position_embeddings", None)
        overflow = 0 if context_length is None else len(ids) + self.config.max_new_tokens - context_length
        if overflow > 0 and knowledge is not None:
            knowledge_tokens = len(self.tokenizer(knowledge, add_special_tokens=False)["input_ids"])
            keep = knowledge_tokens - overflow
            if keep < 1:
                raise ConfigError(
                    f"sample {sample.id}: the teacher prompt plus max_new_tokens={self.config.max_new_tokens} "
                    f"exceeds the teacher's context of {context_length} tokens even without knowledge; lower max_new_tokens"
                )
            knowledge = self._cut_knowledge(knowledge, keep, sample.id, reason=f"the teacher's context of {context_length} tokens")
            ids = render_prompt_ids(self.tokenizer, teacher_messages(sample.query, knowledge, prompt_config), prompt_config)
        return ids, knowledge

    # ----------------------------------------------------------------- internals

    def _cut_knowledge(self, knowledge: str, max_tokens: int | None, sample_id: str, reason: str = "prompt.max_knowledge_tokens") -> str:
        """Cut knowledge to ``max_tokens``; the first cut in the process is a warning, later ones are debug logs.

        The warning is once per process, not per environment, so a vector environment of B rows warns once, not B times.
        """
        global _knowledge_cut_warned
        cut, original_tokens = truncate_knowledge(knowledge, self.tokenizer, max_tokens)
        if original_tokens is not None:
            level = logging.DEBUG if _knowledge_cut_warned else logging.WARNING
            _knowledge_cut_warned = True
            logger.log(
                level, "knowledge of sample %s has %d tokens; keeping the first %d to fit %s (later cuts are logged at debug level)",
                sample_id, original_tokens, max_tokens, reason,
            )
        return cut

    def _choose_sample(self, options: Mapping[str, Any]) -> int:
        unknown = set(options) - {"sample_id", "sample_index"}
        if unknown:
            raise ConfigError(f"unknown reset options {sorted(unknown)}; use 'sample_id' or 'sample_index'")
        if "sample_id" in options:
            sample_id = options["sample_id"]
            if sample_id not in self._sample_index:
                from cultural_env.config_fields import suggest

                raise ConfigError(
                    f"unknown sample_id {sample_id!r}{suggest(str(sample_id), self._sample_index)}; "
                    f"this environment has {len(self.samples)} samples, e.g. {self.samples[0].id!r}"
                )
            return self._sample_index[sample_id]
        if "sample_index" in options:
            index = options["sample_index"]
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.samples):
                raise ConfigError(f"sample_index must be an integer in [0, {len(self.samples)}), got {index!r}")
            return int(index)
        return int(self.np_random.integers(len(self.samples)))

    def _validate_action(self, action: Any) -> list[int]:
        if self.sample is None:
            raise EpisodeStateError("step() called before reset(); call env.reset() first")
        if self.done:
            raise EpisodeStateError("step() called after the episode ended; call env.reset() to start a new one")
        return self.action_space.to_block(action)

    def _verifiable_part(self, block: list[int]) -> tuple[list[int], int]:
        """Cut the block after its first stop token and to the remaining length budget."""
        verified = block
        for position, token in enumerate(block):
            if token in self.stop_ids:
                verified = block[: position + 1]
                break
        remaining = self.config.max_new_tokens - len(self.response)
        verified = verified[:remaining]
        return verified, len(block) - len(verified)

    def _check_draft_log_probs(self, block_length: int) -> None:
        """Raise unless the log-probabilities that ``reward_mode`` needs are set, one per drafted token."""
        if self.config.reward_mode != "neg_reverse_kl":
            return
        values = self._draft_log_probs
        if values is None:
            raise EpisodeStateError(
                f"reward_mode='neg_reverse_kl' needs the student's log-probabilities of the drafted tokens; {self._draft_log_probs_fix}"
            )
        if len(values) != block_length:
            raise InvalidActionError(
                f"set_draft_log_probs got {len(values)} values for a block of {block_length} tokens; pass one per drafted token"
            )

    def _take_draft_log_probs(self) -> np.ndarray | None:
        """Return and clear the log-probabilities set for this step (None unless ``reward_mode`` uses them)."""
        values, self._draft_log_probs = self._draft_log_probs, None
        return values if self.config.reward_mode == "neg_reverse_kl" else None

    def _reward(self, verification: Verification, verified: list[int], draft_log_probs: np.ndarray | None) -> float:
        if self.config.reward_mode == "accept":
            return float(verification.num_accepted)
        # The judged tokens are the accepted prefix plus the first rejected one, so their teacher
        # distributions are exactly the rows of verification.log_probs.
        judged = len(verification.appended)
        judged_ids = torch.tensor(verified[:judged], dtype=torch.long, device=verification.log_probs.device)  # (J,)
        teacher_log_probs = verification.log_probs.gather(-1, judged_ids[:, None]).squeeze(-1)  # (J,)
        if self.config.reward_mode == "teacher_logprob":
            return float(teacher_log_probs.sum())
        student_log_probs = torch.as_tensor(draft_log_probs[:judged], dtype=teacher_log_probs.dtype, device=teacher_log_probs.device)
        return float((teacher_log_probs - student_log_probs).sum())

    def _step_info(self, verified: list[int], verification: Verification, num_ignored: int) -> dict[str, Any]:
        prefix = np.zeros(len(verified), dtype=bool)
        prefix[: verification.num_accepted] = True
        return {
            "accepted": prefix,
            "teacher_accepts": verification.accepted.cpu().numpy(),
            "num_accepted": verification.num_accepted,
            "correction": -1 if verification.correction is None else verification.correction,
            "appended": np.asarray(verification.appended, dtype=np.int64),
            "draft_ranks": verification.draft_ranks.cpu().numpy(),
            "draft_probs": verification.draft_probs.cpu().numpy(),
            "top_k": verification.top_k.cpu().numpy(),
            **self._teacher_record(verification),
            "num_ignored": num_ignored,
            "response_length": len(self.response),
            "teacher_forwards": self.teacher.forward_calls - self._forwards_at_reset,
        }

    def _teacher_record(self, verification: Verification) -> dict[str, Any]:
        """Build the info entry that keeps the teacher's distributions in the form ``record`` selects."""
        if self.config.record == "top_k":
            return {"teacher_top_k": TeacherTopKLogProbs.from_log_probs(verification.log_probs, self.config.record_top_k)}
        if self.config.record == "hidden":
            return {"teacher_hidden": TeacherFinalHidden(verification.hidden)}
        return {"teacher_log_probs": TeacherLogProbs(verification.log_probs)}

    def _observation(self) -> dict[str, np.ndarray]:
        return {"query": self.query_ids.copy(), "response": np.asarray(self.response, dtype=np.int64)}


def check_record_config(config: EnvConfig, teacher: torch.nn.Module, vocab_size: int) -> None:
    """Raise :class:`ConfigError` when the teacher cannot produce the ``record`` that ``config`` requests."""
    if config.record == "top_k" and config.record_top_k > vocab_size:
        raise ConfigError(f"record_top_k={config.record_top_k} exceeds the vocabulary size {vocab_size}; set record_top_k <= {vocab_size}")
    if config.record != "hidden":
        return
    output_layer = teacher.get_output_embeddings()
    softcap = getattr(teacher.config, "final_logit_softcapping", None)
    if output_layer is None or getattr(output_layer, "bias", None) is not None or softcap:
        reason = "no output layer" if output_layer is None else "an output bias or logit soft-capping"
        raise ConfigError(
            f"record='hidden' needs a teacher whose logits are hidden states times its output matrix, "
            f"but {type(teacher).__name__} has {reason}; use record='log_probs' or record='top_k'"
        )


def resolve_env_config(config: Any, overrides: Mapping[str, Any]) -> EnvConfig:
    """Build an :class:`EnvConfig` from any accepted form plus top-level keyword overrides."""
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, EnvConfig):
        data = asdict(config)
    elif isinstance(config, Mapping):
        data = dict(config)
    elif isinstance(config, (str, os.PathLike)):
        from cultural_env.config_fields import read_yaml

        data = dict(read_yaml(config).get("env") or {})
    else:
        raise ConfigError(f"config must be an EnvConfig, a mapping or a YAML path, got {type(config).__name__}")
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(data.get(key), Mapping):
            value = {**data[key], **value}
        data[key] = value
    return build_dataclass(EnvConfig, data, "env")


def load_samples(config: EnvConfig) -> list[CulturalSample]:
    """Load, filter, split and mix the configured dataset; return the items of ``data.split``."""
    from cultural_env.data import filter_categories, load_cultural_dataset, load_general_prompts, split_dataset

    data = config.data
    samples = load_cultural_dataset(data.language, path=data.path)
    if data.categories is not None:
        samples = filter_categories(samples, data.categories)
    if data.split != "all":
        train, validation = split_dataset(samples, data.validation_fraction, data.seed)
        samples = train if data.split == "train" else validation
    samples = sorted(samples, key=lambda sample: sample.id)
    if data.limit is not None:
        samples = samples[: data.limit]
    if data.mix is not None:
        from cultural_env.mixing import MixSchedule, mix_samples

        general = load_general_prompts(data.general_path)
        samples = mix_samples(samples, general, MixSchedule.parse(data.mix), data.num_items or len(samples), data.seed)
    return samples
