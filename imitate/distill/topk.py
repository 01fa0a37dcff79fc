"""Gray-box KD: the teacher's top-k token log-probabilities, cached once beside the records.

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
`finetune --kd topk` aligns it with its own encoding (`align`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path

from imitate.errors import UserError
from imitate.records import Appender, iter_jsonl, repair_torn_tail, write_json

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


# -- alignment with the student's encoding ---------------------------------------------------------

def check_vocab(meta: dict, tokenizer, where) -> None:
    fp = vocab_fingerprint(tokenizer)
    if meta.get("vocab_hash") and (meta["vocab_hash"], meta.get("vocab_size")) != (fp["vocab_hash"], fp["vocab_size"]):
        raise UserError(f"the top-k sidecar holds token ids of another tokenizer (teacher {meta.get('teacher')}: "
                        f"{meta.get('vocab_size')} tokens, hash {meta['vocab_hash']}; the student's: "
                        f"{fp['vocab_size']} tokens, hash {fp['vocab_hash']}). Top-k KD compares distributions "
                        "token by token: use a student with the teacher's tokenizer, or recompute the sidecar "
                        "with `teacher topk` for a teacher that shares it", where)


def align(tokenizer, records: list[dict], encoded: list[dict], meta: dict, rows: dict[str, dict]):
    """Per record, (kd_ids, kd_logprobs): flat lists of len(input_ids) * k aligned with its tokens:
    position t holds the teacher's top-k for predicting token t (id -1 everywhere when unknown).
    Returns (columns, stats): stats count trained tokens, those with a top-k, and those left out."""
    k = int(meta["k"])
    local = meta.get("source") == "local"
    cache: dict[str, int] = {}

    def text_id(text: str) -> int:
        if text not in cache:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            cache[text] = ids[0] if len(ids) == 1 else -1
        return cache[text]

    ids_col, lp_col = [], []
    st = {"trained_tokens": 0, "with_topk": 0, "records_without_topk": 0, "answer_tokens_unmapped": 0,
          "answer_tokens": 0}
    for rec, row_enc in zip(records, encoded):
        n = len(row_enc["input_ids"])
        kd_ids, kd_lp = [-1] * (n * k), [-math.inf] * (n * k)
        trained = [t for t, lab in enumerate(row_enc["labels"]) if lab != -100]
        st["trained_tokens"] += len(trained)
        row = rows.get(rec.get("id"))
        if row is None:
            st["records_without_topk"] += 1
        elif local:
            for i, t in enumerate(row["pos"]):
                if t < n and row_enc["input_ids"][t] == row["token_id"][i] and row_enc["labels"][t] != -100:
                    kd_ids[t * k:(t + 1) * k] = row["top_id"][i * k:(i + 1) * k]
                    kd_lp[t * k:(t + 1) * k] = row["top_logprob"][i * k:(i + 1) * k]
                    st["with_topk"] += 1
        else:
            mapped, total = _align_api(tokenizer, rec, row_enc, row, k, kd_ids, kd_lp, text_id)
            st["with_topk"] += mapped
            st["answer_tokens"] += total
            st["answer_tokens_unmapped"] += total - mapped
        ids_col.append(kd_ids)
        lp_col.append(kd_lp)
    return {"kd_ids": ids_col, "kd_logprobs": lp_col}, st


def _align_api(tokenizer, rec, row_enc, row, k, kd_ids, kd_lp, text_id) -> tuple[int, int]:
    """Map an API answer's tokens onto the student's tokens of the last assistant turn: a student token
    gets the teacher's top-k when exactly one teacher token has the same characters. With token ids
    ('token_id:N'), the texts are the student's decoding of those ids (checked by the caller's stats)."""
    from imitate.train.data import assistant_spans

    text, spans = assistant_spans(tokenizer, rec["messages"])
    content = next(m["content"] for m in reversed(rec["messages"]) if m["role"] == "assistant")
    start = text.find(content, spans[-1][0]) if spans else -1
    by_ids = all(i >= 0 for i in row["token_id"]) and row["token_id"]
    toks = [tokenizer.decode([i]) for i in row["token_id"]] if by_ids else row["token"]
    spans_t, off = {}, 0
    for i, tok in enumerate(toks):
        if not tok or not content.startswith(tok, off):
            break
        spans_t[(off, off + len(tok))] = i
        off += len(tok)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if enc["input_ids"][:len(row_enc["input_ids"])] != row_enc["input_ids"]:
        return 0, 0
    total = mapped = 0
    for t, (a, b) in enumerate(enc["offset_mapping"][:len(row_enc["input_ids"])]):
        if start < 0 or row_enc["labels"][t] == -100 or not (start <= a < start + len(content)):
            continue
        total += 1
        i = spans_t.get((a - start, b - start))
        if i is None:
            continue
        if by_ids:
            alt = list(row["top_id"][i * k:(i + 1) * k])
        else:
            alt = [text_id(x) for x in row["top_token"][i * k:(i + 1) * k]]
        seen = set()
        for j, x in enumerate(alt):   # an id twice (two texts, one student token): keep the first
            if x in seen:
                alt[j] = -1
            seen.add(x)
        kd_ids[t * k:(t + 1) * k] = alt
        kd_lp[t * k:(t + 1) * k] = row["top_logprob"][i * k:(i + 1) * k]
        mapped += 1
    return mapped, total


# -- computing it locally (teacher topk) -----------------------------------------------------------

def compute_local(teacher_path: str, records: list[dict], k: int, batch_size: int = 8,
                  max_length: int | None = None) -> tuple[list[dict], dict]:
    """Run the teacher once over the records' encodings (assistant-only labels, as finetune trains):
    for each trained token t, the top-k of the teacher's distribution that predicted it."""
    import torch
    from transformers import AutoTokenizer

    from imitate.distill.trainer import load_teacher, resolve_model_path, teacher_device
    from imitate.train.data import encode

    path = resolve_model_path(teacher_path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the teacher's tokenizer: {e}", teacher_path) from None
    device, dtype = teacher_device()
    model = load_teacher(teacher_path, device, dtype)
    enc = []
    for rec in records:
        e = encode(tok, rec["messages"])
        if max_length:
            e = {key: v[:max_length] for key, v in e.items()}
        enc.append(e)
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]["input_ids"]))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out: dict[int, dict] = {}
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            width = max(len(enc[i]["input_ids"]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            att = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                x = enc[i]["input_ids"]
                ids[r, :len(x)] = torch.tensor(x)
                att[r, :len(x)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=att.to(device), use_cache=False).logits
            for r, i in enumerate(idx):
                labels = enc[i]["labels"]
                pos = [t for t in range(1, len(labels)) if labels[t] != -100]
                if not pos:
                    out[i] = {"id": records[i].get("id"), "pos": [], "token_id": [], "top_id": [], "top_logprob": []}
                    continue
                lp = torch.log_softmax(logits[r, [t - 1 for t in pos]].float(), dim=-1)
                top_lp, top_id = lp.topk(k, dim=-1)
                out[i] = {"id": records[i].get("id"), "pos": pos, "token_id": [enc[i]["input_ids"][t] for t in pos],
                          "top_id": top_id.flatten().tolist(), "top_logprob": top_lp.flatten().tolist()}
    meta = {"format": 1, "k": k, "source": "local", "teacher": teacher_path, **vocab_fingerprint(tok)}
    return [out[i] for i in range(len(records))], meta


def with_topk(cfg, tokenizer, records: list[dict], train_ds, dev: dict):
    """finetune --kd topk: the training rows plus their aligned top-k columns (cut to --max-length as
    TRL cuts input_ids), and the device choices without packing (rows stay whole: v1)."""
    from imitate.rundir import RunDir
    from imitate.stages.finetune import whole_rows

    if cfg.packing:
        raise UserError("--kd topk trains without packing (the top-k columns follow whole rows); drop --packing")
    folder = RunDir(cfg.run).topk
    meta, rows = load(folder)
    check_vocab(meta, tokenizer, folder)
    encoded = [{"input_ids": i, "labels": lab} for i, lab in zip(train_ds["input_ids"], train_ds["labels"])]
    cols, st = align(tokenizer, records, encoded, meta, rows)
    k, n = int(meta["k"]), cfg.max_length
    cols = {c: [v[:n * k] for v in vals] for c, vals in cols.items()}
    if meta.get("source") != "local" and st["answer_tokens"]:
        share = st["answer_tokens_unmapped"] / st["answer_tokens"]
        print(f"top-k KD: {share:.1%} of the answer tokens did not map one-to-one onto the student's tokens "
              "(left out of the KD term)", file=sys.stderr)
        by_ids = any(r["token_id"] and min(r["token_id"]) >= 0 for r in rows.values())
        if by_ids and share > 0.5:
            raise UserError("the top-k sidecar's token ids do not decode to the answers with the student's "
                            "tokenizer: the teacher's tokenizer differs from the student's", folder)
    st["k"], st["source"] = k, meta.get("source")
    print(f"top-k KD: k={k} ({meta.get('source')}), {st['with_topk']} of {st['trained_tokens']} trained tokens have "
          f"the teacher's top-k; {st['records_without_topk']} records have none", file=sys.stderr)
    if st["with_topk"] == 0:
        raise UserError("no trained token has a top-k in the sidecar (ids of other records, or another "
                        "--student-system than the sidecar was computed with)", folder)
    return train_ds.add_column("kd_ids", cols["kd_ids"]).add_column("kd_logprobs", cols["kd_logprobs"]), whole_rows(dev)


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
    from imitate.records import load_by_id

    if isinstance(out, StagedAppender):
        out.close()
        out.out.close()
        n = compact(run_dir.topk, set(load_by_id(run_dir.collected)))
        print(f"top-k: {n} answers' log-probs -> {run_dir.topk}")
