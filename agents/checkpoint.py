"""Training checkpoints: atomic folders of safetensors and JSON, the last K kept, found again on resume.

A checkpoint is ``<run>/checkpoints/step-NNNNNNNN/`` with

- ``model.safetensors``: the student's weights;
- ``state.safetensors`` and ``state.json``: everything else needed to continue exactly (the
  optimizer, scheduler and counters, the RNG states, the position in the data order), split so
  that tensors and NumPy arrays live in safetensors and the remaining structure in JSON.

Nothing is pickled, so loading a checkpoint runs no code from it. A folder is written under a
temporary name and renamed when complete, so a run killed while saving leaves no partial
checkpoint behind, only a ``.tmp-*`` folder that the next save removes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from cultural_env.errors import CulturalKDError

logger = logging.getLogger(__name__)

CHECKPOINT_FOLDER = "checkpoints"
_STEP_PATTERN = re.compile(r"^step-(\d+)$")
_TEMPORARY_PREFIX = ".tmp-"


class CheckpointError(CulturalKDError):
    """A checkpoint that cannot be written or read, or a resume that does not fit the run."""


# ----------------------------------------------------------------- tensors out of nested state


def split_tensors(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Return ``value`` as JSON-ready data, moving every tensor and NumPy array into ``tensors``.

    Tensors become ``{"__tensor__": key}``, arrays ``{"__ndarray__": key}``, tuples
    ``{"__tuple__": [...]}`` and dicts with a non-string key (or one starting with ``__``) ``{"__items__": [[key, value], ...]}``,
    so :func:`join_tensors` rebuilds the exact original types.
    """
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value))
        return {"__ndarray__": key}
    if isinstance(value, tuple):
        return {"__tuple__": [split_tensors(item, tensors) for item in value]}
    if isinstance(value, list):
        return [split_tensors(item, tensors) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("__") for key in value):
            return {key: split_tensors(item, tensors) for key, item in value.items()}
        return {"__items__": [[split_tensors(key, tensors), split_tensors(item, tensors)] for key, item in value.items()]}
    if isinstance(value, np.generic):
        return value.item()
    return value


def join_tensors(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Invert :func:`split_tensors`."""
    if isinstance(value, list):
        return [join_tensors(item, tensors) for item in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return tensors[value["__ndarray__"]].numpy()
    if "__tuple__" in value:
        return tuple(join_tensors(item, tensors) for item in value["__tuple__"])
    if "__items__" in value:
        return {join_tensors(key, tensors): join_tensors(item, tensors) for key, item in value["__items__"]}
    return {key: join_tensors(item, tensors) for key, item in value.items()}


# ----------------------------------------------------------------- RNG states


def global_rng_state() -> dict[str, Any]:
    """States of Python's, NumPy's and torch's global random number generators."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }


def restore_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


# ----------------------------------------------------------------- folders


def checkpoint_root(run_dir: Path) -> Path:
    """Return the folder that contains the checkpoints of a run."""
    return Path(run_dir) / CHECKPOINT_FOLDER


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Return the complete checkpoints of a run as (step, folder), oldest first."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_PATTERN.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """Return the checkpoint with the highest step, or None when the run has none."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of optimizer step ``step`` atomically, then keep only the newest ``keep``.

    Raises :class:`CheckpointError` when the weights hold a NaN or infinity, so a diverged
    student never reaches a checkpoint, and when the folder cannot be written.
    """
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter.detach()).all():
            raise CheckpointError(f"not saving checkpoint of step {step}: parameter {name} contains NaN or infinite values")

    root = checkpoint_root(run_dir)
    final = root / f"step-{step:08d}"
    temporary = root / f"{_TEMPORARY_PREFIX}step-{step:08d}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_temporary_folders(root)
        temporary.mkdir()
        save_model(model, str(temporary / "model.safetensors"))
        tensors: dict[str, torch.Tensor] = {}
        plain = split_tensors(state, tensors)
        save_file(tensors, str(temporary / "state.safetensors"))
        (temporary / "state.json").write_text(json.dumps(plain), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise CheckpointError(
            f"could not write checkpoint {final}: {error.strerror or error}; free disk space or choose another --output-dir"
        ) from None
    logger.info("saved checkpoint %s", final)
    _prune(run_dir, keep)
    return final


def load_checkpoint(folder: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load the weights of checkpoint ``folder`` into ``model`` and return its saved state."""
    try:
        load_model(model, str(folder / "model.safetensors"), device=str(next(model.parameters()).device))
        tensors = load_file(str(folder / "state.safetensors"))
        plain = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"could not read checkpoint {folder}: {error}; delete it to resume from an older one") from None
    return join_tensors(plain, tensors)


def _remove_temporary_folders(root: Path) -> None:
    """Delete folders left by a save that was killed before its rename."""
    for child in root.iterdir():
        if child.name.startswith(_TEMPORARY_PREFIX) and child.is_dir():
            logger.info("removing incomplete checkpoint %s", child)
            shutil.rmtree(child, ignore_errors=True)


def _prune(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for _, folder in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(folder, ignore_errors=True)
