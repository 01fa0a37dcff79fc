"""The first things a user asks about a run: how many answers were kept and why the others went, did the
student get closer to the teacher, and which settings produced it. The top of report.html."""
from __future__ import annotations

import pandas as pd

from imitate.inspect.load import NotRunYet, RunData
from imitate.teacher.server import EMBEDDED_NAME

SCORE_LABELS = {"reference_accuracy": "reference accuracy", "filter_pass": "filter pass rate",
                "judge_margin": "judge: wins − losses vs teacher", "mean_words": "mean words per answer",
                "teacher_nll": "NLL of the teacher's answers, per token (lower: closer)",
                "language_match": "answers in the question's language", "answers": "questions answered"}
# (config, key, label): the settings that change what a run produces
SETTINGS = [
    ("collect_config", "teacher_model", "teacher"), ("collect_config", "teacher_url", "teacher URL"),
    ("collect_config", "teachers", "teachers (config file)"), ("collect_config", "temperature", "temperature"),
    ("collect_config", "max_tokens", "max tokens per answer"), ("collect_config", "samples", "samples per seed"),
    ("collect_config", "limit", "seed limit"), ("collect_config", "seeds", "seeds"),
    ("collect_config", "without_reference", "only seeds without a reference"),
    ("filter_config", "filters", "filters"), ("filter_config", "near_dup_threshold", "near-duplicate threshold"),
    ("filter_config", "languages", "languages kept"), ("filter_config", "balance", "category balance"),
    ("finetune_config", "student", "student"), ("finetune_config", "max_steps", "steps"),
    ("finetune_config", "learning_rate", "learning rate"), ("finetune_config", "batch_size", "batch size"),
    ("finetune_config", "max_length", "max tokens per record"), ("finetune_config", "lora_r", "LoRA rank"),
    ("finetune_config", "lora_alpha", "LoRA alpha"), ("finetune_config", "kd", "KD losses"),
    ("finetune_config", "kd_teacher", "KD teachers"), ("finetune_config", "kd_temperature", "KD temperature"),
    ("eval_config", "student", "students scored"), ("eval_config", "max_tokens", "eval max tokens"),
]
STAGE_OF = {"collect_config": "collect", "filter_config": "filter", "finetune_config": "finetune",
            "eval_config": "eval"}


def kept_line(run: RunData, top: int = 3) -> str:
    """'96 collected → 27 kept (28%); dropped most for: reason (n), ...' from filter_stats.json."""
    run.need("filter_stats")
    st = run.filter_stats
    n_in, kept = st.get("input", 0), st.get("kept", 0)
    share = f" ({100 * kept / n_in:.0f}%)" if n_in else ""
    reasons = sorted((st.get("reasons") or {}).items(), key=lambda kv: -kv[1])[:top]
    why = "; dropped most for " + ", ".join(f"{r} ({n})" for r, n in reasons) if reasons else ""
    return f"{n_in} collected → {kept} kept{share}{why}"


def eval_overview(run: RunData) -> pd.DataFrame:
    """The overall scores, one row each, the teacher first and then the models in eval order: did the
    student get closer to the teacher?"""
    run.need("eval_stats")
    scores = run.eval_stats["scores"]
    order = [m for m in ("teacher",) if m in scores] + [m for m in scores if m != "teacher"]
    rows = []
    for key, label in SCORE_LABELS.items():
        values = {m: scores[m]["all"].get(key) for m in order}
        if any(v is not None for v in values.values()):
            rows.append({"score": label, **{m: _number(key, v) for m, v in values.items()}})
    return pd.DataFrame(rows)


def _number(key: str, v) -> str:
    """A score as the eval table in the terminal prints it: counts whole, word counts to 0.1, the rest to 0.001."""
    if v is None:
        return ""
    return f"{v:.0f}" if key == "answers" else f"{v:.1f}" if key == "mean_words" else f"{v:.3f}"


def _value(v) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) or "none"
    return str(v)


def settings(run: RunData) -> pd.DataFrame:
    """stage, setting, value: the settings that produced this run, from each stage's *_config.json."""
    rows = []
    for conf, key, label in SETTINGS:
        c = getattr(run, conf)
        if c is None:
            continue
        v = c.get(key)
        if key == "teacher_model" and v is None and not c.get("teacher_url") and not c.get("teachers"):
            v = EMBEDDED_NAME
        if v in (None, [], "") or v is False or (key.startswith("kd_") and not c.get("kd")):
            continue
        rows.append({"stage": STAGE_OF[conf], "setting": label, "value": _value(v)})
    if not rows:
        raise NotRunYet(f"needs collect_config.json, filter_config.json or finetune_config.json in {run.path}")
    return pd.DataFrame(rows)
