"""How the eval stage generates on a local model: continuous batching (imitate.eval.generate, imitate/decode.py)
against plain batched `model.generate` (left padding; a batch runs until its longest answer ends), on the
embedded SmolLM2-135M, the same chats (shipped seeds, or --seeds), batch size, max tokens and dtype,
greedy, in one process.

Prints generated tokens/s of each (tokens up to and including the end-of-turn token), their ratio, and
how many answers are the same text both ways (greedy: they differ only where padding changes the
float rounding of a near tie, which bf16 makes common; --fp32 to see). One untimed warm-up, then each
side counts its best of --repeats alternating runs.

Run: .venv/bin/python benchmarks/eval_generate.py [--seeds FILE] [--questions 48] [--batch 16] [--max-tokens 112]
     [--repeats 2] [--fp32]
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imitate import embedded  # noqa: E402
from imitate.eval import generate  # noqa: E402
from imitate.data.seeds import load_seeds  # noqa: E402
from imitate.shipped import SEEDS  # noqa: E402


def continuous(model, tok, chats: list, a) -> tuple[int, float, list[str]]:
    answers = [""] * len(chats)
    tokens = 0

    def done(indices, outs):
        nonlocal tokens
        for i, o in zip(indices, outs):
            answers[i] = o["content"]
            tokens += o["completion_tokens"]
    t0 = time.time()
    generate.generate(model, tok, chats, max_tokens=a.max_tokens, temperature=0.0, seed=0, batch_size=a.batch, done=done)
    return tokens, time.time() - t0, answers


def plain(model, tok, chats: list, a) -> tuple[int, float, list[str]]:
    import torch

    stops = generate.stops(model, tok)
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    order = sorted(range(len(chats)), key=lambda i: -len(texts[i]))   # as long as the other side's: rows pad little
    answers, tokens, t0 = [""] * len(chats), 0, time.time()
    for start in range(0, len(order), a.batch):
        batch = order[start:start + a.batch]
        enc = tok([texts[i] for i in batch], return_tensors="pt", padding=True, padding_side="left",
                  add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=a.max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for i, row in zip(batch, out[:, enc["input_ids"].shape[1]:].tolist()):
            end = next((k for k, t in enumerate(row) if t in stops), None)
            tokens += len(row) if end is None else end + 1
            answers[i] = tok.decode(row if end is None else row[:end], skip_special_tokens=True).strip()
    return tokens, time.time() - t0, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default=str(SEEDS), help="questions, in any seed format (default: the shipped seeds)")
    ap.add_argument("--questions", type=int, default=48, help="the first N questions")
    ap.add_argument("--batch", type=int, default=16, help="rows decoded at once (eval's --batch-size; its default)")
    ap.add_argument("--max-tokens", type=int, default=112, help="most tokens per answer (the demo's eval)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each side, alternating; the best counts")
    ap.add_argument("--fp32", action="store_true", help="run the model in fp32 instead of the dtype eval picks")
    a = ap.parse_args()
    chats = [[{"role": "user", "content": s["question"]}] for s in load_seeds(a.seeds)[: a.questions]]
    model, tok = generate.load(embedded.model_dir())
    if a.fp32:
        model = model.float()
    continuous(model, tok, chats[:4], a)   # warm-up: the first forwards of a dtype are slower
    best = {}
    for r in range(a.repeats):
        for name, fn in (("continuous", continuous), ("plain_generate", plain)):
            tokens, wall, answers = fn(model, tok, chats, a)
            print(f"run {r + 1}, {name}: {tokens} tokens in {wall:.1f}s: {tokens / wall:.1f} tok/s", flush=True)
            if name not in best or tokens / wall > best[name][0]:
                best[name] = (tokens / wall, answers)
    same = sum(x == y for x, y in zip(best["continuous"][1], best["plain_generate"][1]))
    print(json.dumps({"tokens_per_s": {k: round(v[0], 1) for k, v in best.items()},
                      "ratio": round(best["continuous"][0] / best["plain_generate"][0], 2),
                      "same_answers": f"{same}/{len(chats)}", "questions": len(chats), "batch": a.batch,
                      "max_tokens": a.max_tokens, "dtype": str(model.dtype).removeprefix("torch.")}))


if __name__ == "__main__":
    main()
