"""`cultural-kd train`: run LUPI-SKD training; with no arguments, the embedded default."""

from __future__ import annotations

import argparse
import importlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train a student by on-policy distillation (no arguments: the embedded tiny default)",
        description="Train a student with LUPI-SKD. Without arguments this runs the embedded default: "
        "tiny models made by this project, offline, on the CPU.",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override a config field, e.g. agent.loss=reverse_kl env.acceptance.top_k=3")
    parser.add_argument("--config", help="YAML run config (a path, or the name of one in configs/: tiny, qwen3-32b-to-4b)")
    parser.add_argument("--output-dir", help="run folder (default: train.output_dir, runs/tiny)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    parser.add_argument("--seed", type=int, help="seed of data order and sampling")
    parser.add_argument("--agent", help="custom agent class as module:Class, built as Class(config, env, total_steps)")
    parser.set_defaults(handler=run)


def resolve_config(args: argparse.Namespace):
    """Build the run config from --config, KEY=VALUE overrides and the dedicated flags."""
    from agents.run_config import load_run_config, packaged_config_path

    path = args.config
    if path is not None and not Path(path).exists() and not path.endswith((".yaml", ".yml")):
        path = packaged_config_path(path)
    overrides = list(args.overrides)
    if args.output_dir is not None:
        overrides.append(f"train.output_dir={args.output_dir}")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    return load_run_config(path, overrides)


def load_agent_factory(spec: str | None):
    """Import ``module:Class`` and return a factory (config, env, total_steps) -> agent."""
    if spec is None:
        return None
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"invalid --agent {spec!r}; write module:Class, e.g. examples.custom_agent:BigramAgent")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import agent module {module_name!r}: {error}; check that it is on PYTHONPATH") from None
    agent_class = getattr(module, class_name, None)
    if agent_class is None:
        raise ConfigError(f"module {module_name!r} has no class {class_name!r}")
    return agent_class


def run(args: argparse.Namespace) -> int:
    """Handle ``cultural-kd train``."""
    from agents.training import Trainer
    from cultural_env.cli.progress import TrainingProgress

    config = resolve_config(args)
    factory = load_agent_factory(args.agent)
    progress = TrainingProgress()
    trainer = Trainer(config, agent_factory=factory, on_start=progress.start, on_step=progress.step, on_phase=progress.phase)
    with progress:
        summary = trainer.run()
    progress.print_summary(summary, Path(config.train.output_dir))
    return 0
