"""JSONL records: strict reading (file:line errors), atomic writing, durable appending.

A record is a plain dict in the schema of shared/design.md; only `messages` is required downstream.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from imitate.errors import UserError

ROLES = ("system", "user", "assistant")
_UMASK = os.umask(0)
os.umask(_UMASK)


def iter_jsonl(path: str | Path, *, allow_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line; raise UserError naming file and line.

    allow_torn_tail: a last line without its newline that does not parse is skipped (a crash
    during an append), with a warning; the caller repairs the file with `repair_torn_tail`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", path)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    last = len(lines)
    for no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"bytes that are not UTF-8 (offset {e.start})", path, no) from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            if allow_torn_tail and no == last:
                return
            raise UserError(f"invalid JSON: {e.msg} (column {e.colno})", path, no) from None
        if not isinstance(obj, dict):
            raise UserError(f"a line must be a JSON object, got {type(obj).__name__}", path, no)
        yield no, obj


def read_jsonl(path: str | Path) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def repair_torn_tail(path: str | Path) -> bool:
    """Cut a last line that lacks its newline (a write torn by a crash). Complete lines are kept.

    Returns True when something was cut, after warning on stderr.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return False
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    print(f"warning: {path}: repaired a torn last line ({len(data) - keep} bytes dropped; "
          "complete lines kept)", file=sys.stderr)
    return True


def load_by_id(path: str | Path) -> dict[str, dict]:
    """id -> record of an append-only JSONL file (a torn last line repaired first); {} when absent.
    What a resumed stage already has on disk."""
    path = Path(path)
    if not path.exists():
        return {}
    repair_torn_tail(path)
    return {rec["id"]: rec for _, rec in iter_jsonl(path) if "id" in rec}


def utc_now() -> str:
    """The `created` timestamp of a record: ISO 8601, UTC, seconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


@contextmanager
def atomic_open(path: str | Path, mode: str = "w"):
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records atomically (temporary name, then rename). Returns the count."""
    n = 0
    with atomic_open(path) as f:
        for rec in records:
            f.write(dumps(rec) + "\n")
            n += 1
    return n


def read_json(path: str | Path) -> dict:
    """A JSON file holding one object (a stats or config file); UserError naming the file and line."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"invalid JSON: {e.msg}", path, e.lineno) from None
    if not isinstance(obj, dict):
        raise UserError("expected a JSON object", path)
    return obj


def write_json(path: str | Path, obj) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


class Appender:
    """Append records one line at a time, flushed to the OS at once (a kill -9 loses no
    complete line), fsynced at most every `sync_every_s` seconds (against power loss; an fsync
    costs milliseconds and would stall an event loop if done per line) and on close."""

    def __init__(self, path: str | Path, sync_every_s: float = 2.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")
        self._sync_every_s = sync_every_s
        self._last_sync = time.monotonic()

    def write(self, rec: dict) -> None:
        self._f.write(dumps(rec) + "\n")
        self._f.flush()
        if time.monotonic() - self._last_sync >= self._sync_every_s:
            os.fsync(self._f.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_messages(rec: dict, path, line: int | None, need_assistant: bool = True) -> list[dict]:
    """Return rec['messages'] after checking its shape; raise UserError naming file and line."""
    msgs = rec.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise UserError("record has no `messages` list", path, line)
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise UserError("each message needs a role (system/user/assistant) and a string content",
                            path, line)
    if need_assistant and not any(m["role"] == "assistant" for m in msgs):
        raise UserError("record has no assistant turn", path, line)
    return msgs


def turn(rec: dict, role: str) -> str:
    """The content of the last message with `role` ('' if none)."""
    for m in reversed(rec.get("messages", [])):
        if m.get("role") == role:
            return m.get("content") or ""
    return ""
