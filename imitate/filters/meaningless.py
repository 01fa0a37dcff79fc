from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from functools import lru_cache

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.words import SEP, STOP_ALL, WORD_RE, YES_NO, prose, stopwords_for, strip_code, without_code, words

VOWELS = "aeiouyáéíóúàèìòùâêîôûäëïöüãõåæœø"
NO_VOWELS = str.maketrans("", "", VOWELS)
LETTER_RE = re.compile(r"[^\W\d_]")
LATIN_TOKEN_RE = re.compile(r"[A-Za-zÀ-ɏ]+")
JAMO_RE = re.compile(r"[\u3131-\u318e]")
HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
# Broken encoding: the replacement character, UTF-8 read as Latin-1/cp1252 ("Ã©", "â€™"), shade
# and box glyphs.
GARBLED_RE = re.compile("\ufffd|[ÃÂâ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                        "\u02c6\u02dc\u2013-\u2122]|[\u2591-\u2593\u25a0-\u25a1\u2610]")
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# Runs of four neighbouring keys, both ways, less the few that occur inside real words.
KEY_RUNS = {r[i:i + 4] for row in ROWS for r in (row, row[::-1]) for i in range(len(r) - 3)} - {"erty", "wert"}
FILLER = frozenset("you asked ask asking question questions want wanted know wondering wonder "
                   "about whether me tell".split())
# A question opening with one of these is a yes/no question: restating it as a statement answers it.
YES_NO_OPENERS = frozenset("is are was were am do does did can could will would should shall has have had "
                           "may might must isn't aren't wasn't weren't doesn't don't didn't".split())
PARAGRAPH_RE = re.compile(r"\n\s*\n")
QUOTED_RE = re.compile(r'"([^"\n]{1,80})"|“([^”\n]{1,80})”|(?<!\w)\'([^\'\n]{1,80})\'(?!\w)')
# Longer answers are not checked for restating (it needs a word-by-word alignment).
RESTATE_MAX_WORDS = 200
# "1. ", "2) ", "- ", "* ", "• ", "a) ", "(3) " at the start of a line: list numbering, not content.
MARKER_RE = re.compile(r"\s*(?:[-*+•·–]|\(?(?:\d{1,3}|[A-Za-z])[.)])\s+")
# Numbered answers to separate questions ("1. True", "2. B") may repeat without looping.
KEY_ANSWERS = frozenset("true false yes no correct incorrect right wrong t f o x".split())
# "the one", "that one": a pronoun, not the number.
DETERMINERS = frozenset("the this that which each every any no some another other a".split())
PRONOUN_ONES = frozenset(("one", "ones"))
# Gopher (Rae et al. 2021): largest share of characters covered by duplicate word n-grams, and by
# the most frequent n-gram. Made for web documents of thousands of words: shorter answers get
# more (Meaningless.limit).
DUP_NGRAM_MAX = {5: 0.15, 7: 0.13, 10: 0.10}
TOP_NGRAM_MAX = {2: 0.20, 3: 0.18, 4: 0.16}
SEG_WORD_RE = re.compile(re.escape(SEP) + "|" + WORD_RE.pattern)
# Sentence ends, but not after an initial or an abbreviation such as "U.S." or "J. Smith".
SENT_END_RE = re.compile(r"(?<=[.!?。！？])(?<![A-Z]\.)\s+|\n+")


class Meaningless(Filter):
    """Drop answers that carry no meaning.

    How each drop code decides:
        empty: nothing but whitespace.
        punctuation: no letter or digit at all.
        gibberish: letters that form no words, judged on the prose only (code, commands, formulas,
            numbers with their units, identifiers, paths and flags left out: imitate.text.words.prose):
            Latin vowel share under `min_vowel_share` (`gibberish_min_letters`+ letters, mostly
            Latin, acronyms and 1-2 letter units left out), half or more tokens unpronounceable
            (no vowel, `max_consonant_run` consonants in a row, keyboard runs like "asdf"), or
            Hangul made of bare jamo (ㅋㅋㅋ); or broken encoding: 3+ garbled characters (U+FFFD,
            "Ã©", "â€™", ▒, ☐), a tenth or more of the text.
        stopwords: three or more words, all stop words (a yes/no answer is exempt).
        repetition: one token (`<unk>`, "yes") nine tenths or more of 6+ tokens; or a loop in the
            answer less its code and formula lines: `max_dup_line_share` of lines repeated (list
            numbering and bullets left out, so "1. Kiwi" and "3. Kiwi" repeat; label lines ending
            in ":" left out), a sentence of 10+ characters and 2+ words said
            `max_sentence_repeats`+ times and in a tenth or more of the sentences, or a text of
            `compress_min_chars`+ characters that zlib shrinks below `min_compress_ratio`; or, in
            its prose (numbers, identifiers, paths and flags out too), one word over
            limit(`max_top_word_share`) of 10+ words, or Gopher duplicate/top n-gram shares over
            limit(Gopher's figure) (texts of `gopher_min_words`+ words that zlib shrinks below
            `gopher_max_ratio`; no n-gram spans a removed span). limit(x) scales with the
            length: x from `gopher_full_words` words up, rising in log steps to
            x + (1 - x) * `short_slack` at `gopher_min_words` words or fewer, so that a short
            answer that names its subject in every line is no loop.
        restates_question: the answer only repeats the question's instruction, its text before
            any blank line (`restate_recall`+ of its words in order, no new content word and no
            new quoted word; words compared after light stemming, so "keeps" repeats "keep").
    """
    name = "meaningless"
    codes = {
        'empty': 'nothing but whitespace',
        'punctuation': 'no letter or digit at all',
        'gibberish': 'letters that form no words: keyboard mash, no vowels, bare Hangul jamo (ㅋㅋㅋ)',
        'stopwords': 'three or more words, all stop words',
        'repetition': 'a loop: repeated lines or sentences, one word or n-gram dominating, text that zlib shrinks far',
        'restates_question': 'the answer only repeats the question',
    }
    params = ("min_vowel_share", "gibberish_min_letters", "max_consonant_run", "max_dup_line_share",
              "max_sentence_repeats", "max_top_word_share", "gopher_min_words", "gopher_full_words",
              "short_slack", "gopher_max_ratio", "compress_min_chars", "min_compress_ratio",
              "restate_recall")
    min_vowel_share = 0.27
    gibberish_min_letters = 12
    max_consonant_run = 6
    max_dup_line_share = 0.3
    max_sentence_repeats = 3
    max_top_word_share = 0.4
    gopher_min_words = 50
    gopher_full_words = 5000
    short_slack = 0.5
    gopher_max_ratio = 0.5
    compress_min_chars = 300
    min_compress_ratio = 0.2
    restate_recall = 0.6

    def check(self, rec: dict) -> Drop | None:
        answer = turn(rec, "assistant")
        if not answer.strip():
            return Drop("empty", "the answer is blank")
        if not any(ch.isalnum() for ch in answer):
            return Drop("punctuation", f"no letter or digit: {answer.strip()[:40]!r}")
        code_free = strip_code(answer)
        garbled = 0 if code_free.isascii() else len(GARBLED_RE.findall(code_free))
        if garbled >= 3 and garbled >= 0.1 * (len(code_free) - code_free.count(" ")):
            return Drop("gibberish", f"broken encoding ({garbled} garbled characters): {code_free.strip()[:40]!r}")
        raw = code_free.split()
        if len(raw) >= 6 and len(set(map(str.lower, raw))) <= 1 + 0.1 * len(raw):
            tok, n = Counter(map(str.lower, raw)).most_common(1)[0]
            if n >= 0.9 * len(raw) and any(ch.isalnum() for ch in tok):
                return Drop("repetition", f"{tok!r} is {n} of {len(raw)} tokens")
        toks = words(code_free)   # numbers count as words here: "It is 42." says something
        text = prose(answer)
        return (self._gibberish(text) or self._stopwords(toks) or self._repetition(without_code(answer), text)
                or self._restates(turn(rec, "user"), code_free, toks))

    def limit(self, base: float, n: int) -> float:
        """A share limit made for texts of `gopher_full_words`+ words, loosened for `n` words."""
        if n >= self.gopher_full_words:
            return base
        slack = min(1.0, math.log(self.gopher_full_words / max(n, 1))
                    / math.log(self.gopher_full_words / self.gopher_min_words))
        return base + (1 - base) * self.short_slack * slack

    def _gibberish(self, prose: str) -> Drop | None:
        toks = LATIN_TOKEN_RE.findall(prose)
        # Acronyms (HTML) and units (km) have few vowels in any language: leave them out.
        letters = "".join([t for t in toks if len(t) > 2 and not t.isupper()]).lower()
        if len(letters) >= self.gibberish_min_letters and (
                prose.isascii() or len(letters) >= 0.5 * len(LETTER_RE.findall(prose))):
            share = 1 - len(letters.translate(NO_VOWELS)) / len(letters)
            if share < self.min_vowel_share:
                return Drop("gibberish", f"vowel share {share:.2f} < {self.min_vowel_share}: "
                                         f"{_shown(prose)[:60]!r}")
        cache = _nonword_cache(self.max_consonant_run)
        bad = [t for t in toks if cache[t]]
        if len(bad) >= 2 and len(bad) >= 0.5 * len(toks) and sum(map(len, toks)) >= self.gibberish_min_letters:
            return Drop("gibberish", f"{len(bad)} of {len(toks)} words unpronounceable: {' '.join(bad[:5])}")
        if not prose.isascii():
            hangul = len(HANGUL_RE.findall(prose))
            if hangul >= 3 and len(JAMO_RE.findall(prose)) >= 0.5 * hangul:
                return Drop("gibberish", f"bare jamo, no syllables: {_shown(prose)[:40]!r}")
        return None

    def _stopwords(self, toks: list[str]) -> Drop | None:
        if len(toks) < 3 or toks[0] in YES_NO:
            return None
        stop = STOP_ALL
        if all(t in stop for t in toks):
            stop = stopwords_for(toks)   # the answer's own language: "It is Au." names a symbol
        for i, t in enumerate(toks):
            if t not in stop and not (t in PRONOUN_ONES and i and toks[i - 1] in DETERMINERS):
                return None
        return Drop("stopwords", "only stop words: " + " ".join(toks[:12]))

    def _repetition(self, lines_text: str, text: str) -> Drop | None:
        """`lines_text`: the answer without code lines (numbers kept: they tell lines and
        sentences apart); `text`: its prose (numbers, formulas and identifiers out too)."""
        lines = [_line_key(ln) for ln in lines_text.splitlines() if any(ch.isalpha() for ch in ln)] \
            if lines_text.count("\n") >= 3 else []
        lines = [ln for ln in lines if not ln.endswith(":")]   # labels ("Link:", "Answer:") recur
        if len(lines) >= 4:
            counts = Counter(lines)
            dup = sum(c - 1 for c in counts.values())
            if dup / len(lines) >= self.max_dup_line_share:
                line, n = counts.most_common(1)[0]
                return Drop("repetition", f"{dup} of {len(lines)} lines repeat; {_shown(line)[:50]!r} ×{n}")
        sents = [s.strip() for s in SENT_END_RE.split(lines_text.replace(SEP, " ")) if s and s.strip()]
        need = max(self.max_sentence_repeats, 0.1 * len(sents))
        said = Counter(s.lower() for s in sents if len(s) >= 10 and not s.endswith(":")) if len(sents) >= need else {}
        for sent, n in said.most_common() if said else ():
            if n < need:
                break
            if len(WORD_RE.findall(sent)) >= 2:   # words, not a rule of dashes
                return Drop("repetition", f"sentence said {n} times: {sent[:60]!r}")
        toks = words(text)
        if len(toks) >= 10:
            word, n = Counter(toks).most_common(1)[0]
            limit = self.limit(self.max_top_word_share, len(toks))
            if n / len(toks) > limit:
                return Drop("repetition", f"{word!r} is {n} of {len(toks)} words (max {limit:.2f})")
        raw = lines_text.replace(SEP, " ").strip().encode("utf-8")
        judged = len(raw) >= self.compress_min_chars or len(toks) >= self.gopher_min_words   # else no use for it
        ratio = len(zlib.compress(raw, 6)) / len(raw) if len(raw) >= 200 and judged else 1.0
        if len(raw) >= self.compress_min_chars and ratio < self.min_compress_ratio:
            return Drop("repetition", f"zlib shrinks the text to {ratio:.2f} of its size")
        # Text with duplicated n-grams compresses well; below `gopher_max_ratio` is worth counting.
        if len(toks) >= self.gopher_min_words and ratio < self.gopher_max_ratio:
            marked = SEG_WORD_RE.findall(text.lower())   # words, and SEP where a span was removed
            segs = [seg.split() for seg in " ".join(marked).split(SEP)]
            found = _gopher(segs, len(toks), self.limit)
            if found:
                return Drop("repetition", found)
        return None

    def _restates(self, question: str, answer: str, toks: list[str]) -> Drop | None:
        # Only the instruction: material after a blank line (a passage to rewrite, format or quote
        # from) is there to be reused.
        q = words(strip_code(PARAGRAPH_RE.split(question.strip(), 1)[0]))
        if len(q) < 4 or not toks or toks[0] in YES_NO or len(toks) > RESTATE_MAX_WORDS:
            return None
        if q[0] in YES_NO_OPENERS:
            return None   # "Is Paris the capital of France?" "Paris is the capital of France." affirms
        q = [_stem(t) for t in q]
        qset = set(q)
        quoted = " ".join(m.group(1) or m.group(2) or m.group(3) for m in QUOTED_RE.finditer(answer)) \
            if any(mark in answer for mark in "\"“'") else ""
        if any(_stem(t) not in qset for t in WORD_RE.findall(quoted.lower())):
            return None   # a quoted word is the answer, stop word or not: 'The conjunction is "and".'
        for stop in (STOP_ALL, None):
            stop = stop or stopwords_for(toks)   # then the answer's own language: "au" is not French here
            if any(t not in stop and t not in FILLER and _stem(t) not in qset for t in toks):
                return None   # the answer adds a content word (compared after light stemming)
        stems = [_stem(t) for t in toks]
        recall = _lcs(q, stems) / len(q)
        if recall >= self.restate_recall:
            return Drop("restates_question", f"{recall:.0%} of the question's words, nothing new")
        return None


def _shown(text: str) -> str:
    """Text for evidence: removed spans shown as one space."""
    return " ".join(text.replace(SEP, " ").split())


def _line_key(line: str) -> str:
    """A line without its list marker, so that "1. Kiwi" and "3. Kiwi" repeat; a numbered short
    key answer ("1. True", "2. B") keeps its number: answers to different questions."""
    line = line.strip()
    m = MARKER_RE.match(line)
    if not m:
        return line
    rest = line[m.end():].strip()
    if len(rest) <= 2 or rest.lower().strip(".!") in KEY_ANSWERS:
        return line
    return rest


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    """Light English stemming, the same on both sides (irregular forms aside): make, makes and
    making give "mak", keeps and keeping "keep"."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"),
                         ("ing", ""), ("ed", ""), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith(("ss", "us", "is")):
            word = word[: len(word) - len(suffix)] + keep
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


class _NonWords(dict):
    """token -> True when no language pronounces it: no vowel (3+ letters), `run` consonants in a
    row, one letter four times in a row, or a keyboard run (asdf). Acronyms (HTML) pass. Cached:
    words repeat, so most lookups are one dict access."""

    def __init__(self, run: int):
        super().__init__()
        c = "bcdfghjklmnpqrstvwxz"
        keys = "|".join(sorted(KEY_RUNS))
        self.rx = re.compile(rf"[{c}]{{3,}}$|.*?(?:[{c}]{{{run}}}|(.)\1\1\1|{keys})")

    def __missing__(self, tok: str) -> bool:
        if len(self) > 200_000:
            self.clear()
        bad = (len(tok) >= 3 and not (tok.isupper() and len(tok) <= 6)
               and self.rx.match(tok.lower()) is not None)
        self[tok] = bad
        return bad


@lru_cache(maxsize=4)
def _nonword_cache(run: int) -> _NonWords:
    return _NonWords(run)


def _gopher(segs: list[tuple[str, ...]], n_words: int, limit) -> str | None:
    """Gopher's n-gram rules on word segments (no n-gram spans two segments), each limit
    loosened by `limit(base, n_words)`."""
    total = sum(len(t) for seg in segs for t in seg)
    for n, base in TOP_NGRAM_MAX.items():
        grams = Counter(g for seg in segs for g in zip(*(seg[i:] for i in range(n))))
        if not grams:
            break
        gram, count = grams.most_common(1)[0]
        share = count * sum(len(t) for t in gram) / total
        cap = limit(base, n_words)
        if count > 1 and share > cap:
            return f"top {n}-gram {' '.join(gram)!r} covers {share:.2f} of characters (max {cap:.2f})"
    for n, base in DUP_NGRAM_MAX.items():
        covered_chars = 0
        seen: set = set()
        for seg in segs:
            if len(seg) < n:
                continue
            covered = bytearray(len(seg))
            for i, gram in enumerate(zip(*(seg[j:] for j in range(n)))):
                if gram in seen:
                    covered[i:i + n] = b"\x01" * n
                seen.add(gram)
            covered_chars += sum(len(t) for t, c in zip(seg, covered) if c)
        share = covered_chars / total
        cap = limit(base, n_words)
        if share > cap:
            return f"duplicate {n}-grams cover {share:.2f} of characters (max {cap:.2f})"
        if share <= limit(min(DUP_NGRAM_MAX.values()), n_words):
            break   # longer duplicates cover no more than shorter ones
    return None


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]
