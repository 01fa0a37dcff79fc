"""Keep the answers worth imitating.

Reads RUN/collected.jsonl (or --input: any JSONL whose records carry `messages` with a user and an
assistant turn), runs the filters in order (--filters), then rebalances categories (--balance).
Writes RUN/kept.jsonl, RUN/dropped.jsonl (each record with `drop_reason` = "filter:code" and
`evidence`), RUN/filter_stats.json and RUN/filter_config.json. Every input record lands in exactly
one of kept/dropped, unchanged except for the two added fields.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imitate.config import opt, to_dict
from imitate.data.formats import CONVERSATION_FORMATS, read_conversations
from imitate.data.records import write_json, write_jsonl
from imitate.errors import UserError
from imitate.filters.apply import FilterOptions, apply_filters, build_filters
from imitate.filters.balance import Balance, category, underfilled
from imitate.rundir import DEFAULT, STAGES, RunDir

READS, WRITES = STAGES["filter"]

@dataclass
class Config(FilterOptions):
    run: str = opt(DEFAULT, "run folder: reads collected.jsonl, writes kept.jsonl, dropped.jsonl, "
                   "filter_stats.json")
    input: str | None = opt(None, "read this file (JSONL, JSON, CSV, Parquet) or dataset instead of "
                            "RUN/collected.jsonl")
    format: str = opt("auto", "format of the records: messages, sharegpt, alpaca, dolly, self_instruct; "
                      "auto: detected from the first record",
                      choices=["auto", *CONVERSATION_FORMATS])
    balance: str = opt("cap", "rebalance categories after the filters", choices=["none", "cap", "uniform"])
    cap_ratio: float = opt(2.0, "with --balance cap: keep at most this × the median category size")
    rng_seed: int = opt(0, "random seed of the rebalancing order", old=("seed",))

    def __post_init__(self):
        FilterOptions.__post_init__(self)
        if self.balance not in ("none", "cap", "uniform"):
            raise UserError(f"--balance must be none, cap or uniform, not {self.balance!r}")
        if not self.cap_ratio > 0:
            raise UserError(f"--cap-ratio must be above 0, got {self.cap_ratio}")


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
