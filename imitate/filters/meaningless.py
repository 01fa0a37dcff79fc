from __future__ import annotations

import re
import zlib
from collections import Counter
from functools import lru_cache

from imitate.filters.base import Drop, Filter
from imitate.text.words import STOP_ALL, YES_NO, sentences, stopwords_for, strip_code, words
from imitate.records import turn

VOWELS = "aeiouyáéíóúàèìòùâêîôûäëïöüãõåæœø"
NO_VOWELS = str.maketrans("", "", VOWELS)
LETTER_RE = re.compile(r"[^\W\d_]")
LATIN_TOKEN_RE = re.compile(r"[A-Za-zÀ-ɏ]+")
JAMO_RE = re.compile(r"[\u3131-\u318e]")
HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# Runs of four neighbouring keys, both ways, less the few that occur inside real words.
KEY_RUNS = {r[i:i + 4] for row in ROWS for r in (row, row[::-1]) for i in range(len(r) - 3)} - {"erty", "wert"}
FILLER = frozenset("you asked ask asking question questions want wanted know wondering wonder "
                   "about whether me tell".split())
# A question opening with one of these is a yes/no question: restating it as a statement answers it.
YES_NO_OPENERS = frozenset("is are was were am do does did can could will would should shall has have had "
                           "may might must isn't aren't wasn't weren't doesn't don't didn't".split())
# Longer answers are not checked for restating (it needs a word-by-word alignment).
RESTATE_MAX_WORDS = 200
# "1. ", "2) ", "- ", "* ", "• ", "a) ", "(3) " at the start of a line: list numbering, not content.
MARKER_RE = re.compile(r"\s*(?:[-*+•·–]|\(?(?:\d{1,3}|[A-Za-z])[.)])\s+")
# Numbered answers to separate questions ("1. True", "2. B") may repeat without looping.
KEY_ANSWERS = frozenset("true false yes no correct incorrect right wrong t f o x".split())
# "the one", "that one": a pronoun, not the number.
DETERMINERS = frozenset("the this that which each every any no some another other a".split())
PRONOUN_ONES = frozenset(("one", "ones"))
# Gopher (Rae et al. 2021): largest share of characters covered by duplicate word n-grams.
DUP_NGRAM_MAX = {5: 0.15, 7: 0.13, 10: 0.10}
TOP_NGRAM_MAX = {2: 0.20, 3: 0.18, 4: 0.16}


class Meaningless(Filter):
    """Drop answers that carry no meaning.

    How each drop code decides:
        empty: nothing but whitespace.
        punctuation: no letter or digit at all.
        gibberish: letters that form no words: Latin vowel share under `min_vowel_share`
            (12+ letters, mostly Latin, acronyms and 1-2 letter units left out), half or more
            tokens unpronounceable (no vowel, `max_consonant_run` consonants in a row, keyboard
            runs like "asdf"), or Hangul made of bare jamo (ㅋㅋㅋ).
        stopwords: three or more words, all stop words (a yes/no answer is exempt).
        repetition: a loop: `max_dup_line_share` of lines repeated (list numbering and bullets
            left out, so "1. Kiwi" and "3. Kiwi" repeat), a sentence of 10+ characters said
            `max_sentence_repeats`+ times, one word over `max_top_word_share` of 10+ words, Gopher
            duplicate/top n-gram shares (texts of `gopher_min_words`+ words that zlib shrinks below
            `gopher_max_ratio`: no others can reach the limits in practice), or a text of
            `compress_min_chars`+ characters that zlib shrinks below `min_compress_ratio`.
        restates_question: the answer only repeats the question (`restate_recall`+ of the
            question's words in order, no new content word; words compared after light stemming,
            so "keeps" repeats "keep").
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
    params = ("min_vowel_share", "max_consonant_run", "max_dup_line_share", "max_sentence_repeats",
              "max_top_word_share", "gopher_min_words", "gopher_max_ratio", "compress_min_chars",
              "min_compress_ratio",
              "restate_recall")
    min_vowel_share = 0.27
    max_consonant_run = 6
    max_dup_line_share = 0.3
    max_sentence_repeats = 3
    max_top_word_share = 0.4
    gopher_min_words = 50
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
        prose = strip_code(answer)
        toks = words(prose)
        return (self._gibberish(prose) or self._stopwords(toks) or self._repetition(prose, toks)
                or self._restates(turn(rec, "user"), toks))

    def _gibberish(self, prose: str) -> Drop | None:
        toks = LATIN_TOKEN_RE.findall(prose)
        # Acronyms (HTML) and units (km) have few vowels in any language: leave them out.
        letters = "".join(t for t in toks if len(t) > 2 and not t.isupper()).lower()
        if len(letters) >= 12 and (prose.isascii() or len(letters) >= 0.5 * len(LETTER_RE.findall(prose))):
            share = 1 - len(letters.translate(NO_VOWELS)) / len(letters)
            if share < self.min_vowel_share:
                return Drop("gibberish", f"vowel share {share:.2f} < {self.min_vowel_share}: {prose.strip()[:60]!r}")
        cache = _nonword_cache(self.max_consonant_run)
        bad = [t for t in toks if cache[t]]
        if toks and len(bad) >= 2 and len(bad) >= 0.5 * len(toks):
            return Drop("gibberish", f"{len(bad)} of {len(toks)} words unpronounceable: {' '.join(bad[:5])}")
        if not prose.isascii():
            hangul = len(HANGUL_RE.findall(prose))
            if hangul >= 3 and len(JAMO_RE.findall(prose)) >= 0.5 * hangul:
                return Drop("gibberish", f"bare jamo, no syllables: {prose.strip()[:40]!r}")
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

    def _repetition(self, prose: str, toks: list[str]) -> Drop | None:
        lines = [_line_key(ln) for ln in prose.splitlines() if any(ch.isalpha() for ch in ln)] \
            if prose.count("\n") >= 3 else []
        if len(lines) >= 4:
            counts = Counter(lines)
            dup = sum(c - 1 for c in counts.values())
            if dup / len(lines) >= self.max_dup_line_share:
                line, n = counts.most_common(1)[0]
                return Drop("repetition", f"{dup} of {len(lines)} lines repeat; {line[:50]!r} ×{n}")
        sent_counts = Counter(s.lower() for s in sentences(prose) if len(s) >= 10)
        if sent_counts:
            sent, n = sent_counts.most_common(1)[0]
            if n >= self.max_sentence_repeats:
                return Drop("repetition", f"sentence said {n} times: {sent[:60]!r}")
        if len(toks) >= 10:
            word, n = Counter(toks).most_common(1)[0]
            if n / len(toks) > self.max_top_word_share:
                return Drop("repetition", f"{word!r} is {n} of {len(toks)} words")
        raw = prose.strip().encode("utf-8")
        ratio = len(zlib.compress(raw, 6)) / len(raw) if len(raw) >= 200 else 1.0
        if len(raw) >= self.compress_min_chars and ratio < self.min_compress_ratio:
            return Drop("repetition", f"zlib shrinks the text to {ratio:.2f} of its size")
        # Text with duplicated n-grams compresses well; below `gopher_max_ratio` is worth counting.
        if len(toks) >= self.gopher_min_words and ratio < self.gopher_max_ratio:
            found = _gopher(list(toks))
            if found:
                return Drop("repetition", found)
        return None

    def _restates(self, question: str, toks: list[str]) -> Drop | None:
        q = words(strip_code(question))
        if len(q) < 4 or not toks or toks[0] in YES_NO or len(toks) > RESTATE_MAX_WORDS:
            return None
        if q[0] in YES_NO_OPENERS:
            return None   # "Is Paris the capital of France?" "Paris is the capital of France." affirms
        q = [_stem(t) for t in q]
        qset = set(q)
        for stop in (STOP_ALL, None):
            stop = stop or stopwords_for(toks)   # then the answer's own language: "au" is not French here
            if any(t not in stop and t not in FILLER and _stem(t) not in qset for t in toks):
                return None   # the answer adds a content word (compared after light stemming)
        stems = [_stem(t) for t in toks]
        recall = _lcs(q, stems) / len(q)
        if recall >= self.restate_recall:
            return Drop("restates_question", f"{recall:.0%} of the question's words, nothing new")
        return None


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


def _gopher(toks: list[str]) -> str | None:
    total = sum(len(t) for t in toks)
    for n, limit in TOP_NGRAM_MAX.items():
        grams = Counter(zip(*(toks[i:] for i in range(n))))
        gram, count = grams.most_common(1)[0]
        share = count * sum(len(t) for t in gram) / total
        if count > 1 and share > limit:
            return f"top {n}-gram {' '.join(gram)!r} covers {share:.2f} of characters (max {limit})"
    for n, limit in DUP_NGRAM_MAX.items():
        seen: set = set()
        covered = bytearray(len(toks))
        for i, gram in enumerate(zip(*(toks[j:] for j in range(n)))):
            if gram in seen:
                covered[i:i + n] = b"\x01" * n
            seen.add(gram)
        share = sum(len(t) for t, c in zip(toks, covered) if c) / total
        if share > limit:
            return f"duplicate {n}-grams cover {share:.2f} of characters (max {limit})"
        if share <= min(DUP_NGRAM_MAX.values()):
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
