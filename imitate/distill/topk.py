"""Gray-box KD from the top-k sidecar (imitate.data.topk): its alignment with the student's encoding,
its computation from local teacher weights (`teacher topk`), and the training columns of `finetune --kd topk`."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from imitate.data.topk import load, vocab_fingerprint
from imitate.errors import UserError
from imitate.train.options import TrainOptions

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

    from imitate import embedded
    from imitate.device import process_device
    from imitate.distill.kd_trainer import load_teacher
    from imitate.train.data import encode

    path = embedded.resolve(teacher_path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the teacher's tokenizer: {e}", teacher_path) from None
    device, dtype = process_device()
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


def with_topk(folder: Path, cfg: TrainOptions, tokenizer, records: list[dict], train_ds, dev: dict):
    """finetune --kd topk: the training rows plus their aligned top-k columns (cut to --max-length as
    TRL cuts input_ids), and the device choices without packing (rows stay whole: v1)."""
    from imitate.device import whole_rows

    if cfg.packing:
        raise UserError("--kd topk trains without packing (the top-k columns follow whole rows); drop --packing")
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


