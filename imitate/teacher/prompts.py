"""Orca-style system prompts: load them, tell question kinds apart, pair them with seeds.

- `load_system_prompts` reads prompts/system_prompts.yaml (id, text, suits).
- `question_kind` sorts a question into multiple_choice, short_answer or open.
- `choose_prompts` picks the system prompts for one seed, deterministically and evenly.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from imitate.config import read_yaml
from imitate.errors import UserError
from imitate.shipped import PROMPTS
from imitate.text.language import guess

KINDS = ("any", "multiple_choice", "short_answer", "open")


@dataclass(frozen=True)
class SystemPrompt:
    """One system message and the seeds it suits (an empty tuple means: any)."""
    id: str
    text: str
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


# ---------------------------------------------------------------- system prompts

def _as_tuple(value, what: str, path, line) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UserError(f"suits.{what} must be a list of names", path, line)
    return tuple(v.strip() for v in value)


def _prompt_from(item, path, line) -> SystemPrompt:
    if not isinstance(item, dict):
        raise UserError("each prompt must be a mapping with id, text and suits", path, line)
    pid, text, suits = item.get("id"), item.get("text"), item.get("suits") or {}
    if not isinstance(pid, str) or not pid.strip():
        raise UserError("prompt has no id", path, line)
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"prompt {pid!r} has an empty text", path, line)
    if not isinstance(suits, dict):
        raise UserError(f"prompt {pid!r}: suits must be a mapping", path, line)
    unknown = set(suits) - {"categories", "kinds", "languages"}
    if unknown:
        raise UserError(f"prompt {pid!r}: unknown suits key(s) {sorted(unknown)}; "
                        "use categories, kinds, languages", path, line)
    kinds = _as_tuple(suits.get("kinds"), "kinds", path, line)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise UserError(f"prompt {pid!r}: unknown kind(s) {bad}; known: {', '.join(KINDS)}", path, line)
    return SystemPrompt(pid.strip(), text.strip(), _as_tuple(suits.get("categories"), "categories", path, line),
                        kinds, _as_tuple(suits.get("languages"), "languages", path, line))


def load_system_prompts(path: str | Path | None = None) -> list[SystemPrompt]:
    """Read system prompts from YAML: a list, or a mapping with a `prompts` list.

    Default: the shipped prompts/system_prompts.yaml. Raises UserError naming the file and
    line for bad YAML, a missing id or text, an unknown kind or suits key, and duplicate ids.
    """
    path = Path(path) if path is not None else PROMPTS / "system_prompts.yaml"
    data, node = read_yaml(path, nodes=True)
    if isinstance(data, dict):
        data = data.get("prompts")
        node = next((v for k, v in node.value if k.value == "prompts"), None)
    if not isinstance(data, list) or not data:
        raise UserError("expected a non-empty list of prompts (or a mapping with a `prompts` list)", path)
    out, seen = [], {}
    for item, item_node in zip(data, node.value):
        line = item_node.start_mark.line + 1
        p = _prompt_from(item, path, line)
        if p.id in seen:
            raise UserError(f"duplicate prompt id {p.id!r} (first at line {seen[p.id]})", path, line)
        seen[p.id] = line
        out.append(p)
    return out


# ---------------------------------------------------------------- question kinds

# An option line: "A) x", "(a) x", "A. x", "1) x", "(1) x" at the start of a line.
_OPTION_LINE = re.compile(r"^\s*(?:\([A-Ha-h1-9]\)|[A-Ha-h][).]|[1-9]\))\s+\S", re.M)
# Inline options: "A) x B) y" (or "(A) x (B) y") on one line.
_INLINE = re.compile(r"(?:^|\s)\(?[Aa]\)\s*\S.*?\s\(?[Bb]\)\s*\S")
_OPEN_EN = re.compile(r"\b(explain|describe|compare|contrast|discuss|why|write|summari[sz]e|how (?:do|does|"
                      r"to|would|can|should)|what (?:are|should|would|could)|tips|advice|steps?|list)\b", re.I)
_SHORT_EN = re.compile(r"(?:^|[.!?:,;]\s+)(?:(?:at|in|on|for|to|from|of) )?(what|which|who|whom|when|where|"
                       r"how (?:many|much|long|old|far)|solve|simplify|calculate|compute)\b|\bgive the answer\b|"
                       r"\banswer yes or no\b|\bin one word\b", re.I)
_OPEN_KO = re.compile(r"설명|비교|써\s*주|작성|정리|알려\s*주|방법|이유|어떻게|(?:^|\s)왜(?=\s|\?|$)")
_SHORT_KO = re.compile(r"무엇|뭔가요|누구|몇|얼마|언제|어디|무슨|며칠|어느")


def question_kind(question: str) -> str:
    """Sort a question into one of three kinds, by surface form only.

    - "multiple_choice": at least two option lines ("A) ...", "(a) ...", "A. ...", "1) ...")
      or inline options "A) x B) y".
    - "short_answer": asks for one word, number or name: a question word that asks for a fact
      (What, Which, Who, When, Where, How many/much/long, In what year, Solve, ...; in Korean
      무엇, 누구, 몇, 얼마, 언제, 어디, 무슨, ...), no word that asks for an explanation (explain,
      describe, compare, why, write, list, ...; 설명, 비교, 이유, 방법, ...), and at most 30 words.
    - "open": everything else (explanations, comparisons, writing tasks).
    """
    q = question.strip()
    if len(_OPTION_LINE.findall(q)) >= 2 or _INLINE.search(q):
        return "multiple_choice"
    if len(q.split()) > 30:
        return "open"
    if guess(q) == "ko":
        return "short_answer" if _SHORT_KO.search(q) and not _OPEN_KO.search(q) else "open"
    return "short_answer" if _SHORT_EN.search(q) and not _OPEN_EN.search(q) else "open"


# ---------------------------------------------------------------- pairing seeds with prompts

def seed_language(seed: dict) -> str:
    """The seed's `language`, else the question's (imitate.text.language.guess), else "en"."""
    return seed.get("language") or guess(seed.get("question", "")) or "en"


def _fits(p: SystemPrompt, category, kind, language) -> bool:
    """Does `p` suit this seed? A None argument is not checked."""
    return ((category is None or not p.categories or category in p.categories)
            and (kind is None or not p.kinds or "any" in p.kinds or kind in p.kinds)
            and (language is None or not p.languages or language in p.languages))


def _weight(p: SystemPrompt) -> int:
    """1 + the number of restricted suits fields: a prompt written for this kind of seed counts more."""
    return 1 + bool(p.categories) + (p.kinds not in ((), ("any",))) + bool(p.languages)


def choose_prompts(seed: dict, prompts: list[SystemPrompt], n: int = 1, rng_seed: int = 0) -> list[SystemPrompt]:
    """Pick `n` distinct system prompts for one seed, deterministically.

    Rule: the candidates are the prompts whose suits match the seed's category, kind
    (`question_kind`) and language (`seed_language`). If none match (an unrestricted prompt always
    matches, so only a file without one gets here), the match is relaxed: kind and language, then
    language only, then every prompt.
    Each candidate draws u in (0, 1) from sha256("rng_seed|seed key|prompt id"), the seed key being
    its id, else its question. Candidates are ordered by u ** (1 / weight), highest first, and the
    first n are taken (n is capped at the candidate count). The weight is 1 + the number of
    restricted suits fields, so a prompt written for this kind of seed (mc_eliminate for multiple
    choice) comes first more often than a general one; with equal weights this is plain hash order
    (weighted sampling without replacement, Efraimidis and Spirakis).
    A hash, unlike a shared random stream, gives each seed the same prompts whatever other seeds are
    in the run and spreads prompts evenly over many seeds; change rng_seed for another draw.
    """
    if not prompts:
        raise UserError("no system prompts to choose from")
    if n < 1:
        return []
    kind = question_kind(seed.get("question", ""))
    category, language = seed.get("category", "general"), seed_language(seed)
    cands = ([p for p in prompts if _fits(p, category, kind, language)]
             or [p for p in prompts if _fits(p, None, kind, language)]
             or [p for p in prompts if _fits(p, None, None, language)] or list(prompts))
    key = str(seed.get("id") or seed.get("question", ""))

    def rank(p: SystemPrompt) -> float:
        h = int(hashlib.sha256(f"{rng_seed}|{key}|{p.id}".encode("utf-8")).hexdigest()[:15], 16)
        u = (h + 0.5) / 16 ** 15  # in (0, 1)
        return u ** (1.0 / _weight(p))
    return sorted(cands, key=rank, reverse=True)[:n]
