"""The training loop: roll out episodes, learn from them, log, checkpoint, evaluate and save.

Phases of :meth:`Trainer.run`: set up (seeds, environments, agent, and an optional resume from
the latest checkpoint), then evaluate before training. The loop over the data order rolls out,
learns, logs one record per optimizer step and checkpoints every ``train.save_every`` steps.
With ``train.num_envs`` > 1 the episodes are rolled out in batches through the vector
environment and learned one by one. The run ends with a checkpoint, the evaluation after
training and the student with its model card. SIGINT or SIGTERM ends the loop after the current
rollout batch with a checkpoint, so ``--resume`` continues where it stopped.

Every episode's randomness comes from its index in the data order (the environment and the
drafting RNG are seeded from it), so a resumed run and a run on several processes roll out the
same episodes as one uninterrupted process.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.base import run_episode
from agents.checkpoint import (
    CheckpointError,
    global_rng_state,
    latest_checkpoint,
    load_checkpoint,
    restore_global_rng_state,
    save_checkpoint,
)
from agents.distributed import ProcessLayout, barrier, gather_objects, process_device, process_layout
from agents.evaluation import closed_book_recall, teacher_knowledge_use, validation_kl
from agents.model_card import write_model_card
from agents.run_config import RunConfig, dump_run_config, run_config_to_dict
from agents.skd import SKDAgent
from agents.tracking import MetricsSink, check_trackers
from cultural_env.env import CulturalTokenEnv
from cultural_env.errors import ConfigError
from cultural_env.vector import CulturalTokenVectorEnv

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

RESUME_NEUTRAL_FIELDS = {"train.output_dir", "train.eval_every", "train.save_every", "train.keep_checkpoints", "train.log_with"}
"""Config fields that may change between a run and its resume, because they do not change the trained weights."""


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


RUN_OUTPUTS = ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints", "student", "plots")
"""The files and folders a run writes into its folder; a new run refuses to mix its files with another run's."""


def previous_run_outputs(path: Path) -> list[str]:
    """Return the names of :data:`RUN_OUTPUTS` present in ``path``, broken symbolic links included."""
    return [name for name in RUN_OUTPUTS if os.path.lexists(path / name)]


def check_previous_run(path: Path, overwrite: bool) -> None:
    """Raise :class:`ConfigError` if ``path`` contains another run's outputs and ``overwrite`` is not set.

    Without this a new run in an old run's folder would replace its metrics and student and
    leave its checkpoints, which then outrank the new run's and break ``--resume``.
    """
    found = previous_run_outputs(path)
    if found and not overwrite:
        raise ConfigError(
            f"output folder {path} already contains a run ({', '.join(found)}); continue it with --resume, "
            "replace it with --overwrite, or choose another --output-dir"
        )


def clear_previous_run(path: Path) -> None:
    """Delete another run's outputs in ``path``; :class:`Trainer` calls it only after every check has passed."""
    found = previous_run_outputs(path)
    for name in found:
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    logger.warning("--overwrite: deleted the previous run's %s in %s", ", ".join(found), path)


def required_disk_bytes(model: torch.nn.Module, keep_checkpoints: int) -> int:
    """Estimate the disk space that checkpoints and the saved student take.

    A checkpoint contains the weights and AdamW's two moments (three times the weight bytes). Up
    to ``keep_checkpoints + 1`` exist while a new one is written, and the student folder adds one
    more copy of the weights.
    """
    weight_bytes = sum(parameter.numel() * parameter.element_size() for parameter in model.parameters())
    return weight_bytes * (3 * (keep_checkpoints + 1) + 1)


def check_free_space(path: Path, required_bytes: int) -> None:
    """Raise :class:`ConfigError` when the disk of ``path`` has less than ``required_bytes`` free."""
    free = shutil.disk_usage(path).free
    if free < required_bytes:
        raise ConfigError(
            f"output folder {path} has {free / 1e6:.1f} MB free but checkpoints and the student need about "
            f"{required_bytes / 1e6:.1f} MB; free disk space, lower train.keep_checkpoints or choose another --output-dir"
        )


def config_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ between two plain-data configs."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences.extend(config_differences(old, new, f"{name}."))
        elif old != new and name not in RESUME_NEUTRAL_FIELDS:
            differences.append(f"{name} ({old!r} in the checkpoint, {new!r} now)")
    return differences


class StopSignals:
    """Turns the first SIGINT or SIGTERM into a request to stop after the current optimizer step (rollout batch, when batched).

    A second signal raises :class:`KeyboardInterrupt` at once. Handlers are installed only in the
    main thread, because Python delivers signals there alone.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = number
        logger.warning(
            "received %s: finishing the current optimizer step (the current rollout batch, when batched), then writing a checkpoint "
            "(send it again to stop at once)", signal.Signals(number).name,
        )


class Trainer:
    """Runs one training run of :class:`RunConfig`.

    Args:
        config: the resolved run configuration.
        agent_factory: builds the agent from (config, env, total_steps); defaults to :class:`SKDAgent`.
        on_start: called with the planned number of optimizer steps once setup is done.
        on_step: called with each metrics record (one per optimizer step) as it is written.
        on_phase: called with a short description when a phase starts (evaluation, saving).
        resume: continue from the latest checkpoint in the run folder.
        overwrite: delete another run's outputs in the run folder first; without it (and
            without ``resume``) such a folder is refused.

    After :meth:`run`, ``agent`` is the trained agent and ``interrupted_by`` the number of the
    signal that stopped the run early, or None.
    """

    def __init__(
        self,
        config: RunConfig,
        agent_factory: Callable[..., Any] | None = None,
        on_start: Callable[[int], None] | None = None,
        on_step: StepCallback | None = None,
        on_phase: Callable[[str], None] | None = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        if resume and overwrite:
            raise ConfigError("--resume continues the run in the folder and --overwrite deletes it; pass only one of them")
        self.config = config
        self.output_dir = Path(config.train.output_dir)
        self.agent_factory = agent_factory or (lambda cfg, env, total: SKDAgent(cfg.agent, env, cfg.optim, total))
        self.on_start = on_start or (lambda total: None)
        self.on_step = on_step
        self.on_phase = on_phase or (lambda text: None)
        self.resume = resume
        self.overwrite = overwrite
        self.interrupted_by: int | None = None

    def run(self) -> dict[str, Any]:
        """Train, evaluate and save; return the summary that is also written to summary.json.

        In a multi-process run only the main process evaluates and writes files; the others
        return an empty summary.
        """
        started = time.perf_counter()
        train_config = self.config.train
        layout = process_layout()
        self.layout = layout
        if layout.is_main:
            check_output_dir(self.output_dir)
            if not self.resume:
                check_previous_run(self.output_dir, self.overwrite)
            check_trackers(train_config.log_with)
        checkpoint = self._find_resume_checkpoint() if self.resume else None
        seed_everything(train_config.seed)

        # ---- setup: the environments share one teacher, and the agent owns the student
        config = self._process_config(layout)
        env = gym.make("CulturalKD-v0", config=config.env)
        core: CulturalTokenEnv = env.unwrapped
        validation_env = CulturalTokenEnv(
            replace(config.env, data=replace(config.env.data, split="validation")),
            teacher_model=core.teacher.lm.model,
            tokenizer=core.tokenizer,
        ) if train_config.validation_samples and config.env.data.validation_fraction > 0 else None
        self.train_ids = [sample.id for sample in core.samples[: train_config.num_items]]
        total_steps = self._total_steps(layout)
        self.total_steps = total_steps
        agent = self.agent_factory(config, core, total_steps)
        self.agent = agent
        if layout.is_main:
            check_free_space(self.output_dir, required_disk_bytes(agent.model, train_config.keep_checkpoints))
        if config.env.reward_mode == "neg_reverse_kl" and isinstance(agent, SKDAgent) and not getattr(agent, "hands_log_probs", False):
            raise ConfigError(
                f"env.reward_mode='neg_reverse_kl' needs an agent that hands its drafts' log-probabilities to the env, which "
                f"{type(agent).__name__} does not; use --agent agents.on_policy_distill:from_run_config or another reward_mode"
            )
        vector_env = self._vector_env(config, core, agent)
        resumed = self._restore(checkpoint, agent, core) if checkpoint is not None else None
        if layout.is_main:
            # Done once every check has passed, so a rejected run leaves the folder as it was.
            if self.overwrite and not self.resume:
                clear_previous_run(self.output_dir)
            (self.output_dir / "config.yaml").write_text(dump_run_config(self.config), encoding="utf-8")
        logger.info("training on %d items for %d optimizer steps; run folder %s", len(self.train_ids), total_steps, self.output_dir)

        # ---- evaluate before (stored in checkpoints, so a resumed run reports the original figures)
        if resumed is not None:
            before = resumed["before"]
        else:
            self.on_phase("evaluating before training")
            before = self._evaluate(agent, core, validation_env, with_teacher=True) if layout.is_main else {}

        # ---- the loop
        sink = MetricsSink(
            self.output_dir, train_config.log_with, run_config_to_dict(self.config),
            resume_step=resumed["step"] if resumed else None, enabled=layout.is_main,
        )
        self.on_start(total_steps)
        self.on_phase("training")
        elapsed_before = resumed["elapsed_s"] if resumed else 0.0
        try:
            with StopSignals() as signals:
                self._train_loop(
                    env, core, agent, validation_env, sink, signals, total_steps, resumed, before, started - elapsed_before, vector_env
                )
        finally:
            sink.close()

        if self.interrupted_by is not None:
            summary = self._summary(sink.records, before, {}, agent, started - elapsed_before)
            summary["interrupted"] = signal.Signals(self.interrupted_by).name
            self._write_summary(summary, layout)
            env.close()
            if vector_env is not None:
                vector_env.close()
            return summary

        # ---- evaluate after, save
        self.on_phase("evaluating after training")
        after = self._evaluate(agent, core, validation_env, with_teacher=False) if layout.is_main else {}
        summary = self._summary(sink.records, before, after, agent, started - elapsed_before)
        if layout.is_main and train_config.save_student:
            self.on_phase("saving the student")
            student_dir = self.output_dir / "student"
            agent.model.save_pretrained(student_dir, safe_serialization=True)
            core.tokenizer.save_pretrained(student_dir)
            write_model_card(student_dir, self.config, summary)
        self._write_summary(summary, layout)
        barrier(layout)
        env.close()
        if vector_env is not None:
            vector_env.close()
        return summary if layout.is_main else {}

    # ----------------------------------------------------------------- the loop

    def _train_loop(self, env, core, agent, validation_env, sink, signals, total_steps, resumed, before, started, vector_env=None) -> int:
        """Roll out this process's episodes, learn, log and checkpoint; return the last optimizer step.

        Episodes are rolled out in batches of ``train.num_envs`` (one at a time by default) and
        learned in data order. Checkpoints are written between rollout batches, so a resumed run
        rolls out the same batches as an uninterrupted one.
        """
        train_config = self.config.train
        layout = self.layout
        step = resumed["step"] if resumed else 0
        first_episode = resumed["next_episode"] if resumed else 0
        saved_step = step
        next_episode = first_episode
        pending: list[dict[str, float]] = list(resumed.get("pending", [])) if resumed else []
        save_due = stop = False
        owned = self._owned_episodes(first_episode)
        # Episodes one process learns per optimizer step; no batch rolls out more than the remaining steps need.
        episodes_per_step = train_config.batch_size * self.config.optim.gradient_accumulation_steps
        while step < total_steps:
            needed = (total_steps - step) * episodes_per_step - len(pending)
            rows = vector_env.num_envs if vector_env is not None else 1
            batch = list(itertools.islice(owned, max(1, min(rows, needed))))
            if not batch:
                break
            episodes = self._roll_out(batch, env, agent, vector_env)

            for (episode_index, epoch, _), episode in zip(batch, episodes):
                if step >= total_steps:
                    break
                next_episode = episode_index - layout.rank + layout.world_size

                # ---- learn; continue until the optimizer steps
                pending.append(agent.learn(episode))
                if not pending[-1].get("optim/stepped"):
                    continue
                step += 1

                # ---- log
                gathered = [metrics for part in gather_objects(pending, layout) for metrics in part]
                pending = []
                record = self._step_record(step, epoch, gathered, started)
                if layout.is_main and train_config.eval_every and validation_env is not None and step % train_config.eval_every == 0:
                    record["val_kl"] = self._validation_kl(agent, validation_env)
                sink.write(record)
                if layout.is_main and self.on_step is not None:
                    self.on_step(record)
                stop = stop or any(gather_objects(signals.received is not None, layout))
                save_due = save_due or bool(train_config.save_every and step % train_config.save_every == 0)

            # ---- checkpoint every save_every steps, after the last step, and on a stop signal. Several
            # processes save only between accumulations, because only the main process's partial
            # gradients would reach the checkpoint.
            if self.layout.world_size > 1 and pending:
                continue
            if save_due or stop or step >= total_steps:
                self._save(step, next_episode, agent, core, before, started, pending)
                saved_step = step
                save_due = False
            if stop:
                self.interrupted_by = signals.received or signal.SIGTERM
                logger.warning("stopped after optimizer step %d; continue with --resume", step)
                break
        if step != saved_step:
            # The data ran out before total_steps; checkpoint what was trained.
            self._save(step, next_episode, agent, core, before, started, pending)
        return step

    def _owned_episodes(self, first_episode: int):
        """Yield (episode index, epoch, sample id) of this process's episodes in data order, from ``first_episode`` on."""
        for episode_index, (epoch, sample_id) in enumerate(self._data_order(self.config.train.epochs)):
            if episode_index >= first_episode and self.layout.owns_episode(episode_index):
                yield episode_index, epoch, sample_id

    def _roll_out(self, batch, env, agent, vector_env) -> list:
        """Roll out the episodes of ``batch``, each seeded by its place in the data order."""
        seeds = [self.config.train.seed * 1_000_003 + episode_index for episode_index, _, _ in batch]
        if vector_env is not None:
            return agent.rollout_batch(vector_env, [sample_id for _, _, sample_id in batch], seeds)
        (_, _, sample_id), seed = batch[0], seeds[0]
        if hasattr(agent, "seed"):
            agent.seed(seed)
        return [run_episode(env, agent, options={"sample_id": sample_id}, seed=seed)]

    # ----------------------------------------------------------------- checkpoints

    def _vector_env(self, config: RunConfig, core: CulturalTokenEnv, agent: Any) -> CulturalTokenVectorEnv | None:
        """Build the vector environment of ``train.num_envs`` > 1 over the core env's teacher and items, else return None."""
        num_envs = config.train.num_envs
        if num_envs == 1:
            return None
        if not hasattr(agent, "rollout_batch"):
            raise ConfigError(
                f"train.num_envs={num_envs} needs an agent with rollout_batch(envs, sample_ids, seeds), "
                f"which {type(agent).__name__} lacks; set train.num_envs=1"
            )
        if config.env.reward_mode == "neg_reverse_kl":
            raise ConfigError(
                f"train.num_envs={num_envs} cannot give the agent env.reward_mode='neg_reverse_kl', because batched rollouts "
                "do not pass the draft's log-probabilities; set train.num_envs=1 or choose another reward_mode"
            )
        # No rollout batch needs more rows than this process's episodes of the whole run.
        episodes = self.total_steps * config.optim.gradient_accumulation_steps
        if num_envs > episodes:
            logger.warning("train.num_envs=%d exceeds the %d episodes this run rolls out per process; using %d rows", num_envs, episodes, episodes)
            num_envs = episodes
            if num_envs == 1:
                return None
        if getattr(agent, "learns_on_policy", False):
            logger.warning(
                "train.num_envs=%d: %s learns by policy gradient, which assumes the current weights drafted each episode, "
                "but a batched episode may have been drafted up to %d optimizer steps earlier; set train.num_envs=1 for an unbiased gradient",
                num_envs, type(agent).__name__, num_envs - 1,
            )
        return CulturalTokenVectorEnv(num_envs, config.env, teacher_model=core.teacher.lm.model, tokenizer=core.tokenizer, samples=core.samples)

    def _find_resume_checkpoint(self) -> Path:
        folder = latest_checkpoint(self.output_dir)
        if folder is None:
            raise CheckpointError(
                f"--resume: no checkpoint found in {self.output_dir / 'checkpoints'}; if the run there stopped before its first "
                "checkpoint, start it again with --overwrite, or pass the --output-dir of the run to continue"
            )
        return folder

    def _save(
        self, step: int, next_episode: int, agent: Any, core: CulturalTokenEnv, before: dict[str, Any], started: float,
        pending: list[dict[str, float]],
    ) -> None:
        """Write a checkpoint; ``pending`` contains the metrics of episodes learned since the last optimizer step."""
        if not self.layout.is_main:
            return
        state = {
            "step": step,
            "next_episode": next_episode,
            "pending": pending,
            "elapsed_s": time.perf_counter() - started,
            "world_size": self.layout.world_size,
            "agent": agent.state_dict() if hasattr(agent, "state_dict") else None,
            "rng": global_rng_state(),
            "env_rng": core.np_random.bit_generator.state,
            "teacher_rng": core.teacher.generator.get_state(),
            "before": before,
            "config": run_config_to_dict(self.config),
        }
        save_checkpoint(self.output_dir, step, agent.model, state, self.config.train.keep_checkpoints)

    def _restore(self, folder: Path, agent: Any, core: CulturalTokenEnv) -> dict[str, Any]:
        """Load checkpoint ``folder`` into the agent and environment; return its saved state."""
        state = load_checkpoint(folder, agent.model)
        differences = config_differences(state["config"], run_config_to_dict(self.config))
        if differences:
            raise CheckpointError(
                f"cannot resume from {folder}: the config differs in {'; '.join(differences)}; "
                "rerun with the original config or start a new --output-dir"
            )
        if state["world_size"] != self.layout.world_size:
            raise CheckpointError(
                f"cannot resume from {folder}: it was written by {state['world_size']} processes, this run has "
                f"{self.layout.world_size}; launch the same number of processes"
            )
        if state["agent"] is not None and hasattr(agent, "load_state_dict"):
            agent.load_state_dict(state["agent"])
        else:
            logger.warning("the agent has no state_dict/load_state_dict; resuming with fresh optimizer state, so the run will not match an uninterrupted one")
        restore_global_rng_state(state["rng"])
        core.np_random.bit_generator.state = state["env_rng"]
        core.teacher.generator.set_state(state["teacher_rng"])
        logger.info("resuming from %s at optimizer step %d", folder, state["step"])
        return state

    # ----------------------------------------------------------------- setup helpers

    def _process_config(self, layout: ProcessLayout) -> RunConfig:
        """Return the config of this process: on GPUs each process of a multi-process run gets its own device.

        ``train.batch_size`` episodes per optimizer step are accumulated like any other micro-batches,
        so the agent gets ``optim.gradient_accumulation_steps`` multiplied by it.
        """
        env_device = process_device(self.config.env.device, layout)
        agent_device = process_device(self.config.agent.device, layout)
        accumulation = self.config.optim.gradient_accumulation_steps * self.config.train.batch_size
        return replace(
            self.config,
            env=replace(self.config.env, device=env_device),
            agent=replace(self.config.agent, device=agent_device),
            optim=replace(self.config.optim, gradient_accumulation_steps=accumulation),
        )

    def _total_steps(self, layout: ProcessLayout) -> int:
        train_config = self.config.train
        episodes_per_step = train_config.batch_size * self.config.optim.gradient_accumulation_steps * layout.world_size
        total_steps = max(1, train_config.epochs * len(self.train_ids) // episodes_per_step)
        if train_config.max_steps is not None and train_config.max_steps > total_steps:
            logger.warning(
                "train.max_steps=%d exceeds the %d steps that %d epochs over %d items give; "
                "the run stops after %d steps (raise train.epochs for more)",
                train_config.max_steps, total_steps, train_config.epochs, len(self.train_ids), total_steps,
            )
        if train_config.max_steps is not None:
            total_steps = min(total_steps, train_config.max_steps)
        return total_steps

    def _write_summary(self, summary: dict[str, Any], layout: ProcessLayout) -> None:
        if layout.is_main:
            (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    # ----------------------------------------------------------------- helpers

    def _data_order(self, epochs: int):
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
        # "loss" is what the agent minimised: the total of several terms where it reports one.
        totals = [metrics["losses/total"] for metrics in pending if "losses/total" in metrics]
        if totals:
            record["loss"] = float(np.mean(totals))
        for key in sorted({key for metrics in pending for key in metrics if key.startswith("losses/")} - {"losses/total", "losses/tokens"}):
            record[f"loss_{key.split('/', 1)[1]}"] = float(np.mean([metrics[key] for metrics in pending if key in metrics]))
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
