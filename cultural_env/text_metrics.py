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
