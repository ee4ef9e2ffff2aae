"""Tests of `cultural-kd inspect`: scrollback output, options and the live screen's layout."""

from __future__ import annotations

import argparse
import io
import shutil

import pytest
import yaml
from rich.console import Console

from cultural_env.cli import main
from cultural_env.cli.inspect import InspectSession, live_screen, resolve_config


@pytest.fixture()
def inspect_config(tmp_path, tiny_model_dirs):
    """A run config over the random tiny models in which the teacher rejects every drafted token."""
    config = {
        "env": {
            "teacher": tiny_model_dirs["teacher"],
            "max_new_tokens": 6,
            "block_size": 4,
            "acceptance": {"top_k": 1, "min_prob": 1.0},
        },
        "agent": {"student": tiny_model_dirs["student"], "gamma_init": 3},
    }
    path = tmp_path / "inspect.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_inspect_scrollback_shows_blocks(inspect_config, capsys):
    assert main(["inspect", "--config", str(inspect_config), "--no-interactive", "--seed", "3"]) == 0
    output = capsys.readouterr().out
    assert "query Q" in output
    assert "student view" in output
    assert "knowledge K" in output
    assert "teacher only" in output
    assert "block   1 | γ 3" in output
    assert "✗ rejected →" in output
    assert "top-5 at position 0" in output
    assert "student" in output
    assert "episode ended" in output


def test_inspect_without_terminal_uses_scrollback(inspect_config, capsys):
    assert main(["inspect", "--config", str(inspect_config), "--sample", "tradition_001", "--top-k", "2"]) == 0
    output = capsys.readouterr().out
    assert "tradition_001" in output
    assert "top-2 at position 0" in output


def test_inspect_unknown_sample_is_error(inspect_config, capsys):
    assert main(["inspect", "--config", str(inspect_config), "--sample", "nope_999"]) == 2
    error = capsys.readouterr().err
    assert "'nope_999'" in error
    assert "env.data.split=all" in error


def test_inspect_top_k_must_be_positive(inspect_config, capsys):
    assert main(["inspect", "--config", str(inspect_config), "--top-k", "0"]) == 2
    assert "--top-k must be at least 1" in capsys.readouterr().err


def test_inspect_missing_model_is_error(inspect_config, tmp_path, capsys):
    assert main(["inspect", "--config", str(inspect_config), "--model", str(tmp_path / "absent")]) == 2
    assert "model path not found" in capsys.readouterr().err


def test_resolve_config_reads_run_folder(tmp_path, tiny_model_dirs, inspect_config):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_model_dirs["student"], run_dir / "student")
    shutil.copy(inspect_config, run_dir / "config.yaml")
    args = argparse.Namespace(config=None, model=str(run_dir), overrides=["env.max_new_tokens=5"])
    config = resolve_config(args)
    assert config.agent.student == str(run_dir / "student")
    assert config.env.teacher == tiny_model_dirs["teacher"]
    assert config.env.max_new_tokens == 5


def test_resolve_config_model_folder_overrides_student(tmp_path, tiny_model_dirs, inspect_config):
    args = argparse.Namespace(config=str(inspect_config), model=tiny_model_dirs["teacher"], overrides=[])
    assert resolve_config(args).agent.student == tiny_model_dirs["teacher"]


def test_live_screen_fits_terminal(inspect_config):
    from agents.skd import SKDAgent
    from cultural_env.env import CulturalTokenEnv

    config = resolve_config(argparse.Namespace(config=str(inspect_config), model=None, overrides=[]))
    env = CulturalTokenEnv(config.env)
    session = InspectSession(env, SKDAgent(config.agent, env), top_k=3)
    session.start("tradition_002", seed=0)
    console = Console(file=io.StringIO(), width=100, height=30, force_terminal=False)

    console.print(live_screen(session, console, running_to_end=False))
    before = console.file.getvalue().splitlines()
    assert len(before) == 30
    assert "no block yet" in "\n".join(before)
    assert "Enter/Space: next block" in before[-1]

    session.step()
    console.file = io.StringIO()
    console.print(live_screen(session, console, running_to_end=False))
    after = console.file.getvalue()
    assert "block   1" in after
    assert "top-3 at position 0" in after
    env.close()
