"""Cultural (query, knowledge) records: loading, validation, split, category filter, statistics.

A record is one JSON object with the fields ``id``, ``category`` (one of :data:`CATEGORIES`),
``query`` (the question the student sees), ``knowledge`` (the paragraph that only the teacher
sees) and optionally ``sources`` (a list of strings). Other fields are kept in
:attr:`CulturalSample.extra` and otherwise ignored. A file is either JSONL (one object per line)
or a JSON array of objects, in UTF-8 with or without a byte order mark, with LF or CRLF line
ends. All text is normalised to Unicode NFC, so Hangul typed as decomposed jamo (NFD) compares
equal to the precomposed syllables.

Every problem raises :class:`~cultural_env.errors.DatasetError` with one line that names the
file, the record (numbered from 1, with its line in JSONL files and its id when known), the
field, and what to do.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import random
import statistics
import types
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cultural_env.errors import ConfigError, DatasetError

logger = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = ("tradition", "history", "food", "geography", "modern")
"""Categories of the cultural dataset: tradition/etiquette, history/people, food/fermentation,
geography/regions and modern culture."""

GENERAL_CATEGORY = "general"
"""Category of general-domain prompts, which have no knowledge paragraph."""

LANGUAGES: tuple[str, ...] = ("ko", "en")
"""Languages of the packaged dataset, which has the same ids in each."""

PACKAGED_FILE_TEMPLATE = "korean_culture.{language}.jsonl"
"""Name of the packaged dataset file in ``cultural_env/resources`` for a language."""

_CULTURAL_FIELDS = ("id", "category", "query", "knowledge", "sources")
_GENERAL_FIELDS = ("id", "query")
_FIELD_HINTS = {
    "id": "give the record a unique id such as 'food_001'",
    "category": f"set it to one of: {', '.join(CATEGORIES)}",
    "query": "write the question that the student sees",
    "knowledge": "write the knowledge paragraph",
}


@dataclass(frozen=True)
class CulturalSample:
    """One training item: a query for the student, and the privileged knowledge for the teacher."""

    id: str
    """Unique id within the dataset, such as ``food_004``."""
    category: str
    """One of :data:`CATEGORIES`, or :data:`GENERAL_CATEGORY` for general-domain prompts."""
    query: str
    """The question that both the student and the teacher see."""
    knowledge: str | None
    """The background paragraph that only the teacher sees. None for general-domain prompts,
    whose teacher input is then the same as the student's."""
    sources: tuple[str, ...] = ()
    """URLs or citations of the sources of the knowledge paragraph."""
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Fields of the record that this module does not use (such as ``word_count``), read-only."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "extra", types.MappingProxyType(dict(self.extra)))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled, so pickle and deepcopy (which Gymnasium applies to
        # registered kwargs) rebuild the sample from a plain dict.
        return (type(self), (self.id, self.category, self.query, self.knowledge, self.sources, dict(self.extra)))


@dataclass(frozen=True)
class _RawRecord:
    """A parsed JSON value from a dataset file, before validation."""

    number: int
    """Position in the file, counted from 1."""
    line: int | None
    """Line of the record in a JSONL file; None in a JSON array."""
    value: Any


class _RecordLocation:
    """A record's place in its file, which every message about the record starts with."""

    def __init__(self, file_name: str, record: _RawRecord) -> None:
        self.file_name = file_name
        self.record = record
        self.record_id: str | None = None

    def error(self, message: str) -> DatasetError:
        """Return a DatasetError for this record, for the caller to raise."""
        details = [f"line {self.record.line}"] if self.record.line is not None else []
        if self.record_id is not None:
            details.append(f"id {self.record_id!r}")
        where = f"record {self.record.number}" + (f" ({', '.join(details)})" if details else "")
        return DatasetError(f"invalid dataset file {self.file_name}: {where}: {message}")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def load_cultural_dataset(
    language: str = "ko",
    *,
    path: str | os.PathLike[str] | None = None,
    categories: Sequence[str] | None = None,
) -> list[CulturalSample]:
    """Load and validate a cultural dataset, in file order.

    Args:
        language: which packaged dataset to load, ``"ko"`` or ``"en"``. Not used when ``path``
            is given.
        path: a JSONL or JSON-array file to load instead of the packaged dataset.
        categories: keep only these categories (see :func:`filter_categories`); None keeps all.

    Raises:
        ConfigError: an unknown language or category.
        DatasetError: a missing, unreadable or invalid file.
    """
    if path is None:
        file_name, data = _read_packaged_file(language)
    else:
        file_name, data = _read_file(path)
    samples = _parse_cultural_records(file_name, _parse_records(file_name, data))
    logger.debug("loaded %d cultural samples from %s", len(samples), file_name)

    if categories is not None:
        samples = filter_categories(samples, categories)
    return samples


def load_general_prompts(path: str | os.PathLike[str]) -> list[CulturalSample]:
    """Load general-domain prompts from a JSONL or JSON-array file, in file order.

    Each record needs a ``query``. Its ``id`` is optional and defaults to ``general_0001``,
    ``general_0002``, … by record number. Every other field, ``knowledge`` and ``category``
    included, goes to :attr:`CulturalSample.extra`: the samples get category
    :data:`GENERAL_CATEGORY` and no knowledge, so the teacher sees the student's prompt.

    Raises:
        DatasetError: a missing, unreadable or invalid file.
    """
    file_name, data = _read_file(path)
    records = _parse_records(file_name, data)
    id_width = max(4, len(str(len(records))))
    samples = []
    seen_ids: dict[str, int] = {}
    for record in records:
        location = _RecordLocation(file_name, record)
        value = _require_object(record.value, location, ("query",))
        if "id" in value:
            record_id = _read_text(value, "id", location)
        else:
            record_id = f"general_{record.number:0{id_width}d}"
        if record_id in seen_ids:
            raise location.error(
                f"id {record_id!r} is also the id of record {seen_ids[record_id]} "
                f"(records without an id get general_<record number>); give each record a unique id"
            )
        seen_ids[record_id] = record.number
        samples.append(
            CulturalSample(
                id=record_id,
                category=GENERAL_CATEGORY,
                query=_read_text(value, "query", location),
                knowledge=None,
                extra=_extra_fields(value, _GENERAL_FIELDS),
            )
        )
    logger.debug("loaded %d general prompts from %s", len(samples), file_name)
    return samples


def filter_categories(samples: Iterable[CulturalSample], categories: Sequence[str] | str) -> list[CulturalSample]:
    """Return the samples whose category is in ``categories``, in their original order.

    ``categories`` may name :data:`CATEGORIES` and :data:`GENERAL_CATEGORY`; a single string is
    one category.

    Raises:
        ConfigError: an empty list or an unknown category.
    """
    requested = [categories] if isinstance(categories, str) else list(categories)
    if not requested:
        raise ConfigError("categories is empty; name at least one category, or pass None to keep all of them")
    allowed = (*CATEGORIES, GENERAL_CATEGORY)
    for category in requested:
        if category not in allowed:
            raise ConfigError(f"unknown category {category!r}; use one of: {', '.join(allowed)}{_did_you_mean(category, allowed)}")

    kept = [sample for sample in samples if sample.category in requested]
    if not kept:
        logger.warning("no samples left after keeping only categories %s", ", ".join(requested))
    return kept


def split_dataset(
    samples: Iterable[CulturalSample],
    validation_fraction: float = 0.1,
    seed: int = 42,
) -> tuple[list[CulturalSample], list[CulturalSample]]:
    """Split samples into (train, validation), the same way for the same ids, fraction and seed.

    The samples are sorted by id and then shuffled with ``random.Random(seed)``, so the split
    does not depend on the input order. The validation part gets ``ceil(n * fraction)``
    samples (20 of 200 at 0.1), like scikit-learn's ``train_test_split``.

    Raises:
        ConfigError: a fraction outside [0, 1), or one that leaves no training sample.
        DatasetError: two samples with the same id, whose order would then be arbitrary.
    """
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)):
        raise ConfigError(f"validation_fraction must be a number in [0, 1), got {validation_fraction!r}")
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigError(f"validation_fraction {validation_fraction} is outside [0, 1); use for example 0.1 for 10%")

    ordered = sorted(samples, key=lambda sample: sample.id)
    for previous, current in zip(ordered, ordered[1:]):
        if previous.id == current.id:
            raise DatasetError(f"cannot split samples: id {current.id!r} appears more than once; give each sample a unique id")

    # The small tolerance keeps products such as 0.3 * 10 = 3.0000000000000004 from rounding up.
    validation_size = math.ceil(len(ordered) * validation_fraction - 1e-9)
    if ordered and validation_size >= len(ordered):
        largest = math.floor((len(ordered) - 1) / len(ordered) * 100) / 100  # leaves one training sample, rounded down
        fix = f"set it to at most {largest:g}" if largest > 0 else "set it to 0, which keeps no validation samples,"
        raise ConfigError(f"validation_fraction {validation_fraction} puts all {len(ordered)} samples in validation; {fix} or add samples")

    random.Random(seed).shuffle(ordered)
    return ordered[validation_size:], ordered[:validation_size]


def dataset_statistics(samples: Sequence[CulturalSample], *, histogram_bins: int = 10) -> dict[str, Any]:
    """Count samples per category and summarise query and knowledge lengths in characters.

    Returns a dict with:

    - ``num_samples``: the number of samples.
    - ``categories``: samples per category, :data:`CATEGORIES` first in their order, then any
      other category (such as ``general``) in sorted order. Dataset categories with no sample
      count 0.
    - ``query_chars`` and ``knowledge_chars``: ``{"min", "mean", "max"}`` of the lengths in
      Unicode code points (after NFC), or None when no sample has that text.
    - ``num_without_knowledge``: samples whose knowledge is None (general-domain prompts).
    - ``knowledge_histogram``: ``{"edges": [...], "counts": [...]}`` with ``histogram_bins``
      equal-width bins between the shortest and longest knowledge; ``len(edges)`` is
      ``len(counts) + 1``. Both lists are empty when no sample has knowledge.
    """
    if histogram_bins < 1:
        raise ConfigError(f"histogram_bins must be at least 1, got {histogram_bins}")

    counts = Counter(sample.category for sample in samples)
    others = sorted(set(counts) - set(CATEGORIES))
    query_lengths = [len(sample.query) for sample in samples]
    knowledge_lengths = [len(sample.knowledge) for sample in samples if sample.knowledge is not None]

    histogram: dict[str, list[Any]] = {"edges": [], "counts": []}
    if knowledge_lengths:
        bin_counts, edges = np.histogram(knowledge_lengths, bins=histogram_bins)
        histogram = {"edges": [float(edge) for edge in edges], "counts": [int(count) for count in bin_counts]}

    return {
        "num_samples": len(samples),
        "categories": {category: counts.get(category, 0) for category in (*CATEGORIES, *others)},
        "query_chars": _summarise_lengths(query_lengths),
        "knowledge_chars": _summarise_lengths(knowledge_lengths),
        "num_without_knowledge": len(samples) - len(knowledge_lengths),
        "knowledge_histogram": histogram,
    }


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------


def _read_packaged_file(language: str) -> tuple[str, bytes]:
    if language not in LANGUAGES:
        raise ConfigError(f"unknown dataset language {language!r}; use one of: {', '.join(LANGUAGES)}")

    file_name = PACKAGED_FILE_TEMPLATE.format(language=language)
    resource = resources.files("cultural_env").joinpath("resources").joinpath(file_name)
    try:
        return file_name, resource.read_bytes()
    except FileNotFoundError:
        raise DatasetError(
            f"packaged dataset {file_name} is missing from cultural_env/resources; "
            "reinstall cultural-kd, or pass path= to load a dataset file"
        ) from None


def _read_file(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    file_name = os.fspath(path)
    try:
        return file_name, Path(path).read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"dataset file not found: {file_name}; check the path") from None
    except IsADirectoryError:
        raise DatasetError(f"dataset path {file_name} is a directory; pass a .jsonl or .json file") from None
    except OSError as error:
        raise DatasetError(f"cannot read dataset file {file_name}: {error.strerror or error}") from None


def _decode(file_name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"invalid dataset file {file_name}: not valid UTF-8 at line {line} (byte {error.start}); save the file as UTF-8"
        ) from None


def _parse_records(file_name: str, data: bytes) -> list[_RawRecord]:
    """Parse a JSON array or JSONL file into raw records, rejecting empty files and other top-level values."""
    text = _decode(file_name, data)
    stripped = text.strip()
    if not stripped:
        raise DatasetError(f"invalid dataset file {file_name}: no records found; write one JSON object per line (JSONL) or a JSON array of objects")

    if stripped.startswith("["):
        records = _parse_json_array(file_name, text)
    else:
        _reject_non_jsonl_document(file_name, text)
        records = _parse_jsonl(file_name, text)

    if not records:
        raise DatasetError(f"invalid dataset file {file_name}: no records found; add at least one record")
    return records


def _parse_json_array(file_name: str, text: str) -> list[_RawRecord]:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"invalid dataset file {file_name}: not valid JSON at line {error.lineno} column {error.colno} ({error.msg}); fix the JSON syntax"
        ) from None
    return [_RawRecord(number=index + 1, line=None, value=value) for index, value in enumerate(values)]


def _reject_non_jsonl_document(file_name: str, text: str) -> None:
    """Raise if the file is one JSON document other than a one-line JSONL record.

    A pretty-printed object, a scalar, or any object in a ``.json`` file is a wrong top-level
    type. A JSONL file with several lines is not one JSON document, so it passes.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return
    is_one_line_object = isinstance(document, dict) and len(text.strip().splitlines()) == 1
    if is_one_line_object and not file_name.lower().endswith(".json"):
        return
    raise DatasetError(
        f"invalid dataset file {file_name}: the top-level JSON value is {_json_type_name(document)}; "
        "write a JSON array of record objects, or JSONL with one object per line"
    )


def _parse_jsonl(file_name: str, text: str) -> list[_RawRecord]:
    # Split on "\n" only: str.splitlines would also split at U+2028 and U+0085, which JSON
    # allows unescaped inside strings.
    records = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(
                f"invalid dataset file {file_name}: line {line_number} is not valid JSON ({error.msg} at column {error.colno}); "
                "write one JSON object per line"
            ) from None
        records.append(_RawRecord(number=len(records) + 1, line=line_number, value=value))
    return records


# ---------------------------------------------------------------------------------------------
# Validating records
# ---------------------------------------------------------------------------------------------


def _parse_cultural_records(file_name: str, records: list[_RawRecord]) -> list[CulturalSample]:
    samples = []
    seen_ids: dict[str, int] = {}
    for record in records:
        location = _RecordLocation(file_name, record)
        value = _require_object(record.value, location, ("id", "category", "query", "knowledge"))
        location.record_id = _read_text(value, "id", location)
        _check_unique_id(location.record_id, record.number, seen_ids, location)
        samples.append(
            CulturalSample(
                id=location.record_id,
                category=_read_category(value, location),
                query=_read_text(value, "query", location),
                knowledge=_read_text(value, "knowledge", location),
                sources=_read_sources(value, location),
                extra=_extra_fields(value, _CULTURAL_FIELDS),
            )
        )
    return samples


def _require_object(value: Any, location: _RecordLocation, required_fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise location.error(f"is {_json_type_name(value)}; write a JSON object with the fields {', '.join(required_fields)}")
    # Read the id first so that later messages name it, when it is a usable string.
    record_id = value.get("id")
    if isinstance(record_id, str) and record_id.strip():
        location.record_id = _normalise(record_id).strip()
    for name in required_fields:
        if name not in value:
            raise location.error(f"field {name!r} is missing; {_FIELD_HINTS[name]}")
    return value


def _read_text(value: Mapping[str, Any], name: str, location: _RecordLocation) -> str:
    """Return the field as NFC text without surrounding whitespace, or raise if it is not a non-empty string."""
    text = value[name]
    if not isinstance(text, str):
        raise location.error(f"field {name!r} must be a string, not {_json_type_name(text)}; write it as a JSON string")
    text = _normalise(text).strip()
    if not text:
        hint = _FIELD_HINTS[name]
        raise location.error(f"field {name!r} is empty; {hint} or remove the record")
    return text


def _read_category(value: Mapping[str, Any], location: _RecordLocation) -> str:
    category = _read_text(value, "category", location)
    if category not in CATEGORIES:
        raise location.error(
            f"field 'category' has unknown value {category!r}; use one of: {', '.join(CATEGORIES)}{_did_you_mean(category, CATEGORIES)}"
        )
    return category


def _read_sources(value: Mapping[str, Any], location: _RecordLocation) -> tuple[str, ...]:
    sources = value.get("sources", [])
    if not isinstance(sources, list):
        raise location.error(
            f"field 'sources' must be a list of strings, not {_json_type_name(sources)}; write [\"...\"] or leave the field out"
        )
    result = []
    for position, source in enumerate(sources, start=1):
        if not isinstance(source, str) or not source.strip():
            problem = "is empty" if isinstance(source, str) else f"is {_json_type_name(source)}"
            raise location.error(f"field 'sources' item {position} {problem}; write each source as a non-empty string")
        result.append(_normalise(source).strip())
    return tuple(result)


def _check_unique_id(record_id: str, number: int, seen_ids: dict[str, int], location: _RecordLocation) -> None:
    if record_id in seen_ids:
        raise location.error(f"field 'id' repeats the id of record {seen_ids[record_id]}; give each record a unique id")
    seen_ids[record_id] = number


def _extra_fields(value: Mapping[str, Any], known_fields: Sequence[str]) -> dict[str, Any]:
    return {_normalise(key): _normalise(item) for key, item in value.items() if key not in known_fields}


def _normalise(value: Any) -> Any:
    """Return the JSON value with every string, keys included, in Unicode NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {_normalise(key): _normalise(item) for key, item in value.items()}
    return value


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _did_you_mean(value: str, allowed: Sequence[str]) -> str:
    matches = difflib.get_close_matches(value.lower(), allowed, n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _summarise_lengths(lengths: Sequence[int]) -> dict[str, float] | None:
    if not lengths:
        return None
    return {"min": min(lengths), "mean": statistics.fmean(lengths), "max": max(lengths)}
