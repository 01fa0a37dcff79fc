"""The filters of the filter stage, one file each, in their default order (contract: filters/base.py)."""
from __future__ import annotations

from imitate.filters.base import Drop, Filter
from imitate.filters.dedup import Dedup
from imitate.filters.hallucination import Hallucination
from imitate.filters.language import Language
from imitate.filters.meaningless import Meaningless
from imitate.filters.refusal import Refusal
from imitate.filters.too_short import TooShort

# The default order: cheap per-record checks first, the set-level ones last.
FILTERS: dict[str, type[Filter]] = {
    "meaningless": Meaningless,
    "too_short": TooShort,
    "refusal": Refusal,
    "language": Language,
    "hallucination": Hallucination,
    "dedup": Dedup,
}

__all__ = ["Drop", "Filter", "FILTERS"]
