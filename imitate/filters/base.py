"""The filter contract: a Filter has a name, declares its drop codes, and answers with a Drop.

A filter answers per record with `check(rec) -> Drop | None`, or per set with
`check_all(recs) -> {index: Drop}`, or both (hallucination: per-record checks, then the
consistency vote across samples). The filter stage runs them in order, stamps
`drop_reason = "name:code"` and `evidence`, and never shows a dropped record to a later filter.
Question generation (imitate.questions.rules) drops questions with the same Drop.
"""
from __future__ import annotations

from typing import NamedTuple


class Drop(NamedTuple):
    """Why a record goes: one of the filter's declared `codes` and evidence a reader can check."""
    code: str
    evidence: str = ""


class Filter:
    """Base class. Thresholds are class attributes listed in `params`; the constructor may override
    them (`Dedup(threshold=0.9)`), and `thresholds()` reports them for filter_stats.json."""
    name = ""
    codes: dict[str, str] = {}     # drop code -> one line of meaning (the filter table in docs/usage.md)
    params: tuple[str, ...] = ()

    def __init__(self, **overrides):
        for key, value in overrides.items():
            if key not in self.params:
                raise TypeError(f"{type(self).__name__} has no threshold {key!r}; known: {self.params}")
            setattr(self, key, value)

    def check(self, rec: dict) -> Drop | None:
        raise NotImplementedError

    def check_all(self, recs: list[dict], labels: list[str] | None = None) -> dict[int, Drop]:
        """Drops by index into `recs`; `labels[i]` names record i in evidence (its id or position)."""
        raise NotImplementedError

    @property
    def per_record(self) -> bool:
        return type(self).check is not Filter.check

    @property
    def set_level(self) -> bool:
        return type(self).check_all is not Filter.check_all

    def thresholds(self) -> dict:
        out = {}
        for key in self.params:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, (tuple, set, frozenset)) else value
        return out
