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


class TeacherTopKLogProbs:
    """The teacher's K largest log-probabilities and their token ids at T response positions.

    An approximate record of T * K values instead of T * V; the mass outside the kept tokens is
    1 - sum(exp(log_probs)) at each position.
    """

    __slots__ = ("log_probs", "token_ids")

    def __init__(self, log_probs: torch.Tensor, token_ids: torch.Tensor) -> None:
        self.log_probs = log_probs  # (T, K), at the teacher temperature, largest first
        self.token_ids = token_ids  # (T, K) int64

    @classmethod
    def from_log_probs(cls, log_probs: torch.Tensor, k: int) -> "TeacherTopKLogProbs":
        """Keep the ``k`` largest of full log-probabilities (T, V) at each position."""
        values, ids = log_probs.topk(k, dim=-1)  # (T, K)
        return cls(values, ids)

    def __len__(self) -> int:
        return self.log_probs.shape[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TeacherTopKLogProbs):
            return NotImplemented
        return _tensors_equal(self.log_probs, other.log_probs) and _tensors_equal(self.token_ids, other.token_ids)

    __hash__ = None  # mutable tensors inside

    def __repr__(self) -> str:
        return f"TeacherTopKLogProbs(shape={tuple(self.log_probs.shape)}, device={self.log_probs.device})"

    @staticmethod
    def concatenate(records: list["TeacherTopKLogProbs"]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the records of one episode, in order, into log-probabilities (T, K) and token ids (T, K)."""
        log_probs = torch.cat([record.log_probs for record in records], dim=0)
        token_ids = torch.cat([record.token_ids for record in records], dim=0)
        return log_probs, token_ids


class TeacherFinalHidden:
    """The teacher's final hidden states (after the last norm) at T response positions.

    Row i is the hidden state whose product with the teacher's output matrix gives the logits of
    position i, so the full log-probabilities follow exactly from T * H values.
    """

    __slots__ = ("hidden",)

    def __init__(self, hidden: torch.Tensor) -> None:
        self.hidden = hidden  # (T, H_t), in the teacher's dtype

    def __len__(self) -> int:
        return self.hidden.shape[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TeacherFinalHidden):
            return NotImplemented
        return _tensors_equal(self.hidden, other.hidden)

    __hash__ = None  # mutable tensor inside

    def __repr__(self) -> str:
        return f"TeacherFinalHidden(shape={tuple(self.hidden.shape)}, device={self.hidden.device})"

    @staticmethod
    def concatenate(records: list["TeacherFinalHidden"]) -> torch.Tensor:
        """Stack the records of one episode, in order, into one (T, H_t) tensor."""
        return torch.cat([record.hidden for record in records], dim=0)


def _tensors_equal(first: torch.Tensor, second: torch.Tensor) -> bool:
    return first.shape == second.shape and bool(torch.equal(first, second))
