"""`select --by judge`: the teacher rates each answer on a stated rubric (prompts/rate.yaml, AlpaGasus),
through the teacher session (imitate.teacher.session.Asker): requests are keyed and their answers kept in
RUN/select_requests.jsonl, so a rerun pays for nothing twice. A reply without a score is `unparsed`."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

from imitate.config import read_yaml
from imitate.data.records import turn
from imitate.errors import UserError
from imitate.rundir import RunDir
from imitate.shipped import PROMPTS, template
from imitate.teacher.options import TeacherOptions
from imitate.teacher.session import Asker

PARAMS = {"max_tokens": 256, "temperature": 0.0}
SCORE_RE = re.compile(r"score\s*[:：=]\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*5)?", re.I)
TOP = 5.0


def load_prompt(path: str | Path | None = None):
    """(system text, user Template with $question and $answer)."""
    path = Path(path) if path else PROMPTS / "rate.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("system"), str):
        raise UserError("expected a mapping with `system` and `user` texts", path)
    return data["system"], template(data.get("user"), path, "user", ("question", "answer"))


def parse(text: str) -> float | None:
    """The score of a reply: the first `Score: N` with N in 0-5, else None (unparsed)."""
    m = SCORE_RE.search(text or "")
    if not m or not 0 <= float(m.group(1)) <= TOP:
        return None
    return float(m.group(1))


def rate(records: list[dict], run_dir: RunDir, opts: TeacherOptions,
         prompt=None) -> tuple[list[float | None], list[str | None], dict]:
    """Each record's score, why it has none ('unparsed', 'unanswered'; None where it has one), and the
    counts: rated, unparsed, failed, and why the teacher stopped (None: it did not)."""
    system, user = prompt or load_prompt()
    asker = Asker(run_dir, opts.remote(), opts, path=run_dir.select_requests)
    reqs = [asker.request("rate", [{"role": "system", "content": system},
                                   {"role": "user", "content": user.substitute(question=turn(r, "user"),
                                                                               answer=turn(r, "assistant"))}],
                          PARAMS, r.get("images")) for r in records]

    async def ask():
        try:
            return await asker.ask(reqs, "select judge")
        finally:
            await asker.close()

    got = asyncio.run(ask())
    scores = [parse(got[q.key]["content"]) if q.key in got else None for q in reqs]
    why = [None if s is not None else "unparsed" if q.key in got else "unanswered" for s, q in zip(scores, reqs)]
    counts = {"rated": why.count(None), "unparsed": why.count("unparsed"), "failed": why.count("unanswered"),
              "stopped": asker.stopped, "teacher": asker.teacher.label, **asker.stats}
    return scores, why, counts

