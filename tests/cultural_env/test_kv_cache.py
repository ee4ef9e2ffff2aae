"""The growing KV cache: the same logits as transformers' DynamicCache, without a copy per forward."""

import torch
from transformers import DynamicCache

from cultural_env.kv_cache import GrowingLayer, growing_cache


def cached_logits(model, cache, chunks, crops):
    """Feed ``chunks`` of ids through ``cache``, cropping ``crops[i]`` tokens before chunk i, and return the last logits (V,)."""
    for chunk, crop in zip(chunks, crops):
        if crop:
            cache.crop(-crop)
        logits = model(input_ids=torch.tensor([chunk]), cache=cache, use_cache=True).logits
    return logits[0, -1]


@torch.no_grad()
def test_growing_cache_gives_dynamic_cache_logits(tiny_teacher):
    chunks = [list(range(5, 45)), [7], [8, 9, 10], [11] * 70, [12]]
    crops = [0, 0, 2, 0, 30]
    expected = cached_logits(tiny_teacher, DynamicCache(config=tiny_teacher.config), chunks, crops)
    cache = growing_cache(tiny_teacher.config)
    assert all(isinstance(layer, GrowingLayer) for layer in cache.layers)
    assert torch.allclose(cached_logits(tiny_teacher, cache, chunks, crops), expected, atol=1e-6)


@torch.no_grad()
def test_one_token_forwards_reuse_buffer(tiny_teacher):
    cache = growing_cache(tiny_teacher.config)
    tiny_teacher(input_ids=torch.tensor([list(range(5, 25))]), cache=cache, use_cache=True)
    layer = cache.layers[0]
    start = layer.keys.data_ptr()
    for token in range(10):
        tiny_teacher(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
        assert layer.keys.data_ptr() == start
    assert layer.keys.shape[-2] == 30


@torch.no_grad()
def test_replaced_keys_get_new_buffer(tiny_teacher):
    ids = list(range(5, 25))
    cache = growing_cache(tiny_teacher.config)
    tiny_teacher(input_ids=torch.tensor([ids]), cache=cache, use_cache=True)
    for layer in cache.layers:  # new tensors, as a compaction's gather makes them
        layer.keys, layer.values = layer.keys[:, :, :12].clone(), layer.values[:, :, :12].clone()
    prefix_ids = ids[:12]
    logits = tiny_teacher(input_ids=torch.tensor([[3]]), position_ids=torch.tensor([[len(prefix_ids)]]), cache=cache, use_cache=True).logits
    expected = tiny_teacher(input_ids=torch.tensor([prefix_ids + [3]])).logits
    assert torch.allclose(logits[0, -1], expected[0, -1], atol=1e-5)


def test_with_gradients_the_cache_concatenates(tiny_tokenizer):
    from tests.conftest import make_model

    model = make_model(tiny_tokenizer, seed=5).train()
    cache = growing_cache(model.config)
    first = model(input_ids=torch.tensor([[5, 6, 7]]), cache=cache, use_cache=True).logits
    second = model(input_ids=torch.tensor([[8]]), cache=cache, use_cache=True).logits
    (first.sum() + second.sum()).backward()  # an in-place write into a saved tensor would raise here
    assert all(parameter.grad is not None for parameter in model.parameters() if parameter.requires_grad)
