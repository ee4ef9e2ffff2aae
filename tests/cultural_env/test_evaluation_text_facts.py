"""Key-fact extraction and key-fact recall of text_metrics."""

import pytest

from cultural_env.text_metrics import key_fact_recall, key_facts


def test_key_facts_english_kinds():
    text = (
        "The Ritual Committee of Seonggyungwan announced it in September 2022. "
        "King Sejong issued 1,443 copies. Kimchi (김치) is old."
    )
    facts = key_facts(text)
    assert "september 2022" in facts
    assert "1443" in facts
    assert "ritual committee of seonggyungwan" in facts
    assert "king sejong" in facts
    assert "김치" in facts
    assert "2022" not in facts  # the year is part of the date fact
    assert "kimchi" not in facts  # one capitalised word opening a sentence is not a name


def test_key_facts_drop_function_word_and_possessive():
    facts = key_facts("At the Joseon court, envoys met. There Injo's envoys waited.")
    assert "joseon" in facts
    assert "injo" in facts
    assert not any(fact.startswith(("at ", "there ")) for fact in facts)


def test_key_facts_korean_dates_numbers():
    facts = key_facts("세종은 1443년에 훈민정음을 만들었고 10월 9일은 한글날이며 28자로 이루어졌다.")
    assert "1443년" in facts
    assert "10월 9일" in facts
    assert "28" in facts
    assert "세종은" not in facts  # Hangul runs count as names only in Latin-script text


def test_key_fact_recall_counts_found_facts():
    reference = "The Seonggyungwan rule of September 2022 had 1443 items and 42 rows."
    answer = "In September 2022 Seonggyungwan listed 1,443 items."
    assert key_fact_recall(answer, reference) == pytest.approx(3 / 4)


def test_key_fact_recall_whole_numbers_only():
    assert key_fact_recall("it was 1420", "It had 42 rows.") == 0.0
    assert key_fact_recall("it had 42.", "It had 42 rows.") == 1.0


def test_key_fact_recall_none_without_facts():
    assert key_fact_recall("anything", "nothing checkable here at all") is None


def test_key_facts_korean_marked_terms():
    text = "홍동백서(紅東白西)는 진설 원칙이다. 이를 '가가례'라고 하며, 김치(kimchi)와도 관계없다. 성균관이 밝혔다."
    assert key_facts(text) == ["홍동백서", "김치", "가가례"]


def test_key_fact_recall_finds_korean_terms():
    reference = "홍동백서(紅東白西)와 조율이시(棗栗梨柿)는 예서에 없다."
    assert key_fact_recall("제사상에는 홍동백서를 따른다", reference) == 0.5
