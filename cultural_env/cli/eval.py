"""`cultural-kd eval`: evaluate a model, and optionally a baseline beside it, on the selected benchmarks."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "embedded:tiny-student"


def register(subparsers: Any) -> None:
    """Add the ``eval`` subcommand."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model: knowledge recall, validation KL, CLIcK/KMMLU/HAE-RAE, math",
        description="Evaluate a model (and optionally a baseline) on closed-book knowledge recall with the "
        "validation KL to the teacher, on multiple-choice benchmarks from local files, and on math word problems.",
    )

    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model to evaluate: a hub id, a folder, or an embedded name (default: {DEFAULT_MODEL})")
    parser.add_argument("--baseline", help="a second model, evaluated the same way and shown beside the first")
    parser.add_argument(
        "--benchmark",
        action="append",
        metavar="NAME",
        help="recall, click, kmmlu, haerae or math; repeat it or give a comma list (default: recall)",
    )
    parser.add_argument(
        "--data-file",
        action="append",
        default=[],
        metavar="[NAME=]FILE",
        help="input file of a benchmark, e.g. kmmlu=kmmlu.csv; a bare FILE goes to the only selected benchmark",
    )

    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON to this file")
    parser.add_argument("--config", help="YAML run config whose env section gives dataset, prompt layout and teacher (a path, or tiny, qwen3-32b-to-4b)")
    parser.add_argument("--teacher", help="teacher for the validation KL (default: env.teacher of the config)")
    parser.add_argument("--no-kl", action="store_true", help="skip the validation KL, so no teacher is loaded")

    parser.add_argument("--split", choices=("train", "validation", "all"), default="train", help="part of the cultural dataset for the recall (default: train, the items a run trains on); the validation KL always uses the validation split")
    parser.add_argument("--limit", type=int, help="use only the first N items of each benchmark")
    parser.add_argument("--max-new-tokens", type=int, help="greedy answer length in tokens (default: env.max_new_tokens for recall, 256 for math)")
    parser.add_argument(
        "--enable-thinking",
        choices=("true", "false"),
        help="Qwen3 thinking switch of the evaluated model's prompts; it must match env.prompt.enable_thinking when the KL runs",
    )

    parser.add_argument("--device", default="auto", help="device of the evaluated models: auto, cpu, cuda, cuda:N (default: auto)")
    parser.add_argument("--dtype", default="float32", help="weights dtype: float32, bfloat16 or float16 (default: float32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation-KL rollouts (default: 0)")
    parser.set_defaults(handler=run)


def parse_benchmarks(values: list[str] | None) -> tuple[str, ...]:
    """Flatten repeated and comma-separated ``--benchmark`` values, keeping their first order."""
    names: list[str] = []
    for value in values or ["recall"]:
        for name in value.split(","):
            name = name.strip().lower()
            if name and name not in names:
                names.append(name)
    return tuple(names)


def parse_data_files(values: list[str], benchmarks: tuple[str, ...]) -> dict[str, str]:
    """Map ``NAME=FILE`` values to {NAME: FILE}; a bare FILE needs exactly one selected benchmark."""
    files: dict[str, str] = {}
    for value in values:
        name, separator, path = value.partition("=")
        if not separator:
            if len(benchmarks) != 1:
                raise ConfigError(f"--data-file {value} names no benchmark and {len(benchmarks)} are selected; write NAME=FILE, e.g. kmmlu={value}")
            name, path = benchmarks[0], value
        files[name.strip().lower()] = path
    return files


def resolve_run_config(args: argparse.Namespace) -> Any:
    """Build the run config from --config (or the defaults) with --teacher applied."""
    from agents.run_config import load_run_config, packaged_config_path

    path = args.config
    if path is not None and not Path(path).exists() and not path.endswith((".yaml", ".yml")):
        path = packaged_config_path(path)
    overrides = [] if args.teacher is None else [f"env.teacher={args.teacher}"]
    return load_run_config(path, overrides)


def run(args: argparse.Namespace) -> int:
    """Handle ``cultural-kd eval``."""
    from cultural_env.evaluation.model import load_eval_model
    from cultural_env.evaluation.suite import EvalOptions, EvaluationSuite

    benchmarks = parse_benchmarks(args.benchmark)
    options = EvalOptions(
        benchmarks=benchmarks,
        data_files=parse_data_files(args.data_file, benchmarks),
        split=args.split,
        limit=args.limit,
        max_new_tokens=args.max_new_tokens,
        validation_kl=not args.no_kl,
        seed=args.seed,
    )
    run_config = resolve_run_config(args)
    prompt = run_config.env.prompt
    if args.enable_thinking is not None:
        prompt = dataclasses.replace(prompt, enable_thinking=args.enable_thinking == "true")

    suite = EvaluationSuite(run_config, options)
    results: dict[str, Any] = {}
    try:
        for name in [args.model] + ([args.baseline] if args.baseline else []):
            model = load_eval_model(name, prompt, device=args.device, dtype=args.dtype)
            results[name] = suite.evaluate(model)
            del model
    finally:
        suite.close()

    report = {"benchmarks": list(benchmarks), "split": options.split, "limit": options.limit, "models": results}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        logger.info("wrote %s", args.json)
    print_table(results)
    return 0


def table_rows(result: dict[str, Any]) -> dict[str, float | int | None]:
    """Flatten one model's results into labelled numbers: overall scores, closed-book recall by category."""
    rows: dict[str, float | int | None] = {}
    for benchmark, values in result.items():
        if benchmark == "recall":
            for setting, summary in values["settings"].items():
                for metric, value in summary["overall"].items():
                    rows[f"recall {setting} {metric}"] = value
            for category, metrics in values["settings"]["closed_book"]["by_category"].items():
                for metric, value in metrics.items():
                    rows[f"recall closed_book [{category}] {metric}"] = value
            if "validation_kl" in values:
                rows["recall validation_kl"] = values["validation_kl"]
            rows["recall items"] = values["items"]
            continue
        for key, value in values.items():
            if isinstance(value, dict):
                for category, score in value.items():
                    rows[f"{benchmark} [{category}] accuracy"] = score
            else:
                rows[f"{benchmark} {key}"] = value
    return rows


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """Print one column per model and, with a baseline, the difference model − baseline."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    names = list(results)
    rows = [table_rows(results[name]) for name in names]
    table = Table(title="evaluation")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    if len(names) == 2:
        table.add_column("difference", justify="right")
    for label in rows[0]:
        values = [row.get(label) for row in rows]
        cells = [_format(value) for value in values]
        if len(names) == 2:
            both = all(isinstance(value, (int, float)) for value in values)
            cells.append(_format(values[0] - values[1], signed=True) if both and not label.endswith(("items", "no_number")) else "")
        table.add_row(escape(label), *cells)  # category names in brackets are not rich markup
    Console().print(table)


def _format(value: Any, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    return f"{value:+.4f}" if signed else f"{value:.4f}"
