"""How fast `select --by ifd` scores, against a plain torch loop doing the same forward passes.

Records: public conversations no one here wrote (tests/fixtures/real/: OASST, Alpaca-GPT4, AlpacaEval
answers by Claude 3 Opus, GSM8K), each answer cut to about --tokens tokens of question and answer
together, repeated to --n records (repeats get distinct ids and questions, so none is cached). The IFD
cache starts empty in a fresh temporary folder, so the time is that of a run that did all the work.
The baseline: the same model, rows and batches (sorted by length, --batch-size), two plain forward
passes per record (`model(input_ids, attention_mask).logits`, no label masking, no head chunking):
what IFD cannot go below.

    .venv/bin/python benchmarks/select_speed.py                 # 1000 records of about 200 tokens
    .venv/bin/python benchmarks/select_speed.py --n 200        # quick
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imitate import embedded  # noqa: E402
from imitate.data.formats import read_conversations  # noqa: E402
from imitate.select import ifd  # noqa: E402

SOURCES = ("oasst_en100_sample.jsonl", "alpaca_gpt4_sample.json", "alpacaeval_claude3opus_sample.jsonl",
           "gsm8k_test_sample.jsonl")


def corpus(tok, n: int, tokens: int) -> list[dict]:
    """n two-turn records of about `tokens` tokens, from the public fixtures."""
    base = []
    for name in SOURCES:
        for _, rec in read_conversations(ROOT / "tests" / "fixtures" / "real" / name):
            msgs = [m for m in rec["messages"] if m["role"] in ("user", "assistant")][:2]
            if len(msgs) == 2 and msgs[1]["role"] == "assistant":
                q = tok.decode(tok(msgs[0]["content"])["input_ids"][: tokens // 2])
                a = tok.decode(tok(msgs[1]["content"])["input_ids"][: tokens - len(tok(q)["input_ids"])])
                base.append((q, a))
    return [{"id": f"r{i}", "messages": [{"role": "user", "content": f"({i}) {q}"},
                                         {"role": "assistant", "content": a}]}
            for i, (q, a) in ((i, base[i % len(base)]) for i in range(n))]


def plain(model, tok, records: list[dict], batch_size: int) -> float:
    """Seconds for two plain forward passes per record, in the same batches."""
    import torch

    texts = []
    for r in records:
        given, alone = ifd.pair(r["messages"])
        texts += [tok.apply_chat_template(given, tokenize=False), tok.apply_chat_template(alone, tokenize=False)]
    rows = sorted((tok(t, add_special_tokens=False)["input_ids"] for t in texts), key=len)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    t0 = time.perf_counter()
    with torch.inference_mode():
        for a in range(0, len(rows), batch_size):
            part = rows[a:a + batch_size]
            width = max(map(len, part))
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in part], device=model.device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in part], device=model.device)
            model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="records")
    ap.add_argument("--tokens", type=int, default=200, help="about this many tokens of question and answer each")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model", default=None, help="model folder (default: the embedded one)")
    a = ap.parse_args()

    from imitate.eval.generate import load
    path = embedded.resolve(a.model)
    model, tok = load(path)
    records = corpus(tok, a.n, a.tokens)
    lengths = [len(tok(tok.apply_chat_template(r["messages"], tokenize=False))["input_ids"]) for r in records]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        scores = ifd.score(path, records, Path(tmp) / "select_ifd.jsonl", batch_size=a.batch_size)
        ours = time.perf_counter() - t0   # includes loading the model once more, as the stage does
    base = plain(model, tok, records, a.batch_size)
    valid = [s["ifd"] for s in scores.values() if s["ifd"] is not None]
    out = {"records": a.n, "mean_tokens": round(sum(lengths) / len(lengths), 1), "batch_size": a.batch_size,
           "dtype": str(model.dtype), "ifd_s": round(ours, 1), "records_per_s": round(a.n / ours, 2),
           "plain_forward_s": round(base, 1), "ratio_to_plain": round(ours / base, 2),
           "scored": len(valid), "ifd_at_least_1": sum(v >= 1 for v in valid)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
