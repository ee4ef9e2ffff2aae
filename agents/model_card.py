"""The model card written beside every saved student: README.md with YAML metadata.

The metadata block follows the Hugging Face Hub's model-card format (``base_model``,
``datasets``, ``language``, ``library_name``, ``tags``), plus ``training_hyperparameters`` and
``final_metrics`` from the run, so a saved folder records its origin without the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agents.run_config import RunConfig

CARD_METRICS = (
    "steps", "loss_first", "loss_last", "acceptance_rate_first", "acceptance_rate_last",
    "recall_before", "recall_after", "val_kl_first", "val_kl_last", "skipped_steps",
)
"""Summary fields copied into ``final_metrics``."""


def model_card_metadata(config: RunConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """Build the card's YAML metadata: base model, data, languages, hyperparameters and final metrics."""
    data = config.env.data
    dataset = data.path if data.path is not None else f"cultural-kd/korean_culture.{data.language}"
    return {
        "base_model": config.agent.student,
        "datasets": [dataset],
        "language": [data.language],
        "library_name": "transformers",
        "tags": ["knowledge-distillation", "lupi-skd", "cultural-kd"],
        "teacher_model": config.env.teacher,
        "training_hyperparameters": {
            "loss": config.agent.loss,
            "learning_rate": config.optim.learning_rate,
            "scheduler": config.optim.scheduler,
            "warmup_ratio": config.optim.warmup_ratio,
            "max_grad_norm": config.optim.max_grad_norm,
            "gradient_accumulation_steps": config.optim.gradient_accumulation_steps,
            "batch_size": config.train.batch_size,
            "epochs": config.train.epochs,
            "max_steps": config.train.max_steps,
            "seed": config.train.seed,
            "block_size": config.env.block_size,
            "gamma_init": config.agent.gamma_init,
            "top_k": config.env.acceptance.top_k,
            "min_prob": config.env.acceptance.min_prob,
            "teacher_temperature": config.env.acceptance.temperature,
            "draft_temperature": config.agent.draft_temperature,
            "max_new_tokens": config.env.max_new_tokens,
        },
        "final_metrics": {name: summary.get(name) for name in CARD_METRICS if name in summary},
    }


def render_model_card(config: RunConfig, summary: dict[str, Any]) -> str:
    """Render README.md: a YAML front-matter block, then a short description."""
    metadata = model_card_metadata(config, summary)
    front_matter = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    body = (
        f"# {Path(config.agent.student).name} distilled with cultural-kd\n\n"
        f"This student was trained by on-policy distillation with privileged information (LUPI-SKD): "
        f"the teacher `{config.env.teacher}` read a knowledge paragraph beside each query, and the "
        f"student, which sees the query alone, learned the teacher's per-token distributions "
        f"({config.agent.loss}) along trajectories it drafted itself.\n\n"
        f"The metadata above lists the training hyperparameters and the final metrics of the run; "
        f"the run folder's config.yaml holds the full configuration.\n"
    )
    return f"---\n{front_matter}---\n\n{body}"


def write_model_card(folder: Path, config: RunConfig, summary: dict[str, Any]) -> Path:
    """Write README.md into the saved student ``folder`` and return its path."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(config, summary), encoding="utf-8")
    return path
