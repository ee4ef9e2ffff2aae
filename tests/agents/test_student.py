"""The student's cached drafting matches uncached greedy decoding."""

import torch

from agents.student import StudentDrafter


def test_greedy_drafts_match_full_forward(tiny_teacher, tiny_tokenizer):
    drafter = StudentDrafter(tiny_teacher, len(tiny_tokenizer), frozenset())
    sequence = tiny_tokenizer("Hello culture", add_special_tokens=False)["input_ids"]
    drafted = []
    for length in (3, 1, 4):
        block = drafter.draft(sequence + drafted, length, temperature=0.0, top_p=1.0).tolist()
        # Keep only the first token, as after a rejection with the correction equal to it.
        drafted.extend(block[:1])
    tokens = list(sequence)
    expected = []
    with torch.no_grad():
        for _ in range(3):
            logits = tiny_teacher(torch.tensor([tokens])).logits[0, -1, : len(tiny_tokenizer)]
            token = int(logits.argmax())
            expected.append(token)
            tokens.append(token)
    assert drafted == expected


def test_one_forward_per_drafted_token(tiny_teacher, tiny_tokenizer):
    drafter = StudentDrafter(tiny_teacher, len(tiny_tokenizer), frozenset())
    sequence = tiny_tokenizer("Kimchi", add_special_tokens=False)["input_ids"]
    block = drafter.draft(sequence, 5, temperature=1.0, top_p=1.0)
    assert len(block) == 5
    assert drafter.lm.forward_calls == 5
    drafter.draft(sequence + block[:2].tolist() + [7], 3, temperature=1.0, top_p=1.0)
    assert drafter.lm.forward_calls == 8
    assert drafter.lm.cache.get_seq_length() == len(sequence) + 2 + 1 + 2


def test_draft_stops_after_stop_token(tiny_teacher, tiny_tokenizer):
    logits_argmax = None
    sequence = tiny_tokenizer("Seoul", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits_argmax = int(tiny_teacher(torch.tensor([sequence])).logits[0, -1, : len(tiny_tokenizer)].argmax())
    drafter = StudentDrafter(tiny_teacher, len(tiny_tokenizer), frozenset({logits_argmax}))
    block = drafter.draft(sequence, 4, temperature=0.0, top_p=1.0)
    assert block.tolist() == [logits_argmax]
