"""The embedded default: a tiny tokenizer, teacher and student made by this project's own code.

Nothing is downloaded. :func:`build_embedded_models` trains a byte-level BPE tokenizer for Korean
and English on the packaged dataset, then pre-trains two tiny Qwen3-architecture models on a
knowledge-restating task: given ``[Background Knowledge] K`` and a query, answer with the start
of K. The teacher therefore really uses K, and a student that sees only the query can gain
closed-book recall of K by distillation. The result is shipped in
``cultural_env/resources/tiny``; when that folder is missing it is built once into
``$CULTURAL_KD_CACHE`` (default ``~/.cache/cultural-kd``).

Run ``cultural-kd prepare --output DIR`` to rebuild it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cultural_env.errors import ModelLoadError

logger = logging.getLogger(__name__)

EMBEDDED_VERSION = 1
"""Bump when the recipe changes, so stale caches are rebuilt."""
EMBEDDED_MODELS = ("tiny-teacher", "tiny-student")
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")

# A Qwen3-style chat template: <|im_start|>role\ncontent<|im_end|>\n per message. With
# enable_thinking false, the generation prompt carries an empty think block, as Qwen3's does.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif -%}"
    "{%- endif -%}"
)


@dataclass(frozen=True)
class TinyRecipe:
    """Recipe of the embedded tokenizer and models."""

    vocab_size: int = 3000
    """Tokenizer vocabulary size (before special tokens)."""
    answer_tokens: int = 32
    """The pre-training answer is the first this many tokens of K, then <|im_end|>."""
    knowledge_tokens: int = 64
    """K is cut to this many tokens in pre-training prompts (matches prompt.max_knowledge_tokens of the default)."""
    knowledge_template: str = "{query}\n\n[Background Knowledge]\n{knowledge}"
    """Teacher user turn of the tiny models. K comes last, right before the answer, so the copy
    distance is nearly constant and a tiny model learns it in minutes on a CPU."""
    shuffled_examples: int = 4000
    """Extra examples whose K is a random token window with a random query, so copying cannot be memorised."""
    teacher_layers: int = 4
    """Teacher depth; copying from context needs at least two layers (an induction circuit)."""
    student_layers: int = 2
    """Student depth."""
    hidden_size: int = 128
    """Width of both models."""
    teacher_steps: int = 800
    """Pre-training steps of the teacher."""
    student_steps: int = 250
    """Pre-training steps of the student: it learns the answer format, not the knowledge."""
    batch_size: int = 16
    """Examples per pre-training step."""
    learning_rate: float = 2e-3
    """Peak AdamW learning rate of pre-training."""
    seed: int = 0
    """Seed of initialisation and example order."""

    def prompt_config(self) -> Any:
        """Return the prompt layout the tiny teacher is trained with, which the embedded env config also uses."""
        from cultural_env.prompts import PromptConfig

        return PromptConfig(max_knowledge_tokens=self.knowledge_tokens, knowledge_template=self.knowledge_template)


def cache_root() -> Path:
    """Folder where embedded models are built when the package does not ship them."""
    return Path(os.environ.get("CULTURAL_KD_CACHE", Path.home() / ".cache" / "cultural-kd")) / f"tiny-v{EMBEDDED_VERSION}"


def shipped_root() -> Path:
    """Folder of the embedded models shipped inside the package."""
    return Path(__file__).parent / "resources" / "tiny"


def model_dir(name: str) -> Path:
    """Return the folder of embedded model ``name``, building the models once if needed."""
    if name not in EMBEDDED_MODELS:
        raise ModelLoadError(f"unknown embedded model {name!r}; use one of {', '.join('embedded:' + m for m in EMBEDDED_MODELS)}")
    for root in (shipped_root(), cache_root()):
        if (root / name / "config.json").is_file():
            return root / name
    logger.warning("embedded tiny models not found; building them once into %s (a few minutes on a CPU)", cache_root())
    build_embedded_models(cache_root())
    return cache_root() / name


def build_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<think>", "</think>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_model_config(vocab_size: int, layers: int, hidden_size: int, tokenizer: Any) -> Any:
    """Build a Qwen3 config of a tiny model, with the embedding rows padded to a multiple of 64 as Qwen3 pads them."""
    from transformers import Qwen3Config

    padded_vocab = int(math.ceil(vocab_size / 64) * 64)
    return Qwen3Config(
        vocab_size=padded_vocab,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 3,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=1024,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )


def restating_examples(samples: Sequence[Any], tokenizer: Any, recipe: TinyRecipe) -> list[tuple[list[int], int]]:
    """Build (token ids, prompt length) pairs: teacher prompt with K and Q, then the start of K."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    examples = []
    for sample in samples:
        knowledge_ids = tokenizer(sample.knowledge, add_special_tokens=False)["input_ids"]
        examples.append(_restating_example(sample.query, knowledge_ids, tokenizer, recipe, end))
    return examples


def shuffled_knowledge_examples(
    samples: Sequence[Any], tokenizer: Any, recipe: TinyRecipe, count: int
) -> list[tuple[list[int], int]]:
    """Build restating examples whose knowledge is a string of random words with a random query.

    Random words carry no pattern a model could predict without reading them, so the only way
    to lower the loss on these answers is to copy from the context (an induction circuit).
    """
    generator = random.Random(recipe.seed + 1)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    vocabulary = sorted({word for sample in samples for word in sample.knowledge.split()})
    examples = []
    for _ in range(count):
        text = " ".join(generator.choice(vocabulary) for _ in range(recipe.knowledge_tokens))
        knowledge_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        query = samples[generator.randrange(len(samples))].query
        examples.append(_restating_example(query, knowledge_ids, tokenizer, recipe, end))
    return examples


def _restating_example(query: str, knowledge_ids: list[int], tokenizer: Any, recipe: TinyRecipe, end: int) -> tuple[list[int], int]:
    from cultural_env.prompts import render_prompt_ids, teacher_messages

    prompt_config = recipe.prompt_config()
    knowledge = tokenizer.decode(knowledge_ids[: recipe.knowledge_tokens])
    prompt = render_prompt_ids(tokenizer, teacher_messages(query, knowledge, prompt_config), prompt_config)
    answer = tokenizer(knowledge, add_special_tokens=False)["input_ids"][: recipe.answer_tokens]
    return prompt + answer + [end], len(prompt)


def pretrain(
    model: torch.nn.Module,
    examples: list[tuple[list[int], int]],
    steps: int,
    recipe: TinyRecipe,
    pad_id: int,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Train ``model`` on the answer tokens of ``examples``; return the final smoothed loss."""
    generator = random.Random(recipe.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    )
    model.train()
    smoothed = float("nan")
    for step in range(steps):
        batch = [examples[generator.randrange(len(examples))] for _ in range(recipe.batch_size)]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)  # (B, T)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (ids, prompt_length) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
        attention_mask = (labels != -100) | (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _ in batch])[:, None])
        loss = model(input_ids=input_ids, attention_mask=attention_mask.long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        smoothed = value if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * value
        if progress is not None:
            progress(step, smoothed)
    model.eval()
    return smoothed


def build_embedded_models(output_dir: str | os.PathLike, recipe: TinyRecipe | None = None) -> dict[str, Any]:
    """Build the tokenizer and both tiny models into ``output_dir``; return build statistics.

    The teacher and student are trained only on the training split of both languages, so the
    validation items stay held out. The folder is written atomically: a temporary folder beside
    it is renamed into place.
    """
    from transformers import Qwen3ForCausalLM

    from cultural_env.data import load_cultural_dataset, split_dataset

    recipe = recipe or TinyRecipe()
    output_dir = Path(output_dir)
    started = time.perf_counter()
    torch.manual_seed(recipe.seed)

    datasets = {language: load_cultural_dataset(language) for language in ("en", "ko")}
    texts = [text for samples in datasets.values() for sample in samples for text in (sample.query, sample.knowledge)]
    tokenizer = build_tokenizer(texts, recipe.vocab_size)
    train_samples = [sample for samples in datasets.values() for sample in split_dataset(samples)[0]]
    examples = restating_examples(train_samples, tokenizer, recipe)
    examples += shuffled_knowledge_examples(train_samples, tokenizer, recipe, recipe.shuffled_examples)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=output_dir.parent))
    stats: dict[str, Any] = {"version": EMBEDDED_VERSION, "recipe": recipe.__dict__, "vocab": len(tokenizer)}
    for name, layers, steps in (
        ("tiny-teacher", recipe.teacher_layers, recipe.teacher_steps),
        ("tiny-student", recipe.student_layers, recipe.student_steps),
    ):
        model = Qwen3ForCausalLM(tiny_model_config(len(tokenizer), layers, recipe.hidden_size, tokenizer))
        model_started = time.perf_counter()

        def report(step: int, loss: float, name: str = name, steps: int = steps) -> None:
            if step % 100 == 0 or step == steps - 1:
                logger.info("pre-training %s: step %d/%d, loss %.3f", name, step + 1, steps, loss)

        final_loss = pretrain(model, examples, steps, recipe, tokenizer.pad_token_id, report)
        model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(staging / name)
        tokenizer.save_pretrained(staging / name)
        stats[name] = {
            "layers": layers,
            "parameters": sum(p.numel() for p in model.parameters()),
            "steps": steps,
            "final_loss": round(final_loss, 4),
            "seconds": round(time.perf_counter() - model_started, 1),
        }
    stats["seconds"] = round(time.perf_counter() - started, 1)
    (staging / "build.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    logger.info("embedded models written to %s in %.0f s", output_dir, stats["seconds"])
    return stats
