"""collect online: the planned requests through the teacher session, as many in flight as --concurrency."""
from __future__ import annotations

import time

from imitate.collect.plan import to_failure, to_record
from imitate.data.records import Appender, write_json, write_jsonl
from imitate.data.topk import finish_staging, staged
from imitate.rundir import RunDir
from imitate.teacher.runner import Budget, Request
from imitate.teacher.session import Session


async def collect(session: Session, run_dir: RunDir, todo: list[Request], skipped: int, *, concurrency: int,
                  max_total_tokens: int | None, logprobs: int | None) -> int:
    """Send `todo` through `session`, appending each answer to RUN/collected.jsonl as it arrives (with
    `logprobs`, its top-k staged in RUN/topk/ first); then failed.jsonl and collect_stats.json. Exit status."""
    session.start()   # the embedded teacher's start-up is not part of the throughput
    t0 = time.time()
    try:
        with Appender(run_dir.collected) as out:
            record = to_record
            if logprobs:   # each answer's top-k is staged in RUN/topk/ before its record is appended
                out, record = staged(out, run_dir, logprobs, todo, to_record)
            res = await session.send(todo, out, record, concurrency, Budget(max_total_tokens), "collect")
    finally:
        if logprobs:
            finish_staging(out, run_dir)
        await session.close()
    wall = time.time() - t0
    failed = [to_failure(r, err, n) for r, err, n in res.failed]
    write_jsonl(run_dir.failed, failed)
    stats = {"requests_total": len(todo) + skipped, "sent": res.succeeded + len(res.failed),
             "succeeded": res.succeeded, "retries": res.retries, "failed": len(res.failed),
             "skipped_existing": skipped, "prompt_tokens": res.prompt_tokens,
             "completion_tokens": res.completion_tokens, "wall_s": round(wall, 2),
             "completion_tokens_per_s": round(res.completion_tokens / wall, 2) if wall else 0.0,
             "teachers": sorted({r.teacher.label for r in todo}), "budget_stopped": res.budget_stopped}
    write_json(run_dir.collect_stats, stats)
    print(f"collected {res.succeeded} answers in {wall:.1f}s ({stats['completion_tokens_per_s']} tok/s), "
          f"{res.retries} retries, {len(res.failed)} failed -> {run_dir.collected}")
    if res.budget_stopped:
        print(f"stopped sending: the next request could pass --max-total-tokens {max_total_tokens}; "
              f"re-run with a larger budget to send the rest")
    if res.failed:
        print(f"{len(res.failed)} requests failed for good (see {run_dir.failed}); "
              "re-running sends them again")
    if res.aborted:
        print(f"error: stopped: {res.aborted}")
        return 1
    return 0


