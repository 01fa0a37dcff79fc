"""Send many chat requests with bounded concurrency, durably, within a token budget.

Each answer becomes a record appended (and flushed) as soon as it completes, so a kill -9 loses
at most the requests in flight. Callers skip requests whose key is already on disk, which is
what makes a re-run send only what is missing.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from imitate.data.images import IMAGE_BYTES
from imitate.data.records import Appender
from imitate.progress import Progress
from imitate.teacher.client import AbortRun, Answer, Client, RequestFailed, Teacher


@dataclass
class Request:
    teacher: Teacher
    messages: list[dict]
    params: dict
    sample: int = 0
    meta: dict = field(default_factory=dict)   # copied into the record (seed_id, category, ...)
    images: tuple = ()      # ({"path", "sha256"}, ...) shown with the last user turn (imitate.data.images)
    image_side: int = 0     # their longest side on the wire (--max-image-side)
    rng_seed: int = 0       # collect's --rng-seed: mixed into the sampling seed, not into the key

    @cached_property
    def key(self) -> str:
        """Content hash of what is asked: teacher, messages, parameters and sample index (and the
        images' sha256 and side, when there are images)."""
        asked = {"teacher": self.teacher.label, "messages": self.messages, "params": self.params,
                 "sample": self.sample}
        if self.images:
            asked["images"] = {"sha256": [im["sha256"] for im in self.images], "side": self.image_side}
        blob = json.dumps(asked, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]

    def wire_params(self) -> dict:
        """The parameters as sent, with a sampling seed: from the key and the run's --rng-seed, so that
        asking the same request again draws the same answer where the server honours seeds (the embedded
        teacher, vLLM; OpenAI on a best-effort basis), the samples of one question draw differently, and
        another --rng-seed draws anew. Not part of the key: runs collected before the seed was sent
        resume unchanged."""
        return {**self.params, "seed": (int(self.key[:8], 16) ^ (self.rng_seed * 0x9E3779B1)) & 0x7FFFFFFF}

    def wire_messages(self) -> list[dict]:
        """The messages as sent: the last user turn as image parts + text when there are images."""
        if not self.images:
            return self.messages
        from imitate.data.images import content_parts
        last = max(i for i, m in enumerate(self.messages) if m["role"] == "user")
        msgs = list(self.messages)
        msgs[last] = {**msgs[last], "content": content_parts(msgs[last]["content"], list(self.images),
                                                             self.image_side)}
        return msgs

    def prompt_bytes(self) -> int:
        return sum(len(m["content"].encode("utf-8")) for m in self.messages) + IMAGE_BYTES * len(self.images)


class Budget:
    """Stop sending before `cap` total tokens (prompt + completion) would be passed.

    Each request reserves its estimated prompt tokens plus `max_tokens` (the worst case for its
    answer); the reservation is replaced by the real usage when the answer comes. Prompt tokens
    are estimated from UTF-8 bytes at the highest tokens-per-byte ratio seen so far (start 0.5),
    plus 10%, so the estimate learns the teacher's tokenizer as answers arrive.
    """

    def __init__(self, cap: int | None):
        self.cap = cap
        self.spent = 0
        self.reserved = 0
        self.ratio = 0.5

    def estimate(self, req: Request) -> int:
        prompt = math.ceil(req.prompt_bytes() * self.ratio * 1.1) + 8 * len(req.messages)
        return prompt + int(req.params.get("max_tokens") or 0)

    def reserve(self, req: Request) -> int | None:
        est = self.estimate(req)
        if self.cap is not None and self.spent + self.reserved + est > self.cap:
            return None
        self.reserved += est
        return est

    def settle(self, est: int, req: Request, ans: Answer | None) -> None:
        self.reserved -= est
        if ans is not None:
            self.spent += ans.prompt_tokens + ans.completion_tokens
            if ans.prompt_tokens and req.prompt_bytes():
                self.ratio = max(self.ratio, ans.prompt_tokens / req.prompt_bytes())


@dataclass
class Outcome:
    succeeded: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failed: list = field(default_factory=list)   # (Request, error text, attempts)
    aborted: str | None = None
    budget_stopped: bool = False


async def send_all(requests: list[Request], clients: dict[str, Client], out: Appender,
                   to_record: Callable[[Request, Answer], dict], concurrency: int,
                   budget: Budget, progress: Progress) -> Outcome:
    """Send `requests` through `clients` (by teacher label); append one record per answer."""
    res = Outcome()
    pending = iter(requests)
    stop = asyncio.Event()

    def on_retry(_delay, _err):
        res.retries += 1
        progress.update(retries=1)

    for c in clients.values():
        c.on_retry = on_retry

    async def worker():
        while not stop.is_set():
            req = next(pending, None)
            if req is None:
                return
            est = budget.reserve(req)
            if est is None:
                res.budget_stopped = True
                stop.set()
                return
            ans = None
            try:
                ans = await clients[req.teacher.label].chat(req.wire_messages(), req.wire_params())
            except RequestFailed as e:
                res.failed.append((req, str(e), e.attempts))
                progress.update(done=1, failures=1)
            except AbortRun as e:
                res.aborted = str(e)
                res.failed.append((req, str(e), 1))
                stop.set()
            else:
                out.write(to_record(req, ans))
                res.succeeded += 1
                res.prompt_tokens += ans.prompt_tokens
                res.completion_tokens += ans.completion_tokens
                progress.update(done=1, tokens=ans.completion_tokens)
            finally:
                budget.settle(est, req, ans)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return res
