"""Tests of the episode renderings: token text, the "ansi" and "human" render modes."""

from __future__ import annotations

import numpy as np
import pytest
from rich.cells import cell_len
from rich.text import Text

from cultural_env.env import CulturalTokenEnv
from cultural_env.rendering import (
    ANSI_WIDTH,
    format_probability,
    render_episode_text,
    response_runs,
    visible_token,
)

ACCEPT_ALL = {"top_k": 100_000, "min_prob": 0.0}
"""An acceptance rule under which every drafted token is accepted."""
REJECT_ALL = {"top_k": 1, "min_prob": 1.0}
"""An acceptance rule under which every drafted token is rejected."""


def make_env(teacher, tokenizer, samples, acceptance, **overrides):
    return CulturalTokenEnv(
        teacher_model=teacher, tokenizer=tokenizer, samples=samples, render_mode="ansi", acceptance=acceptance, **overrides
    )


def encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def plain(ansi_text):
    return Text.from_ansi(ansi_text).plain


def test_visible_token_marks_whitespace(tiny_tokenizer):
    assert visible_token(tiny_tokenizer, encode(tiny_tokenizer, "\n")[0]) == "↵"
    assert visible_token(tiny_tokenizer, encode(tiny_tokenizer, "\t")[0]) == "→"
    space_ids = [token for token in range(len(tiny_tokenizer)) if tiny_tokenizer.decode([token]) == " "]
    assert space_ids
    assert visible_token(tiny_tokenizer, space_ids[0]) == "·"


def test_visible_token_partial_utf8_shows_bytes(tiny_tokenizer):
    partial = [token for token in range(len(tiny_tokenizer)) if "\ufffd" in tiny_tokenizer.decode([token])]
    assert partial, "the tiny tokenizer should have byte tokens of multi-byte characters"
    for token in partial[:20]:
        text = visible_token(tiny_tokenizer, token)
        assert "\ufffd" not in text
        assert "<0x" in text


def test_response_runs_joins_split_hangul(tiny_tokenizer):
    ids = encode(tiny_tokenizer, "홍동백서")
    assert len(ids) > 1
    text = response_runs(tiny_tokenizer, [(ids[:1], "green"), (ids[1:], "yellow")])
    assert text.plain == "홍동백서"


def test_response_runs_shows_incomplete_bytes(tiny_tokenizer):
    ids = encode(tiny_tokenizer, "홍")
    first_byte = [token for token in ids if "\ufffd" in tiny_tokenizer.decode([token])][:1]
    assert first_byte
    text = response_runs(tiny_tokenizer, [(first_byte, "green")])
    assert text.plain.startswith("<0x")


def test_format_probability_small_values():
    assert format_probability(0.25) == "0.250"
    assert format_probability(0.0004) == "4.0e-04"
    assert format_probability(0.0) == "0.000"


def test_ansi_render_keeps_brackets_literal(tiny_teacher, tiny_tokenizer, english_samples):
    env = make_env(tiny_teacher, tiny_tokenizer, english_samples, ACCEPT_ALL, block_size=16)
    env.reset(seed=0)
    env.step(np.array(encode(tiny_tokenizer, "[bold]x[/]")))
    text = plain(env.render())
    assert "[bold]x[/]" in text
    assert "✓ accepted" in text
    assert "✗ rejected" not in text
    env.close()


def test_ansi_render_marks_rejection(tiny_teacher, tiny_tokenizer, english_samples):
    env = make_env(tiny_teacher, tiny_tokenizer, english_samples, REJECT_ALL)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array(encode(tiny_tokenizer, "the")))
    text = plain(env.render())
    correction = visible_token(tiny_tokenizer, info["correction"])
    assert f"✗ rejected → {correction}" in text
    assert "top-5 at position 0" in text
    assert "block   1 | γ" in text
    assert "acceptance rate 0.00" in text
    env.close()


def test_ansi_render_shows_newlines(tiny_teacher, tiny_tokenizer, english_samples):
    env = make_env(tiny_teacher, tiny_tokenizer, english_samples, ACCEPT_ALL)
    env.reset(seed=0)
    env.step(np.array(encode(tiny_tokenizer, "a\nb")))
    text = plain(env.render())
    lines = text.splitlines()
    response_rows = [index for index, line in enumerate(lines) if line.startswith("│ a↵ ")]
    assert response_rows, "the response panel should end its first line with a visible newline"
    assert lines[response_rows[0] + 1].startswith("│ b ")
    table_rows = [line for line in text.splitlines() if "↵" in line and "accepted" in line]
    assert table_rows
    env.close()


def test_ansi_render_has_colours_and_is_deterministic(tiny_teacher, tiny_tokenizer, english_samples):
    env = make_env(tiny_teacher, tiny_tokenizer, english_samples, ACCEPT_ALL)
    env.reset(seed=0)
    env.step(np.array(encode(tiny_tokenizer, "the")))
    first = env.render()
    assert "\x1b[" in first
    assert env.render() == first
    env.close()


def test_ansi_render_aligns_hangul(tiny_teacher, tiny_tokenizer, english_samples):
    korean = [sample for sample in english_samples if any("\uac00" <= char <= "\ud7a3" for char in sample.knowledge)]
    assert korean, "an English knowledge paragraph with Hangul is needed"
    env = make_env(tiny_teacher, tiny_tokenizer, korean, ACCEPT_ALL, block_size=16)
    env.reset(seed=0)
    env.step(np.array(encode(tiny_tokenizer, "홍동백서")))
    lines = plain(render_episode_text(env)).splitlines()
    boxed = [line for line in lines if line.startswith(("│", "╭", "╰"))]
    assert any(any("\uac00" <= char <= "\ud7a3" for char in line) for line in boxed)
    for line in boxed:
        assert cell_len(line) == ANSI_WIDTH, line
    env.close()


def test_ansi_render_before_first_step(tiny_teacher, tiny_tokenizer, english_samples):
    env = make_env(tiny_teacher, tiny_tokenizer, english_samples, ACCEPT_ALL)
    assert "no episode" in plain(env.render())
    env.reset(seed=0)
    text = plain(env.render())
    assert f"query Q · {env.sample.id}" in text
    assert "student view" in text
    assert "no blocks yet" in text
    env.close()


def test_human_render_prints_latest_block(tiny_teacher, tiny_tokenizer, english_samples, capsys):
    env = CulturalTokenEnv(
        teacher_model=tiny_teacher, tokenizer=tiny_tokenizer, samples=english_samples, render_mode="human", acceptance=REJECT_ALL
    )
    env.reset(seed=0)
    env.step(np.array(encode(tiny_tokenizer, "the")))
    first = capsys.readouterr().out
    assert "query Q" in first
    assert "block   1" in first
    env.step(np.array(encode(tiny_tokenizer, "a")))
    second = capsys.readouterr().out
    assert "block   2" in second
    assert "query Q" not in second
    assert env.render() is None
    env.close()


@pytest.mark.parametrize("mode", ["ansi", "human"])
def test_check_env_passes_with_render_mode(mode, tiny_model_dirs):
    import warnings

    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    env = gym.make("CulturalKD-v0", teacher=tiny_model_dirs["teacher"], render_mode=mode, max_new_tokens=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()
