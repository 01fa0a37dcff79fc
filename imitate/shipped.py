"""The data imitate ships: the seed questions (seeds/) and the prompts (prompts/).

They live at the top of the repository, where a reader finds them; a wheel carries them inside the
package as imitate/_shipped/ (pyproject.toml: force-include). This module finds either.
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from imitate.errors import UserError

_PACKED = Path(__file__).resolve().parent / "_shipped"
ROOT = _PACKED if _PACKED.is_dir() else Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "seeds.jsonl"
PROMPTS = ROOT / "prompts"


def template(text, where, key: str, needs: tuple[str, ...]) -> Template:
    """A prompt template (`$name` placeholders) from a prompt file's `key`, with exactly the placeholders
    `needs`; UserError naming the file (`where`) otherwise."""
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
