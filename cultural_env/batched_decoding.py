"""A causal language model that follows B token sequences of different lengths with one KV cache.

The batched counterpart of :class:`~cultural_env.decoding.CachedSequenceModel`, for the vector
environment's teacher and the batched student drafter. Rows grow at different rates, because
each keeps its own accepted prefix. So the cache is a padded (B, L) grid of columns, and a
boolean mask records which columns contain a row's valid tokens. Discarded tokens are masked out
in place instead of being cropped. Every forward passes explicit position ids (the count of a row's valid tokens
before each new token) and an attention mask over the whole sequence, cache plus new tokens,
because transformers 5 reads the mask that way. No row is ever re-encoded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

PAD_TOKEN_ID = 0
"""Filler id in padded input positions; any id works, because padded columns are masked out."""


class BatchedSequenceModel:
    """A causal LM with one KV cache over ``batch_size`` independent token sequences.

    Invariant: for each row r, ``columns[r]`` lists, in order, the cache columns that hold the
    row's valid tokens, and ``mask[r]`` is true exactly at those columns. The positions of a row
    count only its valid tokens, so a row with holes in the cache computes the same logits as an
    unpadded sequence, up to float rounding of the batched kernels.
    """

    def __init__(self, model: torch.nn.Module, vocab_size: int, batch_size: int) -> None:
        self.model = model
        self.vocab_size = vocab_size
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.forward_calls = 0
        self.reset()

    def reset(self) -> None:
        """Forget every row and free the cache."""
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros(self.batch_size, 0, dtype=torch.bool, device=self.device)  # (B, L)
        self.columns: list[list[int]] = [[] for _ in range(self.batch_size)]
        self._tokens: list[list[int]] = [[] for _ in range(self.batch_size)]
        self._unread: list[tuple[torch.Tensor, list[int]]] = []  # fed (B, S) tokens not yet read to the host

    def cached_tokens(self, row: int) -> list[int]:
        """Return the tokens of ``row`` whose keys and values are valid in the cache, in order."""
        self._read_fed_tokens()
        return self._tokens[row]

    def sync(self, row: int, sequence: Sequence[int]) -> list[int]:
        """Mask out the cached tokens of ``row`` after its longest prefix shared with ``sequence``.

        Returns the tokens of ``sequence`` still to feed; at least one token is always left,
        because the logits for the next position come from running the last token.
        """
        cached = self.cached_tokens(row)
        shared = 0
        limit = min(len(cached), len(sequence) - 1)
        while shared < limit and cached[shared] == sequence[shared]:
            shared += 1
        surplus_columns = self.columns[row][shared:]
        if surplus_columns:
            self.mask[row, surplus_columns] = False
            del self.columns[row][shared:]
            del cached[shared:]
        return list(sequence[shared:])

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """Run the model over new tokens (B, S), of which row r feeds its first ``lengths[r]``.

        Returns logits (B, S, V) in float32; row r's logits past ``lengths[r]`` are meaningless.
        A row with length 0 feeds nothing, but it must hold at least one valid cached token so
        that its padded queries attend to something (a fully masked row would give NaN keys
        and values that poison later steps).
        """
        tokens = tokens.to(self.device)
        batch_size, new_length = tokens.shape
        for row, length in enumerate(lengths):
            assert length > 0 or self.columns[row], f"row {row} has no cached and no new tokens"
        lengths_tensor = torch.tensor(list(lengths), device=self.device)  # (B,)
        new_valid = torch.arange(new_length, device=self.device)[None] < lengths_tensor[:, None]  # (B, S)
        offsets = torch.tensor([len(columns) for columns in self.columns], device=self.device)  # (B,)
        position_ids = offsets[:, None] + torch.arange(new_length, device=self.device)[None]  # (B, S)
        # Padded queries see the row's valid keys before them, so no query row is fully masked;
        # no valid query sees a padded key, because padding comes after the valid tokens.
        attention_mask = torch.cat([self.mask, new_valid], dim=1).long()  # (B, L + S)

        if self.cache is None:
            self.cache = DynamicCache(config=self.model.config)
        output = self.model(
            input_ids=tokens, attention_mask=attention_mask, position_ids=position_ids, cache=self.cache, use_cache=True
        )
        self.forward_calls += 1

        # NOTE: masked-out columns are never compacted, so L grows by S every forward, and
        # attention cost grows with all tokens fed so far, discarded ones included.
        first_column = self.mask.shape[1]
        self.mask = torch.cat([self.mask, new_valid], dim=1)
        for row, length in enumerate(lengths):
            self.columns[row].extend(range(first_column, first_column + length))
        self._unread.append((tokens, list(lengths)))
        return output.logits[:, :, : self.vocab_size].float()  # (B, S, V)

    def _read_fed_tokens(self) -> None:
        """Copy the fed tokens to the host lists with one device-to-host transfer."""
        if not self._unread:
            return
        flat = torch.cat([block.flatten() for block, _ in self._unread]).cpu().tolist()
        offset = 0
        for block, lengths in self._unread:
            width = block.shape[1]
            for row, length in enumerate(lengths):
                start = offset + row * width
                self._tokens[row].extend(flat[start : start + length])
            offset += block.numel()
        self._unread = []


def pad_rows(rows: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> tuple[torch.Tensor, list[int]]:
    """Right-pad token lists into a (B, S) int64 tensor; return it and the row lengths."""
    lengths = [len(row) for row in rows]
    width = max(1, max(lengths))
    padded = torch.full((len(rows), width), PAD_TOKEN_ID, dtype=torch.long)
    for index, row in enumerate(rows):
        if row:
            padded[index, : len(row)] = torch.as_tensor(list(row), dtype=torch.long)
    return padded.to(device), lengths
