"""The run configuration: environment, agent, optimizer and training loop, read from YAML.

A YAML file has up to four sections, ``env``, ``agent``, ``optim`` and ``train``; each key
overrides one field of the matching dataclass, and unknown keys are rejected by name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.optim import OptimConfig
from agents.skd import SKDConfig
from cultural_env.config_fields import build_dataclass, parse_override, read_yaml, require_choice, require_range, set_nested
from cultural_env.env_config import EnvConfig
from cultural_env.errors import ConfigError

TRACKERS = ("tensorboard", "wandb")
"""Trackers that ``train.log_with`` accepts."""


@dataclass(frozen=True)
class TrainConfig:
    """The training loop: length, seeds, evaluation and outputs."""

    output_dir: str = "runs/tiny"
    """Run folder: config.yaml, metrics.jsonl, summary.json and student/ are written here."""
    seed: int = 0
    """Seed of the data order, drafting and teacher sampling."""
    epochs: int = 12
    """Passes over the training items."""
    batch_size: int = 1
    """Episodes per optimizer step (before gradient accumulation)."""
    num_envs: int = 1
    """Episodes rolled out together through the vector environment, one batched teacher forward
    per step; 1 rolls them out one at a time. Needs an agent with ``rollout_batch`` (SKDAgent has
    one). An episode then learns after the others of its rollout batch were drafted, so up to
    ``num_envs - 1`` optimizer steps may separate its weights from the current ones."""
    max_steps: int | None = None
    """Stop after this many optimizer steps; None runs all epochs."""
    num_items: int | None = 32
    """Train on the first N training items (sorted by id); None uses all. The embedded default
    uses 32, so that its run shows knowledge injection within minutes on a CPU."""
    eval_samples: int = 16
    """Items used for the before/after recall and teacher checks (0 disables them)."""
    eval_max_new_tokens: int | None = None
    """Length of greedy answers in evaluations; None uses env.max_new_tokens."""
    validation_samples: int = 8
    """Validation items for the validation KL (0 disables it)."""
    eval_every: int = 0
    """Also compute the validation KL every N optimizer steps (0: only before and after)."""
    save_student: bool = True
    """Save the trained student with save_pretrained under student/."""
    save_every: int = 100
    """Write a checkpoint every N optimizer steps (0: only at the end and when interrupted)."""
    keep_checkpoints: int = 2
    """Number of newest checkpoints kept under checkpoints/; older ones are deleted."""
    log_with: tuple[str, ...] = ()
    """Trackers besides metrics.jsonl, through accelerate: "tensorboard", "wandb" (each must be installed)."""

    def __post_init__(self) -> None:
        require_range("seed", self.seed, minimum=0, integer=True)
        require_range("epochs", self.epochs, minimum=1, integer=True)
        require_range("batch_size", self.batch_size, minimum=1, integer=True)
        require_range("num_envs", self.num_envs, minimum=1, integer=True)
        if self.max_steps is not None:
            require_range("max_steps", self.max_steps, minimum=1, integer=True)
        if self.num_items is not None:
            require_range("num_items", self.num_items, minimum=1, integer=True)
        require_range("eval_samples", self.eval_samples, minimum=0, integer=True)
        require_range("validation_samples", self.validation_samples, minimum=0, integer=True)
        require_range("eval_every", self.eval_every, minimum=0, integer=True)
        require_range("save_every", self.save_every, minimum=0, integer=True)
        require_range("keep_checkpoints", self.keep_checkpoints, minimum=1, integer=True)
        for tracker in self.log_with:
            require_choice("log_with", tracker, TRACKERS)


@dataclass(frozen=True)
class RunConfig:
    """A whole training run."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: SKDConfig = field(default_factory=SKDConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_run_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config (or the defaults when ``path`` is None) and apply ``key=value`` overrides."""
    data = read_yaml(path) if path is not None else {}
    for text in overrides or []:
        keys, value = parse_override(text)
        set_nested(data, keys, value)
    return build_dataclass(RunConfig, data, "")


def run_config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain-data form of a config, for config.yaml in the run folder."""
    return _plain(dataclasses.asdict(config))


def dump_run_config(config: RunConfig) -> str:
    """YAML text of the resolved config."""
    return yaml.safe_dump(run_config_to_dict(config), sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def packaged_config_path(name: str) -> Path:
    """Path of a config shipped in configs/ (``tiny``, ``qwen3-32b-to-4b``)."""
    for root in (Path(__file__).resolve().parent.parent / "configs", Path(__file__).resolve().parent.parent / "cultural_env" / "configs"):
        candidate = root / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no packaged config named {name!r}; pass a YAML path with --config")
