"""Rebuild tune.jsonl and heldout.jsonl from the public split files (README.md names them).

Usage: python seeds/public/build.py SRC_DIR
From each split: sorted(random.Random(0).sample(range(N), 400)) records in source order; the first 50
of them go to tune.jsonl, the next 70 to heldout.jsonl. Nothing is picked or edited by hand.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LETTERS = {"1": "A", "2": "B", "3": "C", "4": "D", "5": "E"}


def choice(stem: str, choices: list[tuple[str, str]], key: str) -> dict:
    """A multiple-choice question: the stem, one 'A) text' line per option, and the ask."""
    labels = [LETTERS.get(str(lab).strip(), str(lab).strip()) for lab, _ in choices]
    lines = [stem.strip()] + [f"{lab}) {str(t).strip()}" for lab, (_, t) in zip(labels, choices)]
    key = LETTERS.get(str(key).strip(), str(key).strip())
    return {"question": "\n".join(lines + ["Answer with the letter of the correct option."]), "reference": key}


def open_question(q: str, answers: list) -> dict:
    """An open question, capitalized and ending in '?'; the reference is the list of its distinct gold
    answers, any of which is right (text when there is one)."""
    q = q.strip()
    gold = list(dict.fromkeys(str(a).strip() for a in answers if a is not None and str(a).strip()))
    if not q or not gold:
        raise ValueError(f"an open question needs text and a gold answer: {q!r}, {answers!r}")
    q = q[0].upper() + q[1:]
    return {"question": q if q.endswith("?") else q + "?", "reference": gold[0] if len(gold) == 1 else gold}


def arc(r: dict) -> dict:
    return choice(r["question"]["stem"], [(c["label"], c["text"]) for c in r["question"]["choices"]], r["answerKey"])


def svamp(r: dict) -> dict:
    x = float(r["Answer"])
    return {"question": r["Body"].strip() + " " + r["Question"].strip(),
            "reference": str(int(x)) if x == int(x) else repr(x)}


def trivia(r: dict) -> dict:
    head, tail = "Question: ", "\nAnswer:"
    if not (r["context"].startswith(head) and r["context"].endswith(tail)):
        raise ValueError(f"a TriviaQA context not shaped 'Question: ...\\nAnswer:': {r['context'][:80]!r}")
    q = r["context"][len(head):-len(tail)].strip()
    if len(q) >= 2 and q[0] == q[-1] == '"':   # the source's CSV quoting: "Who sang ""X""?"
        q = q[1:-1].replace('""', '"')
    return open_question(q, [r["answer"]] + r["aliases"])


SETS = {   # name: (split file, reader, record -> question)
    "arc_easy": ("genmc_arc_easy_official_test.jsonl", "jsonl", arc),
    "commonsenseqa": ("genmc_csqa_official_dev.jsonl", "jsonl", arc),
    "nq_open": ("NQ-open.dev.jsonl", "jsonl", lambda r: open_question(r["question"], r["answer"])),
    "openbookqa": ("obqa_test.jsonl", "jsonl", arc),
    "svamp": ("SVAMP.json", "json", svamp),
    "triviaqa": ("triviaqa_sm_sub.jsonl", "jsonl", trivia),
    "webquestions": ("wq_test.json", "json", lambda r: open_question(r["qText"], r["answers"])),
}


def main(src: Path) -> None:
    tune, heldout = [], []
    for name, (file, kind, make) in SETS.items():
        text = (src / file).read_text(encoding="utf-8")
        records = json.loads(text) if kind == "json" else [json.loads(x) for x in text.split("\n") if x.strip()]
        picked = sorted(random.Random(0).sample(range(len(records)), 400))
        rows = [{"id": f"{name}-{i}", "category": name, "language": "en", **make(records[i])} for i in picked]
        tune += rows[:50]
        heldout += rows[50:120]
    for path, rows in ((HERE / "tune.jsonl", tune), (HERE / "heldout.jsonl", heldout)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} questions to {path}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
