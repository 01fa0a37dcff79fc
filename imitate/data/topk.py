"""The top-k sidecar: the teacher's top-k token log-probabilities, cached once beside the records.

The sidecar is the run-folder folder `topk/`:
- `meta.json`: {"format": 1, "k", "source": "api" | "local", "teacher", and for ids that are the
  teacher tokenizer's own ("local"): "vocab_size", "vocab_hash", "student_system"}.
- `shard-NNNNN.parquet`: one row per record, keyed by the record's `id`. Columns (lists per row):
  `pos` (local: the position of each trained token in the encoded record), `token` (api: the sampled
  token texts), `token_id` (the sampled ids; -1 unknown), `logprob` (the sampled tokens' log-probs,
  api), and, flattened n_tokens x k: `top_token` (api), `top_id` (-1 unknown), `top_logprob`
  (-inf where the teacher gave fewer than k).
- `staging.jsonl` (collect only): append-only, one line per answer, written and flushed BEFORE the
  record's line in collected.jsonl, so a kill -9 can leave a staging line without a record, never
  a record whose top-k is lost. `compact` moves the lines whose record exists into a new shard and
  drops the rest (a resumed run re-asks those requests and stages them again).

`teacher topk` (local weights) computes the same folder on exactly the tokens finetune trains on;
`finetune --kd topk` aligns it with its own encoding (imitate.distill.topk.align).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path

from imitate.data.records import Appender, iter_jsonl, repair_torn_tail, write_json
from imitate.errors import UserError

META, STAGING = "meta.json", "staging.jsonl"
MAX_K = 20
COLUMNS = ("pos", "token", "token_id", "logprob", "top_token", "top_id", "top_logprob")


def vocab_fingerprint(tokenizer) -> dict:
    """The vocabulary's size and a hash of its (token, id) pairs: ids from another tokenizer are refused."""
    vocab = tokenizer.get_vocab()
    blob = json.dumps(sorted(vocab.items(), key=lambda kv: kv[1]), ensure_ascii=False)
    return {"vocab_size": len(vocab), "vocab_hash": hashlib.sha256(blob.encode()).hexdigest()[:16]}


def token_id(text: str) -> int:
    """vLLM's --return-tokens-as-token-ids gives 'token_id:123'; -1 when the text is no such string."""
    if text.startswith("token_id:"):
        try:
            return int(text[len("token_id:"):])
        except ValueError:
            pass
    return -1


def from_api(content, k: int) -> dict | None:
    """A sidecar row (without id) from a chat completion's `choices[0].logprobs.content`, or None."""
    if not content:
        return None
    row = {c: [] for c in ("token", "token_id", "logprob", "top_token", "top_id", "top_logprob")}
    for item in content:
        get = item.get if isinstance(item, dict) else lambda key, d=None, it=item: getattr(it, key, d)
        tok = get("token") or ""
        row["token"].append(tok)
        row["token_id"].append(token_id(tok))
        row["logprob"].append(float(get("logprob", -math.inf)))
        tops = list(get("top_logprobs") or [])[:k]
        for j in range(k):
            if j < len(tops):
                t = tops[j]
                tt = (t.get("token") if isinstance(t, dict) else t.token) or ""
                lp = t.get("logprob") if isinstance(t, dict) else t.logprob
                row["top_token"].append(tt)
                row["top_id"].append(token_id(tt))
                row["top_logprob"].append(float(lp))
            else:
                row["top_token"].append("")
                row["top_id"].append(-1)
                row["top_logprob"].append(-math.inf)
    return row


# -- the folder -------------------------------------------------------------------------------------

def shards(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("shard-*.parquet"))


def write_shard(folder: Path, rows: list[dict]) -> Path | None:
    """Rows -> the next shard, written to a temporary name and renamed (a crash leaves no half shard)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        return None
    schema = pa.schema([("id", pa.string()), ("pos", pa.list_(pa.int32())), ("token", pa.list_(pa.string())),
                        ("token_id", pa.list_(pa.int32())), ("logprob", pa.list_(pa.float32())),
                        ("top_token", pa.list_(pa.string())), ("top_id", pa.list_(pa.int32())),
                        ("top_logprob", pa.list_(pa.float32()))])
    table = pa.Table.from_pylist([{c: r.get(c) for c in ("id", *COLUMNS)} for r in rows], schema=schema)
    existing = shards(folder)
    n = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
    path = Path(folder) / f"shard-{n:05d}.parquet"
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def shard_ids(folder: Path) -> set[str]:
    import pyarrow.parquet as pq
    return {x for p in shards(folder) for x in pq.read_table(p, columns=["id"]).column("id").to_pylist()}


def read_meta(folder: Path) -> dict | None:
    p = Path(folder) / META
    return json.loads(p.read_text()) if p.is_file() else None


def load(folder: Path) -> tuple[dict, dict[str, dict]]:
    """(meta, id -> row) of a sidecar folder; UserError when there is none."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    meta = read_meta(folder)
    if meta is None or not shards(folder):
        raise UserError("no top-k sidecar: run `collect --logprobs K` against a teacher that returns logprobs, "
                        "or `python -m imitate teacher topk --run DIR --teacher-model PATH` first", folder)
    rows = {}
    for p in shards(folder):
        for r in pq.read_table(p).to_pylist():
            rows[r["id"]] = r
    return meta, rows


class StagedAppender:
    """collected.jsonl's Appender that first stages each record's top-k (its private `_topk` key).

    A record whose answer carried no logprobs is written text-only, with one warning per run."""

    def __init__(self, out: Appender, folder: Path, meta: dict):
        self.out, self.folder, self.meta = out, Path(folder), meta
        self.folder.mkdir(parents=True, exist_ok=True)
        if read_meta(self.folder) is None:
            write_json(self.folder / META, meta)
        self.staging = Appender(self.folder / STAGING)
        self.warned = False
        self.staged = 0

    def write(self, rec: dict) -> None:
        row = rec.pop("_topk", None)
        if row is not None:
            self.staging.write({"id": rec["id"], **row})   # flushed before the record: see the module doc
            self.staged += 1
        elif not self.warned:
            self.warned = True
            print(f"warning: teacher {rec.get('teacher', {}).get('model')} returned no logprobs (asked for "
                  f"top_logprobs={self.meta['k']}); going on text-only for such answers", file=sys.stderr)
        self.out.write(rec)

    def close(self) -> None:
        self.staging.close()


def compact(folder: Path, record_ids: set[str]) -> int:
    """Move staged rows whose record exists (and is not in a shard yet) into a new shard; drop the
    staging file. Rows without a record (a kill -9 between the two appends) are discarded."""
    folder = Path(folder)
    staging = folder / STAGING
    if not staging.exists():
        return 0
    repair_torn_tail(staging)
    have = shard_ids(folder)
    rows, seen = [], set()
    for _, r in iter_jsonl(staging, allow_torn_tail=True):
        rid = r.get("id")
        if rid in record_ids and rid not in have and rid not in seen:
            seen.add(rid)
            rows.append(r)
    write_shard(folder, rows)
    staging.unlink()
    return len(rows)


def write_local(folder: Path, rows: list[dict], meta: dict) -> None:
    """Replace the sidecar folder with `rows` (+ meta), via a .partial folder renamed over."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for i in range(0, len(rows), 2000):
        write_shard(partial, rows[i:i + 2000])
    write_json(partial / META, meta)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def staged(out: Appender, run_dir, k: int, todo, to_record):
    """collect --logprobs: (the appender that stages top-k first, the record function carrying it)."""
    teachers = sorted({r.teacher.label for r in todo})
    meta = {"format": 1, "k": k, "source": "api", "teacher": ", ".join(teachers)}
    old = read_meta(run_dir.topk)
    if old is not None and (old.get("source"), old.get("k")) != ("api", k):
        raise UserError(f"RUN/topk/ holds a sidecar with k={old.get('k')} from {old.get('source')}; "
                        f"--logprobs {k} would mix them: use another run folder or remove topk/", run_dir.topk)

    def record(req, ans):
        return {**to_record(req, ans), "_topk": from_api(ans.logprobs, k)}

    return StagedAppender(out, run_dir.topk, meta), record


def finish_staging(out, run_dir) -> None:
    """Close the staging file and compact it into a shard (rows whose record made it to disk)."""
    from imitate.data.records import load_by_id

    if isinstance(out, StagedAppender):
        out.close()
        out.out.close()
        n = compact(run_dir.topk, set(load_by_id(run_dir.collected)))
        print(f"top-k: {n} answers' log-probs -> {run_dir.topk}")
