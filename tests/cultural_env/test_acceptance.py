import math

import pytest
import torch

from cultural_env.acceptance import AcceptanceConfig, accept_tokens, accepted_prefix_length, token_ranks
from cultural_env.errors import ConfigError
from cultural_env.sampling import scaled_log_probs


def log_probs_of(probabilities):
    return torch.log(torch.tensor(probabilities, dtype=torch.float32))


def test_accepts_token_in_top_k_above_min_prob():
    teacher = log_probs_of([[0.5, 0.3, 0.15, 0.05]])[None]  # (1, 1, 4)
    for token, expected in ((0, True), (1, True), (2, False), (3, False)):
        accepted = accept_tokens(teacher, torch.tensor([[token]]), top_k=2, min_prob=0.01)
        assert bool(accepted[0, 0]) is expected, token


def test_min_prob_rejects_top_k_token():
    teacher = log_probs_of([[0.5, 0.3, 0.15, 0.05]])[None]
    accepted = accept_tokens(teacher, torch.tensor([[2]]), top_k=4, min_prob=0.2)
    assert not bool(accepted[0, 0])
    accepted = accept_tokens(teacher, torch.tensor([[1]]), top_k=4, min_prob=0.2)
    assert bool(accepted[0, 0])


def test_ties_at_kth_place_are_accepted():
    teacher = log_probs_of([[0.4, 0.2, 0.2, 0.2]])[None]
    accepted = accept_tokens(teacher, torch.tensor([[3]]), top_k=2, min_prob=0.0)
    assert bool(accepted[0, 0])


def test_temperature_changes_verdict():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    draft = torch.tensor([[1]])
    cold = scaled_log_probs(logits, 0.1)[None]
    warm = scaled_log_probs(logits, 1.0)[None]
    assert not bool(accept_tokens(cold, draft, top_k=5, min_prob=0.05)[0, 0])
    assert bool(accept_tokens(warm, draft, top_k=5, min_prob=0.05)[0, 0])


def test_prefix_stops_at_first_rejection():
    accepted = torch.tensor([[True, True, False, True], [True, True, True, True], [False, True, True, True]])
    assert accepted_prefix_length(accepted).tolist() == [2, 4, 0]


def test_token_ranks_zero_based():
    teacher = log_probs_of([[0.1, 0.6, 0.3]])
    ranks = token_ranks(teacher.expand(3, 3), torch.tensor([1, 2, 0]))
    assert ranks.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("top_k", 0, "top_k must be an integer >= 1, got 0"),
        ("min_prob", 1.5, "min_prob must be a number >= 0.0 and <= 1.0, got 1.5"),
        ("min_prob", -0.1, "min_prob must be a number"),
        ("temperature", -1.0, "temperature must be a number > 0.0"),
        ("top_p", 0.0, "top_p must be a number > 0.0"),
        ("top_k", 2.5, "top_k must be an integer"),
    ],
)
def test_config_rejects_out_of_range(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        AcceptanceConfig(**{field: value})


def test_config_rejects_nan():
    with pytest.raises(ConfigError):
        AcceptanceConfig(min_prob=math.nan)
