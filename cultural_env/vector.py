"""CulturalTokenVectorEnv: B CulturalKD episodes whose drafted blocks the teacher verifies in one forward."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from cultural_env.batched_decoding import BatchedSequenceModel, pad_rows
from cultural_env.data import CulturalSample
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError, CulturalKDError, EpisodeStateError, InvalidActionError
from cultural_env.teacher import Verification

logger = logging.getLogger(__name__)


class CulturalTokenVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` episodes of :class:`~cultural_env.env.CulturalTokenEnv` stepped together.

    ``gymnasium.make_vec("CulturalKD-v0", num_envs=B)`` builds this class. Each row is a full
    ``CulturalTokenEnv`` (same config, one shared teacher model), so prompts, acceptance,
    corrections, rewards and infos follow that class's docstring row by row. What changes is
    the teacher's forward: one batched forward verifies the blocks of all stepping rows, with
    per-row lengths, explicit position ids and an attention mask over cache plus new tokens
    (:class:`~cultural_env.batched_decoding.BatchedSequenceModel`). Tokens a row discards stay
    in the shared cache, masked out, until the cache is compacted. A row that starts an episode
    encodes its prompt in a forward of its own first (counted in ``teacher_lm.prefill_calls``),
    so the other rows are not padded to the prompt's length.

    ## Spaces

    ``single_observation_space`` and ``single_action_space`` are the row env's spaces; the
    batched spaces come from :func:`gymnasium.vector.utils.batch_space`, so an observation is
    ``{"query": (B arrays), "response": (B arrays)}``. ``step`` takes B blocks: a sequence of
    B 1-D int arrays or torch tensors (lengths may differ), or a (B, G) int array or tensor. An
    empty block, which a row env would reject, skips its row for that step, so rows that
    finished an episode can wait while the others finish theirs. Every row's block is checked
    before any row steps, so a step that raises changes no row.

    ## Seeding and equivalence

    ``reset(seed=s)``, with s a Python or NumPy integer, seeds row r with ``s + r``, so row r draws the same item and the same
    teacher corrections as ``CulturalTokenEnv.reset(seed=s + r)`` given the same actions. A
    list of B seeds seeds row r with the r-th, and ``options={"sample_id": [id_0, ...]}`` (a list
    of B ids) picks each row's item. The
    batched forward pads rows, which changes logits by float rounding (about 1e-6 in float32),
    so a correction drawn at a probability boundary can differ in rare cases.

    ## Draft log-probabilities

    With ``reward_mode="neg_reverse_kl"``, call :meth:`set_draft_log_probs` with one entry per
    row before each ``step``, as ``CulturalTokenEnv.set_draft_log_probs`` is called before each
    of its steps.

    ## Autoreset

    ``metadata["autoreset_mode"]`` is ``NEXT_STEP``: the step after a row terminates or
    truncates resets that row, ignores its action, and returns its reset observation and info
    with reward 0. ``reset(options={"reset_mask": mask})`` resets only the rows in the mask;
    other ``options`` keys go to every row's ``reset``.

    ## Info

    Every key of a row's info becomes an array over rows with a boolean ``_key`` mask of the
    rows that set it. Scalars are stacked into numeric arrays; arrays and objects, whose shapes
    differ between rows, go into object arrays.

    ## Rendering

    ``render_mode`` "ansi" or "human" renders each row as ``CulturalTokenEnv`` does; ``render``
    returns a tuple of the B rows' texts for "ansi", as Gymnasium's ``SyncVectorEnv`` does.

    ## Closing

    ``close`` frees the teacher's caches. Afterwards ``reset`` and ``step`` raise
    :class:`~cultural_env.errors.EpisodeStateError`.

    ## Arguments

    ``num_envs`` is B; the other arguments are those of ``CulturalTokenEnv``.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        num_envs: int = 1,
        config: Any = None,
        *,
        render_mode: str | None = None,
        teacher_model: torch.nn.Module | None = None,
        tokenizer: Any = None,
        samples: Sequence[CulturalSample] | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        first = CulturalTokenEnv(
            config, render_mode=render_mode, teacher_model=teacher_model, tokenizer=tokenizer, samples=samples, **overrides
        )
        self.envs = [first] + [
            CulturalTokenEnv(
                first.config, render_mode=render_mode, teacher_model=first.teacher.lm.model, tokenizer=first.tokenizer, samples=first.samples
            )
            for _ in range(num_envs - 1)
        ]
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.config = first.config
        self.tokenizer = first.tokenizer
        self.vocab_size = first.vocab_size
        self.stop_ids = first.stop_ids
        self.teacher_lm = BatchedSequenceModel(first.teacher.lm.model, first.vocab_size, num_envs)

        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        for env in self.envs:
            env._draft_log_probs_fix = (
                f"call envs.unwrapped.set_draft_log_probs(log_probs) with {num_envs} entries, one per row, before each step"
            )
        self._observations: list[dict[str, np.ndarray]] = [first._observation() for _ in range(num_envs)]
        self._autoreset = np.zeros(num_envs, dtype=bool)

    # ----------------------------------------------------------------- vector API

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: Mapping[str, Any] | None = None):
        """Reset every row, or the rows of ``options["reset_mask"]``, seeding row r with ``seed + r``.

        Resetting every row also empties the teacher's batched cache.
        """
        self._check_open()
        seeds = self._row_seeds(seed)
        super().reset(seed=seeds[0] if _is_integer(seed) else None)
        options = dict(options or {})
        requested_mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=bool)))
        if requested_mask.dtype != np.bool_ or requested_mask.shape != (self.num_envs,):
            # Row indices such as [0, 2] would otherwise be cast to a mask of the wrong rows.
            raise ConfigError(
                f"reset_mask must be a boolean array of shape ({self.num_envs},), got {requested_mask.dtype} of shape {requested_mask.shape}; "
                "pass True for each row to reset"
            )
        reset_mask = requested_mask

        per_row = self._row_options(options)
        if reset_mask.all():
            # A fresh start of every row: drop the teacher's batched cache, so that the
            # results do not depend on what earlier episodes left in it.
            self.teacher_lm.reset()
        infos: dict[str, Any] = {}
        for row in np.flatnonzero(reset_mask):
            observation, info = self.envs[row].reset(seed=seeds[row], options=per_row[row] or None)
            self._observations[row] = observation
            self._autoreset[row] = False
            infos = self._add_row_info(infos, info, int(row))
        return self._batched_observations(), infos

    def step(self, actions: Any):
        """Verify one block per row with one teacher forward; rows that ended last step are reset instead.

        A row whose block is empty sits the step out: nothing is verified, its reward is 0 and
        it sets no info keys.
        """
        self._check_open()
        blocks = self._split_actions(actions)
        stepping = [row for row in range(self.num_envs) if not self._autoreset[row] and np.size(blocks[row]) > 0]
        # Check every row before any row resets or takes its draft log-probabilities, so that a
        # step that raises changes nothing and can be retried with a fixed action.
        checked: dict[int, list[int]] = {}
        for row in stepping:
            try:
                checked[row] = self.envs[row].check_step(blocks[row])
            except CulturalKDError as error:
                raise type(error)(f"row {row}: {error}") from error

        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=bool)
        truncations = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        for row in np.flatnonzero(self._autoreset):
            self._observations[row], info = self.envs[row].reset()
            infos = self._add_row_info(infos, info, int(row))
        prepared = {row: self.envs[row].prepare_checked_step(block) for row, block in checked.items()}

        verifications = self._verify({row: verified for row, (verified, _, _) in prepared.items()})

        for row, (verified, num_ignored, draft_log_probs) in prepared.items():
            observation, reward, terminated, truncated, info = self.envs[row].finish_step(
                verified, verifications[row], num_ignored, draft_log_probs
            )
            self._observations[row] = observation
            rewards[row], terminations[row], truncations[row] = reward, terminated, truncated
            infos = self._add_row_info(infos, info, row)
        self._autoreset = terminations | truncations
        return self._batched_observations(), rewards, terminations, truncations, infos

    def set_draft_log_probs(self, log_probs: Sequence[Any]) -> None:
        """Hand each row's log-probabilities of its next block's tokens to that row's ``set_draft_log_probs``.

        ``log_probs`` has B entries: a 1-D array or tensor of a row's (G,) log-probabilities, or
        None for a row that skips the next step, which clears any the row holds.
        """
        if isinstance(log_probs, (str, bytes)) or not isinstance(log_probs, Sequence) or len(log_probs) != self.num_envs:
            kind = f"{len(log_probs)} entries" if isinstance(log_probs, Sequence) else type(log_probs).__name__
            raise InvalidActionError(f"set_draft_log_probs needs {self.num_envs} entries, a 1-D array or None per row, got {kind}")
        previous = [env._draft_log_probs for env in self.envs]
        for row, (env, values) in enumerate(zip(self.envs, log_probs)):
            if values is None:
                env._draft_log_probs = None
                continue
            try:
                env.set_draft_log_probs(values)
            except CulturalKDError as error:
                for restored, values_before in zip(self.envs, previous):  # all rows or none
                    restored._draft_log_probs = values_before
                raise type(error)(f"row {row}: {error}") from error

    def render(self) -> tuple[str | None, ...] | None:
        """Render every row's episode: a tuple of B texts for "ansi"; for "human", print them and return None.

        With "human" each row also prints itself after every step, as ``CulturalTokenEnv`` does.
        """
        self._check_open()
        if self.render_mode == "human":
            for env in self.envs:
                env.render()
            return None
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        """Free the teacher's caches."""
        for env in self.envs:
            env.close()
        self.teacher_lm.reset()

    # ----------------------------------------------------------------- internals

    @torch.no_grad()
    def _verify(self, drafts: Mapping[int, list[int]]) -> dict[int, Verification]:
        """Run one teacher forward over every row's pending tokens plus its draft; judge each row."""
        if not drafts:
            return {}
        feeds: list[list[int]] = [[] for _ in range(self.num_envs)]
        for row, draft in drafts.items():
            pending = self.teacher_lm.sync(row, self.envs[row].teacher.sequence)
            feeds[row] = pending + draft[:-1]
        # A long feed (a fresh prompt) runs its leading part alone first; the draft positions stay in the batch.
        needed = [len(drafts[row]) if row in drafts else 0 for row in range(self.num_envs)]
        feeds = self.teacher_lm.prefill_long_feeds(feeds, needed)
        tokens, lengths = pad_rows(feeds, self.teacher_lm.device)  # (B, S)
        keep_hidden = self.config.record == "hidden"
        logits, hidden = self.teacher_lm.forward_with_hidden(tokens, lengths, output_hidden_states=keep_hidden)  # (B, S, V), (B, S, H)

        verifications = {}
        for row, draft in drafts.items():
            teacher = self.envs[row].teacher
            # The row's own Teacher judges the block and keeps the row's sequence, RNG and adaptive
            # top-k state. The batched forward counts as one forward of each row it verified.
            teacher.lm.forward_calls += 1
            block = slice(lengths[row] - len(draft), lengths[row])
            block_hidden = hidden[row, block] if keep_hidden else None  # (G, H)
            verifications[row] = teacher.judge(logits[row, block], draft, block_hidden)  # logits (G, V)
        return verifications

    def _check_open(self) -> None:
        if self.closed:
            raise EpisodeStateError('this vector env is closed; make a new one with gymnasium.make_vec("CulturalKD-v0", num_envs=...)')

    def _split_actions(self, actions: Any) -> list[Any]:
        """Return one block per row; torch tensors become NumPy arrays, so that ``np.size`` counts their tokens."""
        if isinstance(actions, torch.Tensor):
            actions = actions.detach().cpu().numpy()
        if isinstance(actions, np.ndarray) and actions.ndim == 2:
            actions = list(actions)
        if not isinstance(actions, (list, tuple)) or len(actions) != self.num_envs:
            kind = f"{len(actions)} items" if isinstance(actions, (list, tuple)) else type(actions).__name__
            raise InvalidActionError(
                f"actions must be {self.num_envs} blocks (a sequence of 1-D arrays or a ({self.num_envs}, G) array), got {kind}"
            )
        return [block.detach().cpu().numpy() if isinstance(block, torch.Tensor) else block for block in actions]

    def _row_options(self, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Split reset options into one dict per row; a list or array of B values gives row r its r-th value."""
        rows: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key, value in options.items():
            if isinstance(value, (list, tuple, np.ndarray)):
                if len(value) != self.num_envs:
                    raise ConfigError(f"reset option {key!r} has {len(value)} values; give one value or {self.num_envs}, one per row")
                for row in range(self.num_envs):
                    rows[row][key] = value[row].item() if isinstance(value, np.ndarray) else value[row]
            else:
                for row in range(self.num_envs):
                    rows[row][key] = value
        return rows

    def _row_seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        """Return one Python int (or None) per row: ``seed + r`` for an integer seed, else the r-th of B seeds."""
        if seed is None:
            return [None] * self.num_envs
        if _is_integer(seed):
            return [int(seed) + row for row in range(self.num_envs)]
        is_list = isinstance(seed, (list, tuple)) or (isinstance(seed, np.ndarray) and seed.ndim == 1)
        if not is_list:
            raise ConfigError(f"seed must be an int, None or a list of {self.num_envs} ints, got {seed!r}")
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ConfigError(f"seed must be an int or {self.num_envs} seeds, got {len(seeds)} seeds")
        for value in seeds:
            if value is not None and not _is_integer(value):
                raise ConfigError(f"seed must be an int, None or a list of {self.num_envs} ints, got {value!r} in the list")
        return [None if value is None else int(value) for value in seeds]

    def _batched_observations(self) -> dict[str, Any]:
        empty = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, self._observations, empty)

    def _add_row_info(self, infos: dict[str, Any], info: Mapping[str, Any], row: int) -> dict[str, Any]:
        """Put one row's info into per-key arrays with ``_key`` masks, as Gymnasium's vector envs do."""
        for key, value in info.items():
            if key not in infos:
                numeric = isinstance(value, (bool, int, float, np.bool_, np.number))
                infos[key] = np.zeros(self.num_envs, dtype=type(value)) if numeric else np.full(self.num_envs, None, dtype=object)
                infos[f"_{key}"] = np.zeros(self.num_envs, dtype=bool)
            infos[key][row] = value
            infos[f"_{key}"][row] = True
        return infos


def _is_integer(value: Any) -> bool:
    """Return whether ``value`` is a Python or NumPy integer; booleans are not."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
