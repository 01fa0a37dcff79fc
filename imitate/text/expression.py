"""Arithmetic expressions as answers write them: tokens, and a recursive-descent parser to a tree.

imitate.text.arithmetic finds the equations of an answer and checks them; this module reads one
side. `tokenize` turns text (after `prepare` undoes LaTeX and markdown) into tokens: numbers in
their written forms (`18,000`, `18 000`, `1.000.000`, `.5`, mixed `1 1/2`, `½`), operators, "x"
between values, brackets, `%`, scale words (`12 thousand`), unit words and other words. `Parser`
builds the tree over fractions: implicit products (`2(3+4)`), "of" after a fraction (`2/5 of 30`),
powers, and `%`, `²`, `³`, "squared" and scale words after a value; it raises `Skip` for anything
it cannot judge (a variable, a function, a range, a date or time, mixed units of measure).
"""

from __future__ import annotations

import re
from fractions import Fraction

from imitate.text.math_words import AMBIGUOUS_SCALE, FUNCS, MEASURE, NOT_UNITS, SCALE, SHORT_UNITS

# ----------------------------------------------------------------------------------------- tokens
_SP = "[ \u00a0\u202f]"
TOKEN_RE = re.compile(rf"""
 (?P<sp>[ \t\u00a0\u202f]+)
|(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?!\d)
        |\d{{1,3}}(?:{_SP}\d{{3}})+(?:\.\d+)?(?![\d/])
        |\d{{1,3}}(?:\.\d{{3}}){{2,}}(?![.\d])
        |\d+(?:\.\d+)?|\.\d+)
|(?P<ufrac>[½¼¾⅓⅔⅛⅜⅝⅞])
|(?P<sup>[²³])
|(?P<cmp>[<>!]=|=>|=<)
|(?P<eq>==?|≈|≃|≅|≒|~=)
|(?P<op>\*\*|[+\-−–*/×÷·^∗⁄∕])
|(?P<pct>[%％‰])
|(?P<lp>[(\[])
|(?P<rp>[)\]])
|(?P<cur>[$€£¥₩₹])
|(?P<word>(?:[^\W\d_]|°)+)
|(?P<other>.)
""", re.X)
OPS = {"+": "+", "-": "-", "−": "-", "–": "-", "*": "*", "∗": "*", "×": "*", "·": "*", "/": "/", "⁄": "/",
       "∕": "/", "÷": "/", "^": "^", "**": "^"}
UFRAC = {"½": Fraction(1, 2), "¼": Fraction(1, 4), "¾": Fraction(3, 4), "⅓": Fraction(1, 3),
         "⅔": Fraction(2, 3), "⅛": Fraction(1, 8), "⅜": Fraction(3, 8), "⅝": Fraction(5, 8), "⅞": Fraction(7, 8)}
CJK_RE = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3\u3040-\u30ff\u3400-\u9fff]")
# After a number these scale it or make it a percentage, a fraction or a power: skip the side.
CJK_SCALE_RE = re.compile(r"[십백천만억조경十百千万萬亿億兆]|퍼센트|프로|분의|제곱|승|分之|パーセント")
# "**" and "__" in markdown.  LaTeX that hides plain arithmetic.
FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
BOXED_RE = re.compile(r"\\(?:boxed|text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}")
LATEX = [("\\times", " × "), ("\\cdot", " · "), ("\\div", " ÷ "), ("\\approx", " ≈ "), ("\\left", ""),
         ("\\right", ""), ("\\%", "%"), ("\\$", "$"), ("\\,", ""), ("{,}", ","), ("\\!", ""), ("\\ ", " "),
         ("\\(", " "), ("\\)", " "), ("\\[", " "), ("\\]", " ")]

VALUE_END = ("num", "ufrac", "pct", "sup", "rp")
VALUE_START = ("num", "ufrac", "lp")


class Skip(Exception):
    """The side or pair is not something we can judge: claim nothing."""


class Tok:
    __slots__ = ("kind", "text", "start", "end", "sp", "val")

    def __init__(self, kind, text, start, end, sp, val=None):
        self.kind, self.text, self.start, self.end, self.sp, self.val = kind, text, start, end, sp, val

    def __repr__(self):
        return f"{self.kind}:{self.text}"


def prepare(text: str) -> str:
    """Undo LaTeX and markdown that hide plain arithmetic: \\times, \\frac{a}{b}, **bold**, $...$."""
    text = text.replace("__", "  ")
    if "\\" in text:
        for _ in range(3):
            new = BOXED_RE.sub(r" \1 ", FRAC_RE.sub(r"((\1)/(\2))", text))
            if new == text:
                break
            text = new
        for old, new in LATEX:
            text = text.replace(old, new)
        text = text.replace("{", "(").replace("}", ")")
    elif "^{" in text:
        text = text.replace("{", "(").replace("}", ")")
    return text


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    sp = True
    for m in TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind == "sp":
            sp = True
            continue
        if kind == "cur":            # "$12": the sign is dropped, the number stands for itself
            continue
        s = m.group()
        toks.append(Tok(kind, s, m.start(), m.end(), sp, OPS.get(s) if kind == "op" else None))
        sp = False
    # Second pass: "x" between numbers is a product; "of" after a percentage or a fraction is one;
    # "percent" after a number is "%"; a "*" or "**" with no operand on one side is markdown.
    out: list[Tok] = []
    n = len(toks)
    for i, t in enumerate(toks):
        prev = out[-1] if out else None
        nxt = toks[i + 1] if i + 1 < n else None
        if t.kind == "word":
            low = t.text.lower()
            if low == "x" and nxt is not None and prev is not None and _times_x(t, prev, nxt, out):
                t.kind, t.val = "op", "*"
            elif low == "of" and prev and nxt and nxt.kind in VALUE_START and (
                    prev.kind in ("pct", "ufrac") or prev.kind == "num" and len(out) >= 3
                    and out[-2].kind == "op" and out[-2].val == "/" and not out[-2].sp and not prev.sp
                    and out[-3].kind == "num"):
                t.kind, t.val = "op", "*"
            elif low in ("percent", "pct") and prev and prev.kind == "num":
                t.kind = "pct"
        elif t.kind == "op" and t.val == "/" and not t.sp and nxt is not None and nxt.kind == "word" \
                and not nxt.sp and prev is not None and prev.kind in ("word", "num"):
            nxt.text, nxt.start, nxt.sp = "/" + nxt.text, t.start, False      # "miles/hour", "$2/eraser"
            continue
        elif t.kind == "op" and t.text in ("*", "**"):
            operands = prev is not None and prev.kind in VALUE_END and nxt is not None and (
                nxt.kind in VALUE_START or nxt.kind == "op" and nxt.val == "-")
            if not operands and (prev is None or nxt is None or t.sp != nxt.sp):
                continue                                       # "**bold**", "*italic*"
        out.append(t)
    return out


def _times_x(t: Tok, prev: Tok, nxt: Tok, out: list[Tok]) -> bool:
    """`3 x 4`, `3x4`, `2 x (5+1)`, `15 pages x 1/3`: an "x" between two values is a times sign."""
    spaced = t.sp and nxt.sp
    if not (nxt.kind in ("num", "ufrac") or nxt.kind == "lp" and spaced):
        return False
    if prev.kind in VALUE_END:
        return True
    return spaced and prev.kind == "word" and len(out) >= 2 and out[-2].kind in VALUE_END


def _num_value(text: str) -> tuple[Fraction, Fraction, Fraction | None]:
    """(value, unit of its last written digit if it has decimals else 0, other reading or None)."""
    alt = None
    if "," in text or " " in text or "\u00a0" in text or "\u202f" in text:
        clean = re.sub(r"[,  \u202f]", "", text)
    elif text.count(".") > 1:
        clean = text.replace(".", "")
    else:
        clean = text
        if re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", text):      # "1.500": a decimal, or 1500 written
            alt = Fraction(text.replace(".", ""))            # with a dot as thousands separator
    value = Fraction(clean)
    ulp = Fraction(1, 10 ** len(clean.split(".")[1])) if "." in clean else Fraction(0)
    return value, ulp, alt


# ----------------------------------------------------------------------------------------- parser
class Parser:
    """Recursive descent over tokens toks[i:stop]. Nodes: (op, a, b), ("neg", a) and
    ("n", value, ulp, alt, reading): `alt` is the value under another reading of the text ("1.500"
    as 1500 with reading "dot", "%" as a bare label "pct", "2.5 dozen" as a unit "scale")."""

    def __init__(self, toks: list[Tok], i: int, stop: int):
        self.toks, self.i, self.stop = toks, i, stop
        self.ops = 0               # binary operators, implicit products, powers, "of"
        self.units: set[str] = set()
        self.depth = 0             # open brackets
        self.nest = 0              # active calls of unary()

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < self.stop else None

    def operand_at(self, k: int) -> bool:
        t = self.peek(k)
        if t is None:
            return False
        if t.kind in VALUE_START:
            return True
        if t.kind == "op" and t.val in "+-":
            u = self.peek(k + 1)
            return u is not None and u.kind in VALUE_START and not u.sp
        return False

    def binop(self, ops: str) -> str | None:
        t = self.peek()
        if t is not None and t.kind == "op" and t.val in ops and self.operand_at(1):
            return t.val
        return None

    def expr(self):
        node, pct, unit = self.term()
        while (op := self.binop("+-")) is not None:
            self._range_check()
            self.i += 1
            rhs, pct2, unit2 = self.term()
            if pct != pct2:
                raise Skip("a percentage added to a plain number")
            if unit and unit2 and unit != unit2 and unit in MEASURE and unit2 in MEASURE:
                raise Skip("a sum of different units")
            node, unit = (op, node, rhs), unit or unit2
            self.ops += 1
        return node, pct, unit

    def _range_check(self):
        """`1990-2000`, `5-10`: a hyphen with no spaces between a smaller and a larger number."""
        t, a, b = self.peek(), self.toks[self.i - 1], self.peek(1)
        if t.text in "-–" and not t.sp and not b.sp and a.kind == "num" and b.kind == "num" and \
                _num_value(b.text)[0] > _num_value(a.text)[0]:
            raise Skip("a range")

    def term(self):
        node, pct, unit = self.unary()
        while True:
            op = self.binop("*/")
            t = self.peek()
            if op is not None:
                if op == "/" and not t.sp and self._date_like():
                    raise Skip("a date")
                self.i += 1
                rhs, _, _ = self.unary()
                node = (op, node, rhs)
            elif t is not None and t.kind == "lp" and not t.sp and self.toks[self.i - 1].kind in ("num", "rp"):
                rhs, _, _ = self.unary()                    # implicit product: 2(3+4), (3)(4)
                node = ("*", node, rhs)
            else:
                return node, pct, unit
            self.ops += 1
            pct, unit = False, None

    def _date_like(self) -> bool:
        t = self.toks
        j = self.i
        return (j + 3 < self.stop and t[j + 1].kind == "num" and t[j + 2].kind == "op" and t[j + 2].val == "/"
                and not t[j + 2].sp and not t[j + 3].sp and t[j + 3].kind == "num")

    def unary(self):
        self.nest += 1                  # signs, powers and brackets recurse through here
        if self.nest > 60:
            raise Skip("nested too deep")
        t = self.peek()
        if t is not None and t.kind == "op" and t.val in "+-":
            self.i += 1
            node, pct, unit = self.unary()
            node = ("neg", node) if t.val == "-" else node
        else:
            node, pct, unit = self.power()
        self.nest -= 1
        return node, pct, unit

    def power(self):
        node, pct, unit = self.postfix()
        if self.binop("^") is not None:
            self.i += 1
            exp, _, _ = self.unary()
            self.ops += 1
            return ("^", node, exp), False, None
        return node, pct, unit

    def postfix(self):
        node = self.primary()
        pct, unit = False, None
        while (t := self.peek()) is not None:
            if t.kind == "pct":
                factor = Fraction(1, 1000 if t.text == "‰" else 100)
                node, pct = ("*", node, ("n", factor, 0, 1, "pct")), True
            elif t.kind == "sup" and not t.sp:
                node = ("^", node, ("n", Fraction(2 if t.text == "²" else 3), 0, None, None))
                self.ops += 1
            elif t.kind == "word" and t.text.lower() in SCALE:
                node = ("*", node, ("n", Fraction(SCALE[t.text.lower()]), 0, 1, "scale"))
            elif t.kind == "word" and t.text in ("k", "K") and not t.sp:
                node = ("*", node, ("n", Fraction(1000), 0, 1, "scale"))
            elif t.kind == "word" and (t.text in AMBIGUOUS_SCALE or CJK_SCALE_RE.match(t.text)) and not t.sp:
                raise Skip("a scale word")
            elif t.kind == "word" and t.text.lower() in ("squared", "cubed"):
                node = ("^", node, ("n", Fraction(2 if t.text.lower() == "squared" else 3), 0, None, None))
                self.ops += 1
            else:
                break
            self.i += 1
        unit = self.unit_run() or unit
        return node, pct, unit

    def unit_run(self) -> str | None:
        """Words after a number, taken as its unit when an operator, '=' or ')' follows them."""
        j = self.i
        while j < self.stop and j - self.i < 3 and self.toks[j].kind == "word":
            if self.toks[j].text.lower() in NOT_UNITS:
                return None
            j += 1
        if j == self.i:
            return None
        after = self.toks[j] if j < self.stop or j < len(self.toks) and self.toks[j].kind == "eq" else None
        self_i, self.i = self.i, j
        ok = after is not None and (after.kind == "eq" or after.kind == "rp" and self.depth > 0 or
                                    after.kind == "op" and self.operand_at(1))
        self.i = self_i
        if not ok:
            return None
        words = [t.text for t in self.toks[self.i:j]]
        _check_unit_words(words)
        self.i = j
        unit = _unit_name(words[0])
        self.units.add(unit)
        return unit

    def primary(self):
        t = self.peek()
        if t is None:
            raise Skip("an operand is missing")
        if t.kind == "num":
            self.i += 1
            value, ulp, alt = _num_value(t.text)
            nxt = self.peek()
            if nxt is not None and nxt.kind == "ufrac" and ulp == 0:          # "1½", "3 ½"
                self.i += 1
                return ("n", value + UFRAC[nxt.text], 0, None, None)
            if ulp == 0 and alt is None and "," not in t.text and self._mixed():
                num, den = int(self.toks[self.i].text), int(self.toks[self.i + 2].text)
                self.i += 3
                return ("n", value + Fraction(num, den), 0, None, None)
            return ("n", value, ulp, alt, "dot" if alt is not None else None)
        if t.kind == "ufrac":
            self.i += 1
            return ("n", UFRAC[t.text], 0, None, None)
        if t.kind == "lp":
            self.i += 1
            self.depth += 1
            node, _, _ = self.expr()
            close = self.peek()
            if close is None or close.kind != "rp":
                raise Skip("a bracket is not closed")
            self.i += 1
            self.depth -= 1
            return node
        raise Skip("not an operand")

    def _mixed(self) -> bool:
        """`1 1/2`: an integer, a space, then a proper fraction written tight."""
        t, j = self.toks, self.i
        if j + 2 >= self.stop:
            return False
        a, slash, b = t[j], t[j + 1], t[j + 2]
        if not (a.kind == "num" and a.sp and a.text.isdigit() and slash.kind == "op" and slash.val == "/"
                and not slash.sp and b.kind == "num" and not b.sp and b.text.isdigit()):
            return False
        after = t[j + 3] if j + 3 < self.stop else None
        if after is not None and not after.sp and after.kind in ("op", "num", "pct", "sup"):
            return False
        return 0 < int(a.text) < int(b.text)


def _unit_name(word: str) -> str:
    w = word.lower()
    if w == "feet":
        return "foot"
    if w.endswith(("ches", "shes", "xes")):
        return w[:-2]
    if len(w) > 2 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _check_unit_words(words: list[str]) -> None:
    """Words between a number and an operator are its unit, unless they name a variable or a function."""
    if any(w.lower() in FUNCS for w in words):
        raise Skip("a function")
    if len(words) == 1:
        w = words[0]
        if CJK_RE.match(w):
            if CJK_SCALE_RE.match(w):
                raise Skip("a scale word")
            return
        if len(w) <= 2 and w not in SHORT_UNITS and not w.startswith("°"):
            raise Skip(f"a variable {w!r}")
