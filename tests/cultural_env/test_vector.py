"""The vector environment: one batched teacher forward per step, rows equal to unbatched episodes."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError, EpisodeStateError, InvalidActionError
from cultural_env.vector import CulturalTokenVectorEnv

NUM_ENVS = 3
SEED = 5


@pytest.fixture()
def env_kwargs(tiny_teacher, tiny_tokenizer, english_samples):
    # top_k of about half the vocabulary accepts about half of uniformly random tokens, so blocks
    # are partly accepted and rows drift apart in length.
    return dict(
        teacher_model=tiny_teacher,
        tokenizer=tiny_tokenizer,
        samples=english_samples,
        max_new_tokens=20,
        block_size=6,
        acceptance={"top_k": len(tiny_tokenizer) // 2, "min_prob": 0.0},
    )


def row_actions(vocab_size, num_rows, steps):
    """Random blocks of 1 to 6 tokens, a fixed list per row."""
    rng = np.random.default_rng(0)
    return [[rng.integers(0, vocab_size, size=int(rng.integers(1, 7))) for _ in range(steps)] for _ in range(num_rows)]


def unbatched_episode(env_kwargs, seed, actions):
    """Step one CulturalTokenEnv with ``actions`` until the episode ends; return the step infos."""
    env = CulturalTokenEnv(**env_kwargs)
    env.reset(seed=seed)
    infos = []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        infos.append({**info, "reward": reward, "terminated": terminated, "truncated": truncated})
        if terminated or truncated:
            break
    env.close()
    return infos


def test_make_vec_builds_vector_env(env_kwargs):
    envs = gym.make_vec("CulturalKD-v0", num_envs=2, **env_kwargs)
    assert isinstance(envs.unwrapped, CulturalTokenVectorEnv)
    assert envs.num_envs == 2
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    observations, infos = envs.reset(seed=0)
    assert len(observations["query"]) == 2
    assert infos["_sample_id"].all()
    envs.close()


def test_rows_match_unbatched_env(env_kwargs, tiny_tokenizer):
    actions = row_actions(len(tiny_tokenizer), NUM_ENVS, steps=40)
    expected = [unbatched_episode(env_kwargs, SEED + row, actions[row]) for row in range(NUM_ENVS)]

    envs = CulturalTokenVectorEnv(NUM_ENVS, **env_kwargs)
    envs.reset(seed=SEED)
    finished = np.zeros(NUM_ENVS, dtype=bool)
    steps = [0] * NUM_ENVS
    accepted_lengths = set()
    while not finished.all():
        batch = [actions[row][steps[row]] if not finished[row] else np.array([1]) for row in range(NUM_ENVS)]
        _, rewards, terminations, truncations, infos = envs.step(batch)
        for row in np.flatnonzero(~finished):
            want = expected[row][steps[row]]
            assert infos["appended"][row].tolist() == want["appended"].tolist(), f"row {row} step {steps[row]}"
            assert infos["accepted"][row].tolist() == want["accepted"].tolist()
            assert infos["correction"][row] == want["correction"]
            assert rewards[row] == want["reward"]
            assert terminations[row] == want["terminated"]
            assert truncations[row] == want["truncated"]
            # Padding in the batched forward changes float rounding only.
            assert torch.allclose(infos["teacher_log_probs"][row].log_probs, want["teacher_log_probs"].log_probs, atol=1e-4)
            accepted_lengths.add(int(infos["num_accepted"][row]))
            steps[row] += 1
        finished |= terminations | truncations
    assert steps == [len(episode) for episode in expected]
    assert len(accepted_lengths) > 1, "rows should accept different lengths"
    envs.close()


def test_one_teacher_forward_per_step(env_kwargs, tiny_tokenizer):
    envs = CulturalTokenVectorEnv(NUM_ENVS, **env_kwargs)
    envs.reset(seed=SEED)
    actions = row_actions(len(tiny_tokenizer), NUM_ENVS, steps=3)
    for step in range(3):
        envs.step([actions[row][step] for row in range(NUM_ENVS)])
    assert envs.teacher_lm.forward_calls == 3
    envs.close()


def test_autoreset_next_step(env_kwargs, tiny_tokenizer):
    accept_all = {"top_k": len(tiny_tokenizer), "min_prob": 0.0}
    envs = CulturalTokenVectorEnv(2, **{**env_kwargs, "max_new_tokens": 2, "acceptance": accept_all})
    envs.reset(seed=SEED)
    _, _, terminations, truncations, _ = envs.step([np.array([5, 6]), np.array([7])])
    assert truncations.tolist() == [True, False]
    assert terminations.tolist() == [False, False]

    observations, rewards, _, _, infos = envs.step([np.array([5]), np.array([8])])
    assert infos["_sample_id"].tolist() == [True, False], "only row 0 should have been reset"
    assert infos["_accepted"].tolist() == [False, True], "only row 1 should have stepped"
    assert rewards.tolist() == [0.0, 1.0]
    assert len(observations["response"][0]) == 0
    assert observations["response"][1].tolist() == [7, 8]
    envs.close()


def test_wrong_action_count_rejected(env_kwargs):
    envs = CulturalTokenVectorEnv(2, **env_kwargs)
    envs.reset(seed=SEED)
    with pytest.raises(InvalidActionError, match="actions must be 2 blocks"):
        envs.step([np.array([5])])
    envs.close()


def test_empty_block_skips_the_row(tiny_teacher, tiny_tokenizer, english_samples):
    envs = CulturalTokenVectorEnv(2, teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_tokens=8)
    observations, _ = envs.reset(seed=0)
    _, rewards, _, _, infos = envs.step([np.array([5, 6], dtype=np.int64), np.zeros(0, dtype=np.int64)])
    assert len(envs.envs[1].response) == 0
    assert rewards[1] == 0.0
    assert infos["_appended"].tolist() == [True, False]
    # The skipped row, never fed to the teacher, still steps correctly afterwards.
    _, _, _, _, infos = envs.step([np.zeros(0, dtype=np.int64), np.array([7], dtype=np.int64)])
    assert infos["_appended"].tolist() == [False, True]
    single = CulturalTokenEnv(teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, max_new_tokens=8)
    single.reset(seed=1)
    _, _, _, _, info = single.step(np.array([7], dtype=np.int64))
    assert infos["appended"][1] == info["appended"]


def test_reset_options_per_row(tiny_teacher, tiny_tokenizer, english_samples):
    envs = CulturalTokenVectorEnv(2, teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples)
    ids = [english_samples[3].id, english_samples[1].id]
    _, infos = envs.reset(seed=[10, 11], options={"sample_id": ids})
    assert list(infos["sample_id"]) == ids


def test_reset_options_wrong_length_raise(tiny_teacher, tiny_tokenizer, english_samples):
    envs = CulturalTokenVectorEnv(2, teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples)
    with pytest.raises(ConfigError, match="one per row"):
        envs.reset(options={"sample_id": [english_samples[0].id]})


def test_ansi_render_one_text_per_row(env_kwargs):
    envs = gym.make_vec("CulturalKD-v0", num_envs=2, render_mode="ansi", **env_kwargs)
    envs.reset(seed=0)
    envs.step([np.array([5, 6], dtype=np.int64), np.array([7], dtype=np.int64)])
    frames = envs.render()
    assert len(frames) == 2
    assert all(isinstance(frame, str) and frame for frame in frames)
    assert frames[0] != frames[1]
    envs.close()


def test_human_render_prints_every_row(env_kwargs, capsys):
    envs = CulturalTokenVectorEnv(2, render_mode="human", **env_kwargs)
    envs.reset(seed=0)
    envs.step([np.array([5], dtype=np.int64), np.array([7], dtype=np.int64)])
    assert envs.render() is None
    printed = capsys.readouterr().out
    assert printed.count(envs.envs[0].sample.id) >= 1
    assert printed.count(envs.envs[1].sample.id) >= 1


def test_unknown_render_mode_raises(env_kwargs):
    with pytest.raises(ConfigError, match="render_mode"):
        CulturalTokenVectorEnv(2, render_mode="rgb_array", **env_kwargs)


def test_torch_tensor_blocks_accepted(env_kwargs):
    arrays = CulturalTokenVectorEnv(NUM_ENVS, **env_kwargs)
    tensors = CulturalTokenVectorEnv(NUM_ENVS, **env_kwargs)
    arrays.reset(seed=SEED)
    tensors.reset(seed=SEED)

    _, _, _, _, want = arrays.step(np.array([[1, 2], [3, 4], [5, 6]]))
    _, _, _, _, got = tensors.step(torch.tensor([[1, 2], [3, 4], [5, 6]]))
    for row in range(NUM_ENVS):
        assert got["appended"][row].tolist() == want["appended"][row].tolist()

    # A list of 1-D tensors, where an empty tensor skips its row as an empty array does.
    _, rewards, _, _, infos = tensors.step([torch.tensor([7, 8]), torch.zeros(0, dtype=torch.long), torch.tensor([9])])
    assert infos["_appended"].tolist() == [True, False, True]
    assert rewards[1] == 0.0
    arrays.close()
    tensors.close()


def test_numpy_integer_seed_seeds_rows(env_kwargs):
    envs = CulturalTokenVectorEnv(NUM_ENVS, **env_kwargs)
    _, want = envs.reset(seed=3)
    _, got = envs.reset(seed=np.int64(3))
    assert list(got["sample_id"]) == list(want["sample_id"])
    _, from_array = envs.reset(seed=np.array([3, 4, 5]))
    assert list(from_array["sample_id"]) == list(want["sample_id"])
    envs.close()


@pytest.mark.parametrize("seed", ["3", 1.5, True, [1, "2", 3], np.array([[1, 2, 3]])])
def test_bad_seed_raises_config_error(env_kwargs, seed):
    envs = CulturalTokenVectorEnv(NUM_ENVS, **env_kwargs)
    with pytest.raises(ConfigError, match="seed must be an int"):
        envs.reset(seed=seed)


def test_closed_env_rejects_step_and_reset(env_kwargs):
    envs = gym.make_vec("CulturalKD-v0", num_envs=2, **env_kwargs)
    envs.reset(seed=0)
    envs.close()
    with pytest.raises(EpisodeStateError, match="vector env is closed; make a new one"):
        envs.step([np.array([5]), np.array([6])])
    with pytest.raises(EpisodeStateError, match="vector env is closed; make a new one"):
        envs.reset(seed=0)


def test_set_draft_log_probs_per_row(env_kwargs):
    envs = gym.make_vec("CulturalKD-v0", num_envs=2, reward_mode="neg_reverse_kl", **env_kwargs)
    envs.reset(seed=SEED)
    blocks = [np.array([5, 6]), np.array([7])]
    with pytest.raises(EpisodeStateError, match=r"row 0: .*call envs.unwrapped.set_draft_log_probs\(log_probs\) with 2 entries"):
        envs.step(blocks)
    with pytest.raises(InvalidActionError, match="needs 2 entries"):
        envs.unwrapped.set_draft_log_probs([np.array([-1.0, -2.0])])
    with pytest.raises(InvalidActionError, match="row 1: .*must be <= 0"):
        envs.unwrapped.set_draft_log_probs([np.array([-1.0, -2.0]), np.array([0.5])])

    envs.unwrapped.set_draft_log_probs([torch.tensor([-1.0, -2.0]), None])
    with pytest.raises(EpisodeStateError, match="row 1: "):
        envs.step(blocks)
    # The failed step kept row 0's log-probabilities, so setting row 1's alone is enough.
    envs.unwrapped.envs[1].set_draft_log_probs([-3.0])
    _, rewards, _, _, infos = envs.step(blocks)
    assert infos["_appended"].tolist() == [True, True]
    single = CulturalTokenEnv(reward_mode="neg_reverse_kl", **env_kwargs)
    single.reset(seed=SEED)
    single.set_draft_log_probs([-1.0, -2.0])
    _, reward, _, _, _ = single.step(np.array([5, 6]))
    assert rewards[0] == pytest.approx(reward, abs=1e-4)

    # None clears a row's log-probabilities; the row may then skip the step with an empty block.
    envs.unwrapped.set_draft_log_probs([np.array([-1.0]), None])
    _, _, _, _, infos = envs.step([np.array([8]), np.zeros(0, dtype=np.int64)])
    assert infos["_appended"].tolist() == [True, False]
    envs.close()


def test_failed_step_changes_no_row(env_kwargs, tiny_tokenizer):
    accept_all = {"top_k": len(tiny_tokenizer), "min_prob": 0.0}
    envs = CulturalTokenVectorEnv(3, **{**env_kwargs, "max_new_tokens": 2, "acceptance": accept_all, "reward_mode": "neg_reverse_kl"})
    envs.reset(seed=SEED)
    envs.set_draft_log_probs([np.array([-1.0, -1.0]), np.array([-1.0]), None])
    _, _, _, truncations, _ = envs.step([np.array([5, 6]), np.array([7]), np.zeros(0, dtype=np.int64)])
    assert truncations.tolist() == [True, False, False]
    responses = [list(env.response) for env in envs.envs]
    sample_ids = [env.sample.id for env in envs.envs]

    envs.set_draft_log_probs([None, np.array([-1.0]), np.array([-1.0])])
    with pytest.raises(InvalidActionError, match="row 2: token id"):
        envs.step([np.array([5]), np.array([8]), np.array([len(tiny_tokenizer)])])
    assert [list(env.response) for env in envs.envs] == responses
    assert [env.sample.id for env in envs.envs] == sample_ids, "row 0 must not be autoreset by a failed step"

    _, _, _, _, infos = envs.step([np.array([5]), np.array([8]), np.array([9])])
    assert infos["_sample_id"].tolist() == [True, False, False]
    assert infos["_appended"].tolist() == [False, True, True]
    envs.close()


def test_knowledge_cut_warns_once(tiny_teacher, tiny_tokenizer, english_samples, caplog, monkeypatch):
    import cultural_env.env

    monkeypatch.setattr(cultural_env.env, "_knowledge_cut_warned", False)
    envs = CulturalTokenVectorEnv(
        4, teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, prompt={"max_knowledge_tokens": 8}
    )
    with caplog.at_level("WARNING"):
        envs.reset(seed=0)
        envs.reset(seed=10)
    assert caplog.text.count("keeping the first 8") == 1


def test_failed_set_log_probs_sets_nothing(env_kwargs):
    envs = CulturalTokenVectorEnv(2, **{**env_kwargs, "reward_mode": "neg_reverse_kl"})
    envs.reset(seed=0)
    with pytest.raises(InvalidActionError, match="row 1"):
        envs.set_draft_log_probs([np.array([-0.5]), np.array([0.5])])
    assert envs.envs[0]._draft_log_probs is None


def test_render_after_close_raises(env_kwargs):
    from cultural_env.errors import EpisodeStateError

    envs = CulturalTokenVectorEnv(2, render_mode="ansi", **env_kwargs)
    envs.reset(seed=0)
    envs.close()
    with pytest.raises(EpisodeStateError, match="closed"):
        envs.render()


def test_reset_mask_of_row_indices_raises(env_kwargs):
    envs = CulturalTokenVectorEnv(2, **env_kwargs)
    envs.reset(seed=0)
    with pytest.raises(ConfigError, match="boolean array of shape .2,., got int64"):
        envs.reset(options={"reset_mask": np.array([0, 1])})
