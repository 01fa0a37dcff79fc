"""The data imitate ships: the seed questions (seeds/) and the prompts (prompts/).

They live at the top of the repository, where a reader finds them; a wheel carries them inside the
package as imitate/_shipped/ (pyproject.toml: force-include). This module finds either.
"""
from __future__ import annotations

from pathlib import Path

_PACKED = Path(__file__).resolve().parent / "_shipped"
ROOT = _PACKED if _PACKED.is_dir() else Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "seeds.jsonl"
PROMPTS = ROOT / "prompts"
