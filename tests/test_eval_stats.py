"""What eval's numbers can tell: the paired test on the teacher's answers' NLL, reference accuracy's
interval, and the sentence that says whether a student got closer to the teacher beyond chance."""
from __future__ import annotations

import pytest

from imitate.eval.scores import wilson
from imitate.eval.stats import against_base, verdict


def rec(model: str, q: int, nll: float | None, correct: bool | None = None) -> dict:
    out = {"model": model, "seed_id": f"q{q}", "correct": correct, "drop_reason": None}
    if nll is not None:
        out.update(teacher_nll=nll * 10, teacher_tokens=10)
    return out


def test_teacher_nll_is_compared_question_by_question_per_token():
    recs = [rec("base", q, 2.0) for q in range(12)] + [rec("sft", q, 1.5 if q < 11 else 2.5) for q in range(12)]
    recs += [rec("teacher", q, None) for q in range(12)]
    paired = against_base(recs)
    assert paired["sft"]["teacher_nll"] == {"gained": 11, "lost": 1, "n": 12, "p": pytest.approx(0.0063, abs=1e-4)}
    assert "teacher_nll" not in paired["teacher"]   # the teacher has no NLL of its own answers
    tokens = [dict(r, teacher_tokens=20) if r["model"] == "sft" else r for r in recs]   # same sums, twice the tokens
    assert against_base(tokens)["sft"]["teacher_nll"]["gained"] == 12


def test_the_verdict_says_when_the_questions_cannot_tell():
    recs = [rec("base", q, 2.0, correct=q < 3) for q in range(12)]
    recs += [rec("sft", q, 1.5 if q < 11 else 2.5, correct=q < 4) for q in range(12)]
    text = verdict(against_base(recs))
    assert text.startswith("sft: closer to the teacher's answers than the base on 11 of 12 questions")
    assert "p 0.006, beyond chance" in text
    assert "right where the base was wrong on 1, wrong where it was right on 0" in text
    assert "too few changed answers to tell from chance on 12 questions" in text
    farther = [dict(r, teacher_nll=30) if r["model"] == "sft" else r for r in recs]
    assert "farther from the teacher's answers than the base on 12 of 12" in verdict(against_base(farther))


def test_wilson_intervals():
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(3, 24)
    assert (low, high) == pytest.approx((0.043, 0.31), abs=0.002)   # 3 of 24: 4% to 31%
    assert wilson(24, 24)[1] == 1.0 and wilson(24, 24)[0] > 0.85
