from __future__ import annotations

import re
from collections import Counter, defaultdict

from imitate.filters.base import Drop, Filter
from imitate.text.answers import answer_key, matches_reference
from imitate.text.arithmetic import false_equations
from imitate.text.words import strip_code, words
from imitate.records import turn

# A sentence does not end on these (English, Spanish, Korean particles).
DANGLING = frozenset("the a an and or of to with for in on at is are was that which because but "
                     "than as by from y o de la el los las que con para en 을 를 의 에 와 과 은 는 이 가 "
                     "및 그리고 하지만".split())
ENDS_OK = set(".!?。！？…)]}\"'”’`>*~|") | {"다", "요", "죠", "까", "니", "음", "임", "함", "됨", "네"}


def cut_off(answer: str, min_words: int, min_line_words: int) -> str | None:
    """Why the text looks stopped mid-sentence, or None."""
    text = answer.rstrip()
    if text.count("```") % 2 == 1:
        return "a code block is never closed"
    if len(words(strip_code(text))) < min_words:
        return None
    text = text.rstrip("*_ \t")
    last_line = text.splitlines()[-1].strip() if text else ""
    if not last_line or last_line[-1] in ENDS_OK or re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]$", last_line):
        return None
    last_words = last_line.split()
    tail = last_words[-1].lower().strip(",;:")
    if len(last_words) >= 3 and (tail in DANGLING or last_line[-1] in ",;:"):
        return f"ends on {last_words[-1]!r}: …{last_line[-60:]!r}"
    structured = re.match(r"([-*+#>|]|\d+[.)])\s", last_line)
    if not structured and len(last_words) >= min_line_words and last_line[-1].isalnum():
        return f"the last sentence has no end: …{last_line[-60:]!r}"
    return None


class Hallucination(Filter):
    """Drop answers that state falsehoods we can check, or that were cut off.

    Per record, in this order: truncation, arithmetic, reference. Across records: the majority
    vote of answers that share a `seed_id` (several samples or teachers), in `check_all`.

    How each drop code decides:
        truncated: `finish_reason` is "length", a code block is never closed, or the text stops
            mid-sentence (answers of `truncated_min_words`+ words whose last line ends on a dangling
            word or comma, or has `truncated_line_words`+ words and no end mark).
        false_equation: an equation in the answer does not hold (`12 × 7 = 80`); the equation is the
            evidence. See imitate/filters/arithmetic.py for what counts as an equation.
        wrong_answer: the record has `reference` and the final answer contradicts it (numbers with
            tolerance and forms: 0.5 = 1/2 = 50%; strings normalized and searched in the answer).
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
    truncated_line_words = 8
    min_group = 3

    def check(self, rec: dict) -> Drop | None:
        answer = turn(rec, "assistant")
        if rec.get("finish_reason") == "length":
            return Drop("truncated", "finish_reason=length")
        why = cut_off(answer, self.truncated_min_words, self.truncated_line_words)
        if why:
            return Drop("truncated", why)
        bad = false_equations(strip_code(answer))
        if bad:
            return Drop("false_equation", bad[0])
        ref = rec.get("reference")
        if ref is not None and str(ref).strip():
            ok, found = matches_reference(answer, str(ref))
            if not ok:
                return Drop("wrong_answer", f"reference {str(ref)!r}; the answer says {found.strip()[:80]!r}")
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
