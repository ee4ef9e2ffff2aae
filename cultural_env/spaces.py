"""Gymnasium spaces for token ids: variable-length token sequences and drafted blocks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from cultural_env.errors import InvalidActionError


def token_sequence_space(vocab_size: int) -> gym.spaces.Sequence:
    """Return a space of 1-D int64 arrays of any length with ids in [0, vocab_size)."""
    return gym.spaces.Sequence(gym.spaces.Discrete(vocab_size), stack=True)


class TokenBlock(gym.spaces.Space):
    """A block of 1 to ``max_length`` token ids in [0, ``vocab_size``), as a 1-D int64 array.

    ``sample`` draws a length uniformly in [1, max_length] and ids uniformly. ``to_block`` turns
    an action into a list of ids or raises :class:`InvalidActionError` saying what is wrong.
    """

    def __init__(self, vocab_size: int, max_length: int, seed: int | np.random.Generator | None = None) -> None:
        self.vocab_size = int(vocab_size)
        self.max_length = int(max_length)
        super().__init__(shape=None, dtype=np.int64, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Blocks vary in length, so they cannot be flattened to a fixed-size array."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """Draw a random block."""
        if mask is not None or probability is not None:
            raise NotImplementedError("TokenBlock.sample does not support masks or probabilities")
        length = int(self.np_random.integers(1, self.max_length + 1))
        return self.np_random.integers(0, self.vocab_size, size=length, dtype=np.int64)

    def contains(self, x: Any) -> bool:
        """Return whether ``x`` is a valid block."""
        try:
            self.to_block(x)
        except InvalidActionError:
            return False
        return True

    def to_block(self, action: Any) -> list[int]:
        """Return ``action`` as a list of token ids, or raise :class:`InvalidActionError`."""
        if isinstance(action, (bool, np.bool_)):
            raise InvalidActionError(f"action must be token ids, got the boolean {action!r}")
        if isinstance(action, (int, np.integer)):
            action = np.asarray([action])
        elif hasattr(action, "detach"):  # a torch tensor
            action = action.detach().cpu().numpy()
        elif isinstance(action, (list, tuple)):
            action = np.asarray(action)
        if not isinstance(action, np.ndarray):
            raise InvalidActionError(f"action must be an int or a 1-D array of token ids, got {type(action).__name__}")
        if action.ndim == 0:
            action = action.reshape(1)
        if action.ndim != 1:
            raise InvalidActionError(f"action must be a 1-D array of token ids, got shape {action.shape}")
        if action.size and not np.issubdtype(action.dtype, np.integer):
            raise InvalidActionError(f"action token ids must have an integer dtype, got {action.dtype}; cast with .astype(np.int64)")
        if action.size == 0:
            raise InvalidActionError("action is an empty block; draft at least one token")
        if action.size > self.max_length:
            raise InvalidActionError(
                f"action has {action.size} tokens but block_size is {self.max_length}; split it or raise env block_size"
            )
        low, high = int(action.min()), int(action.max())
        if low < 0 or high >= self.vocab_size:
            bad = low if low < 0 else high
            raise InvalidActionError(f"token id {bad} is outside the vocabulary [0, {self.vocab_size}); the tokenizer has {self.vocab_size} tokens")
        return [int(token) for token in action]

    def __repr__(self) -> str:
        return f"TokenBlock(vocab_size={self.vocab_size}, max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenBlock) and (other.vocab_size, other.max_length) == (self.vocab_size, self.max_length)
