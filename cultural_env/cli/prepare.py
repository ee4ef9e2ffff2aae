"""`cultural-kd prepare`: build the embedded tiny tokenizer, teacher and student."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``prepare`` subcommand."""
    parser = subparsers.add_parser(
        "prepare",
        help="build the embedded tiny models (tokenizer, teacher, student) from the packaged dataset",
        description="Build the embedded default models with this project's own code; nothing is downloaded.",
    )
    parser.add_argument("--output", help="folder to write (default: the cache folder, or the package's resources/tiny with --ship)")
    parser.add_argument("--ship", action="store_true", help="write into the package's resources/tiny folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``cultural-kd prepare``."""
    from rich.console import Console

    from cultural_env import embedded

    output = args.output or (embedded.shipped_root() if args.ship else embedded.cache_root())
    stats = embedded.build_embedded_models(output)
    Console().print_json(json.dumps(stats))
    return 0
