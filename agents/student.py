"""The student's drafting: sample blocks of tokens with a KV cache kept across blocks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cultural_env.decoding import CachedSequenceModel
from cultural_env.sampling import sample_tokens


class StudentDrafter:
    """Drafts blocks for one episode at a time.

    The cache follows the student's sequence (prompt plus response). After the teacher's verdict
    it is cropped to the accepted prefix and only the correction is fed next, so each drafted
    token costs one forward of one token, and the prompt is encoded once per episode. Drafting a
    block reads the sampled ids back to the host once, at the end of the block.
    """

    def __init__(self, model: torch.nn.Module, vocab_size: int, stop_ids: frozenset[int]) -> None:
        self.lm = CachedSequenceModel(model, vocab_size)
        self.stop_ids = stop_ids
        self.generator = torch.Generator(device=self.lm.device)

    def seed(self, seed: int) -> None:
        """Seed the sampling generator."""
        self.generator.manual_seed(seed)

    def reset(self) -> None:
        """Drop the cache before a new episode."""
        self.lm.reset()

    @torch.no_grad()
    def draft(self, sequence: Sequence[int], length: int, temperature: float, top_p: float) -> np.ndarray:
        """Sample up to ``length`` tokens after ``sequence``; the block ends early after a stop token."""
        feed: Sequence[int] | torch.Tensor = self.lm.sync(sequence)
        drawn = []
        for position in range(length):
            logits = self.lm.forward(feed)[-1:]  # (1, V)
            token = sample_tokens(logits, temperature, top_p, self.generator)  # (1,)
            drawn.append(token)
            feed = token
        block = torch.cat(drawn).cpu().numpy().astype(np.int64)  # one host sync per block
        for position, token in enumerate(block):
            if int(token) in self.stop_ids:
                return block[: position + 1]
        return block
