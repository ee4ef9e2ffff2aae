"""Adaptive draft length (gamma) for speculative knowledge distillation."""

from __future__ import annotations

from collections.abc import Sequence


def next_block_size(gamma: int, num_accepted: int, block_length: int, gamma_max: int) -> int:
    """Return the next draft length after a block of ``block_length`` tokens with ``num_accepted`` accepted.

    A fully accepted block grows gamma by 2, up to ``gamma_max``; otherwise gamma becomes the
    accepted prefix length plus one, at least 1. So the student drafts long blocks where it
    agrees with the teacher and short ones where it does not.
    """
    if num_accepted >= block_length:
        return min(gamma_max, gamma + 2)
    return max(1, num_accepted + 1)


def batch_block_lengths(gammas: Sequence[int], remaining: Sequence[int], shared: bool) -> list[int]:
    """Return the draft length of each row of a batch: its gamma, cut to its ``remaining`` length budget.

    Rows with nothing remaining get 0 (they sit the step out). With ``shared``, every other row
    drafts the longest of those lengths instead, still cut to its own budget. Rows draft in
    lockstep, so the batch pays for the longest block in any case, and the extra tokens reach
    the teacher instead of waiting. Where the blocks end does not change the distribution of
    the tokens: each position's token is the student's draw, accepted or replaced by the
    teacher's rule given the prefix, whichever block it falls in. It changes how many tokens
    each verification covers.
    """
    lengths = [min(gamma, left) if left > 0 else 0 for gamma, left in zip(gammas, remaining)]
    if not shared:
        return lengths
    longest = max(lengths, default=0)
    return [min(longest, left) if left > 0 else 0 for left in remaining]
