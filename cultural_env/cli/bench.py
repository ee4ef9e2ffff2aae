"""`cultural-kd bench`: time rollouts and the loss on tiny models built in-process."""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)

COLUMN_KEY = (
    "acc: acceptance rate; x naive: speedup over the naive rollout; x floor: time over the floor's; "
    "t/blk: teacher forwards per block; s/tok: student forwards per drafted token"
)
"""The legend of the short column names, which keep the table within 80 columns."""

def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="time this project's rollout against the naive reference and the floor",
        description="Benchmark rollouts (this project, the naive reference algorithm, the floor) in three "
        "acceptance regimes, batched rollouts at several batch sizes, and the loss's peak memory, on tiny "
        "random models built in-process.",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--quick", action="store_true", help="run the reduced set (T = 256 only, loss memory at T = 512)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, help="runs of each rollout, of which the fastest counts (default 1)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``cultural-kd bench``."""
    from rich.console import Console
    from rich.table import Table

    from cultural_env.bench import QUICK, BenchConfig, run_benchmark

    if args.json is not None:
        if not args.json.strip():
            raise ConfigError("--json needs a file path, got an empty one; give one such as bench.json")
        check_json_path(Path(args.json))
    config = QUICK if args.quick else BenchConfig()
    if args.threads is not None:
        config = replace(config, threads=args.threads)
    if args.repeats is not None:
        config = replace(config, repeats=args.repeats)
    results = run_benchmark(config)

    console = Console()
    table = Table(title="rollouts (tokens/s)", caption=COLUMN_KEY, box=None, pad_edge=False, header_style="bold")
    for column in ("regime", "T", "acc", "project", "naive", "floor", "x naive", "x floor", "t/blk", "s/tok"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for row in results["rollout"]:
        table.add_row(
            row["regime"], str(row["T"]), f"{row['acceptance']:.2f}", f"{row['tokens_per_s']:.1f}",
            f"{row['naive_tokens_per_s']:.1f}", f"{row['floor_tokens_per_s']:.1f}", f"{row['speedup_vs_naive']:.2f}x",
            f"{row['floor_ratio']:.2f}x", f"{row['teacher_forwards_per_block']:.2f}", f"{row['student_forwards_per_drafted_token']:.3f}",
        )
    console.print(table)
    for key, blocks in (("batched", "shared block length"), ("batched_per_row_blocks", "per-row block length")):
        figures = results[key]
        batched = ", ".join(f"B={size}: {value:.1f}" for size, value in figures.items())
        first = figures[min(figures, key=int)]
        ratio = ", ".join(f"B={size}/B={min(figures, key=int)}: {value / first:.2f}x" for size, value in figures.items() if int(size) > 1)
        console.print(f"batched tokens/s, {blocks} ({config.batched_regime} acceptance, T={config.batched_length}): {batched} ({ratio})")
    memory = results["loss_memory"]
    console.print(
        f"loss peak memory at T={memory['T']}, V={memory['V']}: chunked {memory['peak_bytes'] / 2**20:.0f} MiB, "
        f"naive {memory['naive_peak_bytes'] / 2**20:.0f} MiB ({memory['peak_bytes'] / memory['naive_peak_bytes']:.1%})"
    )
    if args.json is not None:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.json}")
    return 0


def check_json_path(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` can be written, so that a bad path fails before minutes of benchmarking."""
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"--json {path} is a folder; give a file path such as {path / 'bench.json'}")
    if not folder.is_dir():
        raise ConfigError(f"--json {path}: folder {folder} not found; create it or choose a path in an existing folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"--json {path} is not writable; choose a path in a folder you can write to")
