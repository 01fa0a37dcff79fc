"""Which questions eval asks: finetune's held-out records (with the teacher's answer each was trained on)
and --eval-seeds questions that this run never collected or trained on."""
from __future__ import annotations

import sys
from pathlib import Path

from imitate.data.formats import read_conversations
from imitate.data.records import read_json
from imitate.data.seeds import load_seeds
from imitate.errors import UserError
from imitate.rundir import RunDir
from imitate.teacher.prompts import choose_prompts, load_system_prompts
from imitate.train.data import set_system


def held_out(run_dir: RunDir, trained: dict, optional: bool) -> list[dict]:
    """finetune's held-out records as questions, each with the teacher's answer it was trained on; of
    several held-out answers to the same question (question_key), the first.
    `optional` (--eval-seeds given): none, rather than an error, when finetune named none."""
    ids = read_json(run_dir.finetune_stats).get("eval_ids") if run_dir.finetune_stats.is_file() else None
    if (not ids or None in ids) and optional:
        return []
    if not run_dir.finetune_stats.is_file():
        raise UserError("no finetune_stats.json: run finetune first, or give --eval-seeds FILE", run_dir.path)
    if not ids or None in ids:
        raise UserError("names no held-out record ids (records without `id`, or an older finetune): re-run "
                        "finetune, or give --eval-seeds FILE", run_dir.finetune_stats)
    src = Path(trained["input"]) if trained.get("input") else run_dir.kept
    recs = {rec.get("id"): rec for _, rec in read_conversations(src, trained.get("format", "auto"))}
    missing = [i for i in ids if i not in recs]
    if missing:
        raise UserError(f"{len(missing)} held-out records are no longer here (e.g. {missing[0]}; filtered "
                        "again since finetune?): re-run finetune", src)
    out, asked = [], set()
    for i in ids:
        rec, msgs = recs[i], recs[i]["messages"]
        last = max(j for j, m in enumerate(msgs) if m["role"] == "assistant")
        question = next(m["content"] for m in reversed(msgs[:last]) if m["role"] == "user")
        key = question_key(question, rec.get("images"))
        if key in asked:   # another answer to the same question (collect --samples): one question
            continue
        asked.add(key)
        out.append({**_fields(rec), "id": i, "source": "held_out", "prompt": msgs[:last], **_images(rec),
                    "answer": {"messages": msgs[:last], "content": msgs[last]["content"],
                               "finish_reason": rec.get("finish_reason"),
                               "usage": rec.get("usage")}})
    return out


def _images(rec: dict) -> dict:
    """{"images": [{"path", "sha256"}]} of a record or seed with images, else {}."""
    ims = [{"path": im["path"], "sha256": im["sha256"]} for im in rec.get("images") or ()]
    return {"images": ims} if ims else {}


def question_key(text: str, images: list[dict] | None) -> tuple:
    """What makes a question the same one: its text and its images' sha256."""
    return (text, *(im["sha256"] for im in images or ()))


def _fields(rec: dict) -> dict:
    return {"category": rec.get("category") or "general",
            **{k: rec[k] for k in ("reference", "language") if rec.get(k) is not None}}


def seen_questions(run_dir: RunDir, trained: dict) -> set[tuple]:
    """The last user turn of every record finetune read (held-out ones are asked as such) and of every
    answer collect gathered here (kept or not): questions that are not fresh."""
    src = Path(trained["input"]) if trained.get("input") else run_dir.kept
    seen = set()
    for path, fmt in ((src, trained.get("format", "auto")), (run_dir.collected, "messages")):
        if path.exists():
            seen |= {question_key(next(m["content"] for m in reversed(rec["messages"]) if m["role"] == "user"),
                                  rec.get("images")) for _, rec in read_conversations(path, fmt)}
    return seen


def new_questions(path: str, fields: dict, rng_seed: int, seen: set[tuple]) -> list[dict]:
    """--eval-seeds (`path`, read with the seed `fields`: question_field, ...) as questions, less those in
    `seen`, each with a system message chosen as collect chooses it."""
    prompts = load_system_prompts()
    seeds = load_seeds(path, **fields)
    fresh = [s for s in seeds if question_key(s["question"], s.get("images")) not in seen]
    if len(fresh) < len(seeds):
        print(f"eval: {len(seeds) - len(fresh)} of the --eval-seeds questions were collected or trained on "
              "in this run; left out", file=sys.stderr)
    return [{**_fields(s), **_images(s), "id": s["id"], "source": "eval_seeds",
             "prompt": [{"role": "system", "content": choose_prompts(s, prompts, 1, rng_seed)[0].text},
                        {"role": "user", "content": s["question"]}]} for s in fresh]


def student_chat(q: dict, system: str | None) -> list[dict]:
    """The question as the students see it: with the system message they were trained with."""
    return set_system([{"messages": q["prompt"]}], system)[0]["messages"]


def question_text(q: dict) -> str:
    return next(m["content"] for m in reversed(q["prompt"]) if m["role"] == "user")
