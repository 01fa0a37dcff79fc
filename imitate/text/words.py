"""Text helpers shared by the filters: code stripping, words, scripts, sentences, stop words."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

FENCE_RE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
URL_RE = re.compile(r"https?://\S+|www\.\S+")
WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SENT_RE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
NONWORD_RE = re.compile(r"[\W_]+")
CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")

# Function words per language: enough to tell the common Latin-script languages apart and to
# recognise "stop words only" answers. Words shared by several languages are left out.
STOPWORDS = {
    "en": "the of and to is are was were that this with for it its on be by as at from have has "
          "not but or an which what how why when you your can will would there their they these "
          "those been into than then also more most such if do does did i we he she who where whose "
          "should could many much some any about".split(),
    "es": "el la los las del que es son en un una por con para como pero más sus su al se lo "
          "este esta esto también muy hay ser está están fue qué cómo cuál porque sobre entre "
          "cuando donde sin ya".split(),
    "fr": "le les des du est et un une pour dans que qui pas sur au aux ce cette ces sont avec "
          "mais ou leur nous vous il elle être fait comme plus".split(),
    "de": "der die das und ist nicht ein eine zu den mit von sich auch auf für dem des im sind "
          "wird oder aber wie noch nach bei aus".split(),
    "pt": "o os as do da dos das é são em um uma para com não mais por como mas também ao pela "
          "pelo isso você está foi".split(),
    "it": "il lo gli della delle è sono un una per con non più che come anche questo questa "
          "nel alla del ma sul".split(),
    "ko": "은 는 이 가 을 를 의 에 에서 와 과 도 으로 로 그리고 그 저 이것 그것".split(),
}
STOP_EXTRA = frozenset(
    "a i o e y de no in me my mine our us him her them am being so just very too only thus therefore "
    "hence though although because whereas whom itself themselves myself yourself himself herself "
    "ourselves".split())
STOP_BY_LANG = {lang: frozenset(ws) | STOP_EXTRA for lang, ws in STOPWORDS.items()}
STOP_ALL = frozenset().union(*STOP_BY_LANG.values())


def stopwords_for(toks) -> frozenset:
    """The stop words of the language whose list covers most of `toks`. Callers first test against
    STOP_ALL (cheap, a superset) and ask this only when every word looked like a stop word: in
    "The symbol for gold is Au." the French article "au" is the answer, not a stop word."""
    best = max(STOP_BY_LANG, key=lambda lang: sum(t in STOP_BY_LANG[lang] for t in toks))
    return STOP_BY_LANG[best]
YES_NO = frozenset("yes no yeah nope sí si não oui non ja nein 네 예 아니요 아뇨 아니오".split())


@lru_cache(maxsize=16)   # several filters ask for the same answer's prose and words
def strip_code(text: str) -> str:
    """Prose only: fenced blocks, inline code and URLs removed (their words are not language)."""
    return URL_RE.sub(" ", INLINE_CODE_RE.sub(" ", FENCE_RE.sub(" ", text)))


@lru_cache(maxsize=16)
def words(text: str) -> tuple[str, ...]:
    return tuple(WORD_RE.findall(text.lower()))


# What `prose` puts where it removed a span: no word, and no word n-gram runs across it. ASCII
# and no space, so that str.isascii() and the ASCII short cuts still hold.
SEP = "\x00"
TEX_RE = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|\$[^$\n]*[\\^_={}][^$\n]*\$", re.S)
CALL_RE = re.compile(r"(?<![\w.])[A-Za-z_][\w.]*\([^()\n]*\)")   # name(args): a call
# A token with a digit (and a unit after it), an operator or a bracket pair, an identifier
# (snake_case, camelCase, dotted.name, name()), a path, or a command-line flag (-la, --force).
# Tokens end at spaces and at Han, kana and Hangul, which have no spaces ("水を550ml入れて").
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
TOKEN_REST_RE = re.compile(rf"[^\s{_CJK}]*")
# Where such a token shows itself: one character class, so that the scan stays fast; the
# characters that also occur in plain words (".", ":", "(", "-") are checked on their token.
NONPROSE_CHAR_RE = re.compile(r"[\d=+*/\\^<>|{}\[\]~_#@$%&×÷√≤≥±∑∫∞≠≈→←⇒²³]|[a-z][A-Z]|[.:(-]")
NONPROSE_CHECK_RE = re.compile(r"[A-Za-z]\.[A-Za-z]|::|\(\)|^--?[a-z]")
UNIT_RE = re.compile(r"\s+[bcdfghj-np-tv-xz]{1,4}\b(?![\w'’-])")   # 12 mph, 3 kg
_BOUNDARY = re.compile(rf"[\s{_CJK}]")


def _strip_tokens(text: str) -> str:
    """`text` with each non-prose token (see above) replaced by SEP."""
    out, last = [], 0
    plain_ascii = text.isascii()
    for m in NONPROSE_CHAR_RE.finditer(text):
        i = m.start()
        if i < last:
            continue
        ch = m.group()[0]
        if ch in ".:(-":   # cheap tests first: most are a sentence's full stop or a hyphen
            after = text[i + 1:i + 2]
            if (ch == "." and not after.isalpha()) or (ch == ":" and after != ":") \
                    or (ch == "(" and after != ")") or (ch == "-" and i > last and not text[i - 1].isspace()):
                continue
        if plain_ascii:   # the token starts after the last space before it
            a = max(last, text.rfind(" ", last, i) + 1, text.rfind("\n", last, i) + 1,
                    text.rfind("\t", last, i) + 1)
        else:
            a = i
            while a > last and not _BOUNDARY.match(text, a - 1):
                a -= 1
        b = TOKEN_REST_RE.match(text, i).end()
        token = text[a:b]
        if ch in ".:(-" and not NONPROSE_CHECK_RE.search(token):
            continue
        if any(c.isdigit() for c in token):
            unit = UNIT_RE.match(text, b)
            b = unit.end() if unit else b
        out.append(text[last:a])
        out.append(SEP)
        last = b
    out.append(text[last:])
    return "".join(out)


# A line that is code: a keyword or shell command at its start, or code punctuation at its end.
CODE_START_RE = re.compile(
    r"\s*(?:(?:def|class|import|from\s+[\w.]+\s+import|#include|#!|#define|public|private|protected|"
    r"static|const|let|var|function|func|fn|return|elif|else|try|except|catch|finally|using|namespace|"
    r"package|echo|sudo|pip3?|npm|yarn|apt(?:-get)?|brew|git|cd|ls|mkdir|rm|cp|mv|cat|grep|find|curl|"
    r"wget|chmod|chown|export|docker|kubectl|python3?|node|javac?|gcc|make|print|printf|console|"
    r"System|std|while|for|if|switch|case|break|continue|end|begin|do|done|fi|then)"
    r"(?=[\s(.:{<]|$)(?!\s+(?:the|a|an|is|are|of|to|you|we|it|this|that|each|all|more|example|"
    r"instance|now|me|us|him|her)\b)"
    # SQL in capitals, not followed by a run of lowercase words ("SELECT the best one from the list")
    r"|(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|FROM|WHERE|(?:INNER |LEFT |RIGHT |FULL |OUTER )*JOIN|"
    r"GROUP BY|ORDER BY|HAVING|LIMIT|VALUES|SET|WITH|UNION)\b(?![ \w]*[a-z]{3,}\s+[a-z]{2,}\s+[a-z]{2,})"
    r"|[$>]\s|>>>|[}\])]|<[/?!]?[a-zA-Z])")
# An assignment: "x = 5", "left, right = 0, n", "total += x", "i := i + 1" (not "==").
ASSIGN_RE = re.compile(r"\s*[A-Za-z_][\w.\[\]'\"]*(?:\s*,\s*[A-Za-z_]\w*)*\s*(?:[-+*/%|&^:]|//|\*\*)?=(?!=)")
CODE_END_RE = re.compile(r"(?:[{}]|=>|->|(?:=|\w\().*;|\);)$")   # on a stripped line
CODE_SYMBOLS = "(){}[]=<>;_/\\&+$@^~`"
_NO_CODE_SYMBOLS = str.maketrans("", "", CODE_SYMBOLS)


def is_code_line(line: str) -> bool:
    """A line of code, a shell command, SQL or a formula: a keyword or command at its start ("def ",
    "import", "SELECT", "ls ", "$ ") unless it ends like a sentence, an assignment ("x = 5"), code
    punctuation at its end ("{", "}", "=>", a statement's ";"), or one character in ten or more a
    code symbol (brackets, =, <, >, _, /, +, $)."""
    s = line.strip()
    if not s:
        return False
    if s.endswith(("{", "}", "=>", "->")) or (s.endswith(";") and CODE_END_RE.search(s)) \
            or (CODE_START_RE.match(s) and not s.endswith((".", "!", "?"))) or ASSIGN_RE.match(s):
        return True
    n = len(s) - len(s.translate(_NO_CODE_SYMBOLS))
    return n >= 3 and n >= 0.1 * (len(s) - s.count(" "))


@lru_cache(maxsize=16)
def without_code(text: str) -> str:
    """What strip_code leaves, less LaTeX math and code lines (unfenced code, shell commands, SQL,
    formulas: is_code_line); each removed span becomes SEP. Numbers in prose stay."""
    text = strip_code(text)
    if "$" in text or "\\" in text:
        text = TEX_RE.sub(SEP, text)
    return "\n".join(SEP if is_code_line(ln) else ln for ln in text.split("\n"))


@lru_cache(maxsize=16)
def prose(text: str) -> str:
    """The prose of `text`: without_code's text less calls (name(args)) and tokens that are numbers
    (with their units), formulas, identifiers, paths or flags. Each removed span becomes SEP, so
    that callers can keep word n-grams from running across it."""
    return _strip_tokens(CALL_RE.sub(SEP, without_code(text)))


# A Hangul syllable or a Han character carries about as much as three Latin letters.
SCRIPT_WEIGHT = {"hangul": 3, "han": 3, "kana": 2}
SCRIPT_RES = {
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]"),
    "hangul": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "kana": re.compile(r"[\u3040-\u30ff]"),
    "han": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]"),
    "greek": re.compile(r"[\u0370-\u03ff]"),
    "arabic": re.compile(r"[\u0600-\u06ff]"),
    "hebrew": re.compile(r"[\u0590-\u05ff]"),
    "devanagari": re.compile(r"[\u0900-\u097f]"),
    "thai": re.compile(r"[\u0e00-\u0e7f]"),
}
LETTER_RE = re.compile(r"[^\W\d_]")


_ASCII_NON_LETTERS = str.maketrans("", "", "".join(chr(i) for i in range(128) if not chr(i).isalpha()))


def script_counts(text: str) -> dict[str, float]:
    """Weighted letter counts per script. Counting by deletion (len before - after) allocates one
    string per script actually present; ASCII text takes a short cut."""
    if text.isascii():
        n = len(text.translate(_ASCII_NON_LETTERS))
        return {"latin": n} if n else {}
    counts = {}
    for name, rx in SCRIPT_RES.items():
        if rx.search(text):
            counts[name] = (len(text) - len(rx.sub("", text))) * SCRIPT_WEIGHT.get(name, 1)
    return counts


@lru_cache(maxsize=16)   # too_short and refusal ask it of the same answer
def cjk_share(text: str) -> float:
    """Share of letters that are Hangul, kana or Han (unweighted)."""
    if text.isascii() or not CJK_RE.search(text):   # no CJK at all: no letter count needed
        return 0.0
    letters = len(LETTER_RE.findall(text))
    return len(CJK_RE.findall(text)) / letters if letters else 0.0


@lru_cache(maxsize=16)
def length_units(text: str) -> int:
    """Words, or characters where the text is mostly Korean, Chinese or Japanese."""
    if cjk_share(text) >= 0.5:
        return sum(1 for ch in text if ch.isalnum())
    return len(words(text))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENT_RE.split(text) if s and s.strip()]


def normalize(text: str) -> str:
    """Casefold, NFKC, punctuation and symbols to spaces, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(NONWORD_RE.sub(" ", text).split())
