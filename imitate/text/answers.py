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


def numbers(text: str) -> list[tuple[Fraction, bool]]:
    """The numbers of `text` in order, digits or English words up to twenty."""
    found = [(m.start(), parse_number(m.group(0))) for m in NUM_RE.finditer(text)]
    found += [(m.start(), (Fraction(WORDS[m.group(0).lower()]), False))
              for m in re.finditer(r"[A-Za-z]+", text) if m.group(0).lower() in WORDS]
    return [n for _, n in sorted(found, key=lambda p: p[0]) if n is not None]


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


def matches_reference(answer: str, reference: str) -> tuple[bool, str]:
    """(agrees, the final answer found). A number is matched among the final answer's numbers;
    a string must appear, normalized, in the final answer or (with no marker) the whole answer."""
    found, how = final_answer(answer)
    ref_num = reference_number(str(reference))
    if ref_num is not None:
        got = numbers(found)
        return any(same_number(n, ref_num) for n in got), found
    ref = normalize(str(reference))
    if not ref:
        return True, found
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
