"""The teacher: verifies drafted blocks with one forward each and draws corrections.

The teacher reads its privileged prompt (query plus knowledge) and the response so far. Each
:meth:`Teacher.verify` runs one forward over the tokens it has not yet cached, which are the
previous block's correction (or last accepted token) followed by the new draft, so a correction
never costs a forward of its own. The log-probabilities it computes at the appended positions are
returned, so learning needs no second teacher pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cultural_env.acceptance import AcceptanceConfig, accept_tokens, accepted_prefix_length, token_ranks
from cultural_env.adaptive_top_k import AdaptiveTopK
from cultural_env.decoding import CachedSequenceModel
from cultural_env.sampling import sample_tokens, scaled_log_probs


@dataclass(frozen=True)
class Verification:
    """The teacher's verdict on one drafted block of G tokens."""

    accepted: torch.Tensor
    """(G,) bool: whether the teacher accepts each drafted token on its own merits."""
    num_accepted: int
    """Length of the accepted prefix, n."""
    correction: int | None
    """The teacher's token at position n when n < G, else None."""
    appended: list[int]
    """Tokens appended to the response: the accepted prefix, then the correction if any."""
    log_probs: torch.Tensor
    """(len(appended), V) teacher log-probabilities at the teacher temperature, one row per appended position."""
    draft_ranks: torch.Tensor
    """(G,) 0-based rank of each drafted token under the teacher."""
    draft_probs: torch.Tensor
    """(G,) teacher probability of each drafted token."""
    top_k: torch.Tensor
    """(G,) int64 k used at each draft position: ``acceptance.top_k``, or K_eff under adaptive top-k."""
    hidden: torch.Tensor | None = None
    """(len(appended), H) teacher final hidden states that ``log_probs`` come from; None unless the teacher keeps them."""


class Teacher:
    """A teacher model that follows one episode's privileged sequence with a KV cache."""

    def __init__(self, model: torch.nn.Module, vocab_size: int, acceptance: AcceptanceConfig, keep_hidden: bool = False) -> None:
        self.lm = CachedSequenceModel(model, vocab_size)
        self.keep_hidden = keep_hidden
        self.acceptance = acceptance
        self.adaptive_top_k = AdaptiveTopK(acceptance.adaptive_top_k) if acceptance.adaptive_top_k is not None else None
        self.sequence: list[int] = []
        self.generator = torch.Generator(device=self.lm.device)

    @property
    def forward_calls(self) -> int:
        """Number of teacher forwards run since construction."""
        return self.lm.forward_calls

    def begin(self, prompt_ids: Sequence[int], seed: int) -> None:
        """Start a new episode from the teacher's prompt; the prompt is encoded with the first block."""
        self.lm.reset()
        self.sequence = list(prompt_ids)
        self.generator.manual_seed(seed)
        if self.adaptive_top_k is not None:
            self.adaptive_top_k.begin()

    @torch.no_grad()
    def verify(self, draft: Sequence[int]) -> Verification:
        """Verify ``draft`` (G >= 1 tokens) with one forward and extend the sequence by the verdict."""
        pending = self.lm.sync(self.sequence)
        fed = pending + list(draft[:-1])
        if not self.keep_hidden:
            return self.judge(self.lm.forward(fed)[-len(draft) :], draft)  # (G, V)
        logits, hidden = self.lm.forward_with_hidden(fed)  # (S, V), (S, H)
        return self.judge(logits[-len(draft) :], draft, hidden[-len(draft) :])

    @torch.no_grad()
    def judge(self, logits: torch.Tensor, draft: Sequence[int], hidden: torch.Tensor | None = None) -> Verification:
        """Judge ``draft`` from the teacher's logits (G, V) at its positions; extend the sequence by the verdict.

        ``hidden`` (G, H) contains the final hidden states those logits come from, and the verdict
        keeps its rows at the appended positions. :meth:`verify` runs the forward itself; the vector
        environment runs one batched forward for all its rows and calls this per row.
        """
        block_length = len(draft)
        log_probs = scaled_log_probs(logits, self.acceptance.temperature)  # (G, V)
        draft_tensor = torch.tensor(list(draft), dtype=torch.long, device=log_probs.device)  # (G,)

        top_k = self._top_k(log_probs)  # (G,)
        accepted = accept_tokens(log_probs[None], draft_tensor[None], top_k[None], self.acceptance.min_prob)[0]
        num_accepted = int(accepted_prefix_length(accepted[None])[0])
        if self.adaptive_top_k is not None:
            self.adaptive_top_k.observe(accepted[: num_accepted + 1].tolist())

        correction = None
        appended = list(draft)
        if num_accepted < block_length:
            drawn = sample_tokens(
                log_probs[num_accepted : num_accepted + 1], 1.0, self.acceptance.top_p, self.generator
            )
            correction = int(drawn[0])
            appended = list(draft[:num_accepted]) + [correction]
        self.sequence.extend(appended)

        draft_log_probs = log_probs.gather(-1, draft_tensor[:, None]).squeeze(-1)  # (G,)
        return Verification(
            accepted=accepted,
            num_accepted=num_accepted,
            correction=correction,
            appended=appended,
            log_probs=log_probs[: len(appended)],
            draft_ranks=token_ranks(log_probs, draft_tensor),
            draft_probs=draft_log_probs.exp(),
            top_k=top_k,
            hidden=None if hidden is None else hidden[: len(appended)],
        )

    def _top_k(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Return the k at each draft position (G,): fixed, or from the adaptive rule's state."""
        if self.adaptive_top_k is None:
            return torch.full(log_probs.shape[:-1], self.acceptance.top_k, dtype=torch.long, device=log_probs.device)
        return self.adaptive_top_k.top_k(log_probs)
