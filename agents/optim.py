"""Optimizer and learning-rate schedule of the student, and the guarded update step."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import torch

from cultural_env.config_fields import require_choice, require_range

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with warm-up and a cosine or constant schedule.

    The defaults are those of the embedded tiny default; configs/qwen3-32b-to-4b.yaml sets the
    reference values for real models (learning rate 1e-5).
    """

    learning_rate: float = 3e-3
    """Peak learning rate (> 0)."""
    weight_decay: float = 0.0
    """AdamW weight decay (>= 0)."""
    warmup_ratio: float = 0.1
    """Share of optimizer steps spent warming up linearly from 0, in [0, 1)."""
    scheduler: str = "cosine"
    """"cosine" decays to 0 after warm-up; "constant" keeps the peak."""
    max_grad_norm: float = 1.0
    """Clip the gradient norm to this value; 0 disables clipping."""
    gradient_accumulation_steps: int = 1
    """Episodes whose gradients are summed (averaged) before one optimizer step."""
    betas: tuple[float, ...] = (0.9, 0.999)
    """AdamW betas."""

    def __post_init__(self) -> None:
        require_range("learning_rate", self.learning_rate, minimum=0.0, exclusive_minimum=True)
        require_range("weight_decay", self.weight_decay, minimum=0.0)
        require_range("warmup_ratio", self.warmup_ratio, minimum=0.0, maximum=0.999)
        require_choice("scheduler", self.scheduler, ("cosine", "constant"))
        require_range("max_grad_norm", self.max_grad_norm, minimum=0.0)
        require_range("gradient_accumulation_steps", self.gradient_accumulation_steps, minimum=1, integer=True)


def schedule_factor(step: int, total_steps: int, warmup_steps: int, kind: str) -> float:
    """Learning-rate multiplier at optimizer ``step``: linear warm-up, then cosine decay or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class GuardedOptimizer:
    """AdamW plus schedule, gradient accumulation, clipping, and a guard against non-finite values.

    A loss or gradient that is NaN or infinite skips the update with a warning and is counted in
    ``skipped_steps``, so it never reaches the weights or a checkpoint.
    """

    def __init__(self, model: torch.nn.Module, config: OptimConfig, total_steps: int) -> None:
        self.model = model
        self.config = config
        self.total_steps = max(1, total_steps)
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
            betas=tuple(config.betas),
        )
        warmup = int(config.warmup_ratio * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: schedule_factor(step, self.total_steps, warmup, config.scheduler)
        )
        self.micro_step = 0
        self.step_count = 0
        self.skipped_steps = 0
        self._poisoned = False

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next update."""
        return float(self.optimizer.param_groups[0]["lr"])

    def backward(self, loss: torch.Tensor) -> dict[str, float]:
        """Accumulate ``loss`` and step when the accumulation is complete; return step metrics.

        The returned dict has ``optim/stepped`` = 1.0 when an optimizer step happened (or was
        skipped for a non-finite value), else 0.0.
        """
        metrics: dict[str, float] = {"optim/stepped": 0.0}
        if not torch.isfinite(loss.detach()):
            self._poisoned = True
        else:
            (loss / self.config.gradient_accumulation_steps).backward()
        self.micro_step += 1
        if self.micro_step % self.config.gradient_accumulation_steps:
            return metrics
        metrics.update(self._step())
        return metrics

    def _step(self) -> dict[str, float]:
        metrics = {"optim/stepped": 1.0, "optim/lr": self.learning_rate}
        self._average_across_processes()
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm) if parameters else torch.tensor(0.0)
        if self._poisoned or not torch.isfinite(grad_norm):
            self.skipped_steps += 1
            logger.warning(
                "skipped optimizer step %d: non-finite %s (%d skipped so far)",
                self.step_count, "loss" if self._poisoned else "gradient norm", self.skipped_steps,
            )
            metrics["optim/skipped"] = 1.0
        else:
            self.optimizer.step()
            metrics["optim/grad_norm"] = float(grad_norm)
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            # The schedule advances on a skipped step too, so that it stays aligned with the step
            # count; PyTorch warns when that happens before the first real optimizer step.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`")
            self.scheduler.step()
        self.step_count += 1
        self._poisoned = False
        metrics["optim/skipped_total"] = float(self.skipped_steps)
        return metrics

    def _average_across_processes(self) -> None:
        """Average gradients and share the non-finite flag across the processes of a distributed run.

        This is the data-parallel (DDP) reduction. Every process starts from the same weights and
        computes gradients on its own episodes, then all of them apply the mean, so the weights stay equal.
        A process whose loss was non-finite contributes zeros, and then every process skips the step.
        """
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        world_size = torch.distributed.get_world_size()
        if world_size == 1:
            return
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        poisoned = torch.tensor([float(self._poisoned)], device=trainable[0].device)
        torch.distributed.all_reduce(poisoned)
        self._poisoned = bool(poisoned.item() > 0)
        # NOTE: one all-reduce per parameter tensor; DDP's bucketing overlaps these with the
        # backward pass and is faster for large students.
        for parameter in trainable:
            if parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)
            torch.distributed.all_reduce(parameter.grad)
            parameter.grad.div_(world_size)

    def state_dict(self) -> dict:
        """Everything needed to resume: optimizer, scheduler, counters and any gradients accumulated since the last step.

        Batched training checkpoints between rollout batches, which need not end an accumulation,
        so the gradients summed so far (None for a parameter without one) are kept as well.
        """
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "micro_step": self.micro_step,
            "step_count": self.step_count,
            "skipped_steps": self.skipped_steps,
            "poisoned": self._poisoned,
            "gradients": [None if p.grad is None else p.grad.detach().clone() for p in trainable],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.micro_step = state["micro_step"]
        self.step_count = state["step_count"]
        self.skipped_steps = state["skipped_steps"]
        self._poisoned = state.get("poisoned", False)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        for parameter, gradient in zip(trainable, state.get("gradients", [None] * len(trainable))):
            parameter.grad = None if gradient is None else gradient.to(parameter.device, parameter.dtype)
