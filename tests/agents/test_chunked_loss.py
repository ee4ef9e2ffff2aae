"""The chunked loss equals the full loss and keeps its peak memory flat as T grows."""

import pytest
import torch

from agents.chunked_loss import (
    TeacherHiddenStates,
    TeacherLogProbRows,
    TeacherTopK,
    chunked_token_divergence,
    final_hidden_states,
)
from agents.losses import DIVERGENCES, token_divergence
from cultural_env.bench.memory import TensorMemoryTracker

VOCAB = 300
PADDED_VOCAB = 320
HIDDEN = 16


def loss_inputs(num_positions, seed=0):
    generator = torch.Generator().manual_seed(seed)
    student_hidden = torch.randn(num_positions, HIDDEN, generator=generator).requires_grad_()  # (T, H)
    student_weight = torch.randn(PADDED_VOCAB, HIDDEN, generator=generator).requires_grad_()  # (V_padded, H)
    teacher_hidden = torch.randn(num_positions, HIDDEN, generator=generator)
    teacher_weight = torch.randn(PADDED_VOCAB, HIDDEN, generator=generator)
    return student_hidden, student_weight, teacher_hidden, teacher_weight


def full_divergence(student_hidden, student_weight, teacher_log_probs, kind, temperature=1.0):
    student_log_probs = torch.log_softmax(student_hidden @ student_weight[:VOCAB].T / temperature, dim=-1)  # (T, V)
    return token_divergence(student_log_probs, teacher_log_probs, kind, 0.5)


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_hidden_state_teacher_matches_full_loss(kind):
    student_hidden, student_weight, teacher_hidden, teacher_weight = loss_inputs(50)
    teacher_log_probs = torch.log_softmax(teacher_hidden @ teacher_weight[:VOCAB].T / 0.7, dim=-1)
    expected = full_divergence(student_hidden, student_weight, teacher_log_probs, kind, temperature=0.7)
    expected.mean().backward()
    expected_grads = (student_hidden.grad.clone(), student_weight.grad.clone())
    student_hidden.grad = student_weight.grad = None

    teacher = TeacherHiddenStates(teacher_hidden, teacher_weight, temperature=0.7)
    chunked = chunked_token_divergence(student_hidden, student_weight, teacher, VOCAB, kind=kind, temperature=0.7, chunk_size=16)
    chunked.mean().backward()
    assert torch.allclose(chunked, expected, atol=1e-5)
    assert torch.allclose(student_hidden.grad, expected_grads[0], atol=1e-5)
    assert torch.allclose(student_weight.grad, expected_grads[1], atol=1e-5)


def test_recorded_log_probs_match_full_loss():
    student_hidden, student_weight, teacher_hidden, teacher_weight = loss_inputs(33)
    teacher_log_probs = torch.log_softmax(teacher_hidden @ teacher_weight[:VOCAB].T, dim=-1)
    expected = full_divergence(student_hidden, student_weight, teacher_log_probs, "forward_kl")
    chunked = chunked_token_divergence(student_hidden, student_weight, TeacherLogProbRows(teacher_log_probs), VOCAB, chunk_size=10)
    assert torch.allclose(chunked, expected, atol=1e-5)


def test_top_k_teacher_bounds_exact_loss():
    student_hidden, student_weight, teacher_hidden, teacher_weight = loss_inputs(40)
    teacher_log_probs = torch.log_softmax(teacher_hidden @ teacher_weight[:VOCAB].T, dim=-1)
    with torch.no_grad():
        exact = full_divergence(student_hidden, student_weight, teacher_log_probs, "forward_kl")
        top_small = chunked_token_divergence(student_hidden, student_weight, TeacherTopK.from_log_probs(teacher_log_probs, 8), VOCAB)
        top_all = chunked_token_divergence(student_hidden, student_weight, TeacherTopK.from_log_probs(teacher_log_probs, VOCAB - 1), VOCAB)
    assert (top_small <= exact + 1e-5).all(), "merging tokens into one bucket can only lower a KL"
    assert (top_small >= -1e-6).all()
    assert torch.allclose(top_all, exact, atol=1e-4), "with all but one token kept the buckets are the tokens"


def test_top_k_loss_zero_for_identical_models():
    student_hidden, student_weight, _, _ = loss_inputs(20)
    with torch.no_grad():
        log_probs = torch.log_softmax(student_hidden @ student_weight[:VOCAB].T, dim=-1)
        loss = chunked_token_divergence(student_hidden, student_weight, TeacherTopK.from_log_probs(log_probs, 5), VOCAB)
    assert torch.allclose(loss, torch.zeros_like(loss), atol=1e-5)


def peak_bytes(num_positions, chunked):
    student_hidden, student_weight, teacher_hidden, teacher_weight = loss_inputs(num_positions)
    with TensorMemoryTracker() as tracker:
        if chunked:
            teacher = TeacherHiddenStates(teacher_hidden, teacher_weight, temperature=1.0)
            loss = chunked_token_divergence(student_hidden, student_weight, teacher, VOCAB, chunk_size=32)
        else:
            with torch.no_grad():
                teacher_log_probs = torch.log_softmax(teacher_hidden @ teacher_weight[:VOCAB].T, dim=-1)
            loss = full_divergence(student_hidden, student_weight, teacher_log_probs, "forward_kl")
        loss.mean().backward()
    return tracker.peak_bytes


def test_chunked_peak_memory_flat_in_length():
    short, long = peak_bytes(256, chunked=True), peak_bytes(2048, chunked=True)
    # What grows with T is O(T * H): the hidden-state gradient, which autograd builds as a
    # (T, H) buffer per chunk's slice and sums, and the (T,) losses. The (C, V) work does not.
    growth_allowance = 2048 * (4 * HIDDEN + 4) * 4
    assert long <= short + growth_allowance, f"peak grew from {short} to {long} bytes"


def test_full_loss_peak_memory_grows_with_length():
    assert peak_bytes(2048, chunked=False) > 4 * peak_bytes(256, chunked=False)


def test_final_hidden_states_give_model_logits(tiny_teacher):
    input_ids = torch.arange(10, 30)[None]  # (1, 20)
    with torch.no_grad():
        hidden = final_hidden_states(tiny_teacher, input_ids, 5)  # (5, H)
        logits = tiny_teacher(input_ids).logits[0, -6:-1]  # (5, V)
    weight = tiny_teacher.get_output_embeddings().weight
    assert torch.allclose(hidden @ weight.T, logits, atol=1e-5)


def test_skd_chunked_mode_matches_full(tiny_env, tiny_tokenizer):
    from agents.base import run_episode
    from agents.skd import SKDAgent, SKDConfig
    from tests.conftest import make_model

    student = make_model(tiny_tokenizer, seed=2)
    full_agent = SKDAgent(SKDConfig(device="cpu"), tiny_env, model=student)
    chunked_agent = SKDAgent(SKDConfig(device="cpu", loss_mode="chunked", loss_chunk_size=5), tiny_env, model=student)
    full_agent.seed(0)
    episode = run_episode(tiny_env, full_agent, seed=0)

    full_loss, full_tokens = full_agent.loss(episode)
    chunked_loss, chunked_tokens = chunked_agent.loss(episode)
    assert chunked_tokens == full_tokens
    assert torch.allclose(chunked_loss, full_loss, atol=1e-5)


def test_skd_rejects_unknown_loss_mode():
    from agents.skd import SKDConfig
    from cultural_env.errors import ConfigError

    with pytest.raises(ConfigError, match="loss_mode"):
        SKDConfig(loss_mode="sparse")
