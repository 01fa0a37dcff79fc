"""Find the equations an answer states ("12 × 7 = 84", "a + b = c + d = e") and check them.

Only plain arithmetic is judged: numbers, + - − × x * · / ÷, parentheses and '='. An equation whose
ends touch letters, units, %, ^ or a range (`5 km = 5000 m`, `2^10 = 1024`, `1990-2000`), or that
has no operator at all (`Level 1 = 100 points`), is left alone, so units, dates, ranges and list
numbering do not trigger it. A first side must not start inside a larger expression: after "of",
"times", "%", "^" and the like it is dropped ("half of 10 + 2 = 7"); "X% of Y" itself is read as
X/100 × Y. A last side followed by Korean, Chinese or Japanese ("54입니다", "54个") ends at the
number, unless what follows scales it ("6만", "25퍼센트", "3분의 1").
"""
from __future__ import annotations

import re
from fractions import Fraction

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
RUN_RE = re.compile(rf"(?:{NUMBER}|[+\-−*/×÷·()=]|[ \t])+")
TOKEN_RE = re.compile(rf"({NUMBER})|([+\-−*/×÷·()=])|[ \t]+")
TIMES_RE = re.compile(r"(?<=\d)[ \t]*[xX][ \t]*(?=\d)")
LATEX = [(r"\times", " × "), (r"\cdot", " · "), (r"\div", " ÷ "), (r"\left", ""), (r"\right", ""),
         ("**", ""), ("__", ""), ("$", " "), ("\\(", " "), ("\\)", " "), ("\\[", " "), ("\\]", " ")]
CURRENCY_RE = re.compile(r"[€£₩¥](?=\d)")
FRAC_RE = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
BOXED_RE = re.compile(r"\\boxed\{([^{}]*)\}")
# A last side followed by one of these words is not the whole value ("3 remainder 1", "10 in binary").
STOP_AFTER = re.compile(r"\s*(remainder|rem|r\b|in\b|base|mod|modulo|with|and\s+\d|\(mod|余|나머지|"
                        r"(?:hundred|thousand|million|billion|trillion|percent|squared|cubed)\b)", re.I)
# "15% of 240" -> "15/100 × 240" (only when a number follows "of").
PERCENT_OF_RE = re.compile(r"(\d+(?:\.\d+)?)[ \t]*(?:\\?%|[ \t]percent)[ \t]+of[ \t]+(?=[\d(.])", re.I)
# Words that take the number after them as an operand: a side starting there is mid-expression.
# "the sum of 3 + 4 = 7" is still an equation: the sum of an expression is the expression.
OPERAND_WORDS = frozenset("of percent per times plus minus by over than divided multiplied squared "
                          "cubed power root sqrt mod modulo log ln sin cos tan exp".split())
SAME_VALUE_OF = frozenset("sum total product difference quotient result value answer".split())
PRE_WORD_RE = re.compile(r"(?:([^\W\d_]+)[ \t]+)?([^\W\d_]+|[%^％])[ \t]*$")
CJK_AFTER_RE = re.compile(r"[\uac00-\ud7a3\u3040-\u30ff\u4e00-\u9fff]")
# After a number these scale it or make it a percentage, a fraction or a power: not the whole value.
CJK_SCALE_RE = re.compile(r"[십백천만억조경十百千万萬亿億兆%％]|퍼센트|프로|분의|제곱|승|分之|パーセント")
OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "·": "*", "/": "/", "÷": "/"}


def prepare(text: str) -> str:
    """Undo LaTeX and markdown that hide plain arithmetic: \\times, \\frac{a}{b}, **bold**, $...$."""
    text = BOXED_RE.sub(r"\1", FRAC_RE.sub(r"(\1)/(\2)", text))
    for old, new in LATEX:
        text = text.replace(old, new)
    text = TIMES_RE.sub(" × ", CURRENCY_RE.sub("", text))
    return PERCENT_OF_RE.sub(r"\1/100 × ", text) if "%" in text or "percent" in text else text


def _tokens(run: str) -> list[tuple[str, object]]:
    out = []
    for m in TOKEN_RE.finditer(run):
        if m.group(1):
            out.append(("num", (Fraction(m.group(1).replace(",", "")), m.group(1), m.start(), m.end())))
        elif m.group(2):
            out.append(("op", (OPS.get(m.group(2), m.group(2)), m.start())))
    return out


def _parse(toks: list) -> Fraction | None:
    """Evaluate a side; None if it is not a whole arithmetic expression."""
    pos = 0

    def peek():
        return toks[pos][1][0] if pos < len(toks) and toks[pos][0] == "op" else None

    def factor():
        nonlocal pos
        if pos >= len(toks):
            raise ValueError
        kind, val = toks[pos]
        if kind == "num":
            pos += 1
            return val[0]
        if val[0] in "+-":
            pos += 1
            return -factor() if val[0] == "-" else factor()
        if val[0] == "(":
            pos += 1
            v = expr()
            if peek() != ")":
                raise ValueError
            pos += 1
            return v
        raise ValueError

    def term():
        nonlocal pos
        v = factor()
        while peek() in ("*", "/"):
            op = peek()
            pos += 1
            w = factor()
            v = v * w if op == "*" else v / w
        return v

    def expr():
        nonlocal pos
        v = term()
        while peek() in ("+", "-"):
            op = peek()
            pos += 1
            w = term()
            v = v + w if op == "+" else v - w
        return v

    try:
        v = expr()
    except (ValueError, ZeroDivisionError):
        return None
    return v if pos == len(toks) else None


def _has_range(run: str, toks: list) -> bool:
    """`1990-2000`, `5-10`: a hyphen with no spaces between a smaller and a larger number."""
    for i in range(1, len(toks) - 1):
        k0, a = toks[i - 1]
        k1, op = toks[i]
        k2, b = toks[i + 1]
        if k0 == k2 == "num" and k1 == "op" and op[0] == "-" and run[op[1] - 1:op[1] + 2].count(" ") == 0:
            if b[0] > a[0]:
                return True
    return False


def _sides(text: str, start: int, end: int) -> list[list] | None:
    run = text[start:end]
    toks = _tokens(run)
    if _has_range(run, toks):
        return None
    sides, cur = [], []
    for t in toks:
        if t == ("op", ("=", t[1][1])):
            sides.append(cur)
            cur = []
        else:
            cur.append(t)
    sides.append(cur)
    before = text[start - 1] if start > 0 else " "
    if not sides[0] or sides[0][0][0] == "op" and sides[0][0][1][0] not in "(-" or \
            (not run[0].isspace() and (before.isalnum() or before in "^_.,%％")) or _mid_expression(text, start):
        sides = sides[1:]
    if sides and (not sides[-1] or not run[-1].isspace() and _glued_after(text, end) or STOP_AFTER.match(text, end)):
        sides = sides[:-1]
    return sides


def _mid_expression(text: str, start: int) -> bool:
    """True when the words just before `start` take it as an operand: "15% of", "3 times", "2 ^"."""
    m = PRE_WORD_RE.search(text[max(0, start - 40):start])
    if not m:
        return False
    word = m.group(2).lower()
    if word in "%^％":
        return True
    return word in OPERAND_WORDS and not (word == "of" and (m.group(1) or "").lower() in SAME_VALUE_OF)


def _glued_after(text: str, end: int) -> bool:
    """True when what touches the last number continues it (a unit, "%", "^", a decimal part).
    Korean, Chinese and Japanese write particles and counters right after a number ("54입니다",
    "54개"): those end it, unless they scale it ("6만", "25퍼센트", "3분의 1")."""
    after = text[end] if end < len(text) else " "
    if after in ".,":
        return text[end + 1:end + 2].isdigit()
    if CJK_AFTER_RE.match(after):
        return CJK_SCALE_RE.match(text, end) is not None
    return after.isalnum() or after in "^_%°％‰"


def _value(side: list, trim: str) -> Fraction | None:
    """Parse a side; the first side may lose leading tokens ("2) 3 + 4"), the last trailing ones."""
    for k in range(len(side)):
        part = side[k:] if trim == "lead" else side[: len(side) - k] if trim == "tail" else side
        v = _parse(part) if part else None
        if v is not None or trim == "none":
            return v
    return None


def _equal(a: Fraction, b: Fraction, sa: list, sb: list) -> bool:
    if a == b:
        return True
    tol = abs(a) * Fraction(1, 10**9)
    for side in (sa, sb):   # a stated "3.14" or "0.33" is a rounding: allow half its last digit
        if len(side) == 1 and side[0][0] == "num" and "." in side[0][1][1]:
            decimals = len(side[0][1][1].split(".")[1])
            tol = max(tol, Fraction(1, 2 * 10**decimals) * Fraction(1001, 1000))
    return abs(a - b) <= tol


def false_equations(answer: str) -> list[str]:
    """The equations in `answer` that do not hold, as written (after LaTeX/markdown clean-up)."""
    text = prepare(answer)
    if "=" not in text:
        return []
    bad = []
    for m in RUN_RE.finditer(text):
        run = m.group(0)
        if "=" not in run or not any(ch.isdigit() for ch in run):
            continue
        sides = _sides(text, m.start(), m.end())
        if not sides or len(sides) < 2:
            continue
        if not any(t[0] == "op" and t[1][0] in "+-*/" for s in sides for t in s):
            continue   # "Level 1 = 100": a label, not arithmetic
        values = [_value(s, "lead" if i == 0 else "tail" if i == len(sides) - 1 else "none")
                  for i, s in enumerate(sides)]
        if any(v is None for v in values):
            continue
        for i in range(len(values) - 1):
            if not _equal(values[i], values[i + 1], sides[i], sides[i + 1]):
                shown = " ".join(run.split())
                bad.append(f"{shown} (left side is {_show(values[i])}, right side {_show(values[i + 1])})")
                break
    return bad


def _show(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{float(v):.6g}"
