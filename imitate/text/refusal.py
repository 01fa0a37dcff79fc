"""Refusal and "As an AI" phrases, one list per language in phrases/ (data files), matched fast.

The refusal filter and the elimination rules of question generation share them.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

PHRASES = Path(__file__).parent / "phrases"

GROUP_RE = re.compile(r"(\{[^{}]*\})")


@lru_cache(maxsize=None)
def phrases(kind: str) -> tuple[re.Pattern, tuple[str, ...]]:
    """One regex from every phrases/{kind}_*.txt file (a line is a phrase, `...` a gap of up to
    80 characters, `{a|b|}` one of the choices (empty allowed), spaces match any whitespace, '#'
    starts a comment line), and one literal word of each phrase: a text holding none of those words
    cannot match, so the regex is skipped."""
    parts, anchors = [], set()
    for path in sorted(PHRASES.glob(f"{kind}_*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts.append(r".{0,80}?".join(_pattern(p.strip()) for p in line.split("...")))
            anchors.update(_anchors(line))
    if not parts:
        raise FileNotFoundError(f"no phrase files {PHRASES}/{kind}_*.txt")
    return re.compile("|".join(parts), re.I | re.S), tuple(sorted(anchors))


def _literal(text: str) -> str:
    return r"\s+".join(map(re.escape, re.split(r"\s+", text)))


def _pattern(piece: str) -> str:
    out = []
    for i, part in enumerate(GROUP_RE.split(piece)):
        out.append("(?:" + "|".join(map(_literal, part[1:-1].split("|"))) + ")" if i % 2 else _literal(part))
    return "".join(out)


def _weight(word: str) -> int:
    return sum(3 if ord(ch) > 0x2000 else 1 for ch in word)   # a Hangul or Han character weighs 3


def _heaviest(text: str) -> str:
    return max((w.strip(",.") for w in text.lower().split()), key=_weight, default="")


def _anchors(line: str) -> tuple[str, ...]:
    """Words one of which any match must contain: the heaviest literal word, or the heaviest word
    of each choice of a `{a|b}` group when that group's lightest choice weighs more, or the
    literal start of the phrase when every word is short ("as an ai", not "ai")."""
    pieces = GROUP_RE.split(line.replace("...", "\0"))
    literal = "\0".join(pieces[0::2]).lower()
    best = _heaviest(literal.replace("\0", " "))
    options = [((best,), _weight(best))]
    for group in pieces[1::2]:
        words = tuple(_heaviest(alt) for alt in group[1:-1].split("|"))
        options.append((words, min(map(_weight, words))))
    first = " ".join(literal.split("\0")[0].split()).strip(",.")
    options.append(((first,), _weight(first) if _weight(best) < 5 else 0))
    return max(options, key=lambda o: o[1])[0]


def phrase_regex(kind: str) -> re.Pattern:
    return phrases(kind)[0]


def find_phrases(kind: str, text: str) -> list[str]:
    """Every phrase of `kind` ("refusal", "ai_disclaimer") found in `text` (curly apostrophes read
    as straight ones)."""
    text = plain(text)
    rx, anchors = phrases(kind)
    low = text.lower()
    if not any(a in low for a in anchors):
        return []
    return rx.findall(text)


def plain(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'")
