"""The questions known so far (the --seeds questions and the accepted new ones) and the bookkeeping of
what was accepted and dropped, with a code and evidence per dropped question."""
from __future__ import annotations

import hashlib
from collections import Counter

from imitate.filters.base import Drop
from imitate.questions.rules import check_question
from imitate.questions.similarity import SimilarityIndex
from imitate.text.language import guess


def question_id(prefix: str, question: str) -> str:
    return prefix + hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]


def language_of(question: str, hint: str | None) -> str | None:
    """The question's language (imitate.text.language.guess); when it cannot tell, the hint (the
    examples' or parent's language) unless that was "ko" (a Korean prompt answered in another
    language); else unknown (None)."""
    return guess(question) or (hint if hint and hint != "ko" else None)


class Pool:
    def __init__(self, seeds: list[dict], threshold: float, min_words: int, max_words: int):
        self.index = SimilarityIndex(threshold)
        for s in seeds:
            self.index.add(s["question"])
        self.min_words, self.max_words = min_words, max_words
        self.accepted: list[dict] = []
        self.dropped: list[dict] = []
        self.drops = Counter()      # code -> count

    def screen(self, question: str, evolved: bool = False, exclude: set[str] = frozenset()) -> Drop | None:
        """The rules on the question alone, then near-duplicates (see `duplicate`)."""
        return check_question(question, self.min_words, self.max_words, evolved) or self.duplicate(question, exclude)

    def duplicate(self, question: str, exclude: set[str] = frozenset()) -> Drop | None:
        """A near-duplicate of a question known so far, except `exclude` (an evolved question's own
        ancestors, which the `no_gain` rule judges instead)."""
        hit = self.index.nearest(question, exclude)
        return Drop("duplicate", f"ROUGE-L {hit[0]:.2f} with {hit[1][:100]!r}") if hit else None

    def remember(self, question: str) -> None:
        """Later questions are compared with this one (also when it is dropped by a later rule)."""
        self.index.add(question)

    def forget(self, question: str) -> None:
        """Undo `remember` for a candidate a later rule (judge, answer check) dropped."""
        self.index.items = [it for it in self.index.items if it[0] != question]

    def drop(self, question: str | None, drop: Drop, **info) -> None:
        self.drops[drop.code] += 1
        self.dropped.append({"question": question, "drop_reason": drop.code, "evidence": drop.evidence, **info})

    def accept(self, rec: dict) -> None:
        self.accepted.append(rec)
