from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.words import length_units


def category(rec: dict) -> str:
    return str(rec.get("category") or "(none)")


class Balance(Filter):
    """Even out categories after the filters (`--balance`).

    `cap` keeps at most `cap_ratio` × the median category size in each category; `uniform` keeps
    the smallest category's size in every category; `none` keeps all. Which records stay is decided
    by a seeded, quality-aware order, not at random: first one answer per seed question (so the cap
    removes extra samples of a question before it removes questions), then answers that finished
    normally and carry a verified reference, then answers whose length is nearest the category's
    median; the seeded shuffle (`seed`) breaks the remaining ties.

    How each drop code decides:
        cap: the category is over `cap_ratio` × the median size.
        uniform: the category is over the smallest category's size.
    """
    name = "balance"
    codes = {
        'cap': 'the category is over cap_ratio × the median category size',
        'uniform': "the category is over the smallest category's size",
    }
    params = ("mode", "cap_ratio", "seed")
    mode = "cap"
    cap_ratio = 2.0
    seed = 0

    def check_all(self, recs: list[dict], labels=None) -> dict[int, Drop]:
        self.info = {}
        if self.mode == "none" or not recs:
            return {}
        by_cat: dict[str, list[int]] = defaultdict(list)
        for i, rec in enumerate(recs):
            by_cat[category(rec)].append(i)
        sizes = {c: len(ix) for c, ix in by_cat.items()}
        median = statistics.median(sizes.values())
        if self.mode == "cap":
            target = max(1, math.floor(self.cap_ratio * median))
            why = f"median {median:g} × {self.cap_ratio:g}"
        else:
            target = min(sizes.values())
            why = "the smallest category"
        self.info = {"median": median, "target": target}
        drops: dict[int, Drop] = {}
        for cat, idx in sorted(by_cat.items()):
            if len(idx) <= target:
                continue
            for i in self.order(recs, idx, cat)[target:]:
                drops[i] = Drop(self.mode, f"category {cat!r} has {len(idx)}; keeps {target} ({why})")
        return drops

    def order(self, recs: list[dict], idx: list[int], cat: str) -> list[int]:
        """The indices of one category, best first (see the class docstring)."""
        rng = random.Random(f"{self.seed}:{cat}")
        lengths = {i: max(1, length_units(turn(recs[i], "assistant"))) for i in idx}
        mid = statistics.median(lengths.values())

        def quality(i: int) -> float:
            rec = recs[i]
            q = 1.0 if rec.get("finish_reason") in (None, "stop") else 0.0
            q += 1.0 if rec.get("reference") not in (None, "") else 0.0
            return q - abs(math.log(lengths[i] / mid))

        jitter = {i: rng.random() for i in idx}
        ranked = sorted(idx, key=lambda i: (-quality(i), jitter[i]))
        per_seed: Counter = Counter()
        rank = {}
        for i in ranked:   # 0 for the best answer of each seed, 1 for the second best, ...
            seed = recs[i].get("seed_id")
            rank[i] = per_seed[seed] if seed is not None else 0
            per_seed[seed] += 1
        return sorted(ranked, key=lambda i: rank[i])   # stable: quality order within a rank


def underfilled(recs: list[dict], categories=()) -> dict[str, dict]:
    """Categories below the median size (`categories` adds those left with no record), with how
    many more seed questions would fill them, at the category's own answers-per-seed rate."""
    by_cat: dict[str, list[dict]] = {c: [] for c in categories}
    for rec in recs:
        by_cat.setdefault(category(rec), []).append(rec)
    if not by_cat:
        return {}
    median = statistics.median(len(v) for v in by_cat.values())
    out = {}
    for cat, rs in sorted(by_cat.items()):
        if len(rs) < median:
            seeds = {r.get("seed_id") for r in rs if r.get("seed_id") is not None}
            per_seed = len(rs) / len(seeds) if seeds else 1.0
            out[cat] = {"records": len(rs), "median": median,
                        "more_seeds": math.ceil((median - len(rs)) / per_seed)}
    return out
