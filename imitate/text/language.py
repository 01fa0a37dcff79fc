"""The one language guess: script first, then function words, then langdetect (seeded) when unsure.

Used by the language filter, the pairing of questions with system prompts, question generation and
the inspection tables, so that every part of imitate calls a text's language the same.
"""
from __future__ import annotations

import re
from functools import lru_cache

from imitate.text.words import LETTER_RE, SEP, STOPWORDS, WORD_RE, prose, script_counts, strip_code, words

SCRIPT_LANG = {"hangul": "ko", "kana": "ja", "greek": "el", "arabic": "ar", "hebrew": "he",
               "devanagari": "hi", "thai": "th"}
LANG_SCRIPT = {"ko": "hangul", "ja": "kana", "zh": "han", "ru": "cyrillic", "uk": "cyrillic",
               "bg": "cyrillic", "el": "greek", "ar": "arabic", "he": "hebrew", "hi": "devanagari",
               "th": "thai"}
# Function word -> its languages; a word of several languages counts a share for each.
WORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _ws in STOPWORDS.items():
    for _w in _ws:
        WORD_LANGS[_w] = WORD_LANGS.get(_w, ()) + (_lang,)
# Language names in a question or system message ("translate into Korean", "영어로").
LANG_NAMES = {
    "en": r"english|inglés|ingles|anglais|englisch|영어", "ko": r"korean|coreano|coréen|koreanisch|한국어|한글",
    "es": r"spanish|español|espanol|espagnol|spanisch|스페인어", "fr": r"french|francés|français|französisch|프랑스어",
    "de": r"german|alemán|allemand|deutsch|독일어", "ja": r"japanese|japonés|japonais|japanisch|일본어|日本語",
    "zh": r"chinese|chino|chinois|chinesisch|중국어|中文", "pt": r"portuguese|portugués|português|포르투갈어",
    "it": r"italian|italiano|italien|이탈리아어", "ru": r"russian|ruso|russe|러시아어",
}
NAME_RES = {lang: re.compile(pat, re.I) for lang, pat in LANG_NAMES.items()}
# Any of them: most texts name no language, and one search tells (then each is asked in turn).
ANY_NAME_RE = re.compile("|".join(LANG_NAMES.values()), re.I)
# Where a list item or a clause ends: langdetect reads sentences, not lists of words or names.
ITEM_END_RE = re.compile(r"[,;:()\[\]\n•·|/]+|(?<=[.!?])\s")


@lru_cache(maxsize=1)
def _langdetect():
    from langdetect import DetectorFactory, detect_langs

    DetectorFactory.seed = 0   # langdetect samples n-grams at random: seed it for the same answer every run
    return detect_langs


@lru_cache(maxsize=4096)   # samples of one seed share the question: detect it once
def _detect_cached(text: str) -> tuple[str | None, float]:
    try:
        best = _langdetect()(text)[0]
    except Exception:   # langdetect raises on text without features
        return None, 0.0
    return best.lang.split("-")[0], best.prob


def _by_stopwords(prose: str, min_hits: int) -> str | None:
    hits: dict[str, float] = {}
    for w in words(prose)[:150]:   # 150 words settle it; long answers cost no more
        langs = WORD_LANGS.get(w, ())
        for lang in langs:
            hits[lang] = hits.get(lang, 0) + 1 / len(langs)
    if not hits:
        return None
    ranked = sorted(hits.items(), key=lambda kv: -kv[1])
    best, n = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return best if n >= min_hits and n >= 2 * second else None


def identify(text: str, min_letters: int = 3, min_hits: int = 2, detector_min_letters: int = 40,
             detector_min_prob: float = 0.8,
             detector_min_share: float = 0.5) -> tuple[str | None, str | None, str]:
    """(language or None, script or None, how it was decided).

    Only the prose counts (imitate.text.words.prose: code blocks and lines, inline code, URLs,
    formulas, numbers, identifiers, paths and flags left out). The script decides first: Hangul is
    Korean, kana Japanese, Han without kana Chinese, and so on. Latin-script text is told apart
    by function words (`min_hits` hits, twice the runner-up). Only where that is unsure does
    langdetect run, on the common words (those not starting with a capital: names mislead it,
    "Paisley ran 4 miles" reads as French), and only when they hold `detector_min_share`+ of the
    text's letters and detector_min_letters / share letters (40 when all is prose, 80 when half
    is), and when half the words stand in runs of three or more between commas, colons, brackets
    or line ends (sentences, not a list of words or names); its guess counts with probability
    `detector_min_prob`+. Fewer than `min_letters` letters (Hangul and Han count 3) are never
    judged.
    """
    plain = prose(text)   # the same string the meaningless filter reads: words() caches it
    counts = script_counts(plain)
    total = sum(counts.values())
    if total < min_letters:
        return None, None, "too short"
    script, n = max(counts.items(), key=lambda kv: kv[1])
    if n < 0.5 * total:
        return None, None, "mixed scripts"
    if script == "han":
        return ("ja" if counts.get("kana") else "zh"), script, "script"
    if script in SCRIPT_LANG:
        return SCRIPT_LANG[script], script, "script"
    if script == "latin":
        lang = _by_stopwords(plain, min_hits)
        if lang:
            return lang, script, "function words"
    if total < detector_min_letters:
        return None, script, "too short for a detector"
    common = [w for w in WORD_RE.findall(plain) if not w[0].isupper()]
    letters = sum(len(w) for w in common)
    share = letters / max(1, len(LETTER_RE.findall(strip_code(text))))
    if share < detector_min_share or letters < detector_min_letters / share:
        return None, script, f"too little prose for a detector ({share:.0%} common words)"
    runs = [len(WORD_RE.findall(item)) for item in ITEM_END_RE.split(plain.replace(SEP, " "))]
    if sum(n for n in runs if n >= 3) < 0.5 * sum(runs):
        return None, script, "a list, not sentences, for a detector"
    lang, prob = _detect_cached(" ".join(common)[:2000])
    return (lang if lang and prob >= detector_min_prob else None), script, "langdetect"


def guess(text: str) -> str | None:
    """The language of a short text such as a question, or None when it cannot tell."""
    return identify(text)[0]


def named(text: str) -> set[str]:
    """Languages that a text names ("translate into Korean", "영어로")."""
    if not ANY_NAME_RE.search(text):
        return set()
    return {lang for lang, rx in NAME_RES.items() if rx.search(text)}
