"""The three rollouts that the benchmark times: this project's, the naive reference, and the floor.

All three write T response tokens for one item and end with the teacher's distribution at
every response position, which is what the loss needs:

- :func:`project_rollout`: ``CulturalTokenEnv`` plus ``StudentDrafter``. The student keeps its
  KV cache across blocks. One teacher forward verifies each block and folds in the previous
  correction, and the log-probabilities it records serve the loss.
- :func:`naive_rollout`: the reference implementation's algorithm, written here for comparison.
  The student's cache is dropped every block, so prompt and response are re-encoded; each
  drafted token is read to the host (``.item()``) and the whole text is decoded to look for
  stop strings; a rejection costs an extra one-token teacher forward for the correction; and a
  second full teacher forward over prompt plus response recomputes the distributions for the loss.
- :func:`floor_rollout`: the least work any method must do: the student samples T tokens with
  its KV cache, and one teacher forward runs over the whole sequence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from agents.gamma import next_block_size
from agents.student import StudentDrafter
from cultural_env.acceptance import accept_tokens, accepted_prefix_length
from cultural_env.decoding import CachedSequenceModel
from cultural_env.env import CulturalTokenEnv
from cultural_env.sampling import sample_tokens, scaled_log_probs

DRAFT_TEMPERATURE = 1.0
"""Student sampling temperature of every benchmark rollout."""

# Every rollout is timed with time.process_time, the CPU time of this process, not wall-clock
# time. On a shared machine, other processes stretch wall time by a varying factor, and with one
# torch thread the process's CPU time equals its wall time on an idle machine.


@dataclass
class RolloutStats:
    """Counts and wall time of one rollout."""

    tokens: int = 0
    """Response tokens written."""
    seconds: float = 0.0
    """CPU time of the rollout in seconds, including the teacher's distributions for the loss."""
    blocks: int = 0
    """Drafted blocks verified."""
    drafted: int = 0
    """Tokens the student drafted."""
    accepted: int = 0
    """Drafted tokens the teacher accepted."""
    teacher_forwards: int = 0
    """Teacher forward passes."""
    student_forwards: int = 0
    """Student forward passes."""


@torch.no_grad()
def project_rollout(env: CulturalTokenEnv, student: torch.nn.Module, gamma_max: int, seed: int) -> RolloutStats:
    """Roll out one episode with the environment and the cached drafter, as ``SKDAgent`` does."""
    drafter = StudentDrafter(student, env.vocab_size, frozenset())
    drafter.seed(seed)
    stats = RolloutStats()
    start = time.process_time()
    observation, _ = env.reset(seed=seed, options={"sample_index": 0})
    forwards_at_reset = env.teacher.forward_calls
    gamma, done = 4, False
    while not done:
        sequence = observation["query"].tolist() + observation["response"].tolist()
        length = max(1, min(gamma, env.config.max_new_tokens - len(observation["response"])))
        block = drafter.draft(sequence, length, DRAFT_TEMPERATURE, 1.0)
        observation, _, terminated, truncated, info = env.step(block)
        gamma = next_block_size(gamma, info["num_accepted"], len(info["accepted"]), gamma_max)
        stats.blocks += 1
        stats.drafted += len(block)
        stats.accepted += info["num_accepted"]
        done = terminated or truncated
    stats.seconds = time.process_time() - start
    stats.tokens = len(observation["response"])
    stats.teacher_forwards = env.teacher.forward_calls - forwards_at_reset
    stats.student_forwards = drafter.lm.forward_calls
    return stats


@torch.no_grad()
def naive_rollout(env: CulturalTokenEnv, student: torch.nn.Module, gamma_max: int, seed: int) -> RolloutStats:
    """Roll out one episode with the reference algorithm (see the module docstring)."""
    acceptance = env.config.acceptance
    vocab_size = env.vocab_size
    generator = torch.Generator().manual_seed(seed)
    sample = env.samples[0]
    query = env.student_prompt_ids(sample)
    teacher = CachedSequenceModel(env.teacher.lm.model, vocab_size)
    teacher_sequence = env.teacher_prompt_ids(sample)
    stats = RolloutStats()
    start = time.process_time()
    response: list[int] = []
    gamma = 4
    while len(response) < env.config.max_new_tokens:
        length = max(1, min(gamma, env.config.max_new_tokens - len(response)))
        draft = _naive_draft(student, query + response, length, vocab_size, generator, env.tokenizer, stats)

        # Verify: one teacher forward over the block.
        pending = teacher.sync(teacher_sequence)
        logits = teacher.forward(pending + draft[:-1])[-len(draft) :]  # (G, V)
        log_probs = scaled_log_probs(logits, acceptance.temperature)  # (G, V)
        draft_tensor = torch.tensor(draft)[None]  # (1, G)
        accepted = accept_tokens(log_probs[None], draft_tensor, acceptance.top_k, acceptance.min_prob)
        num_accepted = int(accepted_prefix_length(accepted)[0])
        appended = list(draft)
        if num_accepted < len(draft):
            correction = int(sample_tokens(log_probs[num_accepted : num_accepted + 1], 1.0, 1.0, generator)[0])
            appended = draft[:num_accepted] + [correction]
            # The reference runs the correction through the teacher at once, in a forward of its own.
            teacher.forward(teacher.sync(teacher_sequence + appended))
        teacher_sequence += appended
        response += appended
        gamma = next_block_size(gamma, num_accepted, len(draft), gamma_max)
        stats.blocks += 1
        stats.drafted += len(draft)
        stats.accepted += num_accepted

    # The reference's loss recomputes every teacher distribution with a second full forward.
    full = env.teacher.lm.model(input_ids=torch.tensor([teacher_sequence])).logits[0, -len(response) - 1 : -1, :vocab_size]
    scaled_log_probs(full, acceptance.temperature)
    stats.seconds = time.process_time() - start
    stats.tokens = len(response)
    stats.teacher_forwards = teacher.forward_calls + 1
    return stats


def _naive_draft(
    student: torch.nn.Module, sequence: list[int], length: int, vocab_size: int, generator: torch.Generator, tokenizer, stats: RolloutStats
) -> list[int]:
    """Draft with a fresh cache: re-encode ``sequence``, then sample ``length`` tokens one host read at a time."""
    cache = DynamicCache(config=student.config)
    feed = torch.tensor([sequence])  # (1, P+T): everything so far, again
    draft: list[int] = []
    for _ in range(length):
        logits = student(input_ids=feed, cache=cache, use_cache=True).logits[0, -1:, :vocab_size]  # (1, V)
        stats.student_forwards += 1
        token = int(sample_tokens(logits, DRAFT_TEMPERATURE, 1.0, generator)[0].item())  # a host sync per token
        draft.append(token)
        tokenizer.decode(sequence + draft)  # the reference decodes the whole text to look for stop strings
        feed = torch.tensor([[token]])
    return draft


@torch.no_grad()
def floor_rollout(env: CulturalTokenEnv, student: torch.nn.Module, seed: int) -> RolloutStats:
    """Sample T tokens with the student's KV cache, then run one teacher forward over the whole sequence."""
    vocab_size = env.vocab_size
    generator = torch.Generator().manual_seed(seed)
    sample = env.samples[0]
    total = env.config.max_new_tokens
    stats = RolloutStats()
    start = time.process_time()
    cache = DynamicCache(config=student.config)
    feed = torch.tensor([env.student_prompt_ids(sample)])
    drawn = []
    for _ in range(total):
        logits = student(input_ids=feed, cache=cache, use_cache=True).logits[0, -1:, :vocab_size]  # (1, V)
        token = sample_tokens(logits, DRAFT_TEMPERATURE, 1.0, generator)  # (1,)
        drawn.append(token)
        feed = token[None]
    response = torch.cat(drawn).tolist()
    teacher_ids = torch.tensor([env.teacher_prompt_ids(sample) + response])
    logits = env.teacher.lm.model(input_ids=teacher_ids).logits[0, -total - 1 : -1, :vocab_size]
    scaled_log_probs(logits, env.config.acceptance.temperature)
    stats.seconds = time.process_time() - start
    stats.tokens = total
    stats.student_forwards = total
    stats.teacher_forwards = 1
    return stats
