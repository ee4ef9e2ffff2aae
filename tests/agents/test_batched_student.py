"""Batched drafting matches drafting one episode at a time."""

import torch

from agents.batched_student import BatchedStudentDrafter
from agents.student import StudentDrafter


def test_greedy_batched_drafts_match_unbatched(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    prompts = [tiny_tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Hello culture", "Kimchi is", "Seoul")]
    batched = BatchedStudentDrafter(tiny_teacher, vocab_size, frozenset(), len(prompts))
    singles = [StudentDrafter(tiny_teacher, vocab_size, frozenset()) for _ in prompts]
    sequences = [list(prompt) for prompt in prompts]
    for lengths in ([3, 1, 4], [2, 5, 1], [4, 4, 2]):
        blocks = batched.draft(sequences, lengths, temperature=0.0, top_p=1.0)
        for row, single in enumerate(singles):
            expected = single.draft(sequences[row], lengths[row], temperature=0.0, top_p=1.0)
            assert blocks[row].tolist() == expected.tolist(), f"row {row}, lengths {lengths}"
            # Keep a prefix plus a token of our own, as after a teacher's correction.
            sequences[row] += blocks[row][:1].tolist() + [7]


def test_one_forward_per_drafted_token(tiny_teacher, tiny_tokenizer):
    prompts = [tiny_tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Hanbok", "Jeju island")]
    drafter = BatchedStudentDrafter(tiny_teacher, len(tiny_tokenizer), frozenset(), 2)
    drafter.draft(prompts, [5, 5], temperature=1.0, top_p=1.0)
    assert drafter.lm.forward_calls == 5


def test_row_with_zero_length_drafts_nothing(tiny_teacher, tiny_tokenizer):
    prompts = [tiny_tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Hanbok", "Jeju island")]
    drafter = BatchedStudentDrafter(tiny_teacher, len(tiny_tokenizer), frozenset(), 2)
    drafter.draft(prompts, [2, 2], temperature=1.0, top_p=1.0)
    blocks = drafter.draft(prompts, [3, 0], temperature=1.0, top_p=1.0)
    assert len(blocks[0]) == 3
    assert len(blocks[1]) == 0
    assert not torch.isnan(drafter.lm.mask.float()).any()


def _draft_with_full_acceptance(drafter, singles, prompts, rounds):
    """Draft greedily for each round of lengths, keep every block whole, and compare with one-row drafters."""
    sequences = [list(prompt) for prompt in prompts]
    for lengths in rounds:
        blocks = drafter.draft(sequences, lengths, temperature=0.0, top_p=1.0)
        for row, single in enumerate(singles):
            expected = single.draft(sequences[row], lengths[row], temperature=0.0, top_p=1.0)
            assert blocks[row].tolist() == expected.tolist(), f"row {row}, lengths {lengths}"
            sequences[row] += blocks[row].tolist()


def test_lookahead_tokens_start_next_block(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    prompts = [tiny_tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Hanbok", "Jeju island")]
    drafter = BatchedStudentDrafter(tiny_teacher, vocab_size, frozenset(), 2)
    singles = [StudentDrafter(tiny_teacher, vocab_size, frozenset()) for _ in prompts]
    # Row 0 drafts 1 token while row 1 drafts 4, so row 0 draws 3 ahead; they cover its next block of 3.
    _draft_with_full_acceptance(drafter, singles, prompts, [[1, 4], [3, 1]])
    assert drafter.lm.forward_calls == 4 + 1


def test_no_lookahead_drafts_each_block(tiny_teacher, tiny_tokenizer):
    vocab_size = len(tiny_tokenizer)
    prompts = [tiny_tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Hanbok", "Jeju island")]
    drafter = BatchedStudentDrafter(tiny_teacher, vocab_size, frozenset(), 2, lookahead=False)
    singles = [StudentDrafter(tiny_teacher, vocab_size, frozenset()) for _ in prompts]
    _draft_with_full_acceptance(drafter, singles, prompts, [[1, 4], [3, 1]])
    assert drafter.lm.forward_calls == 4 + 3


def test_sampling_change_drops_lookahead(tiny_teacher, tiny_tokenizer):
    prompts = [tiny_tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Hanbok", "Jeju island")]
    drafter = BatchedStudentDrafter(tiny_teacher, len(tiny_tokenizer), frozenset(), 2)
    blocks = drafter.draft(prompts, [1, 4], temperature=1.0, top_p=1.0)
    sequences = [list(prompt) + block.tolist() for prompt, block in zip(prompts, blocks)]
    calls = drafter.lm.forward_calls
    drafter.draft(sequences, [3, 1], temperature=0.5, top_p=1.0)
    assert drafter.lm.forward_calls - calls == 3
