import math

import pytest
import torch

from agents.losses import forward_kl, generalized_jsd, reverse_kl, token_divergence


def random_log_probs(seed, shape=(5, 11)):
    return torch.log_softmax(torch.randn(shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl", "jsd"])
def test_identical_distributions_give_zero(kind):
    log_probs = random_log_probs(0)
    assert torch.allclose(token_divergence(log_probs, log_probs, kind), torch.zeros(5), atol=1e-6)


@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl", "jsd"])
def test_divergence_non_negative_per_token(kind):
    values = token_divergence(random_log_probs(1), random_log_probs(2), kind)
    assert values.shape == (5,)
    assert bool((values >= -1e-6).all())


def test_forward_and_reverse_kl_swap_arguments():
    student, teacher = random_log_probs(3), random_log_probs(4)
    assert torch.allclose(forward_kl(student, teacher), reverse_kl(teacher, student))


def test_forward_kl_matches_torch():
    student, teacher = random_log_probs(5), random_log_probs(6)
    expected = torch.nn.functional.kl_div(student, teacher, log_target=True, reduction="none").sum(-1)
    assert torch.allclose(forward_kl(student, teacher), expected, atol=1e-6)


def test_jsd_symmetric_at_half():
    first, second = random_log_probs(7), random_log_probs(8)
    assert torch.allclose(generalized_jsd(first, second, 0.5), generalized_jsd(second, first, 0.5), atol=1e-6)


def test_jsd_bounded_by_log_two():
    disjoint_student = torch.log(torch.tensor([[1.0 - 1e-9, 1e-9]]))
    disjoint_teacher = torch.log(torch.tensor([[1e-9, 1.0 - 1e-9]]))
    value = generalized_jsd(disjoint_student, disjoint_teacher, 0.5)
    assert value.item() <= math.log(2) + 1e-6
    assert value.item() > 0.69


def test_jsd_small_beta_approaches_scaled_forward_kl():
    student, teacher = random_log_probs(9), random_log_probs(10)
    beta = 1e-4
    # For small beta, JSD_beta ~ beta * KL(p_t || p_s) to first order.
    assert torch.allclose(generalized_jsd(student, teacher, beta) / beta, forward_kl(student, teacher), rtol=0.05)


def test_unknown_divergence_names_choices():
    log_probs = random_log_probs(0)
    with pytest.raises(ValueError, match="forward_kl, reverse_kl, jsd"):
        token_divergence(log_probs, log_probs, "kl")
