"""Keep the answers worth imitating.

Reads RUN/collected.jsonl (or --input: any JSONL whose records carry `messages` with a user and an
assistant turn), runs the filters in order (--filters), then rebalances categories (--balance).
Writes RUN/kept.jsonl, RUN/dropped.jsonl (each record with `drop_reason` = "filter:code" and
`evidence`), RUN/filter_stats.json and RUN/filter_config.json. Every input record lands in exactly
one of kept/dropped, unchanged except for the two added fields.
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imitate.config import opt, to_dict
from imitate.errors import UserError
from imitate.filters import FILTERS, Drop, Filter
from imitate.balance import Balance, category, underfilled
from imitate.filters.dedup import label
from imitate.formats import CONVERSATION_FORMATS
from imitate.records import read_conversations, write_json, write_jsonl
from imitate.rundir import DEFAULT, RunDir


READS = ("collected",)
WRITES = ("kept", "dropped", "filter_stats", "filter_config")

@dataclass
class Config:
    run: str = opt(DEFAULT, "run folder: reads collected.jsonl, writes kept.jsonl, dropped.jsonl, "
                   "filter_stats.json")
    input: str | None = opt(None, "read this file (JSONL, JSON, CSV, Parquet) or dataset instead of "
                            "RUN/collected.jsonl")
    format: str = opt("auto", "format of the records: messages, sharegpt, alpaca, dolly, self_instruct; "
                      "auto: detected from the first record",
                      choices=["auto", *CONVERSATION_FORMATS])
    filters: list[str] = opt(None, f"filters to run, in order ({','.join(FILTERS)}), or 'none'",
                             factory=lambda: list(FILTERS))
    balance: str = opt("cap", "rebalance categories after the filters", choices=["none", "cap", "uniform"])
    cap_ratio: float = opt(2.0, "with --balance cap: keep at most this × the median category size")
    languages: list[str] = opt(None, "languages an answer may always be in (ko,en,...), besides the "
                               "question's", factory=list)
    near_dup_threshold: float = opt(0.8, "Jaccard similarity (MinHash) at which two records are near duplicates")
    num_perm: int = opt(128, "MinHash permutations for near-duplicate search")
    rng_seed: int = opt(0, "random seed of the rebalancing order", old=("seed",))
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
        if self.balance not in ("none", "cap", "uniform"):
            raise UserError(f"--balance must be none, cap or uniform, not {self.balance!r}")
        if not self.cap_ratio > 0:
            raise UserError(f"--cap-ratio must be above 0, got {self.cap_ratio}")
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


def build_filters(cfg: Config) -> list[Filter]:
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


def run(cfg: Config) -> int:
    t0 = time.time()
    run_dir = RunDir(cfg.run)
    src = Path(cfg.input) if cfg.input else run_dir.collected
    recs = [rec for _, rec in read_conversations(src, cfg.format)]
    filters = build_filters(cfg)
    dropped = apply_filters(recs, filters, cfg.workers)
    balancer = Balance(mode=cfg.balance, cap_ratio=cfg.cap_ratio, seed=cfg.rng_seed)
    alive = [i for i in range(len(recs)) if i not in dropped]
    short = underfilled([recs[i] for i in alive], {category(r) for r in recs})
    for local, drop in balancer.check_all([recs[i] for i in alive]).items():
        dropped[alive[local]] = ("balance", drop)
    kept = [rec for i, rec in enumerate(recs) if i not in dropped]
    gone = [dict(rec, drop_reason=f"{dropped[i][0]}:{dropped[i][1].code}", evidence=dropped[i][1].evidence)
            for i, rec in enumerate(recs) if i in dropped]
    stats = {
        "input": len(recs), "kept": len(kept), "dropped": len(gone),
        "reasons": dict(Counter(r["drop_reason"] for r in gone).most_common()),
        "categories_before": dict(sorted(Counter(category(r) for r in recs).items())),
        "categories_after": dict(sorted(Counter(category(r) for r in kept).items())),
        "filters": [f.name for f in filters], "balance": cfg.balance,
        "thresholds": {**{f.name: f.thresholds() for f in filters}, "balance": balancer.thresholds()},
        "balance_target": balancer.info.get("target"), "underfilled": short,
        "input_path": str(src), "wall_s": 0.0,
    }
    stats["wall_s"] = round(time.time() - t0, 2)
    write_jsonl(run_dir.kept, kept)
    write_jsonl(run_dir.dropped, gone)
    write_json(run_dir.filter_stats, stats)
    write_json(run_dir.filter_config, to_dict(cfg))
    print_summary(stats, run_dir)
    return 0


def print_summary(stats: dict, run_dir: RunDir) -> None:
    n = stats["input"]
    print(f"{n} records: {stats['kept']} kept, {stats['dropped']} dropped ({stats['wall_s']}s)")
    if stats["reasons"]:
        width = max(len(r) for r in stats["reasons"])
        print(f"  {'reason':<{width}}  count  share")
        for reason, c in stats["reasons"].items():
            print(f"  {reason:<{width}}  {c:>5}  {c / n:6.1%}")
    cats = sorted(set(stats["categories_before"]) | set(stats["categories_after"]))
    width = max([len("category")] + [len(c) for c in cats])
    print(f"  {'category':<{width}}  before  after")
    for c in cats:
        print(f"  {c:<{width}}  {stats['categories_before'].get(c, 0):>6}  {stats['categories_after'].get(c, 0):>5}")
    for c, info in stats["underfilled"].items():
        print(f"  under the median ({info['median']:g}): {c} has {info['records']}; "
              f"about {info['more_seeds']} more seed question(s) would fill it")
    print(f"wrote {run_dir}/kept.jsonl, dropped.jsonl, filter_stats.json")
