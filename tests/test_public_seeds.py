"""seeds/public/: the public eval questions (a tuning slice and a held-out slice) load as seeds and
are what their README says: disjoint, one category per source, references that can be scored."""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from imitate.teacher.prompts import question_kind
from imitate.data.seeds import load_seeds

PUBLIC = Path(__file__).resolve().parents[1] / "seeds" / "public"
SOURCES = {"arc_easy", "commonsenseqa", "nq_open", "openbookqa", "svamp", "triviaqa", "webquestions"}
CHOICE = {"arc_easy", "commonsenseqa", "openbookqa"}


@pytest.fixture(scope="module", params=[("tune.jsonl", 50), ("heldout.jsonl", 70)])
def part(request):
    name, per_source = request.param
    return load_seeds(PUBLIC / name), per_source


def test_each_source_gives_its_share(part):
    seeds, per_source = part
    assert Counter(s["category"] for s in seeds) == {c: per_source for c in SOURCES}
    assert all(s["id"].startswith(s["category"] + "-") and s["language"] == "en" for s in seeds)


def test_references_can_be_scored(part):
    for s in part[0]:
        ref = s["reference"]
        if s["category"] in CHOICE:   # an option letter that the question lists
            assert question_kind(s["question"]) == "multiple_choice", s["id"]
            assert ref in re.findall(r"^([A-E])\) ", s["question"], re.M), s["id"]
        elif s["category"] == "svamp":
            assert re.fullmatch(r"-?\d+(\.\d+)?", ref), s["id"]
        else:   # open questions: the gold answer, or the list of them (any is right), distinct
            gold = ref if isinstance(ref, list) else [ref]
            assert gold and all(g.strip() == g and g for g in gold) and len(set(gold)) == len(gold), s["id"]
            assert not isinstance(ref, list) or len(ref) > 1, s["id"]


def test_slices_are_disjoint_from_each_other_and_from_the_shipped_seeds():
    tune, held = load_seeds(PUBLIC / "tune.jsonl"), load_seeds(PUBLIC / "heldout.jsonl")
    shipped = {json.loads(x)["question"] for x in (PUBLIC.parent / "seeds.jsonl").read_text().splitlines() if x}
    assert not {s["id"] for s in tune} & {s["id"] for s in held}
    assert not {s["question"] for s in tune + held} & shipped
