"""collect --batch: the planned requests through a Batch API, re-attaching after any crash.

RUN/batches.json holds one entry per shard (input file in RUN/batch_input/), rewritten atomically
after each step and before the next: shard written, file uploaded (its file id), batch created (its
batch id), output joined. A re-run with the same command reads it and goes on from there:
- a shard with a file id but no batch id is looked up among the API's batches by input file
  (batches.list) before a batch is created, so no shard is ever submitted twice;
- a request is planned into a new shard only when its key is in no collected.jsonl or failed.jsonl
  record and in no shard still open: after an expiry, only the unfinished requests are asked again;
- a join cut short is done again, skipping the keys already written; a joined shard is never joined again.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from imitate.collect.plan import dry_run, to_failure, to_record, token_estimate
from imitate.config import opt
from imitate.data.records import Appender, atomic_open, iter_jsonl, repair_torn_tail, write_json
from imitate.errors import UserError
from imitate.progress import Progress
from imitate.rundir import RunDir
from imitate.teacher.batch import DISCOUNT, ENDED, Api, Joined, check, join, keys, line, shard
from imitate.teacher.client import AbortRun, RetryPolicy, Teacher
from imitate.teacher.runner import Budget, Request


@dataclass
class BatchOptions:
    batch: bool = opt(False, "send through the teacher's Batch API (half the price, answers within 24 h); the "
                      "same command again re-attaches to the batches recorded in RUN/batches.json")
    batch_size: int = opt(50_000, "most requests in one batch (OpenAI: 50,000)")
    batch_bytes: int = opt(200_000_000, "most bytes in one batch input file (OpenAI: 200 MB)")
    poll: float = opt(30.0, "seconds between polls of the batches; doubled while nothing moves, up to 20 x --poll")
    detach: bool = opt(False, "with --batch: submit, record the batches and exit; run again without it to join")
    batch_status: bool = opt(False, "print where each batch in RUN/batches.json stands; send nothing")
    batch_file_only: bool = opt(False, "write the batch input files into RUN/batch_input/ and stop (for `vllm "
                                "run-batch` on your own GPUs)")
    batch_import: str | None = opt(None, "join a batch output file made elsewhere (`vllm run-batch -o OUT.jsonl`) "
                                   "into collected.jsonl and failed.jsonl")

    def __post_init__(self):
        for name in ("batch_size", "batch_bytes"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.poll <= 0:
            raise UserError("--poll must be positive")
        if sum(map(bool, (self.detach, self.batch_status, self.batch_file_only, self.batch_import))) > 1:
            raise UserError("give at most one of --detach, --batch-status, --batch-file-only, --batch-import")

    @property
    def batched(self) -> bool:
        """Through a Batch API, or its files: --batch or any of the flags that imply it."""
        return bool(self.batch or self.detach or self.batch_status or self.batch_file_only or self.batch_import)


def run(opts: BatchOptions, run_dir: RunDir, requests: list[Request], retry: RetryPolicy,
        max_total_tokens: int | None, settings: dict) -> int:
    """The planned `requests` through the Batch API (or its files), per `opts`; `settings` go to
    collect_config.json."""
    if opts.batch_import:
        check(Path(opts.batch_import))   # before anything is written
    job = Job(opts, run_dir, requests, retry, max_total_tokens)
    job.dir.path.mkdir(parents=True, exist_ok=True)
    write_json(job.dir.collect_config, settings)
    if opts.batch_import:
        return job.import_(Path(opts.batch_import))
    if opts.batch_file_only:
        return job.write_files()
    return guard(job.collect)


def guard(fn, *args) -> int:
    """fn(*args), or exit status 1 when the API stops the run (its state is kept for a re-run)."""
    try:
        return fn(*args)
    except AbortRun as e:
        print(f"error: stopped: {e}; the batches submitted are recorded: re-run the same command to re-attach")
        return 1


def load(run_dir: RunDir) -> list[dict]:
    """The shards recorded in RUN/batches.json ([] when absent)."""
    if not run_dir.batches.exists():
        return []
    try:
        return json.loads(run_dir.batches.read_text(encoding="utf-8"))["shards"]
    except (ValueError, KeyError, TypeError):
        raise UserError("not a batches.json written by collect --batch", run_dir.batches) from None


def status(run_dir: RunDir, retry: RetryPolicy) -> int:
    """--batch-status: where each batch stands."""
    shards = load(run_dir)
    if not shards:
        print(f"no batches: {run_dir.batches} does not exist")
    for s in shards:
        teacher = Teacher(**s["teacher"])
        where = f"{s['status']}, joined" if s["joined"] else "not submitted"
        if s["batch_id"] and not s["joined"]:
            b = Api(teacher, retry).retrieve(s["batch_id"])
            c = b.request_counts
            where = b.status + (f", {c.completed} done, {c.failed} failed" if c else "")
        print(f"{s['name']}  {teacher.label}  {s['requests']} requests  {s['batch_id'] or '-'}  {where}")
    return 0


def estimate(opts: BatchOptions, requests: list[Request]) -> int:
    """--dry-run --batch: the online estimate, the batches it would make, and the saving."""
    dry_run(requests)
    prompt, completion = token_estimate(requests)
    n = len(shard(requests, opts.batch_size, opts.batch_bytes))
    print(f"with --batch: {n} batch(es); billed at {DISCOUNT:.0%} of the online price, a saving worth about "
          f"{round(prompt * (1 - DISCOUNT))} prompt and {round(completion * (1 - DISCOUNT))} completion tokens "
          "at online prices")
    return 0


def ids(path: Path) -> set[str]:
    """The ids of the records of an append-only JSONL file (a torn last line cut first)."""
    if not path.exists():
        return set()
    repair_torn_tail(path)
    return {rec["id"] for _, rec in iter_jsonl(path) if "id" in rec}


def reason(b) -> str:
    """Why the requests an ended batch left unanswered failed."""
    errors = (b.errors.data if b.errors else None) or []
    if errors:
        return "batch failed: " + "; ".join(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
                                            for e in errors)
    return f"no answer in batch {b.id} ({b.status})"


class Job:
    """The batches of one run folder: RUN/batches.json, the input shards, the joins."""

    def __init__(self, opts: BatchOptions, run_dir: RunDir, requests: list[Request], retry: RetryPolicy,
                 max_total_tokens: int | None):
        self.cfg, self.dir, self.max_total_tokens = opts, run_dir, max_total_tokens
        self.requests = {r.key: r for r in requests}
        self.teachers = {r.teacher.label: r.teacher for r in requests}
        self.done = ids(run_dir.collected) | ids(run_dir.failed)
        self.shards = load(run_dir)
        self.policy = retry
        self.apis: dict[str, Api] = {}
        self.total = Joined()
        self.ended = 0
        self.budget_stopped = False

    def save(self) -> None:
        write_json(self.dir.batches, {"shards": self.shards})

    def api(self, s: dict) -> Api:
        """The API a shard was (or is to be) submitted to: the endpoint recorded with it."""
        teacher = Teacher(**s["teacher"])
        if teacher.label not in self.apis:
            self.apis[teacher.label] = Api(teacher, self.policy)
        return self.apis[teacher.label]

    def todo(self) -> list[Request]:
        """Requests with no record and in no open shard, within --max-total-tokens."""
        open_ = set().union(*(keys(self.dir / s["name"]) for s in self.shards if not s["joined"]))
        budget = Budget(self.max_total_tokens)
        budget.spent = sum(s["tokens"] for s in self.shards)
        out = []
        for key, req in self.requests.items():
            if key in self.done or key in open_:
                continue
            if budget.reserve(req) is None:
                self.budget_stopped = True
                print(f"stopped planning: the next request could pass --max-total-tokens "
                      f"{self.max_total_tokens}; re-run with a larger budget to send the rest")
                break
            out.append(req)
        return out

    def write(self, requests: list[Request], prefix: str, first: int) -> list[dict]:
        """Write `requests` as input shards RUN/batch_input/PREFIXnnnn.jsonl; their entries."""
        made = []
        for group in shard(requests, self.cfg.batch_size, self.cfg.batch_bytes):
            name = f"{self.dir.batch_input.name}/{prefix}{first + len(made):04d}.jsonl"
            with atomic_open(self.dir / name, "wb") as f:
                for req in group:
                    f.write(line(req))
            made.append({"name": name, "teacher": dataclasses.asdict(group[0].teacher), "requests": len(group),
                         "tokens": sum(Budget(None).estimate(r) for r in group),
                         "file_id": None, "batch_id": None, "status": None, "joined": False})
        return made

    def submit(self) -> None:
        """Upload and create what is not submitted yet, recording each id before the next step."""
        for s in self.shards:
            if s["batch_id"]:
                continue
            api = self.api(s)
            made = api.find(s["file_id"]) if s["file_id"] else None   # a killed run may have made it
            if not s["file_id"]:
                s["file_id"] = api.upload(self.dir / s["name"])
                self.save()
            made = made or api.create(s["file_id"], s["name"])
            s["batch_id"], s["status"] = made.id, made.status
            self.save()
            print(f"submitted {s['name']} ({s['requests']} requests) as {made.id}")

    def wait(self) -> None:
        """Poll the open batches, backing off while nothing moves, until some end; join those."""
        open_ = [s for s in self.shards if not s["joined"]]
        progress = Progress(sum(s["requests"] for s in open_), "collect --batch")
        counted: dict[str, tuple[int, int]] = {}
        delay = self.cfg.poll
        try:
            while True:
                moved = ended = False
                for s in open_:
                    b = self.api(s).retrieve(s["batch_id"])
                    c = b.request_counts
                    now = (min(s["requests"], c.completed + c.failed), c.failed) if c else (0, 0)
                    was = counted.get(b.id, (0, 0))
                    if now != was:
                        progress.update(done=now[0] - was[0], failures=now[1] - was[1])
                        counted[b.id], moved = now, True
                    if b.status in ENDED:
                        self.finish(s, b)
                        ended = True
                if ended:
                    return
                time.sleep(delay)
                delay = self.cfg.poll if moved else min(2 * delay, 20 * self.cfg.poll)
        finally:
            progress.close()

    def finish(self, s: dict, b) -> None:
        """Join an ended batch; what it left unanswered fails, unless it expired (then it is asked again)."""
        api = self.api(s)
        res, seen = Joined(), set()
        with Appender(self.dir.collected) as collected, Appender(self.dir.failed) as failed:
            for file_id, kind in ((b.output_file_id, "output"), (b.error_file_id, "errors")):
                if file_id:
                    path = self.dir.batch_output / f"{Path(s['name']).stem}.{kind}.jsonl"   # ids are per endpoint
                    if not path.exists():
                        api.download(file_id, path)
                    res.add(join(path, b.id, self.requests, self.done, seen, collected, failed,
                                 to_record, to_failure))
            left = [] if b.status == "expired" else sorted(keys(self.dir / s["name"]) - self.done)
            for key in (k for k in left if k in self.requests):
                failed.write({**to_failure(self.requests[key], reason(b), 1), "batch_id": b.id})
                self.done.add(key)
                res.failed += 1
        s.update(status=b.status, joined=True, tokens=res.prompt_tokens + res.completion_tokens)
        self.save()
        self.ended += 1
        self.total.add(res)
        why = f" ({reason(b)})" if b.status == "failed" else ""
        print(f"{s['name']}: batch {b.id} {b.status}{why}: {res.succeeded} answers, {res.failed} failed")
        res.report()

    def collect(self) -> int:
        t0 = time.time()
        while True:
            todo = self.todo()
            if todo:
                self.shards += self.write(todo, "", len(self.shards))
                self.save()
            self.submit()
            if self.cfg.detach:
                print(f"detached: {self.dir.batches} records the batches; `collect --batch-status` shows where "
                      "they stand; the same command without --detach waits for them and joins their output")
                return 0
            if all(s["joined"] for s in self.shards):
                break
            self.wait()
        if not self.ended:
            print("nothing to send: every planned request has its record")
            return 0
        self.stats(time.time() - t0)
        return 0

    def stats(self, wall: float) -> None:
        t = self.total
        write_json(self.dir.collect_stats, {
            "requests_total": len(self.requests), "batches": len(self.shards), "sent": t.succeeded + t.failed,
            "succeeded": t.succeeded,
            "failed": t.failed, "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
            "unknown_lines": len(t.unknown), "repeated_lines": len(t.repeated), "wall_s": round(wall, 2),
            "teachers": sorted(self.teachers), "budget_stopped": self.budget_stopped})
        print(f"collected {t.succeeded} answers through {self.ended} batch(es) in {wall:.1f}s, {t.failed} failed "
              f"-> {self.dir.collected}")
        if t.failed:
            print(f"{t.failed} requests failed (see {self.dir.failed}); a plain collect, without --batch, "
                  "asks them again")

    def write_files(self) -> int:
        """--batch-file-only: RUN/batch_input/offline-nnnn.jsonl for your own GPUs, replacing earlier ones."""
        for old in self.dir.batch_input.glob("offline-*.jsonl"):
            old.unlink()
        todo = self.todo()
        for s in self.write(todo, "offline-", 0):
            model = s["teacher"]["model"]
            print(f"{s['requests']} requests: vllm run-batch -i {self.dir / s['name']} -o OUT.jsonl --model {model}")
        print(f"{len(todo)} requests written; then: the same collect command with --batch-import OUT.jsonl"
              if todo else "nothing to write: every planned request has its record or is in a batch")
        return 0

    def import_(self, path: Path) -> int:
        """--batch-import: join an output file made elsewhere."""
        with Appender(self.dir.collected) as collected, Appender(self.dir.failed) as failed:
            res = join(path, f"import:{path.name}", self.requests, self.done, set(), collected, failed,
                       to_record, to_failure)
        res.report()
        left = sum(1 for k in self.requests if k not in self.done)
        print(f"imported {res.succeeded} answers and {res.failed} failures from {path} -> {self.dir.collected}; "
              f"{left} planned requests have no record yet")
        return 0
