"""Grouped SDPA attention and the attention masks of batched forwards."""

import copy

import torch

from cultural_env.attention import GROUPED_SDPA, default_attention
from cultural_env.batched_decoding import BatchedSequenceModel, pad_rows
from cultural_env.models import load_causal_lm


def batched_logits(model, vocab_size):
    """Logits of a 3-row batched forward whose rows have masked-out columns and padded queries."""
    lm = BatchedSequenceModel(model, vocab_size, 3)
    tokens, lengths = pad_rows([list(range(10, 30)), list(range(40, 47)), list(range(50, 62))])
    lm.forward(tokens, lengths)
    lm.sync(1, lm.cached_tokens(1)[:4])  # a rejected draft leaves a hole in row 1
    tokens, lengths = pad_rows([[1, 2, 3], [4], [5, 6]])
    return lm.forward(tokens, lengths), lengths


def test_grouped_sdpa_eager_match_sdpa(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    expected, lengths = batched_logits(tiny_teacher, vocab_size)
    for implementation in (GROUPED_SDPA, "eager"):
        model = copy.deepcopy(tiny_teacher)
        model.set_attn_implementation(implementation)
        logits, _ = batched_logits(model, vocab_size)
        for row, length in enumerate(lengths):
            assert torch.allclose(logits[row, :length], expected[row, :length], atol=1e-5), f"{implementation}, row {row}"


def test_grouped_sdpa_gradients_match_sdpa(tiny_teacher):
    ids = torch.arange(5, 35).view(2, 15)
    gradients = {}
    for implementation in ("sdpa", GROUPED_SDPA):
        model = copy.deepcopy(tiny_teacher).train()
        model.set_attn_implementation(implementation)
        model(input_ids=ids).logits.square().mean().backward()
        gradients[implementation] = [parameter.grad for parameter in model.parameters()]
    for grouped, plain in zip(gradients[GROUPED_SDPA], gradients["sdpa"]):
        assert torch.allclose(grouped, plain, atol=1e-6)


def test_loader_default_attention_on_cpu(tiny_model_dirs):
    assert load_causal_lm(tiny_model_dirs["teacher"], device="cpu").config._attn_implementation == GROUPED_SDPA
    assert load_causal_lm(tiny_model_dirs["teacher"], device="cpu", attn_implementation="eager").config._attn_implementation == "eager"


def test_default_attention_grouped_query_on_cpu(tiny_teacher):
    config = copy.deepcopy(tiny_teacher.config)
    assert default_attention(config, torch.device("cpu")) == GROUPED_SDPA
    assert default_attention(config, torch.device("cuda")) is None
    config.num_key_value_heads = config.num_attention_heads
    assert default_attention(config, torch.device("cpu")) is None
