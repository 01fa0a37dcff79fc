"""The final answer of a response, and whether it agrees with a reference or with other answers.

Extraction, in order: a \\boxed{...} value; a marked answer ("the answer is ...", "Final answer:",
"정답은 ...", "la respuesta es ..."); a **bold** number; the numbers of the last sentence that has any; the last sentence.
Numbers compare with tolerance and in any of their forms: 0.5, 1/2, 50% and 0.50 are one value.
"""
from __future__ import annotations

import re
from fractions import Fraction

from imitate.text.words import normalize, sentences, strip_code

BOXED_RE = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
BOLD_RE = re.compile(r"\*\*([^*\n]+)\*\*")
MARKED_RE = re.compile(
    r"(?:final answer|the answer is|the correct answer is|answer\s*:|the result is|the total is|"
    r"therefore,? the answer is|so the answer is|la respuesta (?:correcta )?es|respuesta\s*:|"
    r"la réponse est|die antwort ist|정답은|답은|정답\s*:|답\s*:|결과는)\s*[:：]?\s*(.+)", re.I)
# Every MARKED_RE phrase holds one of these: a text without any skips the (slow) regex.
MARK_ANCHORS = ("answer", "result", "total", "respuesta", "réponse", "antwort", "답", "결과")
NUM_RE = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d/-])|\d+)"
                    r"(?:\.\d+)?(?:\s*/\s*\d+)?"
                    r"(?:\s*(?:%|percent|퍼센트|por ciento))?")
WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven "
                                    "twelve thirteen fourteen fifteen sixteen seventeen eighteen "
                                    "nineteen twenty".split())}


def parse_number(token: str) -> tuple[Fraction, bool] | None:
    """'1,024' or '1 024' -> (1024, False); '3/4' -> (3/4, False); '50%' -> (50, True)."""
    t = token.strip().replace("−", "-").replace(",", "").replace("\u00a0", "").replace("\u202f", "")
    pct = bool(re.search(r"%|percent|퍼센트|por ciento", t))
    t = re.sub(r"\s*(%|percent|퍼센트|por ciento)$", "", t).replace(" ", "")
    try:
        if "/" in t:
            a, b = t.split("/")
            return Fraction(a) / Fraction(b), pct
        return Fraction(t), pct
    except (ValueError, ZeroDivisionError):
        return None


def numbers_at(text: str) -> list[tuple[int, tuple[Fraction, bool]]]:
    """(offset, number) of each number of `text` in order, digits or English words up to twenty."""
    found = [(m.start(), parse_number(m.group(0))) for m in NUM_RE.finditer(text)]
    found += [(m.start(), (Fraction(WORDS[m.group(0).lower()]), False))
              for m in re.finditer(r"[A-Za-z]+", text) if m.group(0).lower() in WORDS]
    return [(i, n) for i, n in sorted(found, key=lambda p: p[0]) if n is not None]


def numbers(text: str) -> list[tuple[Fraction, bool]]:
    """The numbers of `text` in order, digits or English words up to twenty."""
    return [n for _, n in numbers_at(text)]


# A number right after a negation is denied, not given: "not 9", "isn't equal to 9", "never more than 3".
NEGATED_RE = re.compile(r"(?:\bnot|n't|\bnever)\s+(?:[a-z]+\s+){0,2}$", re.I)


def asserted_numbers(text: str) -> list[tuple[Fraction, bool]]:
    """The numbers of `text` that it does not deny (see NEGATED_RE)."""
    return [n for i, n in numbers_at(text) if not NEGATED_RE.search(text[max(0, i - 40):i])]


def final_answer(answer: str) -> tuple[str, str]:
    """(the final answer text, how it was found: boxed | marked | bold | last number | last sentence)."""
    prose = strip_code(answer)
    boxed = BOXED_RE.findall(prose)
    if boxed:
        return boxed[-1], "boxed"
    low = prose.lower()
    marked = MARKED_RE.findall(prose.replace("**", "")) if any(a in low for a in MARK_ANCHORS) else []
    if marked:
        return marked[-1].strip().split("\n")[0], "marked"
    bold = [b for b in BOLD_RE.findall(prose) if NUM_RE.search(b)]
    if bold:
        return bold[-1], "bold"
    sents = sentences(prose.replace("**", ""))
    for s in reversed(sents):
        if NUM_RE.search(s):
            return s, "last number"
    return (sents[-1] if sents else ""), "last sentence"


def final_number(answer: str) -> tuple[Fraction, bool] | None:
    """The one number that is the answer: after the last '=' of the final answer if it has one,
    else its first number when marked, boxed or bold, else its last number."""
    found, how = final_answer(answer)
    if how == "last sentence":
        return None
    after_eq = "=" in found
    if after_eq:
        found = found.rsplit("=", 1)[1]
    nums = numbers(found)
    if not nums:
        return None
    return nums[0] if how in ("boxed", "marked", "bold") or after_eq else nums[-1]


def same_number(a: tuple[Fraction, bool], b: tuple[Fraction, bool], rel: float = 1e-6) -> bool:
    """Equal values, allowing a percent on either side (50% = 0.5) and rounding (0.333 ~ 1/3)."""
    (x, px), (y, py) = a, b
    candidates = [(x, y)]
    if px != py:
        candidates.append((x / 100, y) if px else (x, y / 100))
    for u, v in candidates:
        tol = max(abs(v), abs(u)) * Fraction(rel) + _rounding(u) + _rounding(v)
        if abs(u - v) <= tol:
            return True
    return False


def _rounding(v: Fraction) -> Fraction:
    """Half a unit of the last decimal place a short decimal shows (0.33 -> 0.005), else 0."""
    if v.denominator == 1:
        return Fraction(0)
    s = f"{float(v):.10g}"
    if "." in s and len(s.split(".")[1]) <= 4 and "e" not in s:
        return Fraction(1, 2 * 10 ** len(s.split(".")[1]))
    return Fraction(0)


def reference_number(reference: str) -> tuple[Fraction, bool] | None:
    """The reference as a number when it is one ("84", "1/2", "50%", "$12", "84 km")."""
    m = re.fullmatch(r"\s*[$€£₩]?\s*(" + NUM_RE.pattern + r")\s*[^\d\s]{0,12}\s*", reference)
    return parse_number(m.group(1)) if m else None


# Options of a multiple-choice question: "A)125", "(B) 3 km", "C. Paris", "D: none" at line starts.
OPTION_LINE_RE = re.compile(r"^[ \t]*\(?([A-H])(?:\)|\.|:)[ \t]*(\S.*?)[ \t]*$", re.M)
# Inline options on one line: "A) 12 B) 15 C) 18".
OPTION_INLINE_RE = re.compile(r"(?:^|\s)\(?([A-H])\)\s*(.+?)(?=\s+\(?[A-H]\)|\s*$)", re.M)
# The letter an answer picks: "Answer: C", "ANSWER:B", "the answer is (D)", "Option C", "correct answer E",
# "ANS: D", "the answer will be A".
PICKED_RE = re.compile(r"(?i:\b(?:answer|ans|option|choice)\b)(?:\s*(?i:is|will be|:|=|-),?)?"
                       r"(?:\s*(?i:option|choice))?\s*[:(]?\s*([A-H])(?![\w'’])")
# A last line that is only the letter: "B", "(B)", "B." ("B) 60 km/h" may be a list of the options).
BARE_PICK_RE = re.compile(r"\(?([A-H])\)?[.:]?$")


def options(question: str) -> dict[str, str]:
    """{letter: option text} of a multiple-choice question: two or more options lettered A, B, ...
    in order, one a line or inline; {} otherwise ("A. Smith wrote it." alone is not a choice)."""
    for rx in (OPTION_LINE_RE, OPTION_INLINE_RE):
        found = {}
        for m in rx.finditer(question):
            letter = m.group(1)
            if ord(letter) - ord("A") == len(found):
                found[letter] = m.group(2).strip()
            elif letter == "A":
                found = {"A": m.group(2).strip()}   # a later list starts over
        if len(found) >= 2:
            return found
    return {}


def _holds(text: str, option: str) -> bool:
    """Does `text` state the option's value: its number among the text's numbers, else its words?"""
    num = reference_number(option)
    if num is not None:
        return any(same_number(n, num) for n in numbers(text))
    opt = normalize(option)
    return bool(opt) and f" {opt} " in f" {normalize(text)} "


def matches_choice(answer: str, letter: str, question: str, strict: bool = False) -> tuple[bool, str] | None:
    """A reference that is an option letter of `question`: the answer agrees when the letter it
    picks at its end ("Answer: C" in the last sentence, or in the two last when the one before ends
    with ":", or in the final answer; else a last line that is only the letter; else the one "(C)"
    its final answer names) is that one. Picking none, its final answer must state that option's
    value (400 for "C)400") and no other's (`strict`: eval's accuracy), or either state that value
    or no other option's (the filter: a final answer that names no option, or only values the
    question itself gives, contradicts nothing). None when `letter` is not an option of the question."""
    opts = options(question)
    if letter not in opts:
        return None
    found, _ = final_answer(answer)
    sents = sentences(strip_code(answer).replace("**", ""))
    last = sents[-2:] if len(sents) > 1 and sents[-2].endswith(":") else sents[-1:]   # "Final Answer:\nA"
    end = " ".join(last) + "\n" + found   # where a pick is stated: not "answer choice (A) …" first
    picked = [p for p in PICKED_RE.findall(end) if p in opts]
    bare = BARE_PICK_RE.match(last[-1]) if last else None
    if not picked and bare and bare.group(1) in opts:
        picked = [bare.group(1)]
    named = {p for p in re.findall(r"\(([A-H])\)", found) if p in opts}   # "…, so (B) must be true."
    if not picked and len(named) == 1:
        picked = list(named)
    if picked:
        return picked[-1] == letter, found
    starts = [m.start() for rx in (OPTION_LINE_RE, OPTION_INLINE_RE) for m in rx.finditer(question)
              if m.group(1) == "A"]
    stem = question[:min(starts)] if starts else question   # a number the question gives is no pick ("90 km")
    states = _holds(found, opts[letter])
    others = any(_holds(found, text) and not _holds(stem, text) for other, text in opts.items() if other != letter)
    return (states and not others if strict else states or not others), found


def matches_reference(answer: str, reference: str | list[str], question: str = "",
                      strict: bool = False) -> tuple[bool, str]:
    """(agrees, the final answer found). A number is matched among the final answer's numbers;
    a string must appear, normalized, in the final answer or (with no marker) the whole answer.
    A reference that is an option letter of the question ("C" with "C)400" in it) is matched as
    a choice (matches_choice).
    The filter asks whether an answer contradicts its reference; eval's accuracy, `strict`, whether
    it states it: a multiple-choice answer that picks no option and states no single option's value
    is then wrong, and a reference with no letters or digits ("?") must stand on its own in the
    final answer, not end a sentence. Numbers and words match alike in both ("80 or 84" holds 84).
    A list of references is a list of accepted answers: the answer agrees when it agrees with any."""
    if isinstance(reference, list):
        results = [matches_reference(answer, r, question, strict) for r in reference]
        return next((r for r in results if r[0]), results[0] if results else (False, final_answer(answer)[0]))
    ref_letter = str(reference).strip().strip("()")
    if question and len(ref_letter) == 1:
        choice = matches_choice(answer, ref_letter.upper(), question, strict)
        if choice is not None:
            return choice
    found, how = final_answer(answer)
    ref_num = reference_number(str(reference))
    if ref_num is not None:
        return any(same_number(n, ref_num) for n in asserted_numbers(found)), found
    ref = normalize(str(reference))
    if not ref:
        mark = re.search(rf"(?<!\w){re.escape(str(reference).strip())}", found)   # "?" as itself, not a question's end
        return bool(mark) if strict else True, found
    where = normalize(found if how in ("boxed", "marked", "bold") else answer)
    if re.search(r"[\uac00-\ud7af\u3040-\u30ff\u4e00-\u9fff]", ref):
        return ref in where, found   # no spaces between a Korean noun and its particle
    return f" {ref} " in f" {where} ", found


def answer_key(answer: str) -> str | None:
    """A comparable key for the consistency vote: the final number (0.5, 1/2 and 50% share one key).
    None when the answer has no final number: free text cannot be voted on reliably."""
    n = final_number(answer)
    if n is None:
        return None
    v, pct = n
    return f"{float(v / 100 if pct else v):.6g}"
