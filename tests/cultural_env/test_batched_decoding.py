"""The batched cache model: compaction and lone prefills leave every row's logits unchanged."""

import torch

from cultural_env.batched_decoding import PREFILL_ALONE_TOKENS, BatchedSequenceModel, pad_rows
from cultural_env.decoding import CachedSequenceModel


def reference_logits(model, vocab_size, sequence):
    """Logits (V,) after ``sequence``, from the unbatched cached model."""
    return CachedSequenceModel(model, vocab_size).forward(sequence)[-1]


def run_feeds(lm, feeds):
    tokens, lengths = pad_rows(feeds)
    logits = lm.forward(tokens, lengths)  # (B, S, V)
    return [logits[row, lengths[row] - 1] for row in range(len(feeds))]


def test_compact_keeps_row_logits(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    sequences = [list(range(10, 10 + length)) for length in (12, 7, 15)]
    lm = BatchedSequenceModel(tiny_teacher, vocab_size, 3)
    run_feeds(lm, sequences)
    # Each row feeds a draft of 4, then keeps a different prefix of it plus a token of its own.
    run_feeds(lm, [[40, 41, 42, 43]] * 3)
    sequences = [sequence + [40, 41, 42, 43][:kept] + [99] for sequence, kept in zip(sequences, (0, 2, 3))]
    feeds = [lm.sync(row, sequence) for row, sequence in enumerate(sequences)]
    width_before = lm.mask.shape[1]

    lm.compact()
    assert lm.mask.shape[1] < width_before
    assert lm.mask.sum(dim=1).tolist() == [len(columns) for columns in lm.columns]

    for row, logits in enumerate(run_feeds(lm, feeds)):
        expected = reference_logits(tiny_teacher, vocab_size, sequences[row])
        assert torch.allclose(logits, expected, atol=1e-4), f"row {row}"


def test_forward_compacts_when_many_columns_discarded(tiny_teacher, tiny_tokenizer):
    lm = BatchedSequenceModel(tiny_teacher, len(tiny_tokenizer), 2)
    sequences = [[5, 6, 7], [8, 9, 10]]
    run_feeds(lm, sequences)
    for _ in range(4):
        run_feeds(lm, [[11, 12, 13, 14, 15, 16]] * 2)
        feeds = [lm.sync(row, sequence + [17]) for row, sequence in enumerate(sequences)]
        sequences = [sequence + [17] for sequence in sequences]
        run_feeds(lm, feeds)
    # Without compaction the width would be 3 + 4 * (6 + 1) = 31 columns for 7 valid tokens per row.
    assert lm.mask.shape[1] < 3 + 4 * 7
    assert lm.mask.sum(dim=1).tolist() == [len(sequence) for sequence in sequences]


def test_long_feed_prefilled_alone(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    lm = BatchedSequenceModel(tiny_teacher, vocab_size, 3)
    short = [[20, 21, 22], [30, 31]]
    run_feeds(lm, short + [[3]])
    long_sequence = [3] + list(range(50, 50 + PREFILL_ALONE_TOKENS + 10))
    feeds = [lm.sync(0, short[0] + [23]), lm.sync(1, short[1] + [32]), lm.sync(2, long_sequence)]

    remaining = lm.prefill_long_feeds(feeds, needed=[1, 1, 2])
    assert lm.prefill_calls == 1
    assert remaining[:2] == feeds[:2]
    assert remaining[2] == long_sequence[-2:], "the tokens whose logits the caller reads stay in the batch"
    assert lm.cached_tokens(2) == long_sequence[:-2]

    logits = run_feeds(lm, remaining)
    expected_sequences = [short[0] + [23], short[1] + [32], long_sequence]
    for row, row_logits in enumerate(logits):
        expected = reference_logits(tiny_teacher, vocab_size, expected_sequences[row])
        assert torch.allclose(row_logits, expected, atol=1e-4), f"row {row}"


def test_prefill_into_empty_cache(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    lm = BatchedSequenceModel(tiny_teacher, vocab_size, 2)
    sequences = [list(range(60, 60 + PREFILL_ALONE_TOKENS + 5)), list(range(100, 100 + PREFILL_ALONE_TOKENS + 9))]
    remaining = lm.prefill_long_feeds(sequences, needed=[1, 1])
    assert lm.prefill_calls == 2
    for row, row_logits in enumerate(run_feeds(lm, remaining)):
        expected = reference_logits(tiny_teacher, vocab_size, sequences[row])
        assert torch.allclose(row_logits, expected, atol=1e-4), f"row {row}"


def test_shared_prefix_length_matches_scan():
    import random

    from cultural_env.batched_decoding import shared_prefix_length

    generator = random.Random(0)
    for _ in range(300):
        first = [generator.randrange(3) for _ in range(generator.randrange(12))]
        second = first[: generator.randrange(len(first) + 1)] + [generator.randrange(3) for _ in range(generator.randrange(5))]
        limit = generator.randrange(min(len(first), len(second)) + 1)
        expected = 0
        while expected < limit and first[expected] == second[expected]:
            expected += 1
        assert shared_prefix_length(first, second, limit) == expected, (first, second, limit)
