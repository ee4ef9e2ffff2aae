"""Peak tensor memory of a piece of code, measured on any device including the CPU.

torch has no resettable peak-memory counter for the CPU. So :class:`TensorMemoryTracker`
watches every tensor that an operator creates inside the ``with`` block, autograd's backward
included when it runs in the block, and keeps the sum of the bytes of the storages still alive.
A storage is counted once however many views share it, and it is released when its last user,
autograd's saved tensors included, lets it go. Tensors that existed before the block (weights,
inputs) are not counted.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class TensorMemoryTracker(TorchDispatchMode):
    """Track the bytes of tensor storages created in the block; ``peak_bytes`` is their maximum sum."""

    def __init__(self) -> None:
        super().__init__()
        self.current_bytes = 0
        self.peak_bytes = 0
        self._live: dict[int, int] = {}  # storage id -> bytes

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        output = func(*args, **(kwargs or {}))
        for value in tree_flatten(output)[0]:
            if isinstance(value, torch.Tensor):
                self._track(value)
        return output

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage._cdata
        size = storage.nbytes()
        if key in self._live or size == 0:
            return
        self._live[key] = size
        self.current_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        # torch keeps a storage's Python object alive as long as the storage itself, so this
        # runs when the memory is freed, not when the Python name goes away.
        weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        self.current_bytes -= self._live.pop(key, 0)
