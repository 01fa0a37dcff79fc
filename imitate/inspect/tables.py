"""Tables about a run folder (DataFrames), shown in the notebook and in report.html.

Like the figures, each takes a RunData and raises NotRunYet when its stage has not run.
"""
from __future__ import annotations

import json

import pandas as pd

from imitate.inspect.load import RunData
from imitate.inspect.summary import SCORE_LABELS

COLLECT_KEYS = {   # collect_stats.json key -> label
    "requests_total": "requests planned", "sent": "requests sent", "succeeded": "answers received",
    "failed": "requests failed for good", "retries": "retries", "skipped_existing": "already answered (resumed)",
    "prompt_tokens": "prompt tokens", "completion_tokens": "completion tokens", "wall_s": "seconds",
    "completion_tokens_per_s": "completion tokens per second", "teachers": "teachers",
    "budget_stopped": "stopped by the token budget"}
FINETUNE_KEYS = {   # finetune_stats.json key -> label
    "student": "student", "train_records": "training records", "eval_records": "held-out records",
    "eval_loss_before": "held-out loss before", "eval_loss_after": "held-out loss after",
    "eval_ppl_before": "held-out perplexity before", "eval_ppl_after": "held-out perplexity after",
    "train_runtime_s": "training seconds", "train_tokens": "trained tokens", "tokens_per_s": "tokens per second",
    "max_steps": "steps planned", "steps": "steps run", "kd": "KD losses", "peak_rss_mb": "peak memory (MB)",
    "output": "student written (the run's last finetune; each student folder keeps its own finetune_stats.json)"}
EVAL_SCORES = ["answers", "reference_accuracy", "filter_pass", "judge_margin", "teacher_nll", "mean_words",
               "language_match"]


def shorten(text, width: int = 300) -> str:
    """One line of at most `width` characters, with an ellipsis where it was cut."""
    text = " ".join(str(text).split()) if text is not None else ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _evidence(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def dropped_examples(run: RunData, per_reason: int = 3, width: int = 300) -> pd.DataFrame:
    """The first `per_reason` dropped records of each drop reason (most frequent reason first),
    with question, answer and evidence cut to `width` characters."""
    run.need("dropped")
    df = run.dropped.copy()
    df["drop_reason"] = df["drop_reason"].fillna("(no reason)")
    order = df["drop_reason"].value_counts().index
    evidence = df["evidence"] if "evidence" in df else pd.Series([None] * len(df), index=df.index)
    out = pd.DataFrame({
        "drop_reason": df["drop_reason"], "category": df["category"], "language": df["language"],
        "question": [shorten(q, width) for q in df["question"]],
        "answer": [shorten(a, width) for a in df["answer"]],
        "evidence": [shorten(_evidence(e), width) for e in evidence]})
    parts = [out[out["drop_reason"] == r].head(per_reason) for r in order]
    return pd.concat(parts, ignore_index=True) if parts else out.iloc[:0]


def answer_length_table(run: RunData) -> pd.DataFrame:
    """Per category: answers, median and 90th-percentile answer characters, mean words, for the
    collected and kept sets (whichever are there)."""
    run.need_any("collected", "kept")
    parts = []
    for name, df in (("collected", run.collected), ("kept", run.kept)):
        if df is None:
            continue
        g = df.groupby("category")
        parts.append(pd.DataFrame({"set": name, "answers": g.size(),
                                   "median_chars": g["answer_chars"].median(),
                                   "p90_chars": g["answer_chars"].quantile(0.9),
                                   "mean_words": g["answer_words"].mean().round(1)}))
    return pd.concat(parts).rename_axis("category").reset_index()


def _summary(stats: dict, labels: dict[str, str]) -> pd.DataFrame:
    """metric (its label), value: the keys of `labels` that `stats` holds, in that order."""
    rows = [{"metric": label, "value": ", ".join(map(str, stats[k])) if isinstance(stats[k], list) else stats[k]}
            for k, label in labels.items() if k in stats]
    return pd.DataFrame(rows, columns=["metric", "value"])


def collect_summary(run: RunData) -> pd.DataFrame:
    """Requests, retries, failures, teacher tokens and throughput from collect_stats.json."""
    run.need("collect_stats")
    return _summary(run.collect_stats, COLLECT_KEYS)


def teacher_table(run: RunData) -> pd.DataFrame:
    """Per teacher model: answers, prompt and completion tokens, mean completion tokens per answer."""
    run.need("collected")
    g = run.collected.groupby("teacher_model")
    out = pd.DataFrame({"answers": g.size(), "prompt_tokens": g["prompt_tokens"].sum(),
                        "completion_tokens": g["completion_tokens"].sum(),
                        "mean_completion_tokens": g["completion_tokens"].mean().astype(float).round(1)})
    if run.failed is not None and len(run.failed):
        out["failed"] = run.failed.groupby("teacher_model").size().reindex(out.index).fillna(0).astype(int)
    return out.rename_axis("teacher").reset_index()


def failed_table(run: RunData, width: int = 160) -> pd.DataFrame:
    """Requests that failed for good, grouped by teacher and error, most frequent first."""
    run.need("failed")
    df = run.failed
    errors = df["error"] if "error" in df else pd.Series(["(no error given)"] * len(df), index=df.index)
    out = pd.DataFrame({"teacher": df["teacher_model"], "error": [shorten(e, width) for e in errors]})
    out = out.groupby(["teacher", "error"]).size().rename("requests").reset_index()
    return out.sort_values("requests", ascending=False, kind="stable", ignore_index=True)


def finetune_summary(run: RunData) -> pd.DataFrame:
    """Student, records, held-out loss and perplexity before and after, speed, from finetune_stats.json."""
    run.need("finetune_stats")
    return _summary(run.finetune_stats, FINETUNE_KEYS)


def eval_table(run: RunData) -> pd.DataFrame:
    """Per category (all first) and score: base (before training), each student (after) and teacher side
    by side, and each model's imitation gap (teacher - model), from eval_stats.json."""
    run.need("eval_stats")
    st = run.eval_stats
    cols = dict(st["scores"])
    cols.update({f"gap {m}": g for m, g in st["gap"].items()})
    cats = sorted({c for s in cols.values() for c in s["categories"]})
    rows = []
    for cat in ["all", *cats]:
        for score in EVAL_SCORES:
            values = {name: (s["all"] if cat == "all" else s["categories"].get(cat, {})).get(score)
                      for name, s in cols.items()}
            if any(v is not None for v in values.values()):
                rows.append({"category": cat, "score": score, **values})
    return pd.DataFrame(rows)


def eval_against_base(run: RunData) -> pd.DataFrame:
    """Each model against the base, question by question, from eval_stats.json: questions it gets right
    (or past the filters) that the base did not (gained), the reverse (lost), and the two-sided sign
    test's p (small: unlikely by chance on these questions)."""
    run.need("eval_stats")
    rows = [{"model": m, "score": SCORE_LABELS[score], **d}
            for m, scores in (run.eval_stats.get("against_base") or {}).items() for score, d in scores.items()]
    return pd.DataFrame(rows, columns=["model", "score", "gained", "lost", "p"])


def eval_examples(run: RunData, n: int = 3, width: int = 300) -> pd.DataFrame:
    """Up to `n` questions where the last student scored (its answers in a column of its name) and the
    teacher disagree: one right and one wrong by the reference first, then those where the judge
    preferred one of them. When a question shown is about images, an `images` column holds each row's
    [{path, sha256}] (report.html draws them as thumbnails: imitate.vision.thumbs.frame_html)."""
    run.need("eval")
    df = run.eval
    students = [m for m in df["model"].unique() if m not in ("base", "teacher")]
    name = students[-1] if students else "base"   # the column of that model's answers carries its name
    pair = df[df["model"] == name].merge(df[df["model"] == "teacher"], on="seed_id", suffixes=("", "_t"))
    by_ref = pair["correct"].notna() & pair["correct_t"].notna() & (pair["correct"] != pair["correct_t"])
    by_judge = pair["judge"].isin(["win", "loss"]) if "judge" in pair else False
    picked = pd.concat([pair[by_ref], pair[by_judge & ~by_ref]]).head(n)
    images = [ims if isinstance(ims, list) else [] for ims in picked.get("images", [None] * len(picked))]
    out = pd.DataFrame({
        "category": picked["category"], "question": [shorten(q, width) for q in picked["question"]],
        "reference": picked["reference"] if "reference" in picked else None,
        name: [shorten(a, width) for a in picked["answer"]],
        f"{name} correct": picked["correct"], "teacher": [shorten(a, width) for a in picked["answer_t"]],
        "teacher correct": picked["correct_t"],
        "judge": picked["judge"] if "judge" in picked else None}).reset_index(drop=True)
    if any(images):
        out["images"] = images
    return out


def select_examples(run: RunData, n: int = 3, width: int = 300) -> pd.DataFrame:
    """The best-ranked records select kept and the best-ranked it left out, with their scores and why."""
    run.need("scores", "select_stats")
    df = run.scores.sort_values("rank", na_position="last")
    kept = run.kept if run.kept is not None and "id" in run.kept else None
    text = dict(zip(kept["id"], zip(kept["question"], kept["answer"]))) if kept is not None else {}
    rows = []
    for picked in (True, False):
        for r in df[df["selected"] == picked].head(n).to_dict("records"):
            q, a = text.get(r["id"], ("", ""))
            rows.append({"selected": picked, "rank": r["rank"], "scores": _evidence(r["scores"]),
                         "reason": r["reason"] or "", "question": shorten(q, width), "answer": shorten(a, width)})
    return pd.DataFrame(rows)


TABLES = [answer_length_table, dropped_examples, collect_summary, teacher_table, failed_table, select_examples,
          finetune_summary,
          eval_table, eval_against_base, eval_examples]
