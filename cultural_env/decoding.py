"""A causal language model that follows a growing token sequence with a KV cache.

Both the teacher (verifying blocks) and the student (drafting them) extend a sequence, run the
model over a few new tokens, and later learn that only a prefix of what they ran was kept.
:class:`CachedSequenceModel` keeps the cache equal to a prefix of the sequence: ``sync`` crops
it to the part that is still valid, and ``forward`` runs the model only over tokens not yet in
the cache. Nothing is ever re-encoded from the start.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

from cultural_env.kv_cache import growing_cache


class CachedSequenceModel:
    """A causal LM with a KV cache over one token sequence (batch of one).

    Invariant: ``cached_tokens`` lists exactly the tokens whose keys and values are in the cache,
    in order. The logits of the model are cut to ``vocab_size`` columns, so padded rows of the
    embedding matrix (Qwen3 pads 151,669 tokens to 151,936) are never sampled or scored.
    """

    def __init__(self, model: torch.nn.Module, vocab_size: int) -> None:
        self.model = model
        self.vocab_size = vocab_size
        self.device = next(model.parameters()).device
        self.cache: DynamicCache | None = None
        self._cached: list[int] = []
        self._unread: list[torch.Tensor] = []  # fed tokens still on the device, read lazily to avoid host syncs
        self.forward_calls = 0

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens whose keys and values are in the cache, in order."""
        if self._unread:
            self._cached.extend(torch.cat(self._unread).tolist())
            self._unread = []
        return self._cached

    def reset(self) -> None:
        """Forget the sequence and free the cache."""
        self.cache = None
        self._cached = []
        self._unread = []

    def sync(self, sequence: Sequence[int]) -> list[int]:
        """Crop the cache to its longest prefix shared with ``sequence`` and return the tokens to feed next.

        At least one token is always left to feed, because the logits for the next position come
        from running the last token of the sequence.
        """
        shared = shared_prefix_length(self.cached_tokens, sequence, limit=min(len(self.cached_tokens), len(sequence) - 1))
        surplus = len(self.cached_tokens) - shared
        if surplus > 0:
            # transformers 5 crops by a negative count of tokens to remove.
            self.cache.crop(-surplus)
            del self._cached[shared:]
        return list(sequence[shared:])

    @torch.no_grad()
    def forward(self, tokens: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Run the model over ``tokens`` after the cached prefix; return logits (T, V) in float32.

        Row i holds the logits for the position after ``tokens[i]``. No attention mask is passed:
        with a single unpadded sequence the cache plus the new tokens form the whole input.
        """
        return self._run(tokens, output_hidden_states=False)[0]

    @torch.no_grad()
    def forward_with_hidden(self, tokens: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run :meth:`forward` and also return the final hidden states (T, H) that the logits (T, V) come from.

        The hidden states are the last decoder output after its final norm, in the model's dtype.
        transformers 5 returns that tensor as the last entry of ``hidden_states`` for its language models.
        """
        return self._run(tokens, output_hidden_states=True)

    def _run(self, tokens: Sequence[int] | torch.Tensor, output_hidden_states: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not isinstance(tokens, torch.Tensor):
            tokens = torch.tensor(list(tokens), dtype=torch.long)
        tokens = tokens.to(self.device).view(1, -1)  # (1, T)
        if self.cache is None:
            self.cache = growing_cache(self.model.config)
        output = self.model(input_ids=tokens, cache=self.cache, use_cache=True, output_hidden_states=output_hidden_states)
        self.forward_calls += 1
        self._unread.append(tokens[0])
        hidden = output.hidden_states[-1][0] if output_hidden_states else None  # (T, H)
        return output.logits[0, :, : self.vocab_size].float(), hidden  # (T, V), (T, H)


def shared_prefix_length(first: Sequence[int], second: Sequence[int], limit: int) -> int:
    """Return how many leading items ``first`` and ``second`` share, up to ``limit``.

    Compares slices by bisection, so the work per probe runs in C: sync is called for every
    row of every step, over prompts of hundreds of tokens, where an item-by-item loop cost more
    than the rest of the step's bookkeeping.
    """
    first, second = list(first[:limit]), list(second[:limit])
    if first == second:
        return limit
    low, high = 0, limit - 1  # the result lies in [low, high], because the items differ somewhere before limit
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
