from __future__ import annotations

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.refusal import find_phrases, plain
from imitate.text.words import cjk_share, length_units


def _size(answer: str) -> float:
    """Length in words, or in characters / 2.5 for Korean, Chinese and Japanese."""
    size = length_units(answer)
    return size / 2.5 if cjk_share(answer) >= 0.5 else size


class Refusal(Filter):
    """Drop refusals of harmless questions and answers dominated by "As an AI language model".

    Phrase lists: imitate/text/phrases/refusal_*.txt and ai_disclaimer_*.txt (English, Korean,
    Spanish; add a file to add a language). Records whose category is in `expected_categories`
    (safety prompts, where refusing is the right answer) are never dropped here.

    How each drop code decides:
        refusal: a refusal phrase within the first `head_chars` characters of an answer of at most
            `max_words` words (a long helpful answer with a polite caveat stays).
        ai_disclaimer: an "As an AI..." phrase in an answer of at most `disclaimer_max_words`
            words, or said `disclaimer_repeats` times or more.
    """
    name = "refusal"
    codes = {
        'refusal': 'a short answer that refuses ("I\'m sorry, but I can\'t…")',
        'ai_disclaimer': '"As an AI language model…" in a short answer, or said repeatedly',
    }
    params = ("head_chars", "max_words", "disclaimer_max_words", "disclaimer_repeats",
              "expected_categories")
    head_chars = 300
    max_words = 80
    disclaimer_max_words = 60
    disclaimer_repeats = 2
    expected_categories = ("safety", "harmful", "refusal", "red_team")

    def check(self, rec: dict) -> Drop | None:
        if rec.get("category") in self.expected_categories:
            return None
        answer = plain(turn(rec, "assistant"))
        hit = find_phrases("refusal", answer[: self.head_chars])
        if hit and _size(answer) <= self.max_words:
            return Drop("refusal", f"{hit[0]!r} in an answer of {_size(answer):.0f} words")
        hits = find_phrases("ai_disclaimer", answer)
        if hits and (_size(answer) <= self.disclaimer_max_words or len(hits) >= self.disclaimer_repeats):
            size = _size(answer)
            return Drop("ai_disclaimer", f"{hits[0]!r} ×{len(hits)} in an answer of {size:.0f} words")
        return None
