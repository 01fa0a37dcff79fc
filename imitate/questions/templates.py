"""The prompt templates of the questions stage, read from prompts/ (data files, `string.Template` syntax).

prompts/self_instruct.txt needs $n, $category, $examples. prompts/evol.yaml holds `in_depth`
($method, $question), `operations` (name: method text), `in_breadth` ($question) and `equal`
($first, $second). A missing file, key or placeholder is a UserError naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from imitate.config import read_yaml
from imitate.errors import UserError
from imitate.shipped import PROMPTS, template

BREADTH = "breadth"   # the in-breadth operation's name, beside the in-depth ones


def load_self_instruct(path: str | Path | None = None) -> Template:
    path = Path(path) if path else PROMPTS / "self_instruct.txt"
    if not path.is_file():
        raise UserError("no such file", path)
    return template(path.read_text(encoding="utf-8"), path, "template", ("n", "category", "examples"))


@dataclass(frozen=True)
class EvolPrompts:
    in_depth: Template
    operations: dict[str, str]   # in-depth operation name -> its method text
    in_breadth: Template
    equal: Template

    @property
    def names(self) -> list[str]:
        """Every operation a round may draw: the in-depth ones, then "breadth"."""
        return sorted(self.operations) + [BREADTH]

    def evolve(self, op: str, question: str) -> str:
        if op == BREADTH:
            return self.in_breadth.substitute(question=question)
        return self.in_depth.substitute(method=self.operations[op], question=question)

    def judge(self, first: str, second: str) -> str:
        return self.equal.substitute(first=first, second=second)


def load_evol(path: str | Path | None = None) -> EvolPrompts:
    path = Path(path) if path else PROMPTS / "evol.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UserError("expected a mapping with in_depth, operations, in_breadth, equal", path)
    ops = data.get("operations")
    if not isinstance(ops, dict) or not ops or not all(isinstance(v, str) and v.strip() for v in ops.values()):
        raise UserError("`operations` must map each in-depth operation's name to its method text", path)
    if BREADTH in ops:
        raise UserError(f"`{BREADTH}` is the in-breadth operation's name; rename that operation", path)
    return EvolPrompts(template(data.get("in_depth"), path, "in_depth", ("method", "question")),
                       {str(k): v.strip() for k, v in ops.items()},
                       template(data.get("in_breadth"), path, "in_breadth", ("question",)),
                       template(data.get("equal"), path, "equal", ("first", "second")))
