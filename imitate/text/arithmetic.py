"""Find the equations an answer states ("12 × 7 = 84", "a + b = c = d") and check them.

Each side is read by imitate.text.expression (tokens and the recursive-descent parser).

An equation is `side = side (= side …)` within one line or sentence; each adjacent pair of sides is
checked exactly, over fractions. A side is an arithmetic expression, parsed by recursive descent:
- numbers: `18,000`, `18 000`, `1.000.000`, `0.5`, `.5`, mixed `1 1/2`, `½`; currency signs dropped;
- + - − – * × · ÷ / ⁄ ^ ** ² ³, "x" between values (`3 x 4`), brackets, implicit products
  (`2(3+4)`, `(3)(4)`), `%` (`20% of 50`, `50 × 20%`), "of" after a fraction (`2/5 of 30`), scale
  words (`12 thousand`), and unit words after a number, which are dropped (`237 potatoes - 60`);
- LaTeX (`\frac`, `\times`, `$…$`) and markdown (`**…**`, list bullets) are undone first.
A pair holds when the values are equal under some reading of the text: as written, or with "%" as a
bare label (`0.25 × 100 = 25%`), a dot as thousands separator (`1.500`), a scale word as a unit
(`4 - 1.5 = 2.5 dozen`), a trailing "!" as factorial; a running calculation `2 × 3 = 6 × 2 = 12`
does not claim 6 = 12. A single number with fewer decimals than the exact value may be its
rounding or cut (`10/3 = 3.33`, `2/3 = 0.66`; a whole number may round either way: `1000/3 = 334`);
operands with 2+ decimals count as rounded (`3.33 × 3 = 10`).
No claim is made (the pair is skipped) when:
- neither side has an operator (`Level 1 = 100`, `5 km = 5000 m`), `≈` joins them, or the first
  side is a number of named things (`98 boxes = 60 × 98`);
- a side holds a variable or a function: a letter that is not a unit word after a number
  (`2x + 3 = 7`, `n = 5`, `x^2`), `sqrt`, `sin`;
- the first side does not start a whole expression: a word, digit or sign glued to it (`abc12`,
  `1/2/3`), a binary operator or a minus after a word (`weeks - 3`), or a word that takes it as an
  operand ("3 times", "half of", "divided by"); or the last side goes on (`= 3 remainder 1`,
  `= 10 in binary`, `= 6만`, `= 5×`, `= 10:30`, `= 10 x S2`);
- it holds a range, a date, a time or a ratio (`1990-2000`, `12/25/2020`, `10:30`, `3:4`), a
  percentage added to a plain number (`50 + 10%`), a sum of different units of measure
  (`1 hour + 30 minutes`), or one unit of measure on each side, different (`2 km + 3 km = 5000 m`).
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

from imitate.text.expression import CJK_RE, CJK_SCALE_RE, VALUE_END, Parser, Skip, Tok, _unit_name, prepare, tokenize
from imitate.text.math_words import (BY_AFTER, FUNCS, MEASURE, NOT_UNITS, OF_AFTER, OPERAND_WORDS, SCALE, SHORT_UNITS,
                                     STOP_AFTER)

SEGMENT_RE = re.compile(r"\n|(?<=[.!?;。！？])[ \t]+")
EQ_DIGIT_RE = re.compile(r"\d[^\n]*[=≈]|[=≈][^\n]*\d")
# What may touch a first side on its left: brackets, quotes, markup, currency; anything else
# (a letter, a digit, "." "," ":" "/" "^" "%" "'", a fraction slash) makes it part of something larger.
GLUE_OK = frozenset("([{\"“‘*<>=$€£¥₩₹#~")


# ----------------------------------------------------------------------------------------- values
def _eval(node) -> Fraction:
    kind = node[0]
    if kind == "n":
        return node[1]
    if kind == "neg":
        return -_eval(node[1])
    a, b = _eval(node[1]), _eval(node[2])
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        if b == 0:
            raise Skip("division by zero")
        return a / b
    if b.denominator != 1 or abs(b) > 64 or abs(a.numerator) > 10**12 or abs(a.denominator) > 10**12:
        raise Skip("a power we do not evaluate")
    if a == 0 and b < 0:
        raise Skip("division by zero")
    return a ** int(b)


def _run_on(left, right) -> bool:
    """`2 * 3 = 6 * 2 = 12`: a right side that starts from the left side's value and goes on is a
    running calculation, not a claim that 6 = 12 (the next pair is checked on its own)."""
    node = right
    while node[0] in "+-*/^" and len(node) == 3:
        node = node[1]
    return node is not right and node[0] == "n" and node[1] == _eval(left)


def _readings(node, found: set) -> None:
    if node[0] == "n":
        if node[4]:
            found.add(node[4])
    else:
        for child in node[1:]:
            _readings(child, found)


def _read(node, reading: str):
    """The tree under another reading: alternative values in, factors of 1 gone."""
    kind = node[0]
    if kind == "n":
        return ("n", node[3], 0, None, None) if node[4] == reading else node
    if kind == "neg":
        return ("neg", _read(node[1], reading))
    a, b = _read(node[1], reading), _read(node[2], reading)
    if kind == "*" and b[0] == "n" and b[1] == 1 and node[2][4] == reading:
        return a
    return (kind, a, b)


def _interval(node, tol_literals: bool) -> tuple[Fraction, Fraction] | None:
    """Bounds of a side when its operands with 2+ decimals are roundings (half a unit either way)."""
    kind = node[0]
    if kind == "n":
        v, ulp = node[1], node[2]
        h = ulp / 2 if tol_literals and ulp and ulp <= Fraction(1, 100) else 0
        return v - h, v + h
    if kind == "neg":
        r = _interval(node[1], tol_literals)
        return None if r is None else (-r[1], -r[0])
    a, b = _interval(node[1], tol_literals), _interval(node[2], tol_literals)
    if a is None or b is None:
        return None
    if kind == "+":
        return a[0] + b[0], a[1] + b[1]
    if kind == "-":
        return a[0] - b[1], a[1] - b[0]
    if kind == "/":
        if b[0] <= 0 <= b[1]:
            return None
        b = (1 / b[1], 1 / b[0])
        kind = "*"
    if kind == "*":
        ps = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
        return min(ps), max(ps)
    if b[0] != b[1] or b[0].denominator != 1:
        return None
    n = int(b[0])
    if n < 0 and a[0] <= 0 <= a[1]:
        return None
    ps = (a[0] ** n, a[1] ** n)
    lo, hi = min(ps), max(ps)
    if n % 2 == 0 and a[0] < 0 < a[1]:
        lo = Fraction(0)
    return lo, hi


def _decimals(v: Fraction, limit: int = 12) -> int | None:
    """Digits after the point that v needs, or None when it does not terminate within `limit`."""
    for d in range(limit + 1):
        if (v * 10 ** d).denominator == 1:
            return d
    return None


def _holds(left, right) -> bool:
    """True when the sides are equal under some reading of the text, allowing roundings."""
    readings: set = set()
    _readings(left, readings)
    _readings(right, readings)
    if _equal(left, right):
        return True
    return any(_equal(_read(left, r), _read(right, r)) for r in sorted(readings))


def _rounded(exact: Fraction, shown: Fraction, ulp: Fraction) -> bool:
    """`shown`, written with the decimals of `ulp`, is `exact` rounded to nearest or cut (10/3 = 3.33,
    2/3 = 0.67 or 0.66); a whole number may also be rounded up or down (7/2 = 3, 1000/3 = 334)."""
    d = len(str(ulp.denominator)) - 1 if ulp else 0
    need = _decimals(exact)
    if need is not None and need <= d:
        return False                        # it could have been written exactly
    scaled = exact * 10 ** d
    options = {math.floor(scaled), math.ceil(scaled)} if d == 0 else {
        math.floor(scaled + Fraction(1, 2)), math.ceil(scaled - Fraction(1, 2)), math.trunc(scaled)}
    return shown * 10 ** d in options


def _equal(left, right) -> bool:
    a, b = _eval(left), _eval(right)
    if a == b or abs(a - b) <= max(abs(a), abs(b)) * Fraction(1, 10**12):   # float noise: 0.30000000000000004
        return True
    for shown, exact in ((right, a), (left, b)):
        if shown[0] == "n" and _rounded(exact, shown[1], shown[2]):
            return True
    lo1, lo2 = _interval(left, True), _interval(right, True)
    return lo1 is None or lo2 is None or lo1[0] <= lo2[1] and lo2[0] <= lo1[1]


# ----------------------------------------------------------------------------------------- sides
def _left_start(toks: list[Tok], e: int, lo: int) -> int:
    """Index where the expression that ends just before toks[e] begins (== e when there is none)."""
    j = e - 1
    depth = 0
    while j >= lo:
        t = toks[j]
        if t.kind in ("num", "ufrac", "sup", "pct", "op"):
            j -= 1
        elif t.kind == "rp":
            depth += 1
            j -= 1
        elif t.kind == "lp":
            if depth == 0:
                break
            depth -= 1
            j -= 1
        elif t.kind == "word":
            # a run of up to 3 words is a unit when a value comes before it and an operator after it
            k = j
            while k >= lo and j - k < 3 and toks[k].kind == "word" and toks[k].text.lower() not in NOT_UNITS:
                k -= 1
            after = toks[j + 1]
            before = toks[k] if k >= lo else None
            if before is not None and before.kind in VALUE_END and after.kind in ("op", "eq", "rp", "pct") \
                    or toks[j].text.lower() in SCALE and before is not None and before.kind == "num":
                j = k
            else:
                break
        else:
            break
    start = j + 1
    depth = 0
    for k in range(start, e):           # an unmatched ")" ends whatever came before: "2) 3 + 4"
        if toks[k].kind == "lp":
            depth += 1
        elif toks[k].kind == "rp":
            depth -= 1
            if depth < 0:
                start, depth = k + 1, 0
    return start


def _left_side(text: str, toks: list[Tok], e: int, lo: int):
    s = _left_start(toks, e, lo)
    if s >= e:
        return None
    first = toks[s]
    prev = toks[s - 1] if s > 0 else None
    if first.kind == "op" and first.val in "+-" and s == 0 and s + 1 < e and toks[s + 1].sp:
        s += 1                                          # a list bullet: "- 3 + 4 = 7"
        first = toks[s]
    else:
        if prev is not None and prev.kind in ("sup", "pct", "op"):
            raise Skip("the first side is an operand")
    if first.kind == "op":
        if first.val not in "+-" or (prev is not None and prev.kind in ("word", "num", "ufrac", "pct")):
            raise Skip("the first side continues the text before it")
    elif not first.sp and first.start > 0 and text[first.start - 1] not in GLUE_OK and not (
            text[first.start - 1] == ":" and first.start > 1 and text[first.start - 2].isalpha()):  # "Total:3+4"
        raise Skip("the first side is glued to the text before it")
    if prev is not None and prev.kind == "word":
        word = prev.text.lower()
        before = toks[s - 2] if s >= 2 else None
        if word in OPERAND_WORDS or word in ("of", "by") and before is not None and (
                before.kind in ("num", "pct", "ufrac", "rp") or before.kind == "word" and
                before.text.lower() in (OF_AFTER if word == "of" else BY_AFTER)):
            raise Skip("the first side is an operand of the word before it")
    p = Parser(toks, s, e)
    node, _, _ = p.expr()
    if p.i != e:
        raise Skip("the first side is not one expression")
    if first.kind == "lp" and prev is not None and prev.kind == "word" and first.sp and _one_group(toks, s, e):
        raise Skip("an aside in brackets after a word: 'in half a day (1/2) = …'")
    return s, node, p


def _one_group(toks: list[Tok], s: int, e: int) -> bool:
    depth = 0
    for k in range(s, e):
        depth += toks[k].kind == "lp"
        depth -= toks[k].kind == "rp"
        if depth == 0:
            return k == e - 1
    return False


def _right_side(text: str, toks: list[Tok], e: int):
    p = Parser(toks, e + 1, len(toks))
    if not p.operand_at(0):
        raise Skip("no expression after '='")
    node, _, _ = p.expr()
    j = p.i
    last = toks[j - 1]
    nxt = toks[j] if j < len(toks) else None
    if nxt is not None and nxt.kind == "other" and nxt.text == "!" and not nxt.sp:
        if node[0] != "n":
            raise Skip("a factorial")
        if node[1].denominator == 1 and 0 <= node[1] <= 20:        # "= 5040 = 7!" or "= 84!"
            node = ("n", node[1], 0, Fraction(math.factorial(int(node[1]))), "fact")
    elif nxt is not None:
        if nxt.kind in ("op", "num", "ufrac", "sup") or nxt.kind == "lp" and not nxt.sp:
            raise Skip("the last side goes on")
        if nxt.kind == "other" and not nxt.sp and nxt.text in ".,:/" and j + 1 < len(toks) \
                and toks[j + 1].kind == "num" and not toks[j + 1].sp:
            raise Skip("the last side goes on (a time, a date or a list)")
        if nxt.kind == "word":
            if not nxt.sp and CJK_RE.match(nxt.text):
                if CJK_SCALE_RE.match(nxt.text):
                    raise Skip("the last number is scaled")
            elif not nxt.sp and last.kind == "num":
                w = nxt.text
                if len(w) <= 2 and w not in SHORT_UNITS and not w.startswith("°") or w.lower() in FUNCS:
                    raise Skip("a variable after the last number")
        if STOP_AFTER.match(text, last.end) or last.kind == "pct" and nxt.text.lower() == "of":
            raise Skip("the last number is not the whole value")
    return j, node, p


def _trailing_unit(toks: list[Tok], j: int) -> str | None:
    t = toks[j] if j < len(toks) else None
    return _unit_name(t.text) if t is not None and t.kind == "word" else None


def equations(text: str):
    """Each '=' in one line of prepared text, judged: ("holds" | "false" | "skip", detail).
    For "false" the detail is the evidence; for "skip" it says why no claim is made."""
    toks = tokenize(text)
    carried = -1          # index of an '=' whose left side is the checked right side of the one before
    chain_start = reported_chain = None
    prev_eq = -1
    for e in [i for i, t in enumerate(toks) if t.kind == "eq"]:
        lo, prev_eq = prev_eq + 1, e
        if toks[e].text not in ("=", "=="):
            yield "skip", "an approximation"
            continue
        try:
            left = _left_side(text, toks, e, lo)
            if left is None:
                yield "skip", f"nothing before '=': {' '.join(text.split())[:80]}"
                continue
            s, lnode, lp = left
            j, rnode, rp = _right_side(text, toks, e)
            in_chain = carried == e and s == lo
            if not in_chain:
                chain_start = toks[s].start
            if not (lp.ops or rp.ops or in_chain):
                raise Skip("no operator: a label ('Level 1 = 100')")
            if lnode[0] == "n" and lp.units and not in_chain:
                raise Skip("a number of things named before '=': '98 boxes = 60 × 98'")
            lm, rm = lp.units & MEASURE, (rp.units | {_trailing_unit(toks, j)}) & MEASURE
            rate = any("/" in u for u in lp.units | rp.units)          # "8 feet / 2 feet/hour"
            if len(lm) == 1 and len(rm) == 1 and lm != rm and not rate:
                raise Skip("different units on the two sides: a conversion")
            ok = _holds(lnode, rnode) or _run_on(lnode, rnode)
        except Skip as why:
            yield "skip", f"{why}: {' '.join(text.split())[:80]}"
            continue
        if j < len(toks) and toks[j].kind == "eq":
            carried = j
        if ok:
            yield "holds", text[toks[s].start:toks[j - 1].end]
        elif reported_chain != chain_start:
            reported_chain = chain_start
            end = toks[j - 1].end
            k = j
            while k < len(toks) and toks[k].kind == "eq":   # show the rest of the chain
                try:
                    k, _, _ = _right_side(text, toks, k)
                    end = toks[k - 1].end
                except Skip:
                    break
            shown = " ".join(text[chain_start:end].split())
            yield "false", f"{shown} (left side is {_show(_eval(lnode))}, right side {_show(_eval(rnode))})"


def segments(answer: str):
    """The prepared pieces of `answer` (lines, sentences) that may hold an equation."""
    if "=" not in answer:
        return
    for seg in SEGMENT_RE.split(answer):
        if "=" in seg and EQ_DIGIT_RE.search(seg):
            yield prepare(seg)


def false_equations(answer: str) -> list[str]:
    """The equations in `answer` that do not hold, as written (after LaTeX/markdown clean-up)."""
    return [detail for seg in segments(answer) for verdict, detail in equations(seg) if verdict == "false"]


def _show(v: Fraction) -> str:
    if abs(v) >= 10**15:
        return f"about 10^{len(str(abs(int(v)))) - 1}"
    return str(v.numerator) if v.denominator == 1 else f"{float(v):.6g}"
