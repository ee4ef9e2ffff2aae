"""The environment's contract, on real tiny models."""


import numpy as np
import pytest
import torch

from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError, EpisodeStateError, InvalidActionError


def test_observation_is_student_state_without_knowledge(tiny_env, english_samples):
    observation, info = tiny_env.reset(seed=0, options={"sample_id": english_samples[0].id})
    assert set(observation) == {"query", "response"}
    assert observation["query"].dtype == np.int64
    assert observation["response"].shape == (0,)
    query_text = tiny_env.tokenizer.decode(observation["query"])
    assert english_samples[0].query in query_text
    assert "Background Knowledge" not in query_text
    assert english_samples[0].knowledge[:40] not in query_text
    assert info["sample_id"] == english_samples[0].id


def test_teacher_prompt_contains_knowledge(tiny_env, english_samples):
    sample = english_samples[1]
    text = tiny_env.tokenizer.decode(tiny_env.teacher_prompt_ids(sample))
    assert "[Background Knowledge]" in text
    assert sample.query in text


def test_step_reward_counts_accepted_prefix(tiny_env):
    tiny_env.reset(seed=0)
    _, reward, _, _, info = tiny_env.step(np.array([5, 6, 7], dtype=np.int64))
    assert reward == info["num_accepted"]
    assert info["accepted"].dtype == bool
    assert info["accepted"].sum() == info["num_accepted"]
    assert len(info["appended"]) == info["num_accepted"] + (info["correction"] >= 0)


def test_one_teacher_forward_per_block(tiny_env):
    tiny_env.reset(seed=0)
    before = tiny_env.teacher.forward_calls
    for _ in range(4):
        _, _, terminated, truncated, _ = tiny_env.step(np.array([10, 11], dtype=np.int64))
        if terminated or truncated:
            break
    assert tiny_env.teacher.forward_calls - before == len(tiny_env.history)


def test_teacher_log_probs_cover_appended_positions(tiny_env):
    tiny_env.reset(seed=0)
    _, _, _, _, info = tiny_env.step(np.array([10, 11, 12], dtype=np.int64))
    log_probs = info["teacher_log_probs"].log_probs
    assert log_probs.shape == (len(info["appended"]), len(tiny_env.tokenizer))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(len(info["appended"])), atol=1e-4)


def test_cache_stays_a_prefix_of_sequence(tiny_env):
    tiny_env.reset(seed=1)
    rng = np.random.default_rng(0)
    done = False
    while not done:
        block = rng.integers(0, len(tiny_env.tokenizer), size=int(rng.integers(1, 7)))
        _, _, terminated, truncated, _ = tiny_env.step(block)
        done = terminated or truncated
        lm = tiny_env.teacher.lm
        assert lm.cache.get_seq_length() == len(lm.cached_tokens)
        # Rejected drafts stay cached until the next sync crops them away.
        pending = lm.sync(tiny_env.teacher.sequence)
        assert lm.cache.get_seq_length() == len(lm.cached_tokens)
        assert lm.cached_tokens + pending == tiny_env.teacher.sequence


def test_whole_block_accepted_with_permissive_rule(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        acceptance={"top_k": 100000, "min_prob": 0.0}, block_size=4,
    )
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([20, 21, 22, 23]))
    assert reward == 4
    assert info["correction"] == -1
    assert info["appended"].tolist() == [20, 21, 22, 23]


def test_strict_rule_replaces_first_token(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        acceptance={"top_k": 1, "min_prob": 1.0}, block_size=4,
    )
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([20, 21, 22, 23]))
    assert reward == 0
    assert len(info["appended"]) == 1
    assert info["appended"][0] == info["correction"]


def test_eos_inside_block_ends_episode(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        acceptance={"top_k": 100000, "min_prob": 0.0}, block_size=5,
    )
    env.reset(seed=0)
    eos = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    observation, reward, terminated, truncated, info = env.step(np.array([20, eos, 22, 23]))
    assert terminated and not truncated
    assert observation["response"].tolist() == [20, eos]
    assert info["num_ignored"] == 2
    assert reward == 2


def test_truncated_at_max_new_tokens(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        acceptance={"top_k": 100000, "min_prob": 0.0}, block_size=4, max_new_tokens=6,
    )
    env.reset(seed=0)
    env.step(np.array([20, 21, 22, 23]))
    observation, _, terminated, truncated, info = env.step(np.array([24, 25, 26, 27]))
    assert truncated and not terminated
    assert len(observation["response"]) == 6
    assert info["num_ignored"] == 2


def test_same_seed_same_trajectory(tiny_env):
    def rollout(seed):
        tiny_env.reset(seed=seed, options={"sample_index": 2})
        responses = []
        for block in ([5, 6, 7], [8], [9, 10]):
            observation, *_ = tiny_env.step(np.array(block))
            responses.append(observation["response"].tolist())
        return responses

    assert rollout(7) == rollout(7)


@pytest.mark.parametrize(
    "action, error, fragment",
    [
        (np.array([], dtype=np.int64), InvalidActionError, "empty block"),
        (np.arange(7), InvalidActionError, "block_size is 6"),
        (np.array([-1]), InvalidActionError, "token id -1 is outside the vocabulary"),
        (np.array([10**6]), InvalidActionError, "token id 1000000 is outside the vocabulary"),
        (np.array([1.5]), InvalidActionError, "integer dtype"),
        (np.array([[1, 2]]), InvalidActionError, "1-D array"),
        ("hello", InvalidActionError, "int or a 1-D array"),
        (True, InvalidActionError, "boolean"),
    ],
)
def test_invalid_actions_rejected(tiny_env, action, error, fragment):
    tiny_env.reset(seed=0)
    with pytest.raises(error, match=fragment):
        tiny_env.step(action)
    # The rejected action changed nothing: a valid step still works.
    tiny_env.step(np.array([5]))


def test_int_action_is_block_of_one(tiny_env):
    tiny_env.reset(seed=0)
    _, _, _, _, info = tiny_env.step(7)
    assert len(info["accepted"]) == 1


def test_step_after_end_rejected(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_tokens=1)
    env.reset(seed=0)
    env.step(5)
    with pytest.raises(EpisodeStateError, match="call env.reset"):
        env.step(5)


def test_step_before_reset_rejected(tiny_env):
    with pytest.raises(EpisodeStateError, match="before reset"):
        tiny_env.step(5)


def test_unknown_sample_id_suggests(tiny_env, english_samples):
    wrong = english_samples[0].id.replace("_0", "_9")
    with pytest.raises(ConfigError, match="unknown sample_id"):
        tiny_env.reset(options={"sample_id": wrong})
    with pytest.raises(ConfigError, match="unknown reset options"):
        tiny_env.reset(options={"sample": 1})


def test_knowledge_cut_logs_warning(tiny_teacher, tiny_tokenizer, english_samples, caplog, monkeypatch):
    import cultural_env.env

    monkeypatch.setattr(cultural_env.env, "_knowledge_cut_warned", False)
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        prompt={"max_knowledge_tokens": 8},
    )
    with caplog.at_level("WARNING"):
        env.reset(seed=0, options={"sample_index": 0})
        env.reset(seed=0, options={"sample_index": 1})
    assert "keeping the first 8" in caplog.text
    assert caplog.text.count("keeping the first") == 1

    # The warning is once per process: a second environment logs its cuts at debug level.
    other = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        prompt={"max_knowledge_tokens": 8},
    )
    with caplog.at_level("DEBUG", logger="cultural_env.env"):
        other.reset(seed=0, options={"sample_index": 2})
    assert caplog.text.count("keeping the first") == 2
    assert [record.levelname for record in caplog.records if "keeping the first" in record.message] == ["WARNING", "DEBUG"]


def test_general_item_gives_teacher_student_prompt(tiny_env):
    from cultural_env.data import CulturalSample

    general = CulturalSample(id="general_1", category="general", query="What is 2 + 3?", knowledge=None)
    assert tiny_env.teacher_prompt_ids(general) == tiny_env.student_prompt_ids(general)


def test_unknown_config_key_suggests(tiny_teacher, tiny_tokenizer, english_samples):
    with pytest.raises(ConfigError, match="did you mean 'max_new_tokens'"):
        CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_token=3)


def test_render_ansi_shows_blocks(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, render_mode="ansi")
    env.reset(seed=0)
    env.step(np.array([5, 6]))
    text = env.render()
    assert "block   1" in text
    assert "acceptance rate" in text


def test_teacher_logprob_reward_sums_judged_tokens(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, reward_mode="teacher_logprob")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([10, 11, 12], dtype=np.int64))
    judged = len(info["appended"])
    assert reward == pytest.approx(float(np.log(info["draft_probs"][:judged]).sum()), abs=1e-4)
    assert reward < 0.0


def test_neg_reverse_kl_needs_draft_log_probs(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, reward_mode="neg_reverse_kl")
    env.reset(seed=0)
    with pytest.raises(EpisodeStateError, match="call env.unwrapped.set_draft_log_probs"):
        env.step(np.array([10, 11], dtype=np.int64))
    env.set_draft_log_probs([-1.0])
    with pytest.raises(InvalidActionError, match="got 1 values for a block of 2 tokens"):
        env.step(np.array([10, 11], dtype=np.int64))
    # A failed step keeps the log-probabilities, so a retry with a block that fits them works.
    env.check_step(np.array([10], dtype=np.int64))
    assert env.response == []
    with pytest.raises(InvalidActionError, match="must be <= 0, got 0.5"):
        env.set_draft_log_probs([0.5, -1.0])
    env.set_draft_log_probs([-2.0, -3.0])
    _, reward, _, _, info = env.step(np.array([10, 11], dtype=np.int64))
    judged = len(info["appended"])
    student_log_probs = np.array([-2.0, -3.0])[:judged]
    expected = float(np.log(info["draft_probs"][:judged]).sum() - student_log_probs.sum())
    assert reward == pytest.approx(expected, abs=1e-4)


def test_teacher_knowledge_is_the_cut_text(tiny_teacher, tiny_tokenizer, english_samples):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples,
        prompt={"max_knowledge_tokens": 8},
    )
    sample = english_samples[0]
    knowledge = env.teacher_knowledge(sample)
    assert sample.knowledge.startswith(knowledge)
    assert len(knowledge) < len(sample.knowledge)
    assert knowledge in env.tokenizer.decode(env.teacher_prompt_ids(sample))
