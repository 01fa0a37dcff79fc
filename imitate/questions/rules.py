"""Elimination rules for teacher-written questions, each with a named drop code.

Self-Instruct (Wang et al. 2023) and Evol-Instruct (WizardLM, Xu et al. 2023) drop a new question
that is too short or too long, needs something a text model cannot see, is only stop words and
punctuation, copies words of the prompt that asked for it, or is an apology. Each check returns
`Drop(code, evidence)` or None; the stage counts the codes and writes the evidence beside each
dropped question in questions_dropped.jsonl.
"""
from __future__ import annotations

import re

from imitate.filters.base import Drop
from imitate.questions.similarity import tokens
from imitate.text.refusal import find_phrases
from imitate.text.words import STOP_ALL

CODES = {
    "too_short": "fewer than --min-words words",
    "too_long": "more than --max-words words",
    "needs_media": "asks about an image, a file, a web page, audio or video the model cannot see",
    "stopwords_only": "only punctuation and stop words",
    "copied_prompt": "copies words of the evolution prompt ('#Rewritten Prompt#', 'given prompt', ...)",
    "apology": "the evolution output is itself an apology or refusal, not a question",
    "answer_sorry": "the teacher's answer to the evolved question says 'sorry' in under 80 words",
    "no_gain": "the evolved question gains no information over its parent (judge: Equal, or similarity)",
    "duplicate": "near-duplicate (ROUGE-L >= --similarity-threshold) of an existing or earlier question",
    "request_failed": "the teacher request for it failed for good (see questions_failed.jsonl)",
}

# Media a text-only model cannot see. A media word counts only when it points at a thing the
# question supposes is at hand ("the image below", "this file", "attached"), so "How do CNNs
# classify images?" and "How do I read a file in Python?" stay; links and URLs always count.
_NOUN = (r"(?:images?|pictures?|photos?|photographs?|screenshots?|diagrams?|flowcharts?|graphs?|charts?|"
         r"figures?|files?|documents?|pdfs?|spreadsheets?|web ?pages?|websites?|links?|urls?|videos?|"
         r"audio|recordings?|clips?)")
_MEDIA = re.compile(
    rf"\b(?:this|these|the following|following|the attached|attached|the uploaded|uploaded|the provided|"
    rf"provided|the given|the above|the below|the linked)\s+{_NOUN}\b"
    rf"|\b{_NOUN}\s+(?:below|above|attached|provided|shown|linked)\b"
    rf"|\b(?:visit|open|go to|watch|listen to|look at)\s+(?:the|this|a|my)\s+{_NOUN}\b"
    rf"|\battach(?:ed|ment)\b|https?://\S+|www\.\S+"
    rf"|(?:(?<!\w)이\s+|(?:다음|아래|위|첨부된|첨부한|주어진)\s*)(?:그림|사진|이미지|파일|링크|웹\s?페이지|웹\s?사이트|동영상|영상)"
    rf"|첨부", re.I)

# Words of the evolution prompts; WizardLM drops an evolved question that repeats them.
_COPIED = re.compile(r"#\s*(?:given|rewritten|created)\s+prompt\s*#|\b(?:given|rewritten|created)\s+prompt\b", re.I)

_SORRY = re.compile(r"sorry|죄송|미안", re.I)


def word_count(text: str) -> int:
    return len(text.split())


def check_length(q: str, min_words: int, max_words: int) -> Drop | None:
    n = word_count(q)
    if n < min_words:
        return Drop("too_short", f"{n} words < {min_words}")
    if n > max_words:
        return Drop("too_long", f"{n} words > {max_words}")
    return None


def check_media(q: str) -> Drop | None:
    m = _MEDIA.search(q)
    return Drop("needs_media", f"mentions {m.group(0)!r}") if m else None


def check_stopwords(q: str) -> Drop | None:
    toks = tokens(q)
    if all(t in STOP_ALL for t in toks):
        return Drop("stopwords_only", f"content words: none among {toks[:8]}")
    return None


def check_copied(q: str) -> Drop | None:
    m = _COPIED.search(q)
    return Drop("copied_prompt", f"contains {m.group(0)!r}") if m else None


def check_apology(q: str) -> Drop | None:
    """The refusal filter's phrases (imitate/text/phrases/), anywhere in the evolution output."""
    hit = find_phrases("refusal", q) or find_phrases("ai_disclaimer", q)
    return Drop("apology", f"says {hit[0]!r}") if hit else None


def check_answer_sorry(answer: str, max_words: int = 80) -> Drop | None:
    """WizardLM: the response contains "sorry" and is relatively short (under 80 words)."""
    n = word_count(answer)
    if _SORRY.search(answer) and n < max_words:
        return Drop("answer_sorry", f"answer of {n} words says sorry: {answer[:120]!r}")
    return None


def check_question(q: str, min_words: int, max_words: int, evolved: bool = False) -> Drop | None:
    """The rules that need only the question, cheapest first. `evolved` adds the Evol-Instruct
    rules about the evolution output (copied prompt words, an apology instead of a question)."""
    checks = [check_stopwords]
    if evolved:
        checks += [check_copied, check_apology]
    checks += [lambda x: check_length(x, min_words, max_words), check_media]
    for check in checks:
        drop = check(q)
        if drop:
            return drop
    return None
