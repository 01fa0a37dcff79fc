"""Every `python -m imitate ...` command in the README's and docs' fenced code blocks names a real
subcommand and only flags that subcommand accepts (and, where a flag takes a fixed set of values and
the doc writes one or several `a|b` values, values from that set).

The flags come from each subcommand's own `--help` (`python -m imitate SUB --help`, one process per
subcommand, no model loaded), so a renamed or removed flag fails here. `python -m imitate.X` commands
must name a module file that exists. Other commands (make, bash, vllm, benchmarks) are not checked.
"""
from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
# `python -m imitate SUB ...`, `-m imitate SUB ...` (accelerate launch), or a line that starts `imitate SUB`
INVOKE = re.compile(r"(?:(?<=\s)|^)-m\s+imitate(?P<mod>(?:\.\w+)+)?(?=\s|$)(?P<rest>.*)"
                    r"|^\s*(?:\$\s+)?imitate\s+(?P<rest2>[a-z].*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?:=(\S+))?")


def commands(text: str) -> list[tuple[int, str, str]]:
    """(line, module or '', the text after `imitate`) for each imitate command in fenced code blocks;
    lines ending in a backslash are joined; a shell comment, `&&` and `;` end a command."""
    out = []
    for block in FENCE.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            start, line = i, lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            m = INVOKE.search(line)
            if not m:
                continue
            rest = m.group("rest") if m.group("rest") is not None else m.group("rest2")
            rest = re.split(r"\s#|\s&&\s|\s;\s", " " + rest)[0]
            out.append((first + start, (m.group("mod") or "").lstrip("."), rest.strip()))
    return out


@functools.lru_cache(maxsize=None)
def help_text(sub: str) -> str | None:
    """`python -m imitate SUB --help`, or None when SUB is not a subcommand."""
    p = subprocess.run([sys.executable, "-m", "imitate", sub, "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    return p.stdout if p.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def accepted(sub: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(flags, {flag: its fixed values}, positional choices) from the usage block of SUB's --help."""
    usage = help_text(sub).split("\n\n")[0]
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", usage))
    choices = {f: set(v.split(",")) for f, v in re.findall(r"(--[a-z][a-z0-9-]*) \{([^}]*)\}", usage)}
    positional = set()
    for v in re.findall(r"(?<![-\w]) ?\{([^}]*)\}", re.sub(r"--[a-z][a-z0-9-]* \{[^}]*\}", "", usage)):
        positional |= set(v.split(","))
    return flags, choices, positional


def problems(module: str, rest: str) -> list[str]:
    """What is wrong with one command: an unknown subcommand or module, an unknown flag or value."""
    if module:
        base = ROOT / "imitate" / Path(*module.split("."))
        ok = base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()
        return [] if ok else [f"no module imitate.{module}"]
    words = rest.split()
    if not words or words[0].startswith("-"):
        return []                                   # `python -m imitate` alone, or `--help`
    sub = words[0]
    if help_text(sub) is None:
        return [f"no subcommand {sub!r} (`python -m imitate {sub} --help` failed)"]
    flags, choices, positional = accepted(sub)
    bad = []
    if positional and (len(words) < 2 or words[1] not in positional):
        bad.append(f"{sub} takes one of {sorted(positional)} first")
    for m in FLAG.finditer(rest):
        flag = m.group(1)
        if flag not in flags:
            bad.append(f"{sub} has no flag {flag}")
            continue
        after = rest[m.end():].split(maxsplit=1)
        value = (m.group(2) or (after[0] if after else "")).strip("[]")
        if flag in choices and value and not value.startswith("-") and re.fullmatch(r"[a-z0-9_|-]+", value):
            bad += [f"{sub} {flag} takes {sorted(choices[flag])}, not {v!r}"
                    for v in value.split("|") if v not in choices[flag]]
    return bad


def found() -> list[tuple[str, int, str, str]]:
    return [(doc.relative_to(ROOT).as_posix(), line, module, rest)
            for doc in DOCS for line, module, rest in commands(doc.read_text(encoding="utf-8"))]


CASES = found()


def test_the_docs_hold_commands_to_check():
    docs = {doc for doc, *_ in CASES}
    assert {"README.md", "docs/usage.md"} <= docs
    assert len(CASES) >= 30, f"only {len(CASES)} imitate commands found: is the extraction broken?"


@pytest.mark.parametrize("doc,line,module,rest", CASES, ids=[f"{d}:{n}" for d, n, *_ in CASES])
def test_command_uses_real_subcommand_and_flags(doc, line, module, rest):
    assert not problems(module, rest), f"{doc}:{line}: python -m imitate{'.' + module if module else ''} {rest}"


def test_the_check_catches_a_wrong_flag_value_and_subcommand():
    text = ("```bash\npython -m imitate collect --run r --no-such-flag 3   # comment --ignored\n"
            "python -m imitate filter --balance sideways\n.venv/bin/python -m imitate colect --run r\n"
            "python -m imitate export --format openai|sharegpt|alpaca \\\n    --out x\n"
            "python -m imitate.nowhere x\nmake demo\n```\n")
    got = [problems(module, rest) for _, module, rest in commands(text)]
    assert got == [["collect has no flag --no-such-flag"],
                   ["filter --balance takes ['cap', 'none', 'uniform'], not 'sideways'"],
                   ["no subcommand 'colect' (`python -m imitate colect --help` failed)"], [], ["no module imitate.nowhere"]]
