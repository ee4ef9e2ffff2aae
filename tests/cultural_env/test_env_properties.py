"""Property-based tests of the environment: random block actions never break its invariants."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cultural_env.env import CulturalTokenEnv

BLOCK_SIZE = 5
MAX_NEW_TOKENS = 12


@pytest.fixture(scope="module")
def property_env(tiny_teacher, tiny_tokenizer, english_samples):
    """One environment shared by all examples; each example starts with its own reset."""
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples[:3],
        max_new_tokens=MAX_NEW_TOKENS, block_size=BLOCK_SIZE,
        acceptance={"top_k": 50, "min_prob": 0.0},
    )
    yield env
    env.close()


def episodes(vocab_size: int):
    """A sample index, a seed, and up to eight blocks of 1..BLOCK_SIZE ids; stop ids appear now and then."""
    token = st.integers(min_value=0, max_value=vocab_size - 1)
    block = st.lists(token, min_size=1, max_size=BLOCK_SIZE)
    return st.tuples(st.integers(0, 2), st.integers(0, 2**16), st.lists(block, min_size=1, max_size=8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_blocks_keep_invariants(property_env, data):
    env = property_env
    sample_index, seed, blocks = data.draw(episodes(env.vocab_size))
    observation, _ = env.reset(seed=seed, options={"sample_index": sample_index})
    query = observation["query"].copy()

    for block in blocks:
        response_before = observation["response"]
        observation, reward, terminated, truncated, info = env.step(np.asarray(block, dtype=np.int64))
        verified = len(info["accepted"])
        appended = info["appended"]

        # The response grows by exactly the appended tokens and never passes the budget.
        assert np.array_equal(observation["response"], np.concatenate([response_before, appended]))
        assert len(observation["response"]) <= MAX_NEW_TOKENS
        assert np.array_equal(observation["query"], query)
        assert env.observation_space.contains(observation)

        # Reward = accepted prefix, within [0, len(block)]; the correction follows the prefix.
        assert 0 <= reward <= verified <= len(block)
        assert reward == info["num_accepted"] == int(info["accepted"].sum())
        assert info["accepted"][: info["num_accepted"]].all()
        assert len(appended) == info["num_accepted"] + (info["correction"] != -1)
        assert info["teacher_log_probs"].log_probs.shape == (len(appended), env.vocab_size)
        assert verified + info["num_ignored"] == len(block)

        # The cache may still contain rejected draft tokens. After a sync it is a prefix of the
        # teacher's sequence, at least one token short, and its length is the cached length.
        lm = env.teacher.lm
        lm.sync(env.teacher.sequence)
        cached = list(lm.cached_tokens)
        assert env.teacher.sequence[: len(cached)] == cached
        assert len(cached) < len(env.teacher.sequence)
        assert lm.cache.get_seq_length() == len(cached)

        # Episode end: terminated at a stop token, truncated at the budget, never both.
        assert terminated == (int(appended[-1]) in env.stop_ids)
        assert not (terminated and truncated)
        if not terminated:
            assert truncated == (len(observation["response"]) >= MAX_NEW_TOKENS)
        if terminated or truncated:
            break
