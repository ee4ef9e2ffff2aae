"""The `cultural-kd` command line.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``handler`` to a function taking the parsed arguments and
returning an exit code. Errors that a user can fix (:class:`CulturalKDError`) print one line and
exit with status 2; other failures print one line and exit with status 1. ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from cultural_env.errors import CulturalKDError

logger = logging.getLogger(__name__)

SUBCOMMAND_MODULES = ("train", "inspect", "eval", "bench", "data", "plot", "prepare")
"""Modules of this package that define subcommands, in the order `--help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand that is installed."""
    parser = argparse.ArgumentParser(
        prog="cultural-kd",
        description="Inject cultural knowledge into a small language model by on-policy distillation (LUPI-SKD).",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"cultural_env.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"cultural_env.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``, accepting KEY=VALUE overrides before, between and after options.

    argparse fills a positional list only from the words before the first option, so it would
    report later overrides as unrecognized. This function appends them to ``overrides`` instead.
    """
    args, leftover = parser.parse_known_args(argv)
    overrides = [word for word in leftover if "=" in word and not word.startswith("-")]
    unknown = [word for word in leftover if word not in overrides]
    if unknown or (overrides and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or overrides)}")
    if overrides:
        args.overrides = list(args.overrides) + overrides
    return args


def configure_logging(debug: bool) -> None:
    """Send library logs to stderr through rich: INFO by default, DEBUG with ``--debug``."""
    from rich.console import Console
    from rich.logging import RichHandler

    # Without a console of its own, RichHandler writes to rich's global console, which is stdout.
    handler = RichHandler(console=Console(stderr=True), show_path=debug, rich_tracebacks=debug, markup=False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("urllib3", "filelock", "matplotlib", "PIL", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # transformers draws its own tqdm bars while loading weights; the CLI shows rich progress instead.
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler, so that SIGTERM ends a command as cleanly as Ctrl-C does."""


def _raise_terminated(number: int, frame: object) -> None:
    # Ignore further SIGTERMs, so that one arriving while the first unwinds cannot end it with a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (0 on success).

    SIGTERM outside the training loop (which turns it into a checkpoint and a clean stop) ends
    the command with "terminated" and status 143, as SIGINT ends it with "interrupted" and 130.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        return _run(argv, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser()
        args = parse_arguments(parser, argv)
        configure_logging(args.debug)
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except CulturalKDError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception as error:  # noqa: BLE001 - the CLI turns any failure into one line unless --debug
        if debug:
            raise
        print(f"error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
