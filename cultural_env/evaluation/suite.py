"""Run the selected benchmarks on one model and collect their results in one JSON-ready mapping."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cultural_env.config_fields import require_choice, require_range
from cultural_env.data import CulturalSample
from cultural_env.errors import ConfigError
from cultural_env.evaluation.model import EvalModel

logger = logging.getLogger(__name__)

BENCHMARKS = ("recall", "click", "kmmlu", "haerae", "math")
"""Benchmark names: ``recall`` reads the cultural dataset, the others need a local file."""
FILE_BENCHMARKS = ("click", "kmmlu", "haerae", "math")
MATH_MAX_NEW_TOKENS = 256
"""Default answer length for math problems, which need room for the working before the number."""


@dataclass(frozen=True)
class EvalOptions:
    """Selection, inputs and sizes of one evaluation."""

    benchmarks: tuple[str, ...] = ("recall",)
    """Benchmarks to run, from :data:`BENCHMARKS`."""
    data_files: Mapping[str, str] = field(default_factory=dict)
    """File per benchmark; required for click, kmmlu, haerae and math, optional for recall (a dataset file)."""
    split: str = "train"
    """Part of the cultural dataset for recall and validation KL: "train", "validation" or "all"."""
    limit: int | None = None
    """Use only the first N items of each benchmark; None uses all."""
    max_new_tokens: int | None = None
    """Greedy answer length; None uses env.max_new_tokens for recall and 256 for math."""
    validation_kl: bool = True
    """Also measure the divergence to the teacher on the recall items (loads the teacher)."""
    seed: int = 0
    """Seed of the validation-KL rollouts."""

    def __post_init__(self) -> None:
        if not self.benchmarks:
            raise ConfigError(f"no benchmark selected; pass --benchmark with one of {', '.join(BENCHMARKS)}")
        for name in self.benchmarks:
            require_choice("benchmark", name, BENCHMARKS)
        for name in self.data_files:
            require_choice("data file benchmark", name, BENCHMARKS)
        for name in self.benchmarks:
            if name in FILE_BENCHMARKS and name not in self.data_files:
                raise ConfigError(f"benchmark {name!r} needs a local file; pass --data-file {name}=FILE")
        require_choice("split", self.split, ("train", "validation", "all"))
        if self.limit is not None:
            require_range("limit", self.limit, minimum=1, integer=True)
        if self.max_new_tokens is not None:
            require_range("max_new_tokens", self.max_new_tokens, minimum=1, integer=True)


class EvaluationSuite:
    """Runs :class:`EvalOptions` on models that share one run config and, for the KL, one teacher.

    Args:
        run_config: a :class:`~agents.run_config.RunConfig`; its ``env`` section gives the
            dataset, prompt layout, teacher and lengths, its ``agent`` section the divergence.
        options: what to evaluate.
    """

    def __init__(self, run_config: Any, options: EvalOptions) -> None:
        self.run_config = run_config
        self.options = options
        self._teacher_env: Any = None
        self._samples: list[CulturalSample] | None = None
        self._validation: list[CulturalSample] | None = None

    def evaluate(self, model: EvalModel) -> dict[str, Any]:
        """Run every selected benchmark on ``model``; return ``{benchmark: result}``."""
        results: dict[str, Any] = {}
        for name in self.options.benchmarks:
            logger.info("evaluating %s on %s", model.name, name)
            results[name] = self._run(name, model)
        return results

    def close(self) -> None:
        """Free the teacher environment, if one was built."""
        if self._teacher_env is not None:
            self._teacher_env.close()

    # ----------------------------------------------------------------- benchmarks

    def _run(self, name: str, model: EvalModel) -> dict[str, Any]:
        if name == "recall":
            return self._recall(model)
        if name == "math":
            from cultural_env.evaluation.math_word_problems import load_problems, math_exact_match

            problems = self._limited(load_problems(self.options.data_files["math"]))
            return math_exact_match(model, problems, self.options.max_new_tokens or MATH_MAX_NEW_TOKENS)
        from cultural_env.evaluation.multiple_choice import load_items, multiple_choice_accuracy

        return multiple_choice_accuracy(model, self._limited(load_items(name, self.options.data_files[name])))

    def _recall(self, model: EvalModel) -> dict[str, Any]:
        from cultural_env.evaluation.recall import knowledge_recall

        samples = self.recall_samples()
        result = knowledge_recall(model, samples, self.options.max_new_tokens or self.run_config.env.max_new_tokens)
        if self.options.validation_kl:
            from cultural_env.evaluation.validation_kl import model_validation_kl

            # The KL is always measured on held-out items, whatever split the recall uses.
            result["validation_kl"] = model_validation_kl(
                model, self._teacher(), self.run_config.agent, self.validation_samples(), seed=self.options.seed
            )
        return result

    def validation_samples(self) -> list[CulturalSample]:
        """The held-out items for the validation KL: the validation split, limited like the recall items."""
        if self._validation is None:
            if self.options.split == "validation":
                self._validation = self.recall_samples()
            else:
                self._validation = self._load_split("validation")
        return self._validation

    def recall_samples(self) -> list[CulturalSample]:
        """Load (once) the cultural items of the configured dataset or the recall file, split and limited."""
        if self._samples is None:
            self._samples = self._load_split(self.options.split)
        return self._samples

    def _load_split(self, split: str) -> list[CulturalSample]:
        from cultural_env.env import load_samples

        env_config = self.run_config.env
        data = dataclasses.replace(
            env_config.data,
            path=self.options.data_files.get("recall", env_config.data.path),
            split=split,
            limit=self.options.limit,
            mix=None,
            general_path=None,
        )
        return load_samples(dataclasses.replace(env_config, data=data))

    def _teacher(self) -> Any:
        if self._teacher_env is None:
            from cultural_env.env import CulturalTokenEnv

            validation_ids = {sample.id for sample in self.validation_samples()}
            samples = self.validation_samples() + [sample for sample in self.recall_samples() if sample.id not in validation_ids]
            self._teacher_env = CulturalTokenEnv(self.run_config.env, samples=samples)
        return self._teacher_env

    def _limited(self, items: list) -> list:
        return items if self.options.limit is None else items[: self.options.limit]
