"""The driver that runs filters over records: which filters, with which thresholds (FilterOptions, which
the filter stage's Config inherits), in order, per record on several processes and across records; a
record dropped by one filter is not seen by the next."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from imitate.config import opt
from imitate.errors import UserError
from imitate.filters import FILTERS, Drop, Filter
from imitate.filters.dedup import label


@dataclass
class FilterOptions:
    filters: list[str] = opt(None, f"filters to run, in order ({','.join(FILTERS)}), or 'none'",
                             factory=lambda: list(FILTERS))
    languages: list[str] = opt(None, "languages an answer may always be in (ko,en,...), besides the "
                               "question's", factory=list)
    near_dup_threshold: float = opt(0.8, "Jaccard similarity (MinHash) at which two records are near duplicates")
    num_perm: int = opt(128, "MinHash permutations for near-duplicate search")
    workers: int = opt(0, "processes for per-record filters and MinHash signatures (0: all cores)")

    def __post_init__(self):
        names = [n.strip() for n in self.filters if n.strip()]
        if names == ["none"]:
            names = []
        unknown = [n for n in names if n not in FILTERS]
        if unknown:
            raise UserError(f"unknown filter {', '.join(unknown)}; known: {', '.join(FILTERS)} or none")
        if len(set(names)) != len(names):
            raise UserError(f"a filter is named twice in --filters {','.join(names)}")
        self.filters = names
        if not 0 < self.near_dup_threshold <= 1:
            raise UserError(f"--near-dup-threshold must be in (0, 1], got {self.near_dup_threshold}")
        if self.num_perm < 16:
            raise UserError(f"--num-perm must be at least 16, got {self.num_perm}")
        self.languages = [lang.strip().lower() for lang in self.languages if lang.strip()]
        bad = [lang for lang in self.languages if not lang.isalpha() or not 2 <= len(lang) <= 3]
        if bad:
            raise UserError(f"--languages takes ISO 639-1 codes like ko,en; got {', '.join(bad)}")
        if self.workers < 0:
            raise UserError(f"--workers must be 0 (all cores) or more, got {self.workers}")
        self.workers = self.workers or os.cpu_count() or 1


def build_filters(cfg: FilterOptions) -> list[Filter]:
    """The filter objects for the config, with the thresholds the flags set."""
    settings = {
        "language": {"languages": tuple(cfg.languages)},
        "dedup": {"threshold": cfg.near_dup_threshold, "num_perm": cfg.num_perm, "workers": cfg.workers},
    }
    return [FILTERS[name](**settings.get(name, {})) for name in cfg.filters]


_WORKER_FILTERS: list[Filter] = []


def _init_worker(filters: list[Filter]) -> None:
    global _WORKER_FILTERS
    _WORKER_FILTERS = filters


def _chain(recs: list[dict], filters: list[Filter] | None = None) -> list[tuple[int, str, Drop]]:
    """Run per-record filters in order on each record; the first drop wins."""
    out = []
    for i, rec in enumerate(recs):
        for f in filters if filters is not None else _WORKER_FILTERS:
            drop = f.check(rec)
            if drop is not None:
                out.append((i, f.name, drop))
                break
    return out


def per_record(recs: list[dict], filters: list[Filter], workers: int, quiet: bool = False) -> dict[int, tuple[str, Drop]]:
    """Per-record filters over all records, on `workers` processes when there are many."""
    names = "+".join(f.name for f in filters)
    t0 = time.time()
    if workers <= 1 or len(recs) < 5000:
        found = _chain(recs, filters)
    else:
        import multiprocessing as mp

        step = max(500, -(-len(recs) // (workers * 8)))
        chunks = [recs[s:s + step] for s in range(0, len(recs), step)]
        found = []
        with mp.get_context("spawn").Pool(workers, _init_worker, (filters,)) as pool:
            bar = _progress(len(recs), names)
            for k, part in enumerate(pool.imap(_chain, chunks)):
                found += [(i + k * step, name, d) for i, name, d in part]
                bar(len(chunks[k]))
            bar(0, close=True)
    if not quiet:
        print(f"filter: {names}: {len(found)} of {len(recs)} dropped in {time.time() - t0:.1f}s", file=sys.stderr)
    return {i: (name, d) for i, name, d in found}


def _progress(total: int, desc: str):
    """tqdm on a terminal, nothing otherwise (the caller prints a summary line)."""
    if not sys.stderr.isatty():
        return lambda n, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="rec", file=sys.stderr)

    def update(n, close=False):
        bar.update(n)
        if close:
            bar.close()
    return update


def apply_filters(recs: list[dict], filters: list[Filter], workers: int,
                  quiet: bool = False) -> dict[int, tuple[str, Drop]]:
    """{input index: (filter name, Drop)}; a record dropped by one filter is not seen by the next. Each
    step prints one line to stderr unless `quiet`."""
    labels = [label(r, i) for i, r in enumerate(recs)]
    dropped: dict[int, tuple[str, Drop]] = {}
    alive = list(range(len(recs)))
    group: list[Filter] = []

    def run_group():
        nonlocal alive
        if group:
            for local, hit in per_record([recs[i] for i in alive], list(group), workers, quiet).items():
                dropped[alive[local]] = hit
            alive = [i for i in alive if i not in dropped]
            group.clear()

    for f in filters:
        if f.per_record:
            group.append(f)
        if f.set_level:
            run_group()
            t0 = time.time()
            found = f.check_all([recs[i] for i in alive], labels=[labels[i] for i in alive])
            for local, drop in found.items():
                dropped[alive[local]] = (f.name, drop)
            alive = [i for i in alive if i not in dropped]
            if not quiet:   # the checks across records (hallucination: answers that disagree; dedup)
                print(f"filter: {f.name}, across records: {len(found)} dropped in {time.time() - t0:.1f}s",
                      file=sys.stderr)
    run_group()
    return dropped


