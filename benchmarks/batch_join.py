"""The join of a Batch API output file: time and peak memory for 100,000 output lines.

Builds N seed questions and the output file a Batch API (or `vllm run-batch`) would give back for
their planned requests (shuffled, about 1 KB of answer each, 1% failed), then measures
1. the join alone (imitate.teacher.batch.join into collected.jsonl / failed.jsonl), in this process;
2. the whole `python -m imitate collect --batch-import OUT.jsonl` in a child process: reading the
   seeds, planning, checking every line, joining.
Goal: under 10 s for 100,000 lines.

Run: .venv/bin/python benchmarks/batch_join.py [--lines 100000]
"""
import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from imitate import config as config_mod  # noqa: E402
from imitate.data.seeds import load_seeds  # noqa: E402
from imitate.data.records import Appender  # noqa: E402
from imitate.stages import collect  # noqa: E402
from imitate.teacher.batch import join  # noqa: E402
from imitate.teacher.client import Teacher  # noqa: E402


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def output_line(i: int, key: str) -> dict:
    if i % 100 == 0:
        return {"id": f"batch_req_{i}", "custom_id": key, "error": None,
                "response": {"status_code": 400, "request_id": f"req_{i}",
                             "body": {"error": {"message": "bad request", "type": "invalid_request_error"}}}}
    text = f"Step {i}: " + "we reason carefully about the question and check each step. " * 15
    body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1700000000, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 230, "total_tokens": 350}}
    return {"id": f"batch_req_{i}", "custom_id": key, "error": None,
            "response": {"status_code": 200, "request_id": f"req_{i}", "body": body}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000, help="output lines to join")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="batch_join_"))
    seeds = tmp / "seeds.jsonl"
    with open(seeds, "w") as f:
        for i in range(a.lines):
            f.write(json.dumps({"id": f"s{i}", "question": f"Explain why the number {i} is interesting.",
                                "category": "math"}) + "\n")
    flags = {"seeds": str(seeds), "run": str(tmp / "run"), "teacher_model": "m"}
    cfg = config_mod.build(collect.Config, flags)
    requests = collect.plan(cfg, load_seeds(str(seeds)), [Teacher(model="m")])
    out = tmp / "out.jsonl"
    order = list(range(len(requests)))
    random.Random(0).shuffle(order)
    with open(out, "w") as f:
        for i in order:
            f.write(json.dumps(output_line(i, requests[i].key)) + "\n")
    by_key = {r.key: r for r in requests}
    print(f"{len(requests)} output lines, {out.stat().st_size / 1e6:.0f} MB; peak RSS before the join "
          f"{rss_mb():.0f} MB")

    run = tmp / "run"
    t0, cpu0 = time.perf_counter(), time.process_time()
    with Appender(run / "collected.jsonl") as ok, Appender(run / "failed.jsonl") as failed:
        res = join(out, "batch_bench", by_key, set(), set(), ok, failed, collect.to_record, collect.to_failure)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"join alone: {wall:.2f} s wall, {cpu:.2f} s CPU ({len(requests) / wall:,.0f} lines/s), "
          f"{res.succeeded} answers, {res.failed} failed; peak RSS of the process {rss_mb():.0f} MB")

    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "imitate", "collect", "--seeds", str(seeds), "--run", str(tmp / "cli"),
                        "--teacher-model", "m", "--batch-import", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"collect --batch-import end to end: {wall:.2f} s wall, {child.ru_utime + child.ru_stime:.2f} s CPU, "
          f"peak RSS {child.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
