"""Batched drafting: the student samples one block for each of B episodes with one forward per token."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cultural_env.batched_decoding import BatchedSequenceModel, pad_rows
from cultural_env.sampling import sample_tokens


class BatchedStudentDrafter:
    """Drafts blocks for B episodes at once, for the vector environment.

    Each row's cache follows that row's sequence (prompt plus response) and keeps the teacher's
    accepted prefix across blocks, as :class:`~agents.student.StudentDrafter` does for one
    episode. A block of G tokens costs G batched forwards: the first feeds each row's pending
    tokens (the prompt at the start of an episode, else the last appended token), the next
    G - 1 feed the tokens just sampled. A prompt longer than
    :data:`~cultural_env.batched_decoding.PREFILL_ALONE_TOKENS` costs one more forward, of its
    row alone. The sampled ids are read back to the host once per block.
    """

    def __init__(self, model: torch.nn.Module, vocab_size: int, stop_ids: frozenset[int], batch_size: int) -> None:
        self.lm = BatchedSequenceModel(model, vocab_size, batch_size)
        self.stop_ids = stop_ids
        self.generator = torch.Generator(device=self.lm.device)

    def seed(self, seed: int) -> None:
        """Seed the sampling generator, which all rows share."""
        self.generator.manual_seed(seed)

    def reset(self) -> None:
        """Drop every row's cache."""
        self.lm.reset()

    @torch.no_grad()
    def draft(self, sequences: Sequence[Sequence[int]], lengths: Sequence[int], temperature: float, top_p: float) -> list[np.ndarray]:
        """Sample up to ``lengths[r]`` tokens after ``sequences[r]`` for every row r.

        A row with length 0 drafts nothing (an empty array) but must have been drafted for
        before, so that it has cached tokens. Each row's block ends early after a stop token.
        """
        active = [row for row, length in enumerate(lengths) if length > 0]
        feeds: list[list[int]] = [[] for _ in range(self.lm.batch_size)]
        for row in active:
            feeds[row] = self.lm.sync(row, sequences[row])
        feeds = self.lm.prefill_long_feeds(feeds, [1 if length > 0 else 0 for length in lengths])
        tokens, fed_lengths = pad_rows(feeds, self.lm.device)  # (B, S)
        logits = self.lm.forward(tokens, fed_lengths)  # (B, S, V)
        last_index = torch.tensor([max(0, length - 1) for length in fed_lengths], device=self.lm.device)  # (B,)
        next_logits = logits[torch.arange(len(fed_lengths), device=self.lm.device), last_index]  # (B, V)

        block_length = max(lengths)
        drawn = []
        for position in range(block_length):
            token = sample_tokens(next_logits, temperature, top_p, self.generator)  # (B,)
            drawn.append(token)
            if position + 1 < block_length:
                # Rows whose block is complete feed nothing, so their cache gains no discarded tokens.
                step_lengths = [1 if position + 1 < length else 0 for length in lengths]
                next_logits = self.lm.forward(token[:, None], step_lengths)[:, -1]  # (B, V)
        blocks = torch.stack(drawn, dim=1).cpu().numpy().astype(np.int64)  # (B, G), one host sync per block
        return [self._cut_block(blocks[row], lengths[row]) for row in range(len(lengths))]

    def _cut_block(self, block: np.ndarray, length: int) -> np.ndarray:
        """Keep the first ``length`` tokens, up to and including the first stop token."""
        block = block[:length]
        for position, token in enumerate(block):
            if int(token) in self.stop_ids:
                return block[: position + 1]
        return block
