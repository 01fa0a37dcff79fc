"""From scores to a selection: each scorer's ranks, several scorers combined by the mean of their ranks,
then the budget taken best first, optionally skipping near-duplicates of records already taken and
keeping each category under a cap, as the filter's balance does."""
from __future__ import annotations

import math
import random
from collections import Counter

from imitate.data.records import turn
from imitate.filters.balance import category
from imitate.filters.dedup import Dedup, label
from imitate.text.words import length_units


def length(records: list[dict]) -> list[float]:
    """The answer's length: words, or characters where it is mostly Korean, Chinese or Japanese."""
    return [float(length_units(turn(r, "assistant"))) for r in records]


def shuffled(records: list[dict], seed: int) -> list[float]:
    """A seeded random score per record: the same seed selects the same records every time."""
    rng = random.Random(seed)
    return [rng.random() for _ in records]


def ranks(values: list[float | None]) -> list[float | None]:
    """0 for the highest value, 1 for the next...; ties share their mean rank; None stays None."""
    order = sorted((v, i) for i, v in enumerate(values) if v is not None)[::-1]
    out: list[float | None] = [None] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and order[end + 1][0] == order[start][0]:
            end += 1
        for _, i in order[start:end + 1]:
            out[i] = (start + end) / 2
        start = end + 1
    return out


def combine(scores: dict[str, list[float | None]]) -> list[float | None]:
    """The mean of each record's ranks under every scorer (lower is better); None where a scorer has none."""
    per = [ranks(v) for v in scores.values()]
    return [None if any(r[i] is None for r in per) else sum(r[i] for r in per) / len(per)
            for i in range(len(next(iter(scores.values()))))]


def choose(records: list[dict], rank: list[float | None], budget: int, *, diversity: float | None,
           cap_ratio: float | None) -> dict[int, str]:
    """Why each record left out was left out (index -> reason); the rest, at most `budget`, are selected.
    Taken in rank order; `diversity` (a MinHash Jaccard threshold): a near-duplicate of a better-ranked
    record is skipped; `cap_ratio`: no category takes more than cap_ratio x budget / categories."""
    order = sorted((i for i, r in enumerate(rank) if r is not None), key=lambda i: (rank[i], i))
    out: dict[int, str] = {}
    if diversity:
        labels = [label(r, i) for i, r in enumerate(records)]
        for i, drop in Dedup(threshold=diversity).near(records, order, labels).items():
            out[i] = f"near_duplicate: {drop.evidence}"
    cats = {category(r) for r in records}
    cap = max(1, math.floor(cap_ratio * budget / len(cats))) if cap_ratio and cats else None
    taken: Counter = Counter()
    chosen = 0
    for i in order:
        if i in out:
            continue
        cat = category(records[i])
        if chosen >= budget:
            out[i] = "budget"
        elif cap is not None and taken[cat] >= cap:
            out[i] = f"category_cap: {cat!r} has its {cap}"
        else:
            taken[cat] += 1
            chosen += 1
    return out
