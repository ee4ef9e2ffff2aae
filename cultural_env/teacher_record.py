"""The teacher's distributions along a trajectory, as carried in ``info`` and collected for learning."""

from __future__ import annotations

import torch


class TeacherLogProbs:
    """Teacher log-probabilities (T, V) at T response positions, kept on the teacher's device.

    A thin wrapper so that Gymnasium's checks can compare infos: two records are equal when their
    tensors are equal element by element.
    """

    __slots__ = ("log_probs",)

    def __init__(self, log_probs: torch.Tensor) -> None:
        self.log_probs = log_probs  # (T, V)

    def __len__(self) -> int:
        return self.log_probs.shape[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TeacherLogProbs):
            return NotImplemented
        return self.log_probs.shape == other.log_probs.shape and bool(torch.equal(self.log_probs, other.log_probs))

    __hash__ = None  # mutable tensor inside

    def __repr__(self) -> str:
        return f"TeacherLogProbs(shape={tuple(self.log_probs.shape)}, device={self.log_probs.device})"

    @staticmethod
    def concatenate(records: list["TeacherLogProbs"]) -> torch.Tensor:
        """Stack the records of one episode, in order, into one (T, V) tensor."""
        return torch.cat([record.log_probs for record in records], dim=0)
