"""A KV cache whose layers grow in place instead of being copied at every forward.

transformers' ``DynamicLayer`` appends new keys and values with ``torch.cat``, which copies
the whole cache in every layer of every forward. Drafting and verification run many short
forwards over long caches (one token per student forward, one block per teacher forward), so
that copy grows with the cache and the batch, while the forward's own work barely does.
:class:`GrowingLayer` keeps keys and values in buffers with spare room and writes new tokens
into it, so a forward copies only the new tokens, plus a whole copy now and then when the
buffer grows by half. The price is memory: a layer holds up to half again as many columns as it
has tokens (at least 64 more).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

MIN_SPARE_COLUMNS = 64
"""Minimum number of free columns a buffer gets when it is (re)allocated."""


class GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` whose ``keys`` and ``values`` (B, H, L, D) are views of larger buffers.

    Contract: after :meth:`update`, ``keys`` and ``values`` hold every token so far, as with
    ``DynamicLayer``. Code may still replace ``keys``/``values`` with new tensors (cropping,
    gathering rows or columns). The next update then finds that they are no longer views of
    the buffers and copies them into fresh ones. Writes go into the buffers in place, which autograd
    forbids for tensors saved for the backward pass, so with gradients enabled the layer falls
    back to ``DynamicLayer``'s concatenation.
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._key_view: torch.Tensor | None = None
        self._value_view: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if torch.is_grad_enabled():
            return super().update(key_states, value_states, *args, **kwargs)
        old = self.keys.shape[-2] if self.keys.dim() == 4 else 0
        new = old + key_states.shape[-2]
        if not self._buffers_hold(key_states, new):
            self._reallocate(key_states, value_states, old, new)
        self._key_buffer[:, :, old:new] = key_states
        self._value_buffer[:, :, old:new] = value_states
        self.keys = self._key_view = self._key_buffer[:, :, :new]
        self.values = self._value_view = self._value_buffer[:, :, :new]
        return self.keys, self.values

    def _buffers_hold(self, key_states: torch.Tensor, length: int) -> bool:
        """Return whether ``keys`` is a prefix view of the key buffer and the buffers have room for ``length`` columns."""
        buffer = self._key_buffer
        if buffer is None or buffer.shape[-2] < length:
            return False
        if self.keys is self._key_view and self.values is self._value_view:
            return True  # the views the last update returned, untouched since
        if buffer.shape[:2] != key_states.shape[:2] or buffer.shape[-1] != key_states.shape[-1] or buffer.dtype != key_states.dtype:
            return False
        if self.keys.dim() != 4:  # empty cache: any buffer of the right shape will do
            return True
        views_buffer = self.keys.data_ptr() == buffer.data_ptr() and self.keys.stride() == buffer.stride()
        values_buffer = self.values.data_ptr() == self._value_buffer.data_ptr() and self.values.stride() == self._value_buffer.stride()
        return views_buffer and values_buffer

    def _reallocate(self, key_states: torch.Tensor, value_states: torch.Tensor, old: int, length: int) -> None:
        """Allocate buffers with room for ``length`` columns and half as many again, and copy the ``old`` cached ones in."""
        capacity = length + max(MIN_SPARE_COLUMNS, length // 2)
        shape = (*key_states.shape[:2], capacity, key_states.shape[-1])
        key_buffer = key_states.new_empty(shape)
        value_buffer = value_states.new_empty((*shape[:3], value_states.shape[-1]))
        if old:
            key_buffer[:, :, :old] = self.keys
            value_buffer[:, :, :old] = self.values
        self._key_buffer, self._value_buffer = key_buffer, value_buffer


def growing_cache(config: Any) -> DynamicCache:
    """Return a ``DynamicCache`` for ``config`` whose full-attention layers are :class:`GrowingLayer`.

    Sliding-window and other layer kinds stay as transformers builds them.
    """
    cache = DynamicCache(config=config)
    cache.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache
