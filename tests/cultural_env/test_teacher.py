"""The teacher's cached verification matches full forwards over the same text."""

import numpy as np
import torch

from cultural_env.sampling import scaled_log_probs
from cultural_env.teacher_record import TeacherLogProbs


def test_recorded_log_probs_match_full_forward(tiny_env):
    tiny_env.reset(seed=3, options={"sample_index": 1})
    rng = np.random.default_rng(1)
    records = []
    done = False
    while not done:
        block = rng.integers(0, len(tiny_env.tokenizer), size=int(rng.integers(1, 7)))
        _, _, terminated, truncated, info = tiny_env.step(block)
        records.append(info["teacher_log_probs"])
        done = terminated or truncated
    recorded = TeacherLogProbs.concatenate(records)  # (T, V)

    prompt = tiny_env.teacher_prompt_ids(tiny_env.sample)
    sequence = torch.tensor([prompt + tiny_env.response])
    with torch.no_grad():
        logits = tiny_env.teacher.lm.model(sequence).logits[0]  # (P+T, V_config)
    response_length = len(tiny_env.response)
    expected = scaled_log_probs(logits[len(prompt) - 1 : len(prompt) - 1 + response_length, : len(tiny_env.tokenizer)], 0.7)
    assert recorded.shape == expected.shape
    assert torch.allclose(recorded, expected, atol=1e-4)


def test_forward_count_equals_blocks(tiny_env):
    tiny_env.reset(seed=0)
    start = tiny_env.teacher.forward_calls
    blocks = 0
    done = False
    while not done:
        _, _, terminated, truncated, _ = tiny_env.step(np.array([30, 31, 32]))
        blocks += 1
        done = terminated or truncated
    assert tiny_env.teacher.forward_calls - start == blocks
