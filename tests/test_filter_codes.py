"""Every drop code a filter returns is one it declares (imitate/filters/base.py: `codes`)."""
from pathlib import Path

import pytest

from imitate.filters.balance import Balance
from imitate.filters import FILTERS
from imitate.data.formats import read_conversations
from imitate.filters.apply import apply_filters

FIXTURES = Path(__file__).parent / "fixtures"
SETS = [FIXTURES / "filter" / "labelled.jsonl", FIXTURES / "filter_heldout" / "heldout.jsonl",
        FIXTURES / "run_small" / "collected.jsonl"]


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.parent.name)
def test_returned_codes_are_declared(path):
    recs = [rec for _, rec in read_conversations(path)]
    filters = [cls() for cls in FILTERS.values()]
    dropped = apply_filters(recs, filters, workers=1)
    assert dropped, "a labelled set with bad answers must drop some"
    for name, drop in dropped.values():
        assert drop.code in FILTERS[name].codes, f"{name} returned undeclared code {drop.code!r}"
    for mode in ("cap", "uniform"):
        for drop in Balance(mode=mode, cap_ratio=0.5).check_all(recs).values():
            assert drop.code in Balance.codes


def test_every_code_has_one_line_of_meaning():
    for cls in [*FILTERS.values(), Balance]:
        assert cls.codes and all(isinstance(v, str) and v and "\n" not in v for v in cls.codes.values())
