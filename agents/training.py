"""The training loop: roll out episodes, learn from them, log, evaluate and save.

Phases of :meth:`Trainer.run`: set up (seeds, environments, agent), evaluate before, loop over
the data order (rollout, learn, log one record per optimizer step), evaluate after, save.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.base import run_episode
from agents.evaluation import closed_book_recall, teacher_knowledge_use, validation_kl
from agents.run_config import RunConfig, dump_run_config
from agents.skd import SKDAgent
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)

StepCallback = Callable[[dict[str, Any]], None]

METRIC_NAMES = {
    "losses/kd": "loss",
    "optim/lr": "lr",
    "rollout/acceptance_rate": "acceptance_rate",
    "rollout/first_token_acceptance": "first_token_acceptance",
    "rollout/full_match_rate": "full_match_rate",
    "rollout/gamma_mean": "gamma_mean",
    "rollout/gamma_min": "gamma_min",
    "rollout/gamma_max": "gamma_max",
    "rollout/gamma_std": "gamma_std",
    "rollout/tokens_drafted": "tokens_drafted",
    "rollout/tokens_accepted": "tokens_accepted",
    "rollout/response_length": "response_length",
    "optim/grad_norm": "grad_norm",
}
"""Agent metric keys and the flat names they get in metrics.jsonl."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_output_dir(path: Path) -> None:
    """Create ``path`` and prove it writable before any training starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"0" * 4096)
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output folder {path} is not writable ({error.strerror}); choose another with --output-dir") from None


class Trainer:
    """Runs one training run of :class:`RunConfig`.

    Args:
        config: the resolved run configuration.
        agent_factory: builds the agent from (config, env, total_steps); defaults to :class:`SKDAgent`.
        on_start: called with the planned number of optimizer steps once setup is done.
        on_step: called with each metrics record (one per optimizer step) as it is written.
        on_phase: called with a short description when a phase starts (evaluation, saving).
    """

    def __init__(
        self,
        config: RunConfig,
        agent_factory: Callable[..., Any] | None = None,
        on_start: Callable[[int], None] | None = None,
        on_step: StepCallback | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.output_dir = Path(config.train.output_dir)
        self.agent_factory = agent_factory or (lambda cfg, env, total: SKDAgent(cfg.agent, env, cfg.optim, total))
        self.on_start = on_start or (lambda total: None)
        self.on_step = on_step
        self.on_phase = on_phase or (lambda text: None)

    def run(self) -> dict[str, Any]:
        """Train, evaluate and save; return the summary that is also written to summary.json."""
        started = time.perf_counter()
        train_config = self.config.train
        check_output_dir(self.output_dir)
        seed_everything(train_config.seed)

        # ---- setup: environments share one teacher; the agent holds the student
        env = gym.make("CulturalKD-v0", config=self.config.env)
        core: CulturalTokenEnv = env.unwrapped
        validation_env = CulturalTokenEnv(
            replace(self.config.env, data=replace(self.config.env.data, split="validation")),
            teacher_model=core.teacher.lm.model,
            tokenizer=core.tokenizer,
        ) if train_config.validation_samples and self.config.env.data.validation_fraction > 0 else None
        self.train_ids = [sample.id for sample in core.samples[: train_config.num_items]]
        episodes_per_step = train_config.batch_size * self.config.optim.gradient_accumulation_steps
        total_episodes = train_config.epochs * len(self.train_ids)
        total_steps = max(1, total_episodes // episodes_per_step)
        if train_config.max_steps is not None:
            total_steps = min(total_steps, train_config.max_steps)
        agent = self.agent_factory(self.config, core, total_steps)
        if hasattr(agent, "seed"):
            agent.seed(train_config.seed)
        (self.output_dir / "config.yaml").write_text(dump_run_config(self.config), encoding="utf-8")
        logger.info("training on %d items for %d optimizer steps; run folder %s", len(self.train_ids), total_steps, self.output_dir)

        # ---- evaluate before
        self.on_phase("evaluating before training")
        before = self._evaluate(agent, core, validation_env, with_teacher=True)

        # ---- the loop: rollout, learn, log
        metrics_path = self.output_dir / "metrics.jsonl"
        records: list[dict[str, Any]] = []
        pending: list[dict[str, float]] = []
        step = 0
        episode_index = 0
        self.on_start(total_steps)
        self.on_phase("training")
        with metrics_path.open("w", encoding="utf-8") as metrics_file:
            for epoch, sample_id in self._data_order(core, train_config.epochs):
                if step >= total_steps:
                    break
                episode = run_episode(env, agent, options={"sample_id": sample_id}, seed=train_config.seed * 1_000_003 + episode_index)
                episode_index += 1
                pending.append(agent.learn(episode))
                if not pending[-1].get("optim/stepped"):
                    continue
                step += 1
                record = self._step_record(step, epoch, pending, started)
                if train_config.eval_every and validation_env is not None and step % train_config.eval_every == 0:
                    record["val_kl"] = self._validation_kl(agent, validation_env)
                pending = []
                records.append(record)
                metrics_file.write(json.dumps(record) + "\n")
                metrics_file.flush()
                if self.on_step is not None:
                    self.on_step(record)

        # ---- evaluate after, save
        self.on_phase("evaluating after training")
        after = self._evaluate(agent, core, validation_env, with_teacher=False)
        if train_config.save_student:
            agent.model.save_pretrained(self.output_dir / "student", safe_serialization=True)
            core.tokenizer.save_pretrained(self.output_dir / "student")
        summary = self._summary(records, before, after, agent, started)
        (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        env.close()
        return summary

    # ----------------------------------------------------------------- helpers

    def _data_order(self, core: CulturalTokenEnv, epochs: int):
        """Yield (epoch, sample id): each epoch is a fresh seeded permutation of the training items."""
        generator = random.Random(self.config.train.seed)
        ids = list(self.train_ids)
        for epoch in range(epochs):
            order = ids[:]
            generator.shuffle(order)
            for sample_id in order:
                yield epoch, sample_id

    def _step_record(self, step: int, epoch: int, pending: list[dict[str, float]], started: float) -> dict[str, Any]:
        record: dict[str, Any] = {"step": step, "epoch": epoch}
        for key, name in METRIC_NAMES.items():
            values = [metrics[key] for metrics in pending if key in metrics]
            if not values:
                continue
            if key in ("rollout/tokens_drafted", "rollout/tokens_accepted"):
                record[name] = float(np.sum(values))
            elif key == "rollout/gamma_min":
                record[name] = float(np.min(values))
            elif key == "rollout/gamma_max":
                record[name] = float(np.max(values))
            else:
                record[name] = float(np.mean(values))
        record["skipped_steps"] = int(pending[-1].get("optim/skipped_total", 0))
        record["elapsed_s"] = round(time.perf_counter() - started, 2)
        return record

    def _eval_samples(self, core: CulturalTokenEnv) -> list:
        """Training items used for the closed-book recall, so recall measures injected knowledge."""
        trained = set(self.train_ids)
        return [sample for sample in core.samples if sample.id in trained][: self.config.train.eval_samples]

    def _eval_length(self, core: CulturalTokenEnv) -> int:
        return self.config.train.eval_max_new_tokens or core.config.max_new_tokens

    def _validation_kl(self, agent: Any, validation_env: CulturalTokenEnv | None) -> float | None:
        if validation_env is None or not hasattr(agent, "loss"):
            return None
        samples = validation_env.samples[: self.config.train.validation_samples]
        return validation_kl(agent, validation_env, samples, seed=self.config.train.seed)

    def _evaluate(self, agent: Any, core: CulturalTokenEnv, validation_env: CulturalTokenEnv | None, with_teacher: bool) -> dict[str, Any]:
        result: dict[str, Any] = {"val_kl": self._validation_kl(agent, validation_env)}
        if self.config.train.eval_samples == 0:
            return result
        length = self._eval_length(core)
        result["recall"] = closed_book_recall(agent.model, core, self._eval_samples(core), length)
        if with_teacher:
            held_out = validation_env.samples if validation_env is not None else core.samples
            result["teacher"] = teacher_knowledge_use(core, held_out[: self.config.train.eval_samples], length)
        return result

    def _summary(self, records: list[dict[str, Any]], before: dict[str, Any], after: dict[str, Any], agent: Any, started: float) -> dict[str, Any]:
        def mean_of(name: str, part: list[dict[str, Any]]) -> float | None:
            values = [record[name] for record in part if name in record]
            return float(np.mean(values)) if values else None

        window = max(1, math.ceil(len(records) / 5))
        first, last = records[:window], records[-window:]
        summary: dict[str, Any] = {
            "steps": len(records),
            "acceptance_rate_first": mean_of("acceptance_rate", first),
            "acceptance_rate_last": mean_of("acceptance_rate", last),
            "loss_first": mean_of("loss", first),
            "loss_last": mean_of("loss", last),
            "recall_before": before.get("recall"),
            "recall_after": after.get("recall"),
            "teacher_uses_k": before.get("teacher"),
            "val_kl_first": before.get("val_kl"),
            "val_kl_last": after.get("val_kl"),
            "skipped_steps": getattr(getattr(agent, "optimizer", None), "skipped_steps", 0),
            "wall_time_s": round(time.perf_counter() - started, 1),
            "acceptance_window_steps": window,
        }
        return summary
