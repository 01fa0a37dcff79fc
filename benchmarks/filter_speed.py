"""Filter-stage speed: the default filters on 100,000 records, near-duplicate dedup at 100k and
200k (does it scale linearly?), and MinHash LSH dedup against a pairwise ROUGE-L dedup as
Self-Instruct and Alpaca do it, side by side on the same 5,000 records.

    .venv/bin/python benchmarks/filter_speed.py            # all three
    .venv/bin/python benchmarks/filter_speed.py --only rouge --rouge-n 5000

Self-Instruct (bootstrap_instructions.py) tokenizes each instruction once, then for every new one
computes ROUGE-L F against every instruction kept so far, on a process pool, and drops it when the
best score is above 0.7. We do exactly that on the question text (what Self-Instruct compares);
with --rouge-max-s the loop stops early and the time for all pairs is extrapolated (printed as such).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth_records import records  # noqa: E402

from imitate.filters.dedup import Dedup  # noqa: E402
from imitate.stages.filter import Config, run  # noqa: E402


def write(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for rec in records(n):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def bench_stage(n: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "collected.jsonl"
        write(src, n)
        t0, c0 = time.perf_counter(), _cpu()
        run(Config(run=d, balance="none", workers=workers))
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        stats = json.loads((Path(d) / "filter_stats.json").read_text())
    print(f"STAGE {n} records, default filters, {workers} workers: {wall:.1f} s wall, {cpu:.1f} CPU-s "
          f"({n / wall:,.0f} records/s); load average {os.getloadavg()[0]:.1f}; kept {stats['kept']}, "
          f"reasons {stats['reasons']}")


def bench_dedup(sizes: list[int], workers: int, repeat: int) -> None:
    """Sizes alternate `repeat` times and the best of each counts: on a shared machine the other
    jobs come and go, and the minimum is the figure least disturbed by them."""
    data = {n: list(records(n)) for n in sizes}
    times: dict[int, list[float]] = {n: [] for n in sizes}
    cpus: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(repeat):
        for n in sizes:
            t0, c0 = time.perf_counter(), _cpu()
            drops = Dedup(workers=workers).check_all(data[n])
            times[n].append(time.perf_counter() - t0)
            cpus[n].append(_cpu() - c0)
            codes = {c: sum(d.code == c for d in drops.values()) for c in ("exact", "near")}
            print(f"DEDUP {n} records, {workers} workers: {times[n][-1]:.1f} s wall, {cpus[n][-1]:.1f} CPU-s, "
                  f"load average {os.getloadavg()[0]:.1f}, dropped {codes}", flush=True)
    if len(sizes) == 2:
        a, b = sizes
        print(f"DEDUP scaling: {b} / {a} records took {min(times[b]) / min(times[a]):.2f}x the wall time "
              f"(best of {repeat}) and {min(cpus[b]) / min(cpus[a]):.2f}x the CPU time (linear: {b / a:.2f}x)")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pool workers): a figure that the
    other jobs on a shared machine disturb less than wall time."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _tokenize(text: str) -> list[str]:
    """rouge_score's default tokenizer: lowercase, non-alphanumerics to spaces, split."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _lcs(a: list[str], b: list[str]) -> int:
    """rouge_score's _lcs_table, the full table in pure Python."""
    rows, cols = len(a), len(b)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def _rouge_l_max(args) -> float:
    new, olds = args
    best = 0.0
    for old in olds:
        lcs = _lcs(old, new)
        if lcs:
            p, r = lcs / len(new), lcs / len(old)
            best = max(best, 2 * p * r / (p + r))
    return best


def rouge_dedup(texts: list[str], workers: int, max_s: float | None) -> tuple[float, int, int, bool]:
    """(seconds, pairs scored, pairs a full run scores, stopped early). Threshold 0.7."""
    toks = [_tokenize(t) for t in texts]
    kept: list[list[str]] = []
    pairs = 0
    t0 = time.perf_counter()
    with Pool(workers) as pool:
        for i, new in enumerate(toks):
            if kept:
                step = -(-len(kept) // workers)
                parts = [(new, kept[s:s + step]) for s in range(0, len(kept), step)]
                best = max(pool.map(_rouge_l_max, parts))
                pairs += len(kept)
            else:
                best = 0.0
            if best <= 0.7:
                kept.append(new)
            if max_s and time.perf_counter() - t0 > max_s:
                # Kept grows about linearly, so a full run scores about (n/i)^2 as many pairs.
                total = int(pairs * (len(toks) / (i + 1)) ** 2)
                return time.perf_counter() - t0, pairs, total, True
    return time.perf_counter() - t0, pairs, pairs, False


def bench_rouge(n: int, workers: int, max_s: float | None) -> None:
    recs = list(records(n))
    t0 = time.perf_counter()
    drops = Dedup(workers=workers).check_all(recs)
    ours = time.perf_counter() - t0
    print(f"SIDE BY SIDE {n} records: MinHash LSH dedup (question + answer) {ours:.2f} s, dropped {len(drops)}")
    secs, pairs, total, early = rouge_dedup([r["messages"][0]["content"] if r["messages"][0]["role"] == "user"
                                             else r["messages"][1]["content"] for r in recs], workers, max_s)
    if early:
        est = secs * total / pairs
        print(f"SIDE BY SIDE pairwise ROUGE-L (question only, Self-Instruct style): stopped after {secs:.0f} s "
              f"and {pairs:,} pairs; all ~{total:,} pairs extrapolate to {est:.0f} s")
    else:
        est = secs
        print(f"SIDE BY SIDE pairwise ROUGE-L (question only, Self-Instruct style): {secs:.1f} s for {pairs:,} pairs")
    print(f"SIDE BY SIDE ratio: ROUGE-L / MinHash = {est / ours:.0f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["stage", "dedup", "rouge"], help="run one part only")
    p.add_argument("--n", type=int, default=100_000, help="records for the stage run")
    p.add_argument("--dedup-sizes", default="100000,200000", help="record counts for the scaling check")
    p.add_argument("--rouge-n", type=int, default=5000, help="records for the side-by-side comparison")
    p.add_argument("--rouge-max-s", type=float, default=None, help="stop ROUGE-L after this long and extrapolate")
    p.add_argument("--repeat", type=int, default=2, help="runs of each dedup size (the best counts)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores, workers={a.workers}", flush=True)
    if a.only in (None, "stage"):
        bench_stage(a.n, a.workers)
    if a.only in (None, "dedup"):
        bench_dedup([int(s) for s in a.dedup_sizes.split(",")], a.workers, a.repeat)
    if a.only in (None, "rouge"):
        bench_rouge(a.rouge_n, a.workers, a.rouge_max_s)


if __name__ == "__main__":
    main()
