"""`cultural-kd train`: run LUPI-SKD training; with no arguments, the embedded default."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
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
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the run folder, with the same config")
    parser.add_argument("--overwrite", action="store_true", help="delete another run's outputs in the run folder before training")
    parser.add_argument(
        "--log-with", action="append", choices=("tensorboard", "wandb"), metavar="TRACKER",
        help="also log metrics to this accelerate tracker: tensorboard or wandb (repeatable; the package must be installed)",
    )
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
    if getattr(args, "log_with", None):
        overrides.append(f"train.log_with=[{', '.join(args.log_with)}]")
    return load_run_config(path, overrides)


def load_agent_factory(spec: str | None):
    """Import ``module:Class`` and return a factory (config, env, total_steps) -> agent."""
    if spec is None:
        return None
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"invalid --agent {spec!r}; write module:Class, e.g. examples.custom_agent:ImitationAgent")
    # A console script does not put the working directory on sys.path, as `python -m` does, so
    # add it last: agents in the current folder (examples.custom_agent) import, installed ones win.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
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
    trainer = Trainer(config, agent_factory=factory, on_start=progress.start, on_step=progress.step, on_phase=progress.phase, resume=args.resume, overwrite=args.overwrite)
    with progress:
        try:
            summary = trainer.run()
        except BaseException:
            # Hide the bar, so that an error is the only line it leaves on the terminal.
            progress.progress.update(progress.task, visible=False)
            raise
    if trainer.interrupted_by is not None:
        # 128 + signal number, the shell's status for a process ended by that signal.
        logger.warning("interrupted; the checkpoint in %s/checkpoints continues with --resume", config.train.output_dir)
        return 128 + int(trainer.interrupted_by)
    if summary:
        progress.print_summary(summary, Path(config.train.output_dir))
        write_plots(Path(config.train.output_dir), progress.console)
    return 0


def write_plots(output_dir: Path, console: Any) -> None:
    """Write the run's PNG curves and print where they went; a missing matplotlib only logs a warning."""
    from cultural_env.errors import CulturalKDError
    from cultural_env.plotting import write_training_plots

    try:
        written = write_training_plots(output_dir)
    except CulturalKDError as error:
        logger.warning("no training plots written: %s", error)
        return
    if written:
        console.print(f"plots: {written[0].parent} ({', '.join(path.name for path in written)})", markup=False, highlight=False, soft_wrap=True)
