"""Near-duplicate detection by ROUGE-L over word tokens (the Self-Instruct filter).

ROUGE-L F1 of token lists a and b is 2 * LCS(a, b) / (len(a) + len(b)) (precision and recall
weighted equally), in [0, 1]; 1 means one is the other. Tokens are lower-cased runs of letters
and digits (\\w+, so Hangul words count as tokens too).
"""
from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def lcs_len(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(a: list[str] | str, b: list[str] | str) -> float:
    a = tokens(a) if isinstance(a, str) else a
    b = tokens(b) if isinstance(b, str) else b
    if not a or not b:
        return 1.0 if a == b else 0.0
    return 2 * lcs_len(a, b) / (len(a) + len(b))


class SimilarityIndex:
    """The texts seen so far; `nearest` finds the most similar one at or above a threshold.

    An upper bound cuts most pairs without the LCS: LCS <= the size of the multiset intersection
    of the two token lists, so a pair whose bound is under the threshold cannot reach it.
    """

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.items: list[tuple[str, list[str], Counter]] = []

    def add(self, text: str) -> None:
        toks = tokens(text)
        self.items.append((text, toks, Counter(toks)))

    def nearest(self, text: str, exclude: set[str] = frozenset()) -> tuple[float, str] | None:
        """(score, text) of the most similar stored text with score >= threshold, else None."""
        toks = tokens(text)
        bag = Counter(toks)
        best = None
        for other, otoks, obag in self.items:
            if other in exclude:
                continue
            total = len(toks) + len(otoks)
            if not total:
                continue
            if 2 * sum((bag & obag).values()) / total < self.threshold:
                continue
            score = rouge_l(toks, otoks)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, other)
        return best
