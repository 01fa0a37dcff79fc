from __future__ import annotations

import re
from functools import lru_cache

from imitate.filters import Drop, Filter
from imitate.filters.text import STOPWORDS, script_counts, strip_code, words
from imitate.records import turn

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
# Language names in a question or system message ("translate into Korean", "영어로") allow that
# language in the answer.
LANG_NAMES = {
    "en": r"english|inglés|ingles|anglais|englisch|영어", "ko": r"korean|coreano|coréen|koreanisch|한국어|한글",
    "es": r"spanish|español|espanol|espagnol|spanisch|스페인어", "fr": r"french|francés|français|französisch|프랑스어",
    "de": r"german|alemán|allemand|deutsch|독일어", "ja": r"japanese|japonés|japonais|japanisch|일본어|日本語",
    "zh": r"chinese|chino|chinois|chinesisch|중국어|中文", "pt": r"portuguese|portugués|português|포르투갈어",
    "it": r"italian|italiano|italien|이탈리아어", "ru": r"russian|ruso|russe|러시아어",
}
NAME_RES = {lang: re.compile(pat, re.I) for lang, pat in LANG_NAMES.items()}


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


class Language(Filter):
    """Drop answers not written in the question's language (or one of `languages`).

    The script decides first: Hangul is Korean, kana Japanese, Han without kana Chinese, and so on,
    with no detector. Latin-script text is told apart by function words (`min_stopword_hits`
    hits, twice the runner-up); only where that is unsure does langdetect (seeded, deterministic)
    run, on `detector_min_letters`+ letters and with probability `detector_min_prob`+. An answer
    with fewer than `min_letters` letters (Hangul and Han count 3) is never judged: a detector's
    guess on "Paris" or "42" is no reason to drop. Code blocks, inline code and URLs are ignored.
    A language named in the question or system message ("translate into Korean") is allowed too.

    Drop codes:
        mismatch: the answer is in another language than the question (evidence: both).
    """
    name = "language"
    params = ("languages", "min_letters", "min_stopword_hits", "detector_min_letters",
              "detector_min_prob")
    languages: tuple[str, ...] = ()
    min_letters = 20
    min_stopword_hits = 3
    detector_min_letters = 40
    detector_min_prob = 0.8

    def identify(self, text: str, min_letters: int, min_hits: int) -> tuple[str | None, str | None, str]:
        """(language or None, script or None, how it was decided) for a text."""
        prose = strip_code(text)
        counts = script_counts(prose)
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
            lang = self._by_stopwords(prose, min_hits)
            if lang:
                return lang, script, "function words"
        if total < self.detector_min_letters:
            return None, script, "too short for a detector"
        return self._detect(prose), script, "langdetect"

    def _by_stopwords(self, prose: str, min_hits: int) -> str | None:
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

    def _detect(self, prose: str) -> str | None:
        lang, prob = _detect_cached(prose[:2000])
        return lang if lang and prob >= self.detector_min_prob else None

    def check(self, rec: dict) -> Drop | None:
        a_lang, a_script, a_how = self.identify(turn(rec, "assistant"), self.min_letters,
                                               self.min_stopword_hits)
        if a_lang is None:
            return None
        question = turn(rec, "user")
        asked = question + "\n" + turn(rec, "system")
        allowed = set(self.languages) | {lang for lang, rx in NAME_RES.items() if rx.search(asked)}
        if a_lang in allowed:
            return None
        q_lang, q_script, q_how = self.identify(question, 3, 2)   # questions are short
        if q_lang is not None:
            bad = q_lang != a_lang
        elif q_script is not None:
            bad = LANG_SCRIPT.get(a_lang, "latin") != q_script
        else:
            bad = bool(self.languages)
        if not bad:
            return None
        want = q_lang or q_script or "?"
        extra = f" (allowed: {','.join(sorted(allowed))})" if allowed else ""
        return Drop("mismatch", f"answer {a_lang} ({a_how}), question {want} ({q_how}){extra}")
