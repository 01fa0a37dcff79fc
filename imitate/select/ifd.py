"""IFD, instruction-following difficulty (Li et al. 2024, "From Quantity to Quality"; Superfiltering, Li et
al. 2024): the mean loss of an answer given its question, divided by its mean loss without it, both under
one small causal LM. A low ratio: the question explains much of the answer; near or above 1: the answer
does not follow from the question (kept out: `ifd>=1`). Superfiltering shows a GPT-2-size model ranks
records as a 7B one does, so the embedded 135M model is the default.

The encoding is finetune's (imitate.train.data.encode, the chat template): "given" is the record's
conversation up to its last answer, "alone" the same system message and an empty user turn before it; the
loss counts the last answer's tokens only, within the first `max_length` tokens. Records go in batches of
similar length; each score is appended to a cache file as its batch ends, keyed by the record's content
and the model, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from imitate.data.records import Appender, load_by_id
from imitate.progress import Progress


def record_key(rec: dict, model: str) -> str:
    """The cache key of one record's score under one model: a hash of both."""
    blob = json.dumps([model, rec["messages"]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def pair(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the conversation up to its last answer, that answer after the system message and an empty user turn)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    system = [m for m in messages[:1] if m["role"] == "system"]
    return messages[: last + 1], system + [{"role": "user", "content": ""}, messages[last]]


def score(model_path: str, records: list[dict], cache: Path, *, batch_size: int = 8,
          max_length: int = 1024) -> dict[str, dict]:
    """key -> {ifd, loss_given, loss_alone, tokens} for every record (record_key), computing only those the
    cache lacks; a record with no answer token within max_length gets {ifd: None}."""
    done = load_by_id(cache)
    keys = [record_key(r, model_path) for r in records]
    todo = sorted({k: r for k, r in zip(keys, records) if k not in done}.items(),
                  key=lambda kr: sum(len(m["content"]) for m in kr[1]["messages"]))
    if todo:
        from imitate.eval.generate import load
        from imitate.eval.likelihood import answer_nll

        model, tok = load(model_path)
        progress = Progress(len(todo), "select ifd")
        with Appender(cache) as out:
            for a in range(0, len(todo), batch_size):
                part = todo[a:a + batch_size]
                given, alone = zip(*(pair(r["messages"]) for _, r in part))
                kw = dict(batch_size=batch_size, last_only=True, max_length=max_length)
                for (key, _), g, s in zip(part, answer_nll(model, tok, list(given), **kw),
                                          answer_nll(model, tok, list(alone), **kw)):
                    done[key] = {"id": key, "model": model_path, **ratio(g, s)}
                    out.write(done[key])
                progress.update(done=len(part), tokens=sum(done[key]["tokens"] for key, _ in part))
        progress.close()
    return {k: done[k] for k in keys}


def ratio(given: tuple[float, int], alone: tuple[float, int]) -> dict:
    """IFD from (summed NLL, tokens) of the answer given its question and alone."""
    if not given[1] or not alone[1]:
        return {"ifd": None, "tokens": 0}
    loss_given, loss_alone = given[0] / given[1], alone[0] / alone[1]
    return {"ifd": round(loss_given / loss_alone, 6) if loss_alone > 0 else None, "loss_given": round(loss_given, 6),
            "loss_alone": round(loss_alone, 6), "tokens": given[1]}
