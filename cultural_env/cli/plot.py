"""`cultural-kd plot RUN_DIR`: write PNG curves of a training run (needs matplotlib)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console


def register(subparsers: Any) -> None:
    """Add the ``plot`` subcommand."""
    parser = subparsers.add_parser(
        "plot",
        help="write PNG curves of loss, acceptance rate, γ and validation KL of a training run",
        description="Read metrics.jsonl and summary.json of a run folder and write one PNG per curve plus overview.png. "
        "Needs matplotlib (pip install matplotlib).",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder written by `cultural-kd train` (e.g. runs/tiny)")
    parser.add_argument("--output", type=Path, metavar="DIR", help="folder for the PNG files (default: RUN_DIR/plots)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``cultural-kd plot``."""
    from cultural_env.plotting import write_training_plots

    written = write_training_plots(args.run_dir, args.output)
    console = Console(highlight=False)
    for path in written:
        console.print(f"wrote {path}", markup=False, soft_wrap=True)
    return 0
