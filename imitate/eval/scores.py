"""The scores of each answer (reference accuracy, filter pass, the judge, length, language) and of each
model, overall and per category, and its gap to the teacher."""
from __future__ import annotations

import math
from collections import Counter

from imitate.eval import judge
from imitate.eval.questions import question_text
from imitate.filters.apply import FilterOptions, apply_filters, build_filters
from imitate.text.answers import matches_reference
from imitate.text.language import guess

SCORES = ("reference_accuracy", "filter_pass", "judge_margin", "mean_words", "language_match")


def score(model: str, q: dict, ans: dict, verdicts: list | None) -> dict:
    """One eval record: shaped like a collected record (so the filters read it), plus its scores.
    `ans` is an answer record: the messages the model was given, its content, finish_reason, usage."""
    text = ans["content"]
    correct = matches_reference(text, q["reference"], question_text(q), strict=True) \
        if q.get("reference") is not None else (None, None)
    rec = {"id": f"{model}/{q['id']}", "seed_id": q["id"], "model": model, "source": q["source"],
           "category": q["category"], "messages": ans["messages"] + [{"role": "assistant", "content": text}],
           **{k: q[k] for k in ("reference", "language", "images") if k in q},
           "finish_reason": ans.get("finish_reason"), "usage": ans.get("usage"),
           "correct": correct[0], "final_answer": correct[1], "words": len(text.split()),
           "answer_language": guess(text), "question_language": q.get("language") or guess(question_text(q)),
           "drop_reason": None, "evidence": None}
    if verdicts is not None:
        rec.update(verdicts=verdicts, judge=judge.outcome(*verdicts))
    return rec


def filter_all(recs: list[dict]) -> None:
    """Stamp drop_reason and evidence from the default filters, run on one model's answers."""
    for i, (name, drop) in apply_filters(recs, build_filters(FilterOptions(workers=1)), 1, quiet=True).items():
        recs[i].update(drop_reason=f"{name}:{drop.code}", evidence=drop.evidence)


def score_all(models: list[str], questions: list[dict], answers: dict, verdicts: dict) -> list[dict]:
    """The eval records of every answer: answers[model][question id] is an answer record, verdicts[model,
    question id] the judge's two verdicts."""
    recs = []
    for m in models:
        mine = [score(m, q, answers[m][q["id"]], verdicts.get((m, q["id"])) if m != "teacher" else None)
                for q in questions if q["id"] in answers[m]]
        filter_all(mine)
        recs += mine
    return recs


def _share(flags: list) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def summarize(recs: list[dict]) -> dict:
    """The scores of a set of eval records."""
    refs = [r["correct"] for r in recs if r["correct"] is not None]
    langs = [r["answer_language"] == r["question_language"] for r in recs
             if r["answer_language"] and r["question_language"]]
    judged = Counter(r["judge"] for r in recs if r.get("judge"))
    n_judged = sum(judged.values())
    nll = [r for r in recs if r.get("teacher_tokens")]
    return {"answers": len(recs), "with_reference": len(refs), "reference_accuracy": _share(refs),
            "reference_interval": wilson(sum(refs), len(refs)) if refs else None,
            "filter_pass": _share([r["drop_reason"] is None for r in recs]),
            "drop_reasons": dict(Counter(r["drop_reason"] for r in recs if r["drop_reason"]).most_common()),
            "judge": {k: judged[k] for k in ("win", "tie", "loss")} if n_judged else None,
            "judge_margin": round((judged["win"] - judged["loss"]) / n_judged, 4) if n_judged else None,
            "no_verdict": sum(v is None for r in recs for v in r.get("verdicts") or []),
            "mean_words": round(sum(r["words"] for r in recs) / len(recs), 1) if recs else None,
            "teacher_nll": round(sum(r["teacher_nll"] for r in nll) / sum(r["teacher_tokens"] for r in nll), 4)
            if nll else None,
            "language_match": _share(langs)}


def by_category(recs: list[dict]) -> dict:
    cats = sorted({r["category"] for r in recs})
    return {"all": summarize(recs), "categories": {c: summarize([r for r in recs if r["category"] == c])
                                                   for c in cats}}


def gap(teacher: dict, model: dict) -> dict:
    """teacher - model on each score; against itself the teacher ties, so the judge gap is -margin."""
    out = {k: round(teacher[k] - model[k], 4) for k in SCORES
           if teacher.get(k) is not None and model.get(k) is not None}
    if model.get("judge_margin") is not None:
        out["judge_margin"] = 0 - model["judge_margin"]
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson interval of a share k / n."""
    if not n:
        return 0.0, 1.0
    p, d = k / n, 1 + z * z / n
    mid, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return round(max(0.0, mid - half), 3), round(min(1.0, mid + half), 3)
