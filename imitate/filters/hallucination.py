from __future__ import annotations

import re
from collections import Counter, defaultdict

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.answers import answer_key, matches_reference
from imitate.text.arithmetic import false_equations
from imitate.text.words import strip_code, words

# A sentence does not end on these (English, Spanish, Korean particles): a text that stops on one,
# lowercase as written, was cut ("... and the", but "Plan A" and "Answer: A" are whole).
DANGLING = frozenset("the a an and or nor of to with for in on at into onto upon between among toward "
                     "towards via including is are was that which whose because although whereas unless "
                     "but than as by from its their our your my every y o de la el los las que con para en "
                     "을 를 의 에 와 과 은 는 이 가 및 그리고 하지만".split())
# Korean writes particles and connective endings onto the word: a prose line that stops on "빛도" or
# "경계를" was cut. (Endings that are also common noun endings, 과/와/고 as in 결과, 최고, are left out.)
KO_DANGLING_END = ("을", "를", "에서", "에게", "으로", "은", "는", "도", "지만", "는데", "면서")
# finish_reason values that say the model stopped on its own, and those that say it ran out of tokens.
STOPPED = frozenset({"stop", "eos", "eos_token", "end_turn", "stop_sequence", "tool_calls", "function_call"})
TOO_LONG = frozenset({"length", "max_tokens", "max_length", "model_length"})
EMOTICON_RE = re.compile(r"[:;=8][-']?[(\[]")
SENTENCE_END_RE = re.compile(r"[.!?。！？](?:\s|$)")


def cut_off(answer: str, min_words: int, line_words: int, finish_reason: str | None = None) -> str | None:
    """Why the answer looks cut off, or None.

    An unclosed code fence always counts. Otherwise `finish_reason` decides when the record has
    one: "stop" (or another natural end) means complete. Without it only strong signs count, in
    answers of `min_words`+ words: a word cut at a hyphen ("photosyn-"), a bracket opened on the
    last line and never closed, a last line of `line_words`+ words ending on a dangling word
    ("and", "the", "with", a Korean particle after an earlier sentence end on that line), a
    trailing comma or colon, or a list that stops at a bare "2." or "-". A missing full stop alone
    is no evidence: equations, signatures, list items and code calls end without one.
    """
    text = answer.rstrip()
    if text.count("```") % 2 == 1:
        return "a code block is never closed"
    if finish_reason in STOPPED or len(words(strip_code(text))) < min_words:
        return None
    text = text.rstrip("*_ \t")
    last_line = text.splitlines()[-1].strip() if text else ""
    if not last_line:
        return None
    tail = last_line[-60:]
    if re.fullmatch(r"(?:\d{1,3}[.)]|[-*•+])", last_line):
        return f"a list stops at an empty item: …{tail!r}"
    if last_line[-1] in ",:，：、":
        return f"ends on {last_line[-1]!r}: …{tail!r}"
    if re.search(r"[^\W\d_]{2}-$", last_line):
        return f"ends on a cut word: …{tail!r}"
    line = EMOTICON_RE.sub("", last_line)
    if sum(line.count(c) for c in "([{") > sum(line.count(c) for c in ")]}"):
        return f"a bracket opened on the last line is never closed: …{tail!r}"
    last_words = last_line.split()
    last = last_words[-1].strip("\"'“”‘’")
    if len(last_words) >= line_words and last in DANGLING:
        return f"ends on {last!r}: …{tail!r}"
    if len(last_words) >= line_words and re.fullmatch(r"[\uac00-\ud7a3]{2,}", last) \
            and last.endswith(KO_DANGLING_END) and SENTENCE_END_RE.search(last_line):
        return f"ends on the particle of {last!r}: …{tail!r}"
    return None


class Hallucination(Filter):
    """Drop answers that state falsehoods we can check, or that were cut off.

    Per record, in this order: truncation, arithmetic, reference. Across records: the majority
    vote of answers that share a `seed_id` (several samples or teachers), in `check_all`.

    How each drop code decides:
        truncated: `finish_reason` is "length" (or "max_tokens"), or a code block is never closed.
            With finish_reason "stop" nothing else counts. Without finish_reason, answers of
            `truncated_min_words`+ words with a strong sign of a cut: a word cut at a hyphen, a
            bracket opened on the last line and not closed, a last line of `truncated_line_words`+
            words ending on a dangling word ("and", "the", a Korean particle), a trailing comma or
            colon, a list that stops at a bare "2.". A missing full stop alone is not one (see cut_off).
        false_equation: an equation in the answer does not hold (`12 × 7 = 80`); the equation is the
            evidence. See imitate/text/arithmetic.py for what counts as an equation.
        wrong_answer: the record has `reference` and the final answer contradicts it (a list of accepted
            answers: all of them; numbers with
            tolerance and forms: 0.5 = 1/2 = 50%; strings normalized and searched in the answer; an
            option letter of a multiple-choice question by the letter the answer picks, else by the
            option value its final answer states: answers.matches_choice).
        minority_answer: `min_group`+ answers share a seed_id and this final answer differs from the
            answer more than half of them give.
        no_consensus: `min_group`+ answers share a seed_id and no final answer has a majority: all go.
    Only answers with a final number are voted on (answers.answer_key): free text is not.
    """
    name = "hallucination"
    codes = {
        'truncated': 'the answer was cut off (finish_reason=length, or a strong sign of a cut)',
        'false_equation': 'an equation in the answer does not hold (12 × 7 = 80)',
        'wrong_answer': "the final answer contradicts the record's reference",
        'minority_answer': 'answers to the same question mostly agree, and this one differs',
        'no_consensus': 'answers to the same question have no majority answer: all go',
    }
    params = ("truncated_min_words", "truncated_line_words", "min_group")
    truncated_min_words = 8
    truncated_line_words = 3
    min_group = 3

    def check(self, rec: dict) -> Drop | None:
        answer = turn(rec, "assistant")
        reason = rec.get("finish_reason")
        if reason in TOO_LONG:
            return Drop("truncated", f"finish_reason={reason}")
        why = cut_off(answer, self.truncated_min_words, self.truncated_line_words, reason)
        if why:
            return Drop("truncated", why)
        bad = false_equations(strip_code(answer))
        if bad:
            return Drop("false_equation", bad[0])
        ref = rec.get("reference")
        refs = [str(r) for r in (ref if isinstance(ref, list) else [ref]) if r is not None and str(r).strip()]
        if refs:
            ok, found = matches_reference(answer, refs, turn(rec, "user"))
            if not ok:
                return Drop("wrong_answer", f"reference {' | '.join(refs)!r}; the answer says {found.strip()[:80]!r}")
        return None

    def check_all(self, recs: list[dict], labels=None) -> dict[int, Drop]:
        groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
        sizes = Counter(str(rec.get("seed_id")) for rec in recs)
        for i, rec in enumerate(recs):
            seed = rec.get("seed_id")
            if seed is None or sizes[str(seed)] < self.min_group:
                continue
            key = answer_key(turn(rec, "assistant"))
            if key is not None:
                groups[str(seed)].append((i, key))
        drops: dict[int, Drop] = {}
        for seed, judged in groups.items():
            if len(judged) < self.min_group:
                continue
            counts = Counter(key for _, key in judged)
            top, n = counts.most_common(1)[0]
            tally = ", ".join(f"{k!r}×{c}" for k, c in counts.most_common(4))
            for i, key in judged:
                if n * 2 > len(judged):
                    if key != top:
                        drops[i] = Drop("minority_answer",
                                        f"seed {seed}: {key!r} against {top!r} ({n} of {len(judged)})")
                else:
                    drops[i] = Drop("no_consensus", f"seed {seed}: {tally}")
        return drops
