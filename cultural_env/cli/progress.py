"""Rich console display of a training run: a live progress bar and a summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class TrainingProgress:
    """A progress bar whose line shows the current phase, loss and acceptance rate."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  accept {task.fields[accept]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.progress.add_task("preparing", total=None, loss="-", accept="-")

    def __enter__(self) -> TrainingProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.progress.stop()

    def start(self, total_steps: int) -> None:
        """Set the number of planned optimizer steps."""
        self.progress.update(self.task, total=total_steps)

    def phase(self, description: str) -> None:
        """Show which phase the run is in."""
        self.progress.update(self.task, description=description)

    def step(self, record: dict[str, Any]) -> None:
        """Advance by one optimizer step and show its loss and acceptance rate."""
        self.progress.update(
            self.task,
            completed=record["step"],
            loss=f"{record.get('loss', float('nan')):.4f}",
            accept=f"{record.get('acceptance_rate', float('nan')):.2f}",
        )

    def print_summary(self, summary: dict[str, Any], output_dir: Path) -> None:
        """Print the end-of-run table of before/after figures."""
        table = Table(title=f"Run summary ({output_dir})")
        table.add_column("metric")
        table.add_column("before / first", justify="right")
        table.add_column("after / last", justify="right")
        rows = [
            ("acceptance rate", summary.get("acceptance_rate_first"), summary.get("acceptance_rate_last")),
            ("training loss", summary.get("loss_first"), summary.get("loss_last")),
            ("closed-book recall of K", summary.get("recall_before"), summary.get("recall_after")),
            ("validation KL", summary.get("val_kl_first"), summary.get("val_kl_last")),
        ]
        for name, first, last in rows:
            table.add_row(name, _format(first), _format(last))
        teacher = summary.get("teacher_uses_k")
        if teacher:
            table.add_row("teacher overlap with its own K (held-out items)", _format(teacher["own_k"]), "")
            table.add_row("teacher overlap with another item's K (control)", _format(teacher["other_k"]), "")
        table.add_row("optimizer steps (skipped)", str(summary.get("steps")), str(summary.get("skipped_steps")))
        wall_time = summary.get("wall_time_s")
        table.add_row("wall time (s)", "", "-" if wall_time is None else f"{wall_time:.1f}")
        Console().print(table)  # the result goes to stdout; progress and logs stay on stderr


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
