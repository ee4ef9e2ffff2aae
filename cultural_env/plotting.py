"""PNG curves of a training run: loss, acceptance rate, draft length γ and validation KL.

The curves are read from the run folder that ``cultural-kd train`` writes: ``metrics.jsonl``
(one record per optimizer step) and, when present, ``summary.json``, whose ``val_kl_first`` and
``val_kl_last`` are the validation KL before and after training. matplotlib is imported only
when a plot is drawn, with the Agg backend, so no display is needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cultural_env.errors import ConfigError, CulturalKDError

logger = logging.getLogger(__name__)

PLOTS_FOLDER = "plots"
"""Folder inside the run folder that receives the PNG files."""
DPI = 120
"""Resolution of the PNG files, in dots per inch."""


class MissingDependencyError(CulturalKDError, ImportError):
    """An optional package that a command needs is not installed."""


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Read the per-step records of ``run_dir/metrics.jsonl``; raise ConfigError for a missing or invalid file."""
    path = run_dir / "metrics.jsonl"
    if not run_dir.is_dir():
        raise ConfigError(f"run folder not found: {run_dir}; pass the --output-dir of a `cultural-kd train` run")
    if not path.is_file():
        raise ConfigError(f"no metrics.jsonl in {run_dir}; pass the --output-dir of a `cultural-kd train` run")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigError(f"invalid JSON in {path} line {number}: {error.msg}; fix or delete that line") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), (int, float)):
            raise ConfigError(f"invalid record in {path} line {number}: expected an object with a numeric 'step'")
        records.append(record)
    if not records:
        raise ConfigError(f"{path} has no records: the run made no optimizer step, so there is nothing to plot")
    return records


def read_summary(run_dir: Path) -> dict[str, Any]:
    """Read ``run_dir/summary.json``; an absent or unreadable file gives an empty summary, with a warning when unreadable."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        logger.warning("ignoring %s: invalid JSON (%s)", path, error.msg)
        return {}
    return summary if isinstance(summary, dict) else {}


def _series(records: Sequence[dict[str, Any]], name: str) -> tuple[list[float], list[float]]:
    """Steps and values of the records that have a numeric ``name``."""
    points = [(record["step"], record[name]) for record in records if isinstance(record.get(name), (int, float))]
    return [step for step, _ in points], [value for _, value in points]


# ------------------------------------------------------------------------------ one curve per axes


def draw_loss(axes: Any, records: Sequence[dict[str, Any]], summary: dict[str, Any]) -> bool:
    """Draw the training loss per optimizer step."""
    steps, values = _series(records, "loss")
    if not steps:
        return False
    axes.plot(steps, values, marker=".", label="loss")
    axes.set_title("training loss (mean per-token divergence)")
    axes.set_ylabel("loss")
    return True


def draw_acceptance(axes: Any, records: Sequence[dict[str, Any]], summary: dict[str, Any]) -> bool:
    """Draw the acceptance rate, first-token acceptance and full-match rate per optimizer step."""
    drawn = False
    for name, label in (("acceptance_rate", "acceptance rate"), ("first_token_acceptance", "first-token acceptance"), ("full_match_rate", "full-match rate")):
        steps, values = _series(records, name)
        if steps:
            axes.plot(steps, values, marker=".", label=label)
            drawn = True
    if drawn:
        axes.set_title("teacher acceptance of drafted tokens")
        axes.set_ylabel("rate")
        axes.set_ylim(-0.02, 1.02)
        axes.legend(loc="best", fontsize="small")
    return drawn


def draw_gamma(axes: Any, records: Sequence[dict[str, Any]], summary: dict[str, Any]) -> bool:
    """Draw the mean draft length γ per optimizer step, with its min-max range shaded."""
    steps, means = _series(records, "gamma_mean")
    if not steps:
        return False
    axes.plot(steps, means, marker=".", label="γ mean")
    low_steps, lows = _series(records, "gamma_min")
    high_steps, highs = _series(records, "gamma_max")
    if low_steps == steps and high_steps == steps:
        axes.fill_between(steps, lows, highs, alpha=0.2, label="γ min-max")
    axes.set_title("draft length γ")
    axes.set_ylabel("tokens")
    axes.legend(loc="best", fontsize="small")
    return True


def draw_validation_kl(axes: Any, records: Sequence[dict[str, Any]], summary: dict[str, Any]) -> bool:
    """Draw the validation KL of the records that carry it (``train.eval_every`` > 0), and before (step 0) and after training."""
    steps, values = _series(records, "val_kl")
    last_step = max(record["step"] for record in records)
    if isinstance(summary.get("val_kl_first"), (int, float)):
        steps, values = [0, *steps], [summary["val_kl_first"], *values]
    if isinstance(summary.get("val_kl_last"), (int, float)) and (not steps or steps[-1] != last_step):
        steps, values = [*steps, last_step], [*values, summary["val_kl_last"]]
    if not steps:
        return False
    axes.plot(steps, values, marker="o", label="validation KL")
    axes.set_title("validation KL (teacher to student)")
    axes.set_ylabel("KL per token")
    return True


PLOTS: dict[str, Callable[[Any, Sequence[dict[str, Any]], dict[str, Any]], bool]] = {
    "loss": draw_loss,
    "acceptance": draw_acceptance,
    "gamma": draw_gamma,
    "val_kl": draw_validation_kl,
}
"""File stem of each plot and the function that draws it; a function returns False when the run has no data for it."""


def import_pyplot() -> Any:
    """Import matplotlib.pyplot with the Agg backend, or raise MissingDependencyError."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("plotting needs matplotlib, which is not installed; run: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def _finish_axes(axes: Any, locator: Any) -> None:
    """Label the step axis, with integer ticks only, and add a light grid."""
    axes.set_xlabel("optimizer step")
    axes.xaxis.set_major_locator(locator(integer=True))
    axes.grid(alpha=0.3)


def write_training_plots(run_dir: str | Path, output_dir: str | Path | None = None) -> list[Path]:
    """Write one PNG per curve and an ``overview.png`` of all of them; return the written paths.

    Files go to ``output_dir``, by default ``run_dir/plots``. A curve without data in the run (no
    validation KL, for example) is skipped with an info log.
    """
    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    summary = read_summary(run_dir)
    pyplot = import_pyplot()
    from matplotlib.ticker import MaxNLocator

    target = Path(output_dir) if output_dir is not None else run_dir / PLOTS_FOLDER
    target.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []
    drawn_names = []
    for name, draw in PLOTS.items():
        figure, axes = pyplot.subplots(figsize=(6.4, 4.0))
        if draw(axes, records, summary):
            _finish_axes(axes, MaxNLocator)
            figure.tight_layout()
            path = target / f"{name}.png"
            figure.savefig(path, dpi=DPI)
            written.append(path)
            drawn_names.append(name)
        else:
            logger.info("no %s data in %s; skipping %s.png", name, run_dir, name)
        pyplot.close(figure)

    if drawn_names:
        figure, grid = pyplot.subplots(2, 2, figsize=(12.0, 8.0))
        for axes, name in zip(grid.flat, drawn_names):
            PLOTS[name](axes, records, summary)
            _finish_axes(axes, MaxNLocator)
        for axes in list(grid.flat)[len(drawn_names):]:
            axes.set_visible(False)
        figure.suptitle(f"training run {run_dir}")
        figure.tight_layout()
        path = target / "overview.png"
        figure.savefig(path, dpi=DPI)
        pyplot.close(figure)
        written.append(path)
    return written
