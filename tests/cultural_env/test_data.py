"""Tests of cultural_env.data: loading, validation errors, normalisation, split, filter, statistics."""

from __future__ import annotations

import copy
import json
import pickle
import random
import unicodedata
from importlib import resources
from pathlib import Path

import pytest

from cultural_env.data import (
    CATEGORIES,
    GENERAL_CATEGORY,
    CulturalSample,
    dataset_statistics,
    filter_categories,
    load_cultural_dataset,
    load_general_prompts,
    split_dataset,
)
from cultural_env.errors import ConfigError, DatasetError


def make_record(record_id: str = "food_001", category: str = "food", **fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": record_id,
        "category": category,
        "query": f"What is {record_id}?",
        "knowledge": f"Background paragraph about {record_id}.",
        "sources": ["https://example.org/source"],
    }
    record.update(fields)
    return record


def make_records(count_per_category: int = 2) -> list[dict[str, object]]:
    return [
        make_record(f"{category}_{number:03d}", category)
        for category in CATEGORIES
        for number in range(1, count_per_category + 1)
    ]


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(record, ensure_ascii=False) for record in records) + "\n", encoding="utf-8")
    return path


def make_samples(count: int) -> list[CulturalSample]:
    return [
        CulturalSample(id=f"food_{number:03d}", category="food", query=f"q{number}", knowledge=f"k{number}")
        for number in range(count)
    ]


def packaged_file_exists(language: str) -> bool:
    return resources.files("cultural_env").joinpath("resources").joinpath(f"korean_culture.{language}.jsonl").is_file()


# ---------------------------------------------------------------------------------------------
# Loading valid files
# ---------------------------------------------------------------------------------------------


def test_load_jsonl_returns_samples(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", make_records())

    samples = load_cultural_dataset(path=path)

    assert len(samples) == 10
    assert samples[0] == CulturalSample(
        id="tradition_001",
        category="tradition",
        query="What is tradition_001?",
        knowledge="Background paragraph about tradition_001.",
        sources=("https://example.org/source",),
    )
    assert [sample.id for sample in samples] == [record["id"] for record in make_records()]


def test_load_json_array_equals_jsonl(tmp_path: Path) -> None:
    records = make_records()
    jsonl_path = write_jsonl(tmp_path / "data.jsonl", records)
    array_path = tmp_path / "data.json"
    array_path.write_text(json.dumps(records, indent=2), encoding="utf-8")

    assert load_cultural_dataset(path=array_path) == load_cultural_dataset(path=jsonl_path)


def test_load_accepts_str_path(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", make_records())

    assert load_cultural_dataset(path=str(path)) == load_cultural_dataset(path=path)


def test_load_accepts_bom_and_crlf(tmp_path: Path) -> None:
    records = make_records()
    plain_path = write_jsonl(tmp_path / "plain.jsonl", records)
    windows_path = tmp_path / "windows.jsonl"
    windows_text = "\r\n".join(json.dumps(record, ensure_ascii=False) for record in records) + "\r\n"
    windows_path.write_bytes(b"\xef\xbb\xbf" + windows_text.encode("utf-8"))

    assert load_cultural_dataset(path=windows_path) == load_cultural_dataset(path=plain_path)


def test_load_json_array_with_bom_and_crlf(tmp_path: Path) -> None:
    records = make_records()
    path = tmp_path / "data.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(records, indent=2).replace("\n", "\r\n").encode("utf-8"))

    samples = load_cultural_dataset(path=path)

    assert len(samples) == len(records)


def test_load_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(record) for record in make_records(1)]
    path.write_text("\n\n".join(lines) + "\n\n  \n", encoding="utf-8")

    assert len(load_cultural_dataset(path=path)) == 5


def test_load_normalises_nfd_to_nfc(tmp_path: Path) -> None:
    nfc_query = "홍동백서는 무엇인가?"
    nfc_knowledge = "제사상에 붉은 과일은 동쪽, 흰 과일은 서쪽에 놓는다."
    record = make_record(
        unicodedata.normalize("NFD", "음식_001"),
        query=unicodedata.normalize("NFD", nfc_query),
        knowledge=unicodedata.normalize("NFD", nfc_knowledge),
        sources=[unicodedata.normalize("NFD", "한국민족문화대백과사전")],
        note=unicodedata.normalize("NFD", "메모"),
    )
    assert record["query"] != nfc_query
    path = write_jsonl(tmp_path / "data.jsonl", [record])

    (sample,) = load_cultural_dataset(path=path)

    assert sample.id == "음식_001"
    assert sample.query == nfc_query
    assert sample.knowledge == nfc_knowledge
    assert sample.sources == ("한국민족문화대백과사전",)
    assert sample.extra["note"] == "메모"


def test_load_strips_surrounding_whitespace(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [make_record(" food_001 ", query="  Why?\n", knowledge="\tBecause. ")])

    (sample,) = load_cultural_dataset(path=path)

    assert sample.id == "food_001"
    assert sample.query == "Why?"
    assert sample.knowledge == "Because."


def test_load_keeps_extra_fields(tmp_path: Path) -> None:
    record = make_record(word_count=312, weakness_addressed="invented meanings", tags=["a", "b"])
    path = write_jsonl(tmp_path / "data.jsonl", [record])

    (sample,) = load_cultural_dataset(path=path)

    assert dict(sample.extra) == {"word_count": 312, "weakness_addressed": "invented meanings", "tags": ["a", "b"]}
    with pytest.raises(TypeError):
        sample.extra["word_count"] = 0  # type: ignore[index]


def test_load_without_sources_gives_empty_tuple(tmp_path: Path) -> None:
    record = make_record()
    del record["sources"]
    path = write_jsonl(tmp_path / "data.jsonl", [record])

    (sample,) = load_cultural_dataset(path=path)

    assert sample.sources == ()


def test_load_filters_categories(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", make_records())

    samples = load_cultural_dataset(path=path, categories=["food", "modern"])

    assert [sample.id for sample in samples] == ["food_001", "food_002", "modern_001", "modern_002"]


def test_sample_survives_pickle_and_deepcopy() -> None:
    sample = CulturalSample(id="a", category="food", query="q", knowledge="k", sources=("s",), extra={"tags": ["x"]})

    assert pickle.loads(pickle.dumps(sample)) == sample
    assert copy.deepcopy(sample) == sample


def test_sample_is_hashable_and_frozen() -> None:
    sample = CulturalSample(id="a", category="food", query="q", knowledge="k", extra={"x": 1})

    assert hash(sample) == hash(CulturalSample(id="a", category="food", query="q", knowledge="k", extra={"x": 1}))
    with pytest.raises(AttributeError):
        sample.query = "other"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Invalid records: one case per error, with the parts of the message a user acts on
# ---------------------------------------------------------------------------------------------

# A Hangul id, so that the NFD copy of it in one case must be caught as a duplicate.
FIRST_RECORD_ID = "음식_001"

RECORD_ERROR_CASES = {
    "missing id": (
        {"category": "food", "query": "q", "knowledge": "k"},
        ["record 2 (line 2)", "field 'id' is missing", "unique id"],
    ),
    "missing category": (
        {"id": "food_002", "query": "q", "knowledge": "k"},
        ["record 2 (line 2, id 'food_002')", "field 'category' is missing", "tradition, history, food, geography, modern"],
    ),
    "missing query": (
        {"id": "food_002", "category": "food", "knowledge": "k"},
        ["record 2 (line 2, id 'food_002')", "field 'query' is missing", "write the question"],
    ),
    "missing knowledge": (
        {"id": "food_002", "category": "food", "query": "q"},
        ["record 2 (line 2, id 'food_002')", "field 'knowledge' is missing", "write the knowledge paragraph"],
    ),
    "empty knowledge": (
        make_record("food_002", knowledge=" \n\t "),
        ["record 2 (line 2, id 'food_002')", "field 'knowledge' is empty", "write the knowledge paragraph or remove the record"],
    ),
    "empty query": (
        make_record("food_002", query=""),
        ["field 'query' is empty", "or remove the record"],
    ),
    "empty id": (
        make_record("   "),
        ["record 2 (line 2)", "field 'id' is empty"],
    ),
    "query not a string": (
        make_record("food_002", query=42),
        ["id 'food_002'", "field 'query' must be a string, not a number"],
    ),
    "knowledge null": (
        make_record("food_002", knowledge=None),
        ["field 'knowledge' must be a string, not null"],
    ),
    "id not a string": (
        make_record(7),
        ["record 2 (line 2)", "field 'id' must be a string, not a number"],
    ),
    "category not a string": (
        make_record("food_002", category=["food"]),
        ["field 'category' must be a string, not an array"],
    ),
    "unknown category": (
        make_record("food_002", category="foods"),
        ["field 'category' has unknown value 'foods'", "use one of: tradition, history, food, geography, modern", "did you mean 'food'?"],
    ),
    "general category in cultural file": (
        make_record("food_002", category="general"),
        ["field 'category' has unknown value 'general'"],
    ),
    "duplicate id": (
        make_record(FIRST_RECORD_ID),
        [f"record 2 (line 2, id '{FIRST_RECORD_ID}')", "repeats the id of record 1", "unique id"],
    ),
    "duplicate id after NFC": (
        make_record(unicodedata.normalize("NFD", FIRST_RECORD_ID)),
        [f"record 2 (line 2, id '{FIRST_RECORD_ID}')", "repeats the id of record 1"],
    ),
    "sources not a list": (
        make_record("food_002", sources="https://example.org"),
        ["field 'sources' must be a list of strings, not a string"],
    ),
    "source not a string": (
        make_record("food_002", sources=["https://example.org", 3]),
        ["field 'sources' item 2 is a number"],
    ),
    "source empty": (
        make_record("food_002", sources=[""]),
        ["field 'sources' item 1 is empty"],
    ),
    "record not an object": (
        ["food_002", "food", "q", "k"],
        ["record 2 (line 2)", "is an array", "write a JSON object with the fields id, category, query, knowledge"],
    ),
}


@pytest.mark.parametrize("bad_record, expected_parts", RECORD_ERROR_CASES.values(), ids=RECORD_ERROR_CASES.keys())
def test_invalid_record_error_message(tmp_path: Path, bad_record: object, expected_parts: list[str]) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [make_record(FIRST_RECORD_ID), bad_record])

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    message = str(raised.value)
    assert message.startswith(f"invalid dataset file {path}: ")
    assert "\n" not in message
    for part in expected_parts:
        assert part in message


def test_invalid_record_in_json_array_has_no_line(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps([make_record("food_001"), make_record("food_002", knowledge="")], indent=2), encoding="utf-8")

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    assert "record 2 (id 'food_002'): field 'knowledge' is empty" in str(raised.value)


def test_record_line_counts_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(make_record("food_001")) + "\n\n" + json.dumps(make_record("food_002", query="")) + "\n", encoding="utf-8")

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    assert "record 2 (line 3, id 'food_002')" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Invalid files
# ---------------------------------------------------------------------------------------------


def test_invalid_json_line_names_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(make_record("food_001")) + "\n" + '{"id": "food_002", "category": "food",\n', encoding="utf-8")

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    message = str(raised.value)
    assert f"invalid dataset file {path}" in message
    assert "line 2 is not valid JSON" in message
    assert "write one JSON object per line" in message


def test_invalid_json_array_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('[\n  {"id": "food_001",\n   "category": "food" "query": "q"}\n]\n', encoding="utf-8")

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    message = str(raised.value)
    assert "not valid JSON at line 3 column 23" in message
    assert "Expecting ',' delimiter" in message


@pytest.mark.parametrize(
    "file_name, text, type_name",
    [
        ("data.json", json.dumps({"records": [make_record()]}), "an object"),
        ("data.jsonl", json.dumps({"records": [make_record()]}, indent=2), "an object"),
        ("data.jsonl", "42\n", "a number"),
        ("data.json", '"food_001"', "a string"),
    ],
    ids=["object in .json", "pretty-printed object", "number", "string"],
)
def test_wrong_top_level_type(tmp_path: Path, file_name: str, text: str, type_name: str) -> None:
    path = tmp_path / file_name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    message = str(raised.value)
    assert f"the top-level JSON value is {type_name}" in message
    assert "write a JSON array of record objects, or JSONL with one object per line" in message


def test_one_line_object_in_jsonl_is_a_record(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [make_record()])

    assert len(load_cultural_dataset(path=path)) == 1


@pytest.mark.parametrize("text", ["", "\n\n  \n", "[]", "\ufeff"], ids=["empty", "blank lines", "empty array", "only BOM"])
def test_file_without_records(tmp_path: Path, text: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(DatasetError, match="no records found"):
        load_cultural_dataset(path=path)


def test_not_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    first_line = json.dumps(make_record()).encode() + b"\n"
    korean_line = json.dumps(make_record("food_002", query="김치"), ensure_ascii=False).encode("cp949")
    path.write_bytes(first_line + korean_line)

    with pytest.raises(DatasetError) as raised:
        load_cultural_dataset(path=path)

    assert "not valid UTF-8 at line 2" in str(raised.value)
    assert "save the file as UTF-8" in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.jsonl"

    with pytest.raises(DatasetError, match=r"dataset file not found: .*missing\.jsonl; check the path"):
        load_cultural_dataset(path=path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is a directory"):
        load_cultural_dataset(path=tmp_path)


def test_unknown_language() -> None:
    with pytest.raises(ConfigError) as raised:
        load_cultural_dataset("jp")

    assert "unknown dataset language 'jp'" in str(raised.value)
    assert "use one of: ko, en" in str(raised.value)


def test_unknown_category_filter(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", make_records())

    with pytest.raises(ConfigError) as raised:
        load_cultural_dataset(path=path, categories=["histroy"])

    assert "unknown category 'histroy'" in str(raised.value)
    assert "did you mean 'history'?" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# General-domain prompts
# ---------------------------------------------------------------------------------------------


def test_general_prompts_defaults(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "general.jsonl", [{"query": "What is 2 + 2?"}, {"query": "Name a prime.", "id": "math_7", "source": "gsm"}])

    samples = load_general_prompts(path)

    assert samples[0] == CulturalSample(id="general_0001", category=GENERAL_CATEGORY, query="What is 2 + 2?", knowledge=None)
    assert samples[1].id == "math_7"
    assert samples[1].knowledge is None
    assert dict(samples[1].extra) == {"source": "gsm"}


def test_general_prompts_keep_knowledge_as_extra(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "general.jsonl", [{"query": "q", "knowledge": "k", "category": "math"}])

    (sample,) = load_general_prompts(path)

    assert sample.knowledge is None
    assert sample.category == GENERAL_CATEGORY
    assert dict(sample.extra) == {"knowledge": "k", "category": "math"}


def test_general_prompts_missing_query(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "general.jsonl", [{"query": "q"}, {"prompt": "p"}])

    with pytest.raises(DatasetError) as raised:
        load_general_prompts(path)

    assert "record 2 (line 2): field 'query' is missing" in str(raised.value)


def test_general_prompts_generated_id_collision(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "general.jsonl", [{"query": "q1", "id": "general_0002"}, {"query": "q2"}])

    with pytest.raises(DatasetError) as raised:
        load_general_prompts(path)

    assert "id 'general_0002' is also the id of record 1" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------------------------


def test_split_200_gives_180_and_20() -> None:
    train, validation = split_dataset(make_samples(200))

    assert len(train) == 180
    assert len(validation) == 20


def test_split_is_disjoint_and_complete() -> None:
    samples = make_samples(50)

    train, validation = split_dataset(samples, 0.2, seed=3)

    assert not {sample.id for sample in train} & {sample.id for sample in validation}
    assert sorted(train + validation, key=lambda sample: sample.id) == samples


def test_split_is_deterministic() -> None:
    samples = make_samples(50)

    assert split_dataset(samples, 0.2, seed=3) == split_dataset(samples, 0.2, seed=3)


def test_split_ignores_input_order() -> None:
    samples = make_samples(50)
    shuffled = samples[:]
    random.Random(0).shuffle(shuffled)

    assert split_dataset(shuffled, 0.2, seed=3) == split_dataset(samples, 0.2, seed=3)


def test_split_depends_on_seed() -> None:
    samples = make_samples(50)

    assert split_dataset(samples, 0.2, seed=1)[1] != split_dataset(samples, 0.2, seed=2)[1]


def test_split_zero_fraction_keeps_all_for_training() -> None:
    train, validation = split_dataset(make_samples(10), 0.0)

    assert len(train) == 10
    assert validation == []


def test_split_rounds_validation_up() -> None:
    _, validation = split_dataset(make_samples(10), 0.25)

    assert len(validation) == 3


def test_split_float_error_does_not_round_up() -> None:
    _, validation = split_dataset(make_samples(10), 0.3)

    assert len(validation) == 3


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, float("nan")])
def test_split_rejects_fraction_outside_range(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"outside \[0, 1\)"):
        split_dataset(make_samples(10), fraction)


def test_split_rejects_non_number_fraction() -> None:
    with pytest.raises(ConfigError, match="must be a number"):
        split_dataset(make_samples(10), "0.1")  # type: ignore[arg-type]


def test_split_rejects_fraction_leaving_no_training() -> None:
    with pytest.raises(ConfigError, match="puts all 1 samples in validation; set it to 0, which keeps no validation samples"):
        split_dataset(make_samples(1), 0.5)
    with pytest.raises(ConfigError, match="set it to at most 0.66 or add samples"):
        split_dataset(make_samples(3), 0.9)
    assert len(split_dataset(make_samples(3), 0.66)[0]) == 1


def test_split_rejects_duplicate_ids() -> None:
    samples = make_samples(3) + make_samples(1)

    with pytest.raises(DatasetError, match="id 'food_000' appears more than once"):
        split_dataset(samples)


def test_split_empty_input() -> None:
    assert split_dataset([]) == ([], [])


# ---------------------------------------------------------------------------------------------
# Category filter
# ---------------------------------------------------------------------------------------------


def test_filter_keeps_order_and_categories(tmp_path: Path) -> None:
    samples = load_cultural_dataset(path=write_jsonl(tmp_path / "data.jsonl", make_records()))

    kept = filter_categories(samples, ["modern", "tradition"])

    assert [sample.id for sample in kept] == ["tradition_001", "tradition_002", "modern_001", "modern_002"]


def test_filter_accepts_one_string() -> None:
    samples = make_samples(3)

    assert filter_categories(samples, "food") == samples


def test_filter_accepts_general() -> None:
    general = CulturalSample(id="g", category=GENERAL_CATEGORY, query="q", knowledge=None)

    assert filter_categories([general, *make_samples(2)], [GENERAL_CATEGORY]) == [general]


def test_filter_rejects_empty_list() -> None:
    with pytest.raises(ConfigError, match="categories is empty"):
        filter_categories(make_samples(2), [])


def test_filter_rejects_unknown_category() -> None:
    with pytest.raises(ConfigError) as raised:
        filter_categories(make_samples(2), ["Food"])

    assert "unknown category 'Food'" in str(raised.value)
    assert "did you mean 'food'?" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def test_statistics_counts_and_lengths() -> None:
    samples = [
        CulturalSample(id="a", category="food", query="abc", knowledge="x" * 10),
        CulturalSample(id="b", category="food", query="abcde", knowledge="x" * 30),
        CulturalSample(id="c", category="history", query="a", knowledge="x" * 20),
        CulturalSample(id="g", category=GENERAL_CATEGORY, query="abcdefg", knowledge=None),
    ]

    result = dataset_statistics(samples, histogram_bins=2)

    assert result["num_samples"] == 4
    assert result["categories"] == {"tradition": 0, "history": 1, "food": 2, "geography": 0, "modern": 0, "general": 1}
    assert result["query_chars"] == {"min": 1, "mean": 4.0, "max": 7}
    assert result["knowledge_chars"] == {"min": 10, "mean": 20.0, "max": 30}
    assert result["num_without_knowledge"] == 1
    assert result["knowledge_histogram"] == {"edges": [10.0, 20.0, 30.0], "counts": [1, 2]}


def test_statistics_counts_hangul_syllables_as_characters() -> None:
    nfd_query = unicodedata.normalize("NFD", "김치")
    assert len(nfd_query) == 5

    result = dataset_statistics([CulturalSample(id="a", category="food", query="김치", knowledge="발효")])

    assert result["query_chars"]["max"] == 2


def test_statistics_histogram_covers_every_sample(tmp_path: Path) -> None:
    samples = load_cultural_dataset(path=write_jsonl(tmp_path / "data.jsonl", make_records(4)))

    histogram = dataset_statistics(samples)["knowledge_histogram"]

    assert sum(histogram["counts"]) == 20
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1 == 11


def test_statistics_of_empty_list() -> None:
    result = dataset_statistics([])

    assert result["num_samples"] == 0
    assert result["query_chars"] is None
    assert result["knowledge_chars"] is None
    assert result["knowledge_histogram"] == {"edges": [], "counts": []}


def test_statistics_rejects_zero_bins() -> None:
    with pytest.raises(ConfigError, match="histogram_bins must be at least 1"):
        dataset_statistics(make_samples(2), histogram_bins=0)


# ---------------------------------------------------------------------------------------------
# The packaged dataset
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
def test_packaged_dataset_counts(language: str) -> None:
    if not packaged_file_exists(language):
        pytest.skip(f"cultural_env/resources/korean_culture.{language}.jsonl is not assembled yet (run tools/assemble_dataset.py)")

    samples = load_cultural_dataset(language)
    counts = dataset_statistics(samples)["categories"]

    assert len(samples) == 200
    for category in CATEGORIES:
        assert counts[category] == 40, category


def test_packaged_languages_share_ids() -> None:
    if not (packaged_file_exists("ko") and packaged_file_exists("en")):
        pytest.skip("cultural_env/resources/korean_culture.{ko,en}.jsonl are not assembled yet (run tools/assemble_dataset.py)")

    korean = load_cultural_dataset("ko")
    english = load_cultural_dataset("en")

    assert [sample.id for sample in korean] == [sample.id for sample in english]
    assert [sample.category for sample in korean] == [sample.category for sample in english]


def test_packaged_split_sizes() -> None:
    if not packaged_file_exists("en"):
        pytest.skip("cultural_env/resources/korean_culture.en.jsonl is not assembled yet (run tools/assemble_dataset.py)")

    train, validation = split_dataset(load_cultural_dataset("en"))

    assert len(train) == 180
    assert len(validation) == 20
