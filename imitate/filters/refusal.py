from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from imitate.filters import Drop, Filter
from imitate.filters.text import cjk_share, length_units
from imitate.records import turn

PHRASES = Path(__file__).parent / "phrases"


@lru_cache(maxsize=None)
def phrases(kind: str) -> tuple[re.Pattern, tuple[str, ...]]:
    """One regex from every phrases/{kind}_*.txt file (a line is a phrase, `...` a gap of up to
    80 characters, spaces match any whitespace, '#' starts a comment line), and the longest word of
    each phrase: a text holding none of those words cannot match, so the regex is skipped."""
    parts, anchors = [], set()
    for path in sorted(PHRASES.glob(f"{kind}_*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pieces = [r"\s+".join(map(re.escape, p.split())) for p in line.split("...")]
            parts.append(r".{0,80}?".join(pieces))
            longest = max(line.replace("...", " ").split(), key=len).lower().strip(",.")
            first = " ".join(line.split("...")[0].split()).lower().strip(",.")
            anchors.add(longest if len(longest) >= 5 else first)   # "as an ai", not "ai"
    if not parts:
        raise FileNotFoundError(f"no phrase files {PHRASES}/{kind}_*.txt")
    return re.compile("|".join(parts), re.I | re.S), tuple(sorted(anchors))


def phrase_regex(kind: str) -> re.Pattern:
    return phrases(kind)[0]


def find_phrases(kind: str, text: str) -> list[str]:
    rx, anchors = phrases(kind)
    low = text.lower()
    if not any(a in low for a in anchors):
        return []
    return rx.findall(text)


def _size(answer: str) -> float:
    """Length in words, or in characters / 2.5 for Korean, Chinese and Japanese."""
    size = length_units(answer)
    return size / 2.5 if cjk_share(answer) >= 0.5 else size


def _plain(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'")


class Refusal(Filter):
    """Drop refusals of harmless questions and answers dominated by "As an AI language model".

    Phrase lists: imitate/filters/phrases/refusal_*.txt and ai_disclaimer_*.txt (English, Korean,
    Spanish; add a file to add a language). Records whose category is in `expected_categories`
    (safety prompts, where refusing is the right answer) are never dropped here.

    Drop codes:
        refusal: a refusal phrase within the first `head_chars` characters of an answer of at most
            `max_words` words (a long helpful answer with a polite caveat stays).
        ai_disclaimer: an "As an AI..." phrase in an answer of at most `disclaimer_max_words`
            words, or said `disclaimer_repeats` times or more.
    """
    name = "refusal"
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
        answer = _plain(turn(rec, "assistant"))
        hit = find_phrases("refusal", answer[: self.head_chars])
        if hit and _size(answer) <= self.max_words:
            return Drop("refusal", f"{hit[0]!r} in an answer of {_size(answer):.0f} words")
        hits = find_phrases("ai_disclaimer", answer)
        if hits and (_size(answer) <= self.disclaimer_max_words or len(hits) >= self.disclaimer_repeats):
            size = _size(answer)
            return Drop("ai_disclaimer", f"{hits[0]!r} ×{len(hits)} in an answer of {size:.0f} words")
        return None
