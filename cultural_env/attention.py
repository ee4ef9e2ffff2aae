"""Grouped-query attention through SDPA without copying keys and values per group.

Qwen3 models share each key/value head among several query heads. With an attention mask and
more than one query token, transformers' "sdpa" function copies the cached keys and values
once per query head before it calls ``torch.nn.functional.scaled_dot_product_attention``. It
does so because the kernel's own grouped mode falls back to its slow path on CUDA when a mask
is given (as a comment in transformers' ``sdpa_attention.py`` explains). On CPU
the grouped mode works with a mask, so that copy is pure cost, and it grows with the cache:
teacher verification (several new tokens over a long cached prompt) paid it in every layer of
every forward.

Importing this module registers the attention function and its mask builder under
:data:`GROUPED_SDPA` with transformers' ``AttentionInterface`` and ``AttentionMaskInterface``.
:func:`default_attention` returns the implementation that :func:`~cultural_env.models.load_causal_lm`
picks when the config leaves it unset, and :func:`use_default_attention` applies that choice
to a built model.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

GROUPED_SDPA = "grouped_sdpa"
"""Name of the attention implementation, for ``attn_implementation`` in configs and ``from_pretrained``."""


def grouped_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attend with query (B, Hq, S, D) over key and value (B, Hkv, L, D); return (B, S, Hq, D) and no weights.

    ``attention_mask`` is the boolean (B, 1, S, L) mask that transformers' SDPA mask builder
    makes, or None for a plain causal pass. Hq must be a multiple of Hkv. ``dropout`` is
    already 0 outside training, as the model's attention layer passes it.
    """
    grouped = query.shape[1] != key.shape[1]
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    # Without a mask, causality comes from the kernel's flag. One query token may attend to every key anyway.
    causal = bool(causal) and attention_mask is None and query.shape[2] > 1
    output = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        is_causal=causal,
        enable_gqa=grouped,
    )  # (B, Hq, S, D)
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register(GROUPED_SDPA, grouped_sdpa_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(GROUPED_SDPA, sdpa_mask)


def default_attention(config: object, device: torch.device) -> str | None:
    """Return :data:`GROUPED_SDPA` for a grouped-query model on CPU, else None (transformers' default).

    ``config`` is the model's transformers config; a model is grouped-query when it has fewer
    key/value heads than attention heads.
    """
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    if device.type == "cpu" and heads and kv_heads < heads:
        return GROUPED_SDPA
    return None


def use_default_attention(model: torch.nn.Module) -> str | None:
    """Switch ``model`` to :func:`default_attention` for its config and device; return the name set, or None if unchanged."""
    chosen = default_attention(model.config, next(model.parameters()).device)
    if chosen is not None:
        model.set_attn_implementation(chosen)
    return chosen
