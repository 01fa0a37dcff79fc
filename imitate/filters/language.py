from __future__ import annotations

from functools import lru_cache

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.language import LANG_SCRIPT, identify, named


@lru_cache(maxsize=4096)   # the samples and teachers of one question share it: read it once
def _question_language(question: str, detector_min_letters: int, detector_min_prob: float,
                       detector_min_share: float) -> tuple[str | None, str | None, str]:
    return identify(question, 3, 2, detector_min_letters, detector_min_prob, detector_min_share)   # questions are short


class Language(Filter):
    """Drop answers not written in the question's language (or one of `languages`).

    The language is imitate.text.language.identify's, on prose only (code, commands, formulas,
    numbers and identifiers left out): the script, then function words (`min_stopword_hits`
    hits), then langdetect (seeded), with probability `detector_min_prob`+, only on sentences of
    common words: words without a capital must hold `detector_min_share`+ of the letters and
    `detector_min_letters` / share letters, so that an answer crowded with names, numbers or
    identifiers ("Albert Einstein was wikipedia('Albert Einstein')") or a list of words is never
    dropped on langdetect's guess. An answer with fewer than `min_letters` letters of prose
    (Hangul and Han count 3) is never judged: a detector's guess on "Paris" or "42" is no reason
    to drop. A language named in the question or system message ("translate into Korean") is
    allowed too.
    """
    name = "language"
    codes = {
        'mismatch': 'the answer is in another language than the question',
    }
    params = ("languages", "min_letters", "min_stopword_hits", "detector_min_letters",
              "detector_min_prob", "detector_min_share")
    languages: tuple[str, ...] = ()
    min_letters = 20
    min_stopword_hits = 3
    detector_min_letters = 40
    detector_min_prob = 0.8
    detector_min_share = 0.5

    def check(self, rec: dict) -> Drop | None:
        a_lang, a_script, a_how = identify(turn(rec, "assistant"), self.min_letters, self.min_stopword_hits,
                                           self.detector_min_letters, self.detector_min_prob,
                                           self.detector_min_share)
        if a_lang is None or a_lang in self.languages:
            return None
        question = turn(rec, "user")
        q_lang, q_script, q_how = _question_language(question, self.detector_min_letters, self.detector_min_prob,
                                                     self.detector_min_share)
        if q_lang is not None:
            bad = q_lang != a_lang
        elif q_script is not None:
            bad = LANG_SCRIPT.get(a_lang, "latin") != q_script
        else:
            bad = bool(self.languages)
        if not bad:
            return None
        # A language the question or system message names is allowed (asked only here: most
        # answers are in the question's language, and the names cost a search of their own).
        allowed = set(self.languages) | named(question + "\n" + turn(rec, "system"))
        if a_lang in allowed:
            return None
        want = q_lang or q_script or "?"
        extra = f" (allowed: {','.join(sorted(allowed))})" if allowed else ""
        return Drop("mismatch", f"answer {a_lang} ({a_how}), question {want} ({q_how}){extra}")
