"""Text overlap scores between a model's answer and a reference such as the knowledge paragraph.

Pure functions over strings. Words are lowercased runs of letters, digits and Hangul, so the
scores work for Korean and English alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_WORD = re.compile(r"[\w]+", re.UNICODE)


def words(text: str) -> list[str]:
    """Split ``text`` into lowercased NFC word tokens."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def knowledge_overlap(answer: str, knowledge: str) -> float:
    """Share of the answer's word bigrams that occur in the knowledge (bigram precision, 0..1).

    Bigrams rather than single words, so that common function words alone do not count as
    knowledge. An answer with fewer than two words scores 0.
    """
    answer_bigrams = _ngrams(words(answer), 2)
    if not answer_bigrams:
        return 0.0
    knowledge_bigrams = set(_ngrams(words(knowledge), 2))
    return sum(bigram in knowledge_bigrams for bigram in answer_bigrams) / len(answer_bigrams)


def token_f1(prediction: str, reference: str) -> float:
    """Word-level F1 between two texts (multiset overlap), as in SQuAD-style scoring."""
    predicted, expected = words(prediction), words(reference)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: word-level longest common subsequence, balanced F1."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return 0.0
    lcs = _lcs_length(predicted, expected)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(predicted), lcs / len(expected)
    return 2 * precision * recall / (precision + recall)


_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_PATTERNS = (
    # "9 September 2022", "September 9, 2022", "September 2022", "September 9"
    re.compile(rf"\b\d{{1,2}}\s+(?:{_MONTHS})\.?(?:\s+\d{{3,4}})?\b", re.IGNORECASE),
    re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,4}}(?:,\s*\d{{3,4}})?\b", re.IGNORECASE),
    # Korean dates: "2022년 9월 9일", "9월 9일", "2022년 9월", "1443년"
    re.compile(r"\d{1,4}\s*년(?:\s*\d{1,2}\s*월)?(?:\s*\d{1,2}\s*일)?|\d{1,2}\s*월\s*\d{1,2}\s*일"),
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_NAME_RUN = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'’-]*)*")
_HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+(?:\s+[\uac00-\ud7a3]+)*")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_HANGUL_LETTER = re.compile(r"[\uac00-\ud7a3]")
_GLOSSED_TERM = re.compile(r"([\uac00-\ud7a3]{2,})\(\s*[^)]*?[\u4e00-\u9fffA-Za-z][^)]*\)")
"""A Hangul word right before a parenthesised Hanja or Latin gloss, as in 홍동백서(紅東白西); group 1 is the word."""
_QUOTED_TERM = re.compile(r"['\"\u2018\u201c\u300c\u300e]([^'\"\u2019\u201d\u300d\u300f]{2,30})['\"\u2019\u201d\u300d\u300f]")
"""A term of 2 to 30 characters in straight, curly or corner quotes; group 1 is the term."""
_SENTENCE_END = re.compile(r"[.!?]\s*$")
_POSSESSIVE = re.compile(r"['’]s$")
_FUNCTION_WORDS = frozenset(
    "a an and as at after before but by during for from he her his in it its on she so that the their "
    "there these they this to under we when while with".split()
)
"""Words that start a sentence with a capital letter without being part of a name."""


def key_facts(text: str) -> list[str]:
    """Extract the checkable facts of a text: dates, numbers and names, normalised and deduplicated.

    Dates are English month phrases ("September 2022", "9 Sept") and Korean ones ("2022년 9월").
    Numbers are digit runs outside dates, with thousands separators removed. Names are runs of
    capitalised words, without a sentence-initial function word ("The", "At") or a possessive
    "'s", and except a single capitalised word at the start of a sentence. Also, in a
    text written mostly in Latin letters, runs of Hangul (romanised terms often carry the Korean
    original). In a text written mostly in Hangul, which has no capitals to mark names, the
    terms it marks as such stand in for them: a word with a Hanja or Latin gloss in brackets
    after it (홍동백서(紅東白西) gives 홍동백서) and a short quoted term. Facts are lowercased NFC
    strings with single spaces, in order of first appearance.
    """
    text = unicodedata.normalize("NFC", text)
    facts: list[str] = []
    rest = text
    for pattern in _DATE_PATTERNS:
        facts.extend(match.group(0) for match in pattern.finditer(rest))
        rest = pattern.sub(" ", rest)
    facts.extend(_normalise_number(match.group(0)) for match in _NUMBER.finditer(rest))
    facts.extend(_names(rest))
    if len(_LATIN_LETTER.findall(text)) > len(_HANGUL_LETTER.findall(text)):
        facts.extend(match.group(0) for match in _HANGUL_RUN.finditer(text))
    else:
        # NOTE: Korean names without a gloss or quotes (성균관, 주자가례) are still not found.
        facts.extend(match.group(1) for match in _GLOSSED_TERM.finditer(text))
        facts.extend(match.group(1) for match in _QUOTED_TERM.finditer(text))
    unique: dict[str, None] = {}
    for fact in facts:
        normalised = _normalise_fact(fact)
        if normalised:
            unique.setdefault(normalised, None)
    return list(unique)


def key_fact_recall(answer: str, reference: str) -> float | None:
    """Share of the reference's :func:`key_facts` found in the answer; None when it has none.

    A number must appear as a whole number (``42`` is not found in ``1420``); other facts are
    found as case-insensitive substrings, so "Joseon" is found in "Joseon's".
    """
    facts = key_facts(reference)
    if not facts:
        return None
    answer_text = _normalise_fact(answer)
    answer_numbers = {_normalise_number(match.group(0)) for match in _NUMBER.finditer(answer_text)}
    found = 0
    for fact in facts:
        if _NUMBER.fullmatch(fact):
            found += fact in answer_numbers
        else:
            found += fact in answer_text
    return found / len(facts)


def _names(text: str) -> list[str]:
    names = []
    for match in _NAME_RUN.finditer(text):
        run_words = _POSSESSIVE.sub("", match.group(0)).split()
        at_sentence_start = match.start() == 0 or _SENTENCE_END.search(text[: match.start()]) is not None
        if at_sentence_start:
            if run_words[0].lower() in _FUNCTION_WORDS:
                run_words = run_words[1:]
                while run_words and run_words[0].lower() in ("of", "the", "de"):
                    run_words = run_words[1:]
            elif len(run_words) == 1:
                continue
        if run_words:
            names.append(" ".join(run_words))
    return names


def _normalise_number(number: str) -> str:
    """Drop thousands separators ("1,443" -> "1443") and keep a decimal point."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", number):
        return number.replace(",", "")
    return number


def _normalise_fact(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _lcs_length(first: list[str], second: list[str]) -> int:
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for index, other in enumerate(second):
            current.append(previous[index] + 1 if item == other else max(previous[index + 1], current[index]))
        previous = current
    return previous[-1]
