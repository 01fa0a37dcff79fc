from __future__ import annotations

import math
import re
from functools import lru_cache

from imitate.filters.base import Drop, Filter
from imitate.text.words import cjk_share, length_units
from imitate.records import turn

# What a question demands, from its wording (English, Korean, Spanish, French, German cues).
ONE_WORD_RE = re.compile(
    r"\b(one|single|a single) (word|number|letter|digit)\b|\bjust (the|a) (number|name|word|answer)\b|"
    r"\bonly (the|a|one) (number|name|word|answer|letter)\b|\b(answer|reply) (with )?(yes or no|"
    r"true or false)\b|\byes or no\b|\btrue or false\b|\bsolo (el|la|una?) (número|palabra|nombre)"
    r"|\ben una palabra\b|한 단어|숫자만|답만|이름만|예 또는 아니요|네 또는 아니오", re.I)
EXPLAIN_RE = re.compile(
    r"\b(explain|describe|compare|contrast|discuss|elaborate|analy[sz]e|justify|walk me through|"
    r"step[- ]by[- ]step|in detail|why (do|does|is|are|did|would|can|should)|how (do|does|can|"
    r"would|did) (?!(you|i|we) (say|spell|write|pronounce)\b).{3,}|"
    r"what are the (differences?|pros|advantages|benefits|reasons|causes|effects)|"
    r"differences? between|pros and cons|essay|summari[sz]e|outline)\b|"
    r"\b(explica|describe|compara|por qué|cómo funciona|paso a paso|expliquez|décrivez|erkläre|"
    r"beschreibe)\b|설명|비교|왜|어떻게|단계별|자세히|서술|논의|요약|차이", re.I)
WRITE_RE = re.compile(
    r"\b(write|draft|compose|create|generate|give me (some|a few|\d+|three|five|ten)|list|"
    r"suggest|brainstorm|tell me about|what are (some|the main|the key))\b|"
    r"\b(escribe|redacta|enumera|lista)\b|작성|써\s?주|만들어|나열|목록|추천", re.I)
STEP_SYSTEM_RE = re.compile(r"step[- ]by[- ]step|show (your|the) (work|reasoning)|explain your "
                            r"reasoning|in detail|단계별|자세히", re.I)


WHY = {"one": "asks for one word, number or yes/no", "explain": "asks for an explanation",
       "steps": "system message asks for step-by-step reasoning", "write": "asks to write or list",
       "plain": "plain question"}


@lru_cache(maxsize=4096)   # samples and teachers share questions: classify each once
def _kind(question: str, system: str) -> str:
    if ONE_WORD_RE.search(question):
        return "one"
    if EXPLAIN_RE.search(question):
        return "explain"
    if STEP_SYSTEM_RE.search(system):
        return "steps"
    if WRITE_RE.search(question):
        return "write"
    return "plain"


class TooShort(Filter):
    """Drop answers shorter than the question demands.

    The demand comes from the wording: a question that asks to explain, describe, compare, or asks
    why or how, needs `explain_words`; a system message asking for step-by-step reasoning needs
    `steps_words` (worked equations are dense); a request to write,
    list or suggest needs `write_words`; a question that asks for one word, one number or yes/no
    may be answered with one; any other question needs `default_words`. Length is counted in words,
    or, where the answer is mostly Korean, Chinese or Japanese, in characters divided by
    `cjk_chars_per_word`.

    How each drop code decides:
        words: fewer words than the question demands (evidence: count, demand and why).
    """
    name = "too_short"
    codes = {
        'words': 'fewer words than the question demands',
    }
    params = ("explain_words", "steps_words", "write_words", "default_words", "cjk_chars_per_word")
    explain_words = 12
    steps_words = 8
    write_words = 10
    default_words = 1
    cjk_chars_per_word = 2.5

    def demand(self, rec: dict) -> tuple[int, str]:
        kind = _kind(turn(rec, "user"), turn(rec, "system"))
        need = {"one": 1, "explain": self.explain_words, "steps": self.steps_words,
                "write": self.write_words, "plain": self.default_words}[kind]
        return need, WHY[kind]

    def check(self, rec: dict) -> Drop | None:
        need, why = self.demand(rec)
        answer = turn(rec, "assistant")
        units = length_units(answer)
        if cjk_share(answer) >= 0.5:
            n, unit = math.ceil(units / self.cjk_chars_per_word), f"{units} characters"
        else:
            n, unit = units, f"{units} words"
        if n < need:
            return Drop("words", f"{unit}; needs {need} words ({why})")
        return None
