from __future__ import annotations

import json
import math
import re
from functools import lru_cache

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.words import (CALL_RE, CODE_END_RE, CODE_START_RE, FENCE_RE, cjk_share, is_code_line, length_units,
                                words)

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
    r"beschreibe)\b|설명|비교|단계별|자세히|서술|논의|요약|차이", re.I)
# Korean why/how: like the English cues above ("why do...", "how does..."), only a question put to
# the listener asks for an explanation: 왜/어떻게 as a word of its own (not inside a noun: 임진왜란),
# in a polite question (해요체 -요, 합쇼체 -니까) or with a request verb (알려 줘, 가르쳐 줘). A casual
# question to oneself (반말 "-지?", "-ㄹ까?") or an exclamation ("왜 이렇게 안 오지") is chat.
KO_WHY_HOW_RE = re.compile(r"(?<![\uac00-\ud7a3])(?:왜|어떻게)")
KO_ASKED_RE = re.compile(r"(?:요|니까)\s*(?:[?？]|[.!]?\s*$)|알려|가르쳐|말해", re.M)
WRITE_RE = re.compile(
    r"\b(write|draft|compose|create|generate|give me (some|a few|\d+|three|five|ten)|list|"
    r"suggest|brainstorm|tell me about|what are (some|the main|the key))\b|"
    r"\b(escribe|redacta|enumera|lista)\b|작성|써\s?주|만들어|나열|목록|추천", re.I)
# Tasks whose answer is as long as their input, or one short thing: rewrite, sort, classify,
# translate...; write a title, a name, a sentence, a password...
TRANSFORM_RE = re.compile(   # the task's own verb: at the start of a sentence (Korean: anywhere)
    r"(?:^|[.!?:\n]\s*|\bplease\s+)(re-?write|rephrase|paraphrase|re-?arrange|re-?order|sort|alphabeti[sz]e|"
    r"classify|categori[sz]e|translate|convert|correct|edit|fix|reverse|simplify|shorten|condense|"
    r"replace|transform|change|turn|select|pick|choose|identify|find|detect|extract|spell|"
    r"capitali[sz]e|punctuate|debug|complete|continue|fill in|add\b.{0,30}\bto (the|this) list)\b|"
    r"\bversion\b|다시 (작성|쓰)|바꾸|바꿔|변환|정렬|분류|번역|수정|고치|고쳐|재작성|재정렬|뒤집|선택|찾", re.I)
SHORT_THING_RE = re.compile(
    r"\b(a|an|one|the|single|new|catchy|short|good|better|suitable|creative|hypothetical|random|"
    r"possible|\w+-word)\s+(\w+[- ]){0,2}?(title|headline|name|slogan|tagline|motto|password|"
    r"username|(phone |telephone )?number|sentence|question|word|phrase|synonym|antonym|hashtag|"
    r"caption|subject line|equation|formula|expression|regex|regular expression|date|acronym|"
    r"abbreviation|label|category|analogy|metaphor|simile|pun|rhyme|greeting|signature( line)?|"
    r"salutation|url|address|emoji|color|colour|adjective|verb|noun|adverb|example|restaurant|"
    r"movie|book)\b(?=\s*(?:[.,;:!?)\"']|$)|\s+(?:for|of|about|that|which|to|with|in|on|from|based|"
    r"using|describing|and|or)\b)|"   # the thing itself, not "a book report"
    r"(제목|이름|문장|슬로건|비밀번호|질문|단어|숫자|헤드라인|표현|예시)[을를]?\s*(하나|한 개|한 가지)?\s*"
    r"(작성|생성|만들|지어|제안|추천)", re.I)
NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven "
                                           "twelve".split())}
NUM = r"(\d+|" + "|".join(NUMBER_WORDS) + ")"
# A count the question names: "in 3 words", "a five-word sentence", "give three verbs", "5가지".
WORD_COUNT_RE = re.compile(rf"\b{NUM}[- ]words?\b|(\d+)\s*(단어|글자)", re.I)
ITEM_COUNT_RE = re.compile(
    rf"\b(?:list|name|give(?: me)?|provide|generate|write|suggest|create|come up with|brainstorm|"
    rf"recommend|identify|find|choose|pick|select|make)\s+(?:the\s+|me\s+|us\s+|top\s+)*{NUM}\s+"
    rf"(?:[a-z-]+\s+){{0,2}}?[a-z]+s\b|(\d+)\s*(가지|개)", re.I)
# A request for several things of one kind, with no count: met by any list of `list_items`+ items.
LIST_ASK_RE = re.compile(
    r"\b(list|enumerate|brainstorm|what are (some|the main|the key)|give (me |us )?(some|a few|several|"
    r"a list|examples)|examples of|(suggest|recommend) (some|a few|several))\b|나열|목록|몇 가지|여러 가지", re.I)
ITEM_SPLIT_RE = re.compile(r"\s*(?:[,;，、]|\band\b|\bor\b|그리고)\s*")
BULLET_RE = re.compile(r"\s*(?:[-*+•·–]|\(?\d{1,3}[.)])\s+")
STEP_SYSTEM_RE = re.compile(r"step[- ]by[- ]step|show (your|the) (work|reasoning)|explain your "
                            r"reasoning|in detail|단계별|자세히", re.I)


WHY = {"one": "asks for one word, number or yes/no", "explain": "asks for an explanation",
       "steps": "system message asks for step-by-step reasoning", "write": "asks to write or list",
       "transform": "asks to rewrite, sort, pick or classify", "short": "asks for one short thing",
       "plain": "plain question"}


@lru_cache(maxsize=4096)   # samples and teachers share questions: classify each once
def _kind(question: str, system: str) -> str:
    if ONE_WORD_RE.search(question):
        return "one"
    if EXPLAIN_RE.search(question) or (KO_WHY_HOW_RE.search(question) and KO_ASKED_RE.search(question)):
        return "explain"
    if STEP_SYSTEM_RE.search(system):
        return "steps"
    if TRANSFORM_RE.search(question):
        return "transform"
    if SHORT_THING_RE.search(question):
        return "short"
    if WRITE_RE.search(question):
        return "write"
    return "plain"


@lru_cache(maxsize=4096)
def _named_count(question: str) -> int | None:
    """The fewest words the question itself asks for: "in 3 words" -> 3, "give five adjectives" -> 5."""
    found = []
    for rx in (WORD_COUNT_RE, ITEM_COUNT_RE):
        for m in rx.finditer(question):
            num = next(g for g in m.groups() if g)
            found.append(int(num) if num.isdigit() else NUMBER_WORDS[num.lower()])
    found = [n for n in found if n > 0]
    return min(found) if found else None


def list_items(answer: str, max_words: int = 6) -> int:
    """How many items the answer enumerates: one short item a line (bullets or numbers allowed), or
    short items in one line between commas, semicolons, "and" or "or" ("Apples, pears and plums.",
    after a lead-in ending in ":"); 0 when it is not such a list (an item over `max_words` words)."""
    lines = [BULLET_RE.sub("", ln, count=1).strip() for ln in answer.strip().splitlines() if ln.strip()]
    if len(lines) >= 2:
        items = lines[1:] if lines[0].endswith(":") else lines
    else:
        line = lines[0].rstrip(".!。") if lines else ""
        items = [p for p in ITEM_SPLIT_RE.split(line.split(":", 1)[-1]) if p.strip()]
    if len(items) < 2 or any(len(words(item)) > max_words or not words(item) for item in items):
        return 0
    return len(items)


def instruction(rec: dict) -> str:
    """The last user turn less the material it carries: Alpaca's `input` and Dolly's `context` are
    joined to the instruction (imitate.data.formats.join_input) and kept as the record's `input`. The
    material is what the task works on (a passage that says "list" or "why"), not what it demands."""
    question = turn(rec, "user")
    for key in ("input", "context"):
        extra = rec.get(key)
        if isinstance(extra, str) and extra.strip():
            head, extra = question.rstrip(), extra.strip()
            if head.endswith(extra) and head[: -len(extra)].strip():
                return head[: -len(extra)].rstrip()
    return question


def form(answer: str) -> str:
    """"code" for code, a query, a call or a command (a fenced block; JSON; most lines code by
    imitate.text.words.is_code_line, with a keyword, a statement end or a word of 3+ letters, so
    that "E=mc²" is not code), "formula" for other lines that are all code symbols and numbers,
    else "prose"."""
    text = answer.strip()
    if FENCE_RE.search(text):
        return "code"
    if text[:1] in "{[" and text[-1:] in "}]":
        try:
            json.loads(text)
            return "code"
        except ValueError:
            pass
    lines = [ln for ln in text.splitlines() if ln.strip()]
    code = [ln for ln in lines if is_code_line(ln) or CALL_RE.fullmatch(ln.strip())]
    block = len(lines) >= 2 and code and code[0] is lines[0] and re.search(r"[{\[(]\s*$", lines[0]) \
        and re.match(r"\s*[}\])]", lines[-1])   # "const car = {" ... "};": the lines between are code
    if not lines or (len(code) < 0.5 * len(lines) and not block):
        return "prose"
    if any(CODE_START_RE.match(ln) or CODE_END_RE.search(ln.strip()) or CALL_RE.search(ln) for ln in code) \
            or any(re.search(r"[A-Za-z_]{3,}", ln) for ln in code):
        return "code"
    return "formula"


class TooShort(Filter):
    """Drop answers shorter than the question demands.

    The demand comes from the wording: a question that asks to explain, describe, compare, or asks
    why or how, needs `explain_words`; a system message asking for step-by-step reasoning needs
    `steps_words` (worked equations are dense); a request to write, list or suggest needs
    `write_words`; a question that asks for one word, one number or yes/no may be answered with
    one, and so may a task whose answer is as long as its input or one short thing (rewrite,
    sort, classify, translate, pick; write a title, a name, a sentence, a password); any other
    question needs `default_words`. A count the question names caps the demand ("in 3 words",
    "give five adjectives", "5가지": 3, 5, 5); a request to list several things with no count
    ("list", "what are some", "brainstorm", "나열") is met by a list of `list_items`+ short items,
    however few words ("Regal, mighty, brave."). The demand comes from the instruction only: the
    record's `input` (Alpaca's input, Dolly's context), joined to the user turn, is material.
    Length is counted in words, or, where the answer is mostly Korean, Chinese or Japanese, in
    characters divided by `cjk_chars_per_word`: 16 colloquial Korean replies of the tuning data
    took 156 Hangul syllables where English translations of them took 101 words (1.54); formal
    Korean runs longer (about 2.2), where 1.5 counts generously, which only keeps more.
    Korean 왜/어떻게 ask for an explanation only in a question put to the listener (a polite
    ending or a request verb), like English "why do…", not in chat to oneself ("왜 이렇게 안 오지").

    An answer that is code, a query, a call or a command (see `form`) is complete without prose
    and is never dropped here; so is a formula alone ("ΔT = T2 - T1"), except where an
    explanation or step-by-step working is asked for ("E=mc²." does not explain relativity).

    How each drop code decides:
        words: fewer words than the question demands (evidence: count, demand and why).
    """
    name = "too_short"
    codes = {
        'words': 'fewer words than the question demands',
    }
    params = ("explain_words", "steps_words", "write_words", "default_words", "cjk_chars_per_word",
              "list_items")
    explain_words = 8
    steps_words = 8
    write_words = 10
    default_words = 1
    cjk_chars_per_word = 1.5
    list_items = 3

    def demand(self, rec: dict) -> tuple[int, str]:
        question = instruction(rec)
        kind = _kind(question, turn(rec, "system"))
        need = {"one": 1, "explain": self.explain_words, "steps": self.steps_words,
                "write": self.write_words, "transform": self.default_words, "short": self.default_words,
                "plain": self.default_words}[kind]
        named = _named_count(question)
        if named is not None and named < need:
            return named, f"{WHY[kind]}; names {named}"
        return need, WHY[kind]

    def check(self, rec: dict) -> Drop | None:
        answer = turn(rec, "assistant")
        units = length_units(answer)
        if cjk_share(answer) >= 0.5:
            n, unit = math.ceil(units / self.cjk_chars_per_word), f"{units} characters"
        else:
            n, unit = units, f"{units} words"
        if n >= max(self.explain_words, self.steps_words, self.write_words, self.default_words, 1):
            return None   # long enough for any demand: the question need not be read
        need, why = self.demand(rec)
        if need <= 1:
            return None if answer.strip() else Drop("words", f"no words; needs 1 ({why})")
        if n >= need:
            return None
        if why == WHY["write"] and LIST_ASK_RE.search(instruction(rec)) and list_items(answer) >= self.list_items:
            return None
        shape = form(answer)
        if shape == "code" or (shape == "formula" and not why.startswith((WHY["explain"], WHY["steps"]))):
            return None
        return Drop("words", f"{unit}; needs {need} words ({why})")
