"""Qwen3 thinking helpers of the prompts module."""

import pytest

from cultural_env.errors import ConfigError
from cultural_env.prompts import PromptConfig, check_enable_thinking, think_span_mask

OPEN, CLOSE = 1, 2


@pytest.mark.parametrize(
    "ids, expected",
    [
        ([5, OPEN, 6, CLOSE, 7], [False, True, True, True, False]),
        ([OPEN, 6, 7], [True, True, True]),  # never closed: runs to the end
        ([6, CLOSE, 7], [True, True, False]),  # opened in the prompt
        ([OPEN, CLOSE, 5, OPEN, 6, CLOSE], [True, True, False, True, True, True]),
        ([5, 6], [False, False]),
    ],
)
def test_think_span_mask(ids, expected):
    assert think_span_mask(ids, OPEN, CLOSE) == expected


def test_check_enable_thinking():
    check_enable_thinking(None, PromptConfig(enable_thinking=False), "agent.enable_thinking")
    check_enable_thinking(True, PromptConfig(enable_thinking=True), "agent.enable_thinking")
    with pytest.raises(ConfigError, match="agent.enable_thinking=True but env.prompt.enable_thinking=False"):
        check_enable_thinking(True, PromptConfig(enable_thinking=False), "agent.enable_thinking")
