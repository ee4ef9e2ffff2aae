"""The metrics sink: metrics.jsonl always, plus TensorBoard and W&B through accelerate's trackers on request.

Only the main process of a distributed run writes. On resume, metrics.jsonl keeps the records up
to the checkpoint's step and new records are appended, so no step appears twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
PROJECT_NAME = "cultural-kd"

_INSTALL_HINTS = {"tensorboard": "pip install tensorboard", "wandb": "pip install wandb"}


def check_trackers(log_with: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` for a requested tracker whose package is not installed."""
    from accelerate.utils import is_tensorboard_available, is_wandb_available

    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    for name in log_with:
        if not available[name]():
            raise ConfigError(f"--log-with {name} needs the {name} package, which is not installed; run `{_INSTALL_HINTS[name]}` or drop it")


def read_records(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    """Read the records of ``path`` with ``step <= up_to_step``, dropping lines cut short by a killed run."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("dropping an incomplete line of %s", path)
            continue
        if record.get("step", 0) <= up_to_step:
            records.append(record)
    return records


def flat_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested config sections to dotted keys with scalar values, as trackers expect."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


class MetricsSink:
    """One record per optimizer step to metrics.jsonl and to the requested trackers.

    Args:
        run_dir: the run folder.
        log_with: accelerate tracker names ("tensorboard", "wandb").
        config: the plain-data run config, stored with the trackers.
        resume_step: the checkpoint step a resumed run continues from, or None for a fresh run.
        enabled: False on processes other than the main one, which then write nothing.
    """

    def __init__(self, run_dir: Path, log_with: tuple[str, ...], config: dict[str, Any], resume_step: int | None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.records: list[dict[str, Any]] = []
        self._file = None
        self._accelerator = None
        if not enabled:
            return
        path = Path(run_dir) / METRICS_FILE
        if resume_step is not None:
            self.records = read_records(path, resume_step)
        # Rewrite the kept records, so steps logged after the checkpoint by the interrupted run are dropped.
        self._file = path.open("w", encoding="utf-8")
        for record in self.records:
            self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if log_with:
            check_trackers(log_with)
            from accelerate import Accelerator

            self._accelerator = Accelerator(log_with=list(log_with), project_dir=str(run_dir))
            self._accelerator.init_trackers(PROJECT_NAME, config=flat_config(config))

    def write(self, record: dict[str, Any]) -> None:
        """Append one step's record."""
        if not self.enabled:
            return
        self.records.append(record)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._accelerator is not None:
            scalars = {key: value for key, value in record.items() if isinstance(value, (int, float)) and key != "step"}
            self._accelerator.log(scalars, step=record["step"])

    def close(self) -> None:
        """Close the file and end the trackers; safe to call more than once."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._accelerator is not None:
            self._accelerator.end_training()
            self._accelerator = None
