"""Loading of models and tokenizers by hub id, local path or live object, and their checks.

Names starting with ``embedded:`` refer to the project's own tiny models (see
:mod:`cultural_env.embedded`), which are built locally and never downloaded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from cultural_env.errors import ConfigError, ModelLoadError

logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str, role: str = "student") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... into a device, checking it exists.

    ``"auto"`` is the CPU without CUDA. With CUDA, the student gets ``cuda:0``; the teacher gets
    the last GPU when there are two or more, so teacher and student sit on their own devices.
    """
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        count = torch.cuda.device_count()
        return torch.device(f"cuda:{count - 1}" if role == "teacher" and count > 1 else "cuda:0")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"invalid device {name!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    return device


def resolve_dtype(name: str) -> torch.dtype:
    """Map a dtype name of the config to a torch dtype."""
    if name not in DTYPES:
        raise ConfigError(f"invalid dtype {name!r}; use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def resolve_model_path(name: str | os.PathLike) -> str:
    """Return a loadable path or hub id for ``name``, checking local paths before any loading.

    ``embedded:NAME`` maps to the embedded tiny models. A name that looks like a path (it exists,
    starts with ``.``, ``/`` or ``~``, or has more than one ``/``) must be a folder with a
    ``config.json``.
    """
    name = os.fspath(name)
    if name.startswith(EMBEDDED_PREFIX):
        from cultural_env import embedded

        return str(embedded.model_dir(name[len(EMBEDDED_PREFIX):]))
    path = Path(name).expanduser()
    looks_like_path = path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
    if not looks_like_path:
        return name
    if not path.exists():
        raise ModelLoadError(f"model path not found: {name}; pass a folder saved with save_pretrained or a hub id such as Qwen/Qwen3-4B")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelLoadError(f"not a model folder: {name} has no config.json; pass a folder saved with save_pretrained")
    return str(path)


def load_tokenizer(source: Any, trust_remote_code: bool = False) -> Any:
    """Load a tokenizer from an id or path, or return a tokenizer object unchanged."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    from transformers import AutoTokenizer

    path = resolve_model_path(source)
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"could not load a tokenizer from {source!r}: {error}") from None


def load_causal_lm(
    source: Any,
    *,
    device: str = "auto",
    role: str = "student",
    dtype: str = "float32",
    device_map: Any = None,
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
) -> torch.nn.Module:
    """Load a causal LM from an id or path onto ``device`` (or across a ``device_map``).

    A model object is returned as is, without moving it. Weights load from safetensors only.
    With ``attn_implementation`` None, a grouped-query model on CPU gets
    :data:`~cultural_env.attention.GROUPED_SDPA` and any other keeps transformers' default.
    """
    if not isinstance(source, (str, os.PathLike)):
        return source
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(source)
    options: dict[str, Any] = {"dtype": resolve_dtype(dtype), "trust_remote_code": trust_remote_code, "use_safetensors": True}
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    if device_map is not None:
        options["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **options)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"could not load a causal language model from {source!r}: {error}") from None
    if device_map is None:
        model = model.to(resolve_device(device, role))
    if attn_implementation is None:
        from cultural_env.attention import use_default_attention

        use_default_attention(model)
    logger.info("loaded %s (%.1fM parameters)", source, sum(p.numel() for p in model.parameters()) / 1e6)
    return model


def check_tokenizers_match(teacher_tokenizer: Any, student_tokenizer: Any) -> None:
    """Raise :class:`ModelLoadError` unless teacher and student share vocabulary and chat template.

    Token-level distillation compares the two models' distributions id by id, so the ids must
    mean the same strings, and the prompts must be rendered by the same template.
    """
    if teacher_tokenizer is student_tokenizer:
        return
    if len(teacher_tokenizer) != len(student_tokenizer) or teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab():
        raise ModelLoadError(
            f"teacher and student vocabularies differ ({len(teacher_tokenizer)} vs {len(student_tokenizer)} tokens); "
            "token-level distillation needs one shared tokenizer, so pick a student from the teacher's model family"
        )
    if getattr(teacher_tokenizer, "chat_template", None) != getattr(student_tokenizer, "chat_template", None):
        raise ModelLoadError(
            "teacher and student chat templates differ, so their prompts would not line up; "
            "set the same chat_template on both tokenizers or use models of one family"
        )


def stop_token_ids(tokenizer: Any, model: torch.nn.Module | None = None) -> frozenset[int]:
    """Return the ids that end a response: the tokenizer's EOS, ``<|im_end|>`` and the model's EOS ids."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    for token in ("<|im_end|>", "<|endoftext|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            ids.add(token_id)
    generation_config = getattr(model, "generation_config", None)
    configured = getattr(generation_config, "eos_token_id", None)
    if configured is not None:
        ids.update([configured] if isinstance(configured, int) else configured)
    if not ids:
        raise ModelLoadError("the tokenizer defines no EOS token, so episodes could never terminate; set tokenizer.eos_token")
    return frozenset(ids)
