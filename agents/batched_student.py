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
    episode. One call runs G batched forwards, where G is the most tokens any row still needs:
    the first feeds each row's pending tokens (the prompt at the start of an episode, else the
    last token not yet fed), the next G - 1 feed the tokens just sampled. A prompt longer than
    :data:`~cultural_env.batched_decoding.PREFILL_ALONE_TOKENS` costs one more forward, of its
    row alone. The sampled ids are read back to the host once per call.

    ## Lookahead

    The rows move in lockstep, so a row whose block is shorter than the longest one would sit
    idle through the remaining forwards. With ``lookahead`` (the default), it keeps sampling
    instead, past its block. Those extra tokens are kept, and if the row's next sequence is a
    prefix of what the row has drafted (the teacher accepted the whole block), the next block
    starts with them, and they cost no new forward. Otherwise they are dropped. Every kept token
    is a draw from the student given the tokens before it, as it would be if drafted later, so
    the blocks have the same distribution with and without lookahead, provided the student's
    weights do not change in between. Call :meth:`reset` after an optimizer step. Changing the
    temperature or top-p drops the kept tokens.
    """

    def __init__(
        self, model: torch.nn.Module, vocab_size: int, stop_ids: frozenset[int], batch_size: int, lookahead: bool = True
    ) -> None:
        self.lm = BatchedSequenceModel(model, vocab_size, batch_size)
        self.stop_ids = stop_ids
        self.lookahead = lookahead
        self.generator = torch.Generator(device=self.lm.device)
        self.reset()

    def seed(self, seed: int) -> None:
        """Seed the sampling generator, which all rows share."""
        self.generator.manual_seed(seed)

    def reset(self) -> None:
        """Drop every row's cache and every token drafted ahead."""
        self.lm.reset()
        self._streams: list[list[int]] = [[] for _ in range(self.lm.batch_size)]
        self._sampling: tuple[float, float] | None = None

    @torch.no_grad()
    def draft(self, sequences: Sequence[Sequence[int]], lengths: Sequence[int], temperature: float, top_p: float) -> list[np.ndarray]:
        """Sample up to ``lengths[r]`` tokens after ``sequences[r]`` for every row r.

        A row with length 0 drafts nothing (an empty array) but must have been drafted for
        before, so that it has cached tokens. Each row's block ends early after a stop token.
        """
        if self._sampling != (temperature, top_p):
            self._streams = [[] for _ in range(self.lm.batch_size)]
            self._sampling = (temperature, top_p)
        active = [row for row, length in enumerate(lengths) if length > 0]
        carried: dict[int, list[int]] = {row: self._carried(row, sequences[row]) for row in active}
        needed = {row: lengths[row] - len(carried[row]) for row in active}
        steps = max(needed.values(), default=0)
        # Which rows feed a token in each forward: all active rows with lookahead, else those still short of their block.
        drafting = {row for row in active if self.lookahead or needed[row] > 0} if steps > 0 else set()

        sampled = np.zeros((self.lm.batch_size, 0), dtype=np.int64)
        if drafting:
            sampled = self._sample(sequences, carried, drafting, needed, steps, temperature, top_p)  # (B, steps)
        blocks = []
        for row, length in enumerate(lengths):
            if length <= 0:
                blocks.append(np.zeros(0, dtype=np.int64))
                continue
            drafted = carried[row] + (sampled[row].tolist() if row in drafting else [])
            if not self.lookahead:
                drafted = drafted[:length]  # later draws of a row that stopped feeding are meaningless
            self._streams[row] = list(sequences[row]) + drafted
            blocks.append(self._cut_block(np.asarray(drafted[:length], dtype=np.int64)))
        return blocks

    def _carried(self, row: int, sequence: Sequence[int]) -> list[int]:
        """Return the tokens drafted ahead for ``row`` that continue ``sequence``, or [] if it left them behind."""
        stream = self._streams[row]
        if not self.lookahead or len(stream) <= len(sequence) or stream[: len(sequence)] != list(sequence):
            return []
        return stream[len(sequence) :]

    def _sample(
        self,
        sequences: Sequence[Sequence[int]],
        carried: dict[int, list[int]],
        drafting: set[int],
        needed: dict[int, int],
        steps: int,
        temperature: float,
        top_p: float,
    ) -> np.ndarray:
        """Run ``steps`` batched forwards for the ``drafting`` rows; return the sampled ids (B, steps) on the host."""
        feeds: list[list[int]] = [[] for _ in range(self.lm.batch_size)]
        for row in drafting:
            # The row's last token, sampled but not yet fed, is always left to feed.
            feeds[row] = self.lm.sync(row, list(sequences[row]) + carried[row])
        in_batch = [1 if feeds[row] else 0 for row in range(self.lm.batch_size)]
        feeds = self.lm.prefill_long_feeds(feeds, in_batch)
        tokens, fed_lengths = pad_rows(feeds, self.lm.device)  # (B, S)
        logits = self.lm.forward(tokens, fed_lengths)  # (B, S, V)
        last_index = torch.tensor([max(0, length - 1) for length in fed_lengths], device=self.lm.device)  # (B,)
        next_logits = logits[torch.arange(len(fed_lengths), device=self.lm.device), last_index]  # (B, V)

        drawn = []
        for step in range(steps):
            token = sample_tokens(next_logits, temperature, top_p, self.generator)  # (B,)
            drawn.append(token)
            if step + 1 < steps:
                # Without lookahead a row whose block is complete feeds nothing, so its cache gains no discarded tokens.
                step_lengths = [1 if row in drafting and (self.lookahead or step + 1 < needed[row]) else 0 for row in range(len(feeds))]
                next_logits = self.lm.forward(token[:, None], step_lengths)[:, -1]  # (B, V)
        return torch.stack(drawn, dim=1).cpu().numpy().astype(np.int64)  # (B, steps), one host sync per call

    def _cut_block(self, block: np.ndarray) -> np.ndarray:
        """Keep tokens up to and including the first stop token."""
        for position, token in enumerate(block):
            if int(token) in self.stop_ids:
                return block[: position + 1]
        return block
