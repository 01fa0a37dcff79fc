"""Batch APIs: request lines and shards, the files and batches endpoints, and the join of output files.

A Batch API (OpenAI's, and any endpoint that copies it) takes a JSONL file of requests, each with a
`custom_id`, answers them within 24 hours at half the price, and gives back an output file and an
error file whose lines carry the same `custom_id`. `vllm run-batch` reads and writes the same
shapes, so the same shards and the same join serve your own GPUs.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import openai

from imitate.data.records import Appender, atomic_open, dumps
from imitate.errors import UserError
from imitate.teacher.client import AbortRun, Answer, RetryPolicy, Teacher, classify, describe, retry_after
from imitate.teacher.runner import Request

ENDPOINT = "/v1/chat/completions"
DISCOUNT = 0.5                       # the Batch API's price, as a share of the online price
ENDED = ("completed", "failed", "expired", "cancelled")
UNFINISHED = "batch_expired"         # the error code of a request the window closed on: asked again


def line(req: Request) -> bytes:
    """One Batch API input line: custom_id = the request key, body = the chat-completions request."""
    body = {"model": req.teacher.model, "messages": req.wire_messages(), **req.wire_params()}
    return (dumps({"custom_id": req.key, "method": "POST", "url": ENDPOINT, "body": body}) + "\n").encode()


def shard(requests: list[Request], size: int, max_bytes: int) -> list[list[Request]]:
    """Requests grouped per teacher (a batch asks one model), at most `size` requests and `max_bytes`
    bytes of input lines in each group."""
    shards: list[list[Request]] = []
    for label in {r.teacher.label: None for r in requests}:
        group, nbytes = [], 0
        for req in (r for r in requests if r.teacher.label == label):
            n = len(line(req))
            if n > max_bytes:
                raise UserError(f"request {req.key} alone takes {n} bytes, more than --batch-bytes {max_bytes}")
            if group and (len(group) == size or nbytes + n > max_bytes):
                shards.append(group)
                group, nbytes = [], 0
            group.append(req)
            nbytes += n
        if group:
            shards.append(group)
    return shards


def read_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of a JSONL file, read as a stream; UserError naming file:line."""
    with open(path, "rb") as f:
        for no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as e:
                raise UserError(f"invalid JSON: {e}", path, no) from None
            if not isinstance(obj, dict):
                raise UserError(f"a line must be a JSON object, got {type(obj).__name__}", path, no)
            yield no, obj


def keys(path: Path) -> set[str]:
    """The custom_ids of an input shard."""
    return {obj["custom_id"] for _, obj in read_lines(path)}


def parse(obj: dict, path: Path, no: int) -> tuple[Answer | None, str | None]:
    """(answer, None), (None, error) or (None, None) for a request the window closed on."""
    err, resp = obj.get("error"), obj.get("response")
    if err:
        if isinstance(err, dict):
            if err.get("code") == UNFINISHED:
                return None, None
            return None, f"{err.get('code')}: {err.get('message')}"
        return None, str(err)   # vllm run-batch writes the error as text
    if not isinstance(resp, dict) or not isinstance(resp.get("body"), dict):
        raise UserError("a batch output line needs `response` with a `body`, or `error`", path, no)
    body = resp["body"]
    if resp.get("status_code") != 200:
        detail = body.get("error")
        message = detail.get("message") if isinstance(detail, dict) else detail or body
        return None, f"HTTP {resp.get('status_code')}: {message}"
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None, "malformed answer: no message content"
    if not isinstance(content, str):
        return None, "malformed answer: no message content"
    usage = body.get("usage") or {}
    return Answer(content, choice.get("finish_reason"), usage.get("prompt_tokens") or 0,
                  usage.get("completion_tokens") or 0, 1), None


@dataclass
class Joined:
    """What a join wrote and what it reported."""
    succeeded: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unknown: list = field(default_factory=list)    # "file:line: custom_id"
    repeated: list = field(default_factory=list)

    def add(self, other: "Joined") -> None:
        for name in ("succeeded", "failed", "prompt_tokens", "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unknown += other.unknown
        self.repeated += other.repeated

    def report(self) -> None:
        for what, where in (("an unknown custom_id", self.unknown), ("a custom_id seen before", self.repeated)):
            if where:
                shown = "; ".join(where[:3]) + (" ..." if len(where) > 3 else "")
                print(f"warning: {len(where)} output lines with {what}, not written: {shown}")


def check(path: Path) -> None:
    """Raise UserError at the first line of `path` that is not a batch output line."""
    if not path.is_file():
        raise UserError("no such file", path)
    for no, obj in read_lines(path):
        if not isinstance(obj.get("custom_id"), str):
            raise UserError("a batch output line needs a `custom_id`", path, no)
        parse(obj, path, no)


def join(path: Path, batch_id: str, requests: dict[str, Request], done: set[str], seen: set[str],
         collected: Appender, failed: Appender, to_record: Callable[[Request, Answer], dict],
         to_failure: Callable[[Request, str, int], dict]) -> Joined:
    """Append one record per line of an output or error file to `collected` or `failed`, by custom_id.

    `done`: keys already written (skipped, and grown here); `seen`: keys met in this batch's files so
    far (a second line for one is reported, never written)."""
    res = Joined()
    for no, obj in read_lines(path):
        cid = obj.get("custom_id")
        if not isinstance(cid, str):
            raise UserError("a batch output line needs a `custom_id`", path, no)
        req = requests.get(cid)
        if req is None:
            res.unknown.append(f"{path.name}:{no}: {cid}")
            continue
        if cid in seen:
            res.repeated.append(f"{path.name}:{no}: {cid}")
            continue
        seen.add(cid)
        if cid in done:
            continue
        ans, error = parse(obj, path, no)
        if ans is not None:
            rec = to_record(req, ans)
            rec["teacher"]["batch_id"] = batch_id
            collected.write(rec)
            res.succeeded += 1
            res.prompt_tokens += ans.prompt_tokens
            res.completion_tokens += ans.completion_tokens
        elif error is not None:
            failed.write({**to_failure(req, error, 1), "batch_id": batch_id})
            res.failed += 1
        else:
            continue
        done.add(cid)
    return res


class Api:
    """One teacher's files and batches endpoints through the OpenAI SDK, with our retries
    (as the chat client's: transient errors backed off, others raised as AbortRun)."""

    def __init__(self, teacher: Teacher, policy: RetryPolicy):
        key = os.environ.get(teacher.api_key_env) or "EMPTY"   # read here, never written
        self._api = openai.OpenAI(api_key=key, base_url=teacher.base_url, max_retries=0, timeout=policy.timeout)
        self.policy = policy

    def _call(self, fn, *args, **kwargs):
        p = self.policy
        for attempt in range(1, p.max_attempts + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - classified below, nothing swallowed
                if classify(exc) != "retry" or attempt == p.max_attempts:
                    raise AbortRun(describe(exc)) from None
                asked = retry_after(exc)
                delay = random.uniform(0, min(p.max_delay, p.base_delay * 2 ** (attempt - 1)))
                time.sleep(delay if asked is None else min(p.max_delay, asked))
        raise AssertionError("unreachable")

    def upload(self, path: Path) -> str:
        return self._call(self._api.files.create, file=path, purpose="batch").id

    def create(self, file_id: str, name: str):
        return self._call(self._api.batches.create, completion_window="24h", endpoint=ENDPOINT,
                          input_file_id=file_id, metadata={"imitate_shard": name})

    def find(self, file_id: str):
        """The batch made from `file_id`, if any (made by a process killed before it recorded it)."""
        page = self._call(self._api.batches.list, limit=100)
        while True:
            for b in page.data:
                if b.input_file_id == file_id:
                    return b
            if not page.has_more or not page.data:
                return None
            page = self._call(self._api.batches.list, limit=100, after=page.data[-1].id)

    def retrieve(self, batch_id: str):
        return self._call(self._api.batches.retrieve, batch_id)

    def download(self, file_id: str, path: Path) -> None:
        def fetch():
            with self._api.files.with_streaming_response.content(file_id) as resp, atomic_open(path, "wb") as f:
                for chunk in resp.iter_bytes():
                    f.write(chunk)
        self._call(fetch)
