"""The ``cultural-kd data`` subcommand: validate a dataset file, or show its statistics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cultural_env.data import LANGUAGES, dataset_statistics, load_cultural_dataset
from cultural_env.errors import ConfigError

HISTOGRAM_BAR_WIDTH = 40
"""Width in characters of the longest bar of the console histogram."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` parser with its ``validate`` and ``stats`` commands."""
    parser = subparsers.add_parser(
        "data",
        help="validate a dataset file or show dataset statistics",
        description="Check cultural dataset files (JSONL or a JSON array of records) and summarise them.",
    )
    parser.set_defaults(handler=run_data, data_command=None, data_parser=parser)
    commands = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check a dataset file and print its record and category counts",
        description="Check every record of a dataset file. Exit status 0 when it is valid, 2 with the first error otherwise.",
    )
    validate.add_argument("file", type=Path, metavar="FILE", help="JSONL file, or JSON file with an array of records")

    stats = commands.add_parser(
        "stats",
        help="show counts per category and query/knowledge lengths",
        description="Show samples per category, query and knowledge lengths in characters, and a histogram of knowledge lengths.",
    )
    stats.add_argument("file", type=Path, nargs="?", metavar="FILE", help="dataset file (default: the packaged dataset)")
    stats.add_argument(
        "--language",
        choices=LANGUAGES,
        default="ko",
        help="language of the packaged dataset to use when no FILE is given (default: ko)",
    )
    stats.add_argument("--bins", type=int, default=10, help="number of histogram bins (default: 10)")
    stats.add_argument("--plot", type=Path, metavar="OUT.png", help="also write the knowledge-length histogram to this image file (needs matplotlib)")


def run_data(args: argparse.Namespace) -> int:
    """Dispatch to the ``data`` command that the arguments name and return its exit status."""
    if args.data_command == "validate":
        return run_validate(args)
    if args.data_command == "stats":
        return run_stats(args)
    args.data_parser.print_help()
    return 2


def run_validate(args: argparse.Namespace) -> int:
    """Validate FILE and print its record and category counts.

    An invalid file raises DatasetError, which ``main`` prints before it exits with status 2.
    """
    samples = load_cultural_dataset(path=args.file)
    num_categories = len({sample.category for sample in samples})
    Console().print(f"OK: {len(samples)} records, {num_categories} categories", markup=False, highlight=False)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    """Print category counts, length statistics and a knowledge-length histogram, and plot it with --plot."""
    if args.bins < 1:
        raise ConfigError(f"--bins must be at least 1, got {args.bins}")
    if args.file is None:
        samples = load_cultural_dataset(args.language)
        title = f"packaged dataset ({args.language})"
    else:
        samples = load_cultural_dataset(path=args.file)
        title = str(args.file)
    statistics = dataset_statistics(samples, histogram_bins=args.bins)

    console = Console()
    console.print(f"Dataset: {title}", markup=False, highlight=False)
    console.print(_category_table(statistics))
    console.print(_length_table(statistics))
    _print_histogram(console, statistics["knowledge_histogram"])

    if args.plot is not None:
        _plot_histogram(statistics["knowledge_histogram"], args.plot, title)
        console.print(f"wrote {args.plot}", markup=False, highlight=False)
    return 0


def _category_table(statistics: dict[str, Any]) -> Table:
    table = Table(title="Samples per category")
    table.add_column("category")
    table.add_column("samples", justify="right")
    for category, count in statistics["categories"].items():
        table.add_row(category, str(count))
    table.add_section()
    table.add_row("total", str(statistics["num_samples"]))
    return table


def _length_table(statistics: dict[str, Any]) -> Table:
    table = Table(title="Lengths in characters")
    table.add_column("field")
    for column in ("min", "mean", "max"):
        table.add_column(column, justify="right")
    for name in ("query", "knowledge"):
        summary = statistics[f"{name}_chars"]
        if summary is None:
            table.add_row(name, "-", "-", "-")
        else:
            table.add_row(name, str(summary["min"]), f"{summary['mean']:.1f}", str(summary["max"]))
    return table


def _print_histogram(console: Console, histogram: dict[str, list[Any]]) -> None:
    counts, edges = histogram["counts"], histogram["edges"]
    if not counts:
        console.print("no knowledge paragraphs, so no histogram", markup=False, highlight=False)
        return

    console.print("Knowledge length histogram (characters):", markup=False, highlight=False)
    largest = max(counts)
    for count, low, high in zip(counts, edges, edges[1:]):
        bar = "█" * round(HISTOGRAM_BAR_WIDTH * count / largest) if largest else ""
        console.print(f"{low:6.0f} - {high:6.0f} │{bar} {count}", markup=False, highlight=False)


def _plot_histogram(histogram: dict[str, list[Any]], output_path: Path, title: str) -> None:
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ConfigError("--plot needs matplotlib, which is not installed; run pip install matplotlib") from None

    counts, edges = histogram["counts"], histogram["edges"]
    if not counts:
        raise ConfigError("--plot has nothing to draw because no sample has a knowledge paragraph")

    # Figure without pyplot needs no display backend and leaves no global figure state behind.
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.stairs(counts, edges, fill=True)
    axes.set_xlabel("knowledge length (characters)")
    axes.set_ylabel("samples")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"Knowledge lengths: {title}")
    try:
        figure.savefig(output_path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot write the plot to {output_path}: {error}; check the directory and the file extension") from None
