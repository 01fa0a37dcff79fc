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
from imitate.shipped import PROMPTS

BREADTH = "breadth"   # the in-breadth operation's name, beside the in-depth ones


def _template(text, where, key: str, needs: tuple[str, ...]) -> Template:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"`{key}` must be a non-empty text", where)
    t = Template(text)
    bad = [m.start("invalid") for m in t.pattern.finditer(text) if m.group("invalid") is not None]
    if bad:
        raise UserError(f"`{key}` has a stray $ at character {bad[0]} (write $$ for a dollar sign)", where)
    named = {m.group("named") or m.group("braced") for m in t.pattern.finditer(text)} - {None}
    missing = [n for n in needs if n not in named]
    if missing:
        raise UserError(f"`{key}` lacks the placeholder(s) {', '.join('$' + m for m in missing)}", where)
    unknown = sorted(named - set(needs))
    if unknown:
        raise UserError(f"`{key}` has unknown placeholder(s) {', '.join('$' + u for u in unknown)}; "
                        f"known: {', '.join('$' + n for n in needs)} (write $$ for a dollar sign)", where)
    return t


def load_self_instruct(path: str | Path | None = None) -> Template:
    path = Path(path) if path else PROMPTS / "self_instruct.txt"
    if not path.is_file():
        raise UserError("no such file", path)
    return _template(path.read_text(encoding="utf-8"), path, "template", ("n", "category", "examples"))


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
    return EvolPrompts(_template(data.get("in_depth"), path, "in_depth", ("method", "question")),
                       {str(k): v.strip() for k, v in ops.items()},
                       _template(data.get("in_breadth"), path, "in_breadth", ("question",)),
                       _template(data.get("equal"), path, "equal", ("first", "second")))
