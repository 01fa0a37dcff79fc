"""How a stage asks its teachers: `Session` (collect, and through `Asker` the questions and eval stages).

`Session` holds the teachers of one stage run: the remote ones given, or the embedded teacher, started on
loopback only when something must be sent and stopped on close; one client per teacher, the retry policy
and timeout of imitate.teacher.server.request_timeout. `Asker` sends every request once: answers on disk
are reused by request key.

Each answer is appended (flushed at once) to DIR/questions_requests.jsonl as it arrives, keyed by
`runner.Request.key` (a hash of teacher, messages, parameters and copy index). A re-run replays the
rounds: the same answers give the same next requests, whose answers are on disk too, so after a
kill -9 only the requests that were in flight or never sent go out again, and a third run sends
nothing. The embedded teacher is started only when something must be sent.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from imitate.data.records import Appender, load_by_id, utc_now
from imitate.progress import Progress
from imitate.rundir import RunDir
from imitate.teacher.client import Answer, Client, RetryPolicy, Teacher
from imitate.teacher.options import TeacherOptions
from imitate.teacher.runner import Budget, Request, send_all
from imitate.teacher.server import EMBEDDED_HINT, EMBEDDED_NAME, EmbeddedServer, request_timeout


class Session:
    """The teachers one stage run asks, by label: `remote`, or (None) the embedded teacher."""

    def __init__(self, remote: list[Teacher] | None, log_path: Path, *, timeout: float | None, max_attempts: int,
                 extra: dict | None = None):
        self.remote, self.log_path, self.extra = remote, log_path, extra or {}
        self.teachers = remote or [Teacher(model="embedded", name=EMBEDDED_NAME)]   # the labels requests carry
        self.policy = RetryPolicy(max_attempts=max_attempts, timeout=request_timeout(timeout, remote is None))
        self.clients: dict[str, Client] = {}
        self._server: EmbeddedServer | None = None

    def start(self) -> dict[str, Client]:
        """One client per teacher label, the embedded server started first when it is the teacher."""
        if self.clients:
            return self.clients
        if self.remote is None:
            print(EMBEDDED_HINT, flush=True)
            self._server = EmbeddedServer(log_path=self.log_path)
            started = [self._server.start()]
        else:
            print("teachers: " + ", ".join(f"{t.label} at {t.base_url or 'api.openai.com'}" for t in self.remote),
                  flush=True)
            started = self.remote
        self.clients = {t.label: Client(t, self.policy, extra=self.extra) for t in started}
        return self.clients

    async def send(self, todo: list[Request], out, record, concurrency: int, budget: Budget, desc: str):
        """send_all through this session's clients, with progress; its result."""
        clients = self.start()
        progress = Progress(len(todo), desc)
        try:
            return await send_all(todo, clients, out, record, concurrency, budget, progress)
        finally:
            progress.close()

    async def close(self) -> None:
        for c in self.clients.values():
            await c.close()
        if self._server is not None:
            self._server.stop()


class Asker:
    """Ask one teacher through a Session, runner and budget; remember every answer."""

    def __init__(self, run_dir: RunDir, remote: Teacher | None, opts: TeacherOptions, *,
                 max_total_tokens: int | None = None, path: Path | None = None):
        self.path = path or run_dir.questions_requests   # the eval stage keeps its own file
        self.cache = {k: r for k, r in load_by_id(self.path).items() if isinstance(r.get("content"), str)}
        self.session = Session([remote] if remote else None, run_dir.teacher_log, timeout=opts.timeout,
                               max_attempts=opts.max_attempts)
        self.teacher = self.session.teachers[0]   # key label only
        self.concurrency = opts.concurrency
        self.budget = Budget(max_total_tokens)
        self.stats = Counter()        # planned, cached, sent, succeeded, failed, retries, *_tokens
        self.failed: list[dict] = []
        self.stopped: str | None = None   # "budget" or "aborted: <error>": nothing more is sent
        self._copies = Counter()
        self._out = None

    def request(self, kind: str, messages: list[dict], params: dict, images: list[dict] | None = None,
                image_side: int = 0) -> Request:
        """A Request (with `images` on its last user turn, sent at most `image_side` px, as collect sends
        them); the n-th identical one in this run gets sample n, so its key differs."""
        images = tuple(images or ())
        blob = json.dumps([messages, params, [im["sha256"] for im in images]], sort_keys=True, ensure_ascii=False)
        sample = self._copies[blob]
        self._copies[blob] += 1
        return Request(self.teacher, messages, params, sample, meta={"kind": kind}, images=images,
                       image_side=image_side if images else 0)

    async def ask(self, requests: list[Request], desc: str) -> dict[str, dict]:
        """key -> answer record ({content, finish_reason, ...}) for each request answered, now or before."""
        self.stats["planned"] += len(requests)
        todo = [r for r in requests if r.key not in self.cache]
        self.stats["cached"] += len(requests) - len(todo)
        if todo and self.stopped is None:
            await self._send(todo, desc)
        return {r.key: self.cache[r.key] for r in requests if r.key in self.cache}

    def _record(self, req: Request, ans: Answer) -> dict:
        rec = {"id": req.key, "kind": req.meta["kind"], "teacher": req.teacher.label, "messages": req.messages,
               "params": req.params, **({"images": list(req.images)} if req.images else {}),
               "sample": req.sample, "content": ans.content,
               "finish_reason": ans.finish_reason,
               "usage": {"prompt_tokens": ans.prompt_tokens, "completion_tokens": ans.completion_tokens},
               "created": utc_now()}
        self.cache[req.key] = rec
        return rec

    async def _send(self, todo: list[Request], desc: str) -> None:
        if self._out is None:
            self._out = Appender(self.path)
        res = await self.session.send(todo, self._out, self._record, self.concurrency, self.budget, desc)
        for key, value in (("sent", res.succeeded + len(res.failed)), ("succeeded", res.succeeded),
                           ("failed", len(res.failed)), ("retries", res.retries),
                           ("prompt_tokens", res.prompt_tokens), ("completion_tokens", res.completion_tokens)):
            self.stats[key] += value
        self.failed += [{"id": r.key, "kind": r.meta["kind"], "messages": r.messages, "error": err, "attempts": n}
                        for r, err, n in res.failed]
        if res.aborted:
            self.stopped = f"aborted: {res.aborted}"
        elif res.budget_stopped:
            self.stopped = "budget"

    async def close(self) -> None:
        await self.session.close()
        if self._out is not None:
            self._out.close()
