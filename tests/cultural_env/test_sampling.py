import torch

from cultural_env.sampling import draw_from_probs, sample_tokens, scaled_log_probs, top_p_filter


def test_top_p_keeps_smallest_nucleus():
    log_probs = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(log_probs, 0.7))
    assert kept.tolist() == [[True, True, False, False]]


def test_top_p_always_keeps_best_token():
    log_probs = torch.log(torch.tensor([[0.9, 0.1]]))
    kept = torch.isfinite(top_p_filter(log_probs, 0.01))
    assert kept.tolist() == [[True, False]]


def test_top_p_one_is_identity():
    log_probs = torch.log(torch.tensor([[0.25, 0.75]]))
    assert torch.equal(top_p_filter(log_probs, 1.0), log_probs)


def test_zero_temperature_is_argmax():
    logits = torch.tensor([[0.1, 3.0, 0.2], [5.0, 0.0, 0.0]])
    assert sample_tokens(logits, 0.0).tolist() == [1, 0]


def test_seeded_sampling_repeats():
    logits = torch.zeros(4, 50)
    first = sample_tokens(logits, 1.0, 1.0, torch.Generator().manual_seed(3))
    second = sample_tokens(logits, 1.0, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def test_scaled_log_probs_normalised():
    log_probs = scaled_log_probs(torch.randn(3, 10), 0.7)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3))


def test_draws_follow_the_distribution():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2, 0.0])
    logits = torch.log(probs).expand(20_000, -1)
    drawn = sample_tokens(logits, 1.0, 1.0, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(drawn, minlength=5).float() / len(drawn)
    assert frequencies[1] == 0
    assert frequencies[4] == 0
    # 20,000 draws put each frequency within about 0.01 (three standard deviations) of its probability.
    assert torch.allclose(frequencies, probs, atol=0.012)


def test_draws_skip_top_p_cut_tokens():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]])).expand(5_000, -1)
    drawn = sample_tokens(logits, 1.0, 0.8, torch.Generator().manual_seed(1))
    assert set(drawn.tolist()) == {0, 1}


def test_draw_unnormalised_and_single_token_rows():
    probs = torch.tensor([[0.0, 0.0, 3.0], [2.0, 2.0, 0.0]])
    drawn = draw_from_probs(probs.repeat(500, 1), torch.Generator().manual_seed(2)).view(500, 2)
    assert (drawn[:, 0] == 2).all()
    assert set(drawn[:, 1].tolist()) == {0, 1}
