"""The pairwise judge (MT-Bench): is a model's answer better than the teacher's? Asked in both orders.

The prompt is data (prompts/judge.yaml). The verdict is the last [[A]], [[B]] or [[C]] of the judge's
answer. Asked once with the model's answer first and once with it second, the judge's two verdicts
cancel its position bias: both for the model is a win, both for the teacher a loss, anything else a tie.
"""
from __future__ import annotations

import re
from pathlib import Path

from imitate.config import read_yaml
from imitate.errors import UserError
from imitate.shipped import PROMPTS, template

PARAMS = {"max_tokens": 512, "temperature": 0.0}
VERDICT_RE = re.compile(r"\[\[([ABC])\]\]")


def load_prompt(path: str | Path | None = None):
    """(system text, user Template with $question, $answer_a, $answer_b)."""
    path = Path(path) if path else PROMPTS / "judge.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("system"), str):
        raise UserError("expected a mapping with `system` and `user` texts", path)
    return data["system"], template(data.get("user"), path, "user", ("question", "answer_a", "answer_b"))


def messages(prompt, question: str, a: str, b: str) -> list[dict]:
    system, user = prompt
    return [{"role": "system", "content": system},
            {"role": "user", "content": user.substitute(question=question, answer_a=a, answer_b=b)}]


def verdict(text: str) -> str | None:
    """'A', 'B', 'C' (tie), or None when the judge gave none."""
    found = VERDICT_RE.findall(text or "")
    return found[-1] if found else None


def outcome(first: str | None, second: str | None) -> str:
    """win, tie or loss of the model, from the verdict with its answer as A and the one with it as B."""
    if first == "A" and second == "B":
        return "win"
    if first == "B" and second == "A":
        return "loss"
    return "tie"
