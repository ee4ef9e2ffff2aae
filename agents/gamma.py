"""Adaptive draft length (gamma) for speculative knowledge distillation."""

from __future__ import annotations


def next_block_size(gamma: int, num_accepted: int, block_length: int, gamma_max: int) -> int:
    """Return the next draft length after a block of ``block_length`` tokens with ``num_accepted`` accepted.

    A fully accepted block grows gamma by 2, up to ``gamma_max``; otherwise gamma becomes the
    accepted prefix length plus one, at least 1. So the student drafts long blocks where it
    agrees with the teacher and short ones where it does not.
    """
    if num_accepted >= block_length:
        return min(gamma_max, gamma + 2)
    return max(1, num_accepted + 1)
