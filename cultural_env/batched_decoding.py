"""A causal language model that follows B token sequences of different lengths with one KV cache.

The batched counterpart of :class:`~cultural_env.decoding.CachedSequenceModel`, for the vector
environment's teacher and the batched student drafter. Rows grow at different rates, because
each keeps its own accepted prefix. So the cache is a padded (B, L) grid of columns, and a
boolean mask records which columns contain a row's valid tokens. Discarded tokens are masked out
in place instead of being cropped. Every forward passes explicit position ids (the count of a row's valid tokens
before each new token) and an attention mask over the whole sequence, cache plus new tokens,
because transformers 5 reads the mask that way. No row is ever re-encoded.

Masked-out columns still cost attention and copying in every forward, so once they make up
``COMPACT_SHARE`` of the grid's width, :meth:`BatchedSequenceModel.compact` moves each row's
valid columns to the left and drops the rest. Keys already carry their rotary positions, so
moving them changes nothing that the model computes. For the same reason one row's long feed
(a fresh prompt after a reset) can run alone, in :meth:`BatchedSequenceModel.prefill`, instead
of padding every row of a batched forward to its length.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from cultural_env.attention import GROUPED_SDPA
from cultural_env.decoding import shared_prefix_length
from cultural_env.kv_cache import growing_cache

PAD_TOKEN_ID = 0
"""Filler id in padded input positions; any id works, because padded columns are masked out."""

PREFILL_ALONE_TOKENS = 32
"""Feeds longer than this many tokens run their leading part alone (see ``prefill_long_feeds``).

Draft-block feeds stay below it for blocks of up to 31 tokens, so in practice only prompts do."""

SDPA_KERNELS = frozenset({"sdpa", GROUPED_SDPA})
"""Attention implementations that take a boolean (B, 1, S, L) mask, where true means attend."""

COMPACT_SHARE = 0.25
"""Share of the cache width that removable columns must reach before a forward compacts the cache.

Compaction copies the cache once, about what one cache update already costs, so a lower share
trades more copies for less attention over masked-out columns."""


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
        self.prefill_calls = 0
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
        shared = shared_prefix_length(cached, sequence, limit=min(len(cached), len(sequence) - 1))
        surplus_columns = self.columns[row][shared:]
        if surplus_columns:
            self.mask[row, surplus_columns] = False
            del self.columns[row][shared:]
            del cached[shared:]
        return list(sequence[shared:])

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """Run the model over new tokens (B, S), of which row r feeds its first ``lengths[r]``; see :meth:`forward_with_hidden`."""
        return self.forward_with_hidden(tokens, lengths, output_hidden_states=False)[0]

    @torch.no_grad()
    def forward_with_hidden(
        self, tokens: torch.Tensor, lengths: Sequence[int], output_hidden_states: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the model over new tokens (B, S), of which row r feeds its first ``lengths[r]``.

        Returns logits (B, S, V) in float32 and, with ``output_hidden_states``, the final hidden
        states (B, S, H) after the last norm that the logits come from (else None). Row r's
        outputs past ``lengths[r]`` are meaningless.
        A row with length 0 feeds nothing. With SDPA kernels its padded queries attend to their
        own keys at least. With other kernels the row must contain a valid cached token, because
        a fully masked query gives NaN keys and values that poison later steps, and otherwise a
        ValueError is raised.
        """
        tokens = tokens.to(self.device)
        batch_size, new_length = tokens.shape
        width = self.mask.shape[1]
        if width and width - max(len(columns) for columns in self.columns) >= COMPACT_SHARE * width:
            self.compact()
        lengths_tensor = torch.tensor(list(lengths), device=self.device)  # (B,)
        new_valid = torch.arange(new_length, device=self.device)[None] < lengths_tensor[:, None]  # (B, S)
        offsets = torch.tensor([len(columns) for columns in self.columns], device=self.device)  # (B,)
        position_ids = offsets[:, None] + torch.arange(new_length, device=self.device)[None]  # (B, S)
        attention_mask = self._attention_mask(new_valid, lengths)

        if self.cache is None:
            self.cache = growing_cache(self.model.config)
        output = self.model(
            input_ids=tokens,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=self.cache,
            use_cache=True,
            output_hidden_states=output_hidden_states,
        )
        self.forward_calls += 1

        first_column = self.mask.shape[1]
        self.mask = torch.cat([self.mask, new_valid], dim=1)
        for row, length in enumerate(lengths):
            self.columns[row].extend(range(first_column, first_column + length))
        self._unread.append((tokens, list(lengths)))
        hidden = output.hidden_states[-1] if output_hidden_states else None  # (B, S, H)
        return output.logits[:, :, : self.vocab_size].float(), hidden  # (B, S, V)

    def _attention_mask(self, new_valid: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor | None:
        """Return the attention mask of a forward whose new tokens are valid where ``new_valid`` (B, S) is true.

        Padded queries attend to the row's valid keys before them. No valid query attends to a
        padded key, because padding comes after the valid tokens. For SDPA kernels the mask is
        built here as a boolean (B, 1, S, L + S) tensor, which transformers uses as it is
        instead of rebuilding it from the (B, L + S) mask in every forward. When every column
        and every new token is valid, the mask is None, which lets SDPA skip masking. Other
        kernels get the (B, L + S) mask that transformers expands in its own format. Deciding
        between the cases reads only host-side lengths, so it costs no device sync.
        """
        width = self.mask.shape[1]
        new_length = new_valid.shape[1]
        if self.model.config._attn_implementation not in SDPA_KERNELS:
            for row, length in enumerate(lengths):
                if length == 0 and not self.columns[row]:
                    raise ValueError(
                        f"row {row} has no cached and no new tokens, which a (B, L + S) mask cannot cover; "
                        "feed the row at least once first, or use an SDPA attention implementation"
                    )
            return torch.cat([self.mask, new_valid], dim=1).long()  # (B, L + S)
        if all(len(columns) == width for columns in self.columns) and all(length == new_length for length in lengths):
            return None
        keys = torch.cat([self.mask, new_valid], dim=1)  # (B, L + S)
        # Query q (a new token) attends to every cache column and to the new tokens up to itself.
        causal = torch.ones(new_length, width + new_length, dtype=torch.bool, device=self.device).tril(diagonal=width)  # (S, L + S)
        # Every query also attends to its own key, so a padded query of a row with nothing cached
        # is never fully masked, which would give NaN. Valid queries attend to their keys anyway.
        itself = torch.zeros(new_length, width + new_length, dtype=torch.bool, device=self.device)
        itself[:, width:] = torch.eye(new_length, dtype=torch.bool, device=self.device)
        return (keys[:, None, None, :] & causal[None, None]) | itself[None, None]  # (B, 1, S, L + S)

    def prefill_long_feeds(self, feeds: Sequence[Sequence[int]], needed: Sequence[int]) -> list[list[int]]:
        """Run alone the leading tokens of every feed longer than ``PREFILL_ALONE_TOKENS``; return what is left to feed.

        ``needed[r]`` is the number of trailing tokens of row r whose logits the caller reads;
        they stay in the returned feed. A batched forward pads every row to the longest feed,
        so without this one fresh prompt would make all B rows pay for its length.
        """
        if not self._rows_movable():
            return [list(feed) for feed in feeds]
        remaining = []
        for row, feed in enumerate(feeds):
            split = len(feed) - needed[row]
            if len(feed) > PREFILL_ALONE_TOKENS and split > 0:
                self.prefill(row, feed[:split])
                feed = feed[split:]
            remaining.append(list(feed))
        return remaining

    @torch.no_grad()
    def prefill(self, row: int, tokens: Sequence[int]) -> None:
        """Run the model over ``tokens`` for ``row`` alone and append them to the row's cache; no logits are kept.

        The row's valid keys and values are copied into a batch-of-one cache, the forward runs
        without padding or mask, and the row's slot of the shared cache is rewritten with the
        result at columns 0 .. n-1, widening the cache when n exceeds its width. Counted in
        ``prefill_calls``, not ``forward_calls``. Needs plain ``DynamicLayer`` caches.
        """
        if self.cache is None:
            self.cache = growing_cache(self.model.config)
        valid = torch.tensor(self.columns[row], dtype=torch.long, device=self.device)  # (n_old,)
        alone = DynamicCache(config=self.model.config)
        for index, layer in enumerate(self.cache.layers):
            if layer.is_initialized and len(valid):
                alone.update(layer.keys[row : row + 1, :, valid], layer.values[row : row + 1, :, valid], index)
        old_count = len(valid)
        input_ids = torch.as_tensor(list(tokens), dtype=torch.long, device=self.device)[None]  # (1, S)
        position_ids = torch.arange(old_count, old_count + input_ids.shape[1], device=self.device)[None]  # (1, S)
        self.model(input_ids=input_ids, position_ids=position_ids, cache=alone, use_cache=True, logits_to_keep=1)
        self.prefill_calls += 1

        new_count = old_count + input_ids.shape[1]
        self._widen(new_count)
        for shared, own in zip(self.cache.layers, alone.layers):
            shared.keys[row, :, :new_count] = own.keys[0]
            shared.values[row, :, :new_count] = own.values[0]
        self.mask[row] = torch.arange(self.mask.shape[1], device=self.device) < new_count
        self.columns[row] = list(range(new_count))
        self._read_fed_tokens()
        self._tokens[row].extend(int(token) for token in tokens)

    def _widen(self, width: int) -> None:
        """Grow the cache and the mask to at least ``width`` columns with masked-out zeros."""
        extra = width - self.mask.shape[1]
        if extra <= 0:
            return
        for index, layer in enumerate(self.cache.layers):
            if layer.is_initialized:
                shape = (*layer.keys.shape[:2], extra, layer.keys.shape[3])
                layer.keys = torch.cat([layer.keys, layer.keys.new_zeros(shape)], dim=2)
                layer.values = torch.cat([layer.values, layer.values.new_zeros(shape)], dim=2)
            else:
                shape = (self.batch_size, self._kv_heads(), width, self._head_dim())
                dtype = next(self.model.parameters()).dtype
                self.cache.update(torch.zeros(shape, dtype=dtype, device=self.device), torch.zeros(shape, dtype=dtype, device=self.device), index)
        self.mask = torch.cat([self.mask, self.mask.new_zeros(self.batch_size, extra)], dim=1)

    def _kv_heads(self) -> int:
        config = self.model.config
        return getattr(config, "num_key_value_heads", None) or config.num_attention_heads

    def _head_dim(self) -> int:
        config = self.model.config
        return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads

    def _rows_movable(self) -> bool:
        """Return whether rows' keys and values can move between columns, which holds for plain, non-sliding ``DynamicLayer`` caches."""
        cache = self.cache if self.cache is not None else DynamicCache(config=self.model.config)
        return all(isinstance(layer, DynamicLayer) and not layer.is_sliding for layer in cache.layers)

    def compact(self) -> None:
        """Move each row's valid cache columns to the left, in order, and drop the columns no row needs.

        The width L becomes the largest count of valid tokens in a row. Caches with other layer
        kinds than transformers' ``DynamicLayer`` (sliding-window or quantized layers) are left as they are.
        """
        if self.cache is None or not self._rows_movable():
            return
        counts = [len(columns) for columns in self.columns]
        width = max(counts)
        index = torch.zeros(self.batch_size, width, dtype=torch.long)  # (B, L'); padding points at column 0, masked out
        for row, columns in enumerate(self.columns):
            index[row, : len(columns)] = torch.as_tensor(columns, dtype=torch.long)
        index = index.to(self.device)
        for layer in self.cache.layers:
            if not layer.is_initialized:
                continue
            heads, head_dim = layer.keys.shape[1], layer.keys.shape[3]
            gather_index = index[:, None, :, None].expand(self.batch_size, heads, width, head_dim)  # (B, heads, L', D)
            layer.keys = layer.keys.gather(2, gather_index)
            layer.values = layer.values.gather(2, gather_index)
        counts_tensor = torch.tensor(counts, device=self.device)  # (B,)
        self.mask = torch.arange(width, device=self.device)[None] < counts_tensor[:, None]  # (B, L')
        self.columns = [list(range(count)) for count in counts]

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
