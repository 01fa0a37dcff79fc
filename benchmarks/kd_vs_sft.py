"""KD against plain SFT on the same student, steps and data: does the teacher's white box help?

Teacher: the embedded SmolLM2-135M-Instruct (d=576, 30 layers). Student: a random-init LLaMA with
the same tokenizer (d=256, 6 layers by default). Data: the shipped seeds answered by the teacher
(generated once with its generate(), greedy, cached in OUT/teacher_answers.jsonl), or a kept.jsonl
given with --input. Run 1: CE only (StudentTrainer, as `finetune` trains). Run 2: CE + logit KD + feature KD
(kd_setup + KDTrainer, as `finetune --kd logit,feature` does). Runs 3-4: CE + gray-box top-k KD
from a sidecar computed once (`teacher topk`, K=20 and K=5; `finetune --kd topk`), no teacher in
the loop. All full fine-tuning, in the dtype imitate.device picks (IMITATE_CPU_DTYPE=float32: fp32).
Each run reports its step time (the median over the steps after the first sixth, in wall seconds and
in this process's CPU seconds, which a shared machine disturbs less), the ratios to SFT's, and the peak
RSS while training (sampled); the top-k runs also the sidecar's bytes per trained token.

    .venv/bin/python benchmarks/kd_vs_sft.py --quick

The last line printed is JSON with eval_loss_ce, eval_loss_kd, eval_loss_topk20, eval_loss_topk5: the held-out CE loss (on teacher
answers to questions neither run trained on) after each run, plus the step time of each.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from imitate.embedded import MODEL_NAME, model_dir  # noqa: E402
from imitate.data.records import read_jsonl, write_json, write_jsonl  # noqa: E402
from imitate.data.formats import read_conversations  # noqa: E402
from imitate.distill.options import KDOptions  # noqa: E402

FALLBACK_QUESTIONS = [
    "What is 12 multiplied by 7?", "What is the chemical symbol for gold?", "Why is the sky blue?",
    "Write a Python function that adds two numbers.", "Who wrote Romeo and Juliet?",
    "What is the boiling point of water in Celsius?", "Give me a tip for sleeping better.",
    "What is photosynthesis?", "How many days are in a leap year?", "What is the capital of Japan?",
    "Explain what a prime number is.", "Write a haiku about rain.",
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: under ~5 minutes on 2 CPU cores")
    p.add_argument("--input", help="a kept.jsonl (records with messages) instead of generated answers")
    p.add_argument("--out", default="runs/bench_kd_vs_sft", help="output folder (answers cache, results)")
    p.add_argument("--seeds", default=str(ROOT / "seeds" / "seeds.jsonl"), help="seed questions")
    p.add_argument("--n-train", type=int, default=None, help="training conversations")
    p.add_argument("--n-eval", type=int, default=None, help="held-out conversations")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per run")
    p.add_argument("--batch-size", type=int, default=None, help="rows per step")
    p.add_argument("--max-length", type=int, default=160, help="tokens per training row")
    p.add_argument("--max-new-tokens", type=int, default=None, help="teacher answer length")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--temperature", type=float, default=1.0,
                   help="KD temperature (1: the student matches the distribution the answers were drawn from)")
    p.add_argument("--lambda-kl", type=float, default=1.0, help="weight of the logit KD term")
    p.add_argument("--lambda-mse", type=float, default=1.0, help="weight of the feature KD term")
    p.add_argument("--rerun", action="store_true", help="retrain even when OUT holds a result for these settings")
    p.add_argument("--layer-map", default="", help="S:T pairs; default the middle layers (3:15)")
    p.add_argument("--student-hidden", type=int, default=256)
    p.add_argument("--student-layers", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    sizes = (16, 8, 12, 4, 32) if a.quick else (192, 32, 200, 8, 96)   # quick: sized for the slow machines
    for name, v in zip(("n_train", "n_eval", "steps", "batch_size", "max_new_tokens"), sizes):
        if getattr(a, name) is None:
            setattr(a, name, v)
    return a


def load_questions(path: str) -> list[dict]:
    if Path(path).exists():
        return [{"seed_id": r["id"], "category": r.get("category"), "question": r["question"]}
                for r in read_jsonl(path)]
    print(f"{path} not found: using {len(FALLBACK_QUESTIONS)} built-in questions", file=sys.stderr)
    return [{"seed_id": f"q{i}", "category": None, "question": q} for i, q in enumerate(FALLBACK_QUESTIONS)]


@torch.no_grad()
def generate_answers(questions, tok, model, max_new_tokens: int, batch: int = 16) -> list[dict]:
    """Greedy teacher answers, batched with left padding; records in the project's schema."""
    tok.padding_side = "left"
    out = []
    for i in range(0, len(questions), batch):
        chunk = questions[i:i + batch]
        prompts = [tok.apply_chat_template([{"role": "user", "content": q["question"]}], tokenize=False,
                                           add_generation_prompt=True) for q in chunk]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for q, row in zip(chunk, gen[:, enc["input_ids"].shape[1]:]):
            ids = row.tolist()
            done = tok.eos_token_id in ids
            text = tok.decode(ids, skip_special_tokens=True).strip()
            out.append({"id": f"kdbench-{q['seed_id']}", "seed_id": q["seed_id"], "category": q["category"],
                        "messages": [{"role": "user", "content": q["question"]},
                                     {"role": "assistant", "content": text}],
                        "teacher": {"model": MODEL_NAME, "system_prompt_id": None, "params": {"greedy": True, "max_new_tokens": max_new_tokens}},
                        "finish_reason": "stop" if done else "length"})
        print(f"  teacher answers: {len(out)}/{len(questions)}", file=sys.stderr, flush=True)
    tok.padding_side = "right"
    return out


def conversations(a, tok, teacher) -> list[dict]:
    if a.input:
        return [rec for _, rec in read_conversations(a.input)]
    cache = Path(a.out) / "teacher_answers.jsonl"
    need = a.n_train + a.n_eval
    have = [r for r in (read_jsonl(cache) if cache.exists() else [])
            if r["teacher"]["params"].get("max_new_tokens") == a.max_new_tokens]
    if len(have) >= need:
        return have
    questions = load_questions(a.seeds)
    random.Random(a.seed).shuffle(questions)
    done = {r["seed_id"] for r in have}
    todo = [q for q in questions if q["seed_id"] not in done][:need - len(have)]
    t0 = time.time()
    print(f"generating {len(todo)} teacher answers (once; cached in {cache})", file=sys.stderr, flush=True)
    have += generate_answers(todo, tok, teacher, a.max_new_tokens)
    print(f"generated {len(todo)} answers in {time.time() - t0:.0f}s -> {cache}", file=sys.stderr)
    write_jsonl(cache, have)
    return have


def student(tok, a):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(a.seed)
    h = a.student_hidden
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=h, intermediate_size=3 * h, num_hidden_layers=a.student_layers,
                      num_attention_heads=max(1, h // 64), num_key_value_heads=max(1, h // 128),
                      max_position_embeddings=2048, tie_word_embeddings=True, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return LlamaForCausalLM(cfg)


def cached(a, name, train, held, kd_cfg, fn) -> dict:
    """CPU training here is deterministic: reuse a run's result when settings and data are the same."""
    import hashlib

    keys = ("steps", "batch_size", "max_length", "lr", "student_hidden", "student_layers", "seed")
    # "assistant-only": the labels' encoding (imitate.train.data), part of what a result depends on.
    blob = json.dumps(["assistant-only", name, {k: getattr(a, k) for k in keys}, vars(kd_cfg) if kd_cfg else None,
                       train, held],
                      sort_keys=True)
    path = Path(a.out) / f"result_{name}_{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"
    if path.exists() and not a.rerun:
        res = json.loads(path.read_text())
        print(f"[{name}] reusing {path} (--rerun to train again): eval_loss {res['eval_loss']:.4f}", flush=True)
        return res
    res = fn()
    write_json(path, res)
    return res


class PeakRSS:
    """The peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        import threading
        self.peak, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        while True:
            with open("/proc/self/status") as f:
                rss = next((int(x.split()[1]) * 1024 for x in f if x.startswith("VmRSS:")), 0)
            self.peak = max(self.peak, rss)
            if self._stop.wait(0.02):
                return

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def topk_sidecar(a, tok, train, k: int):
    """`teacher topk` on the training conversations: (train dataset with the top-k columns, stats)."""
    from datasets import Dataset

    from imitate.data import topk as sidecar
    from imitate.distill import topk as tk
    from imitate.train.data import encode_all

    recs = [{"id": f"b{i}", "messages": c["messages"]} for i, c in enumerate(train)]
    folder = Path(a.out) / f"topk_k{k}"
    t0 = time.time()
    rows, meta = tk.compute_local("embedded", recs, k, batch_size=8, max_length=a.max_length)
    sidecar.write_local(folder, rows, meta)
    secs = time.time() - t0
    ds = encode_all(tok, recs, "train", a.max_length)
    enc = [{"input_ids": i, "labels": lab} for i, lab in zip(ds["input_ids"], ds["labels"])]
    cols, st = tk.align(tok, recs, enc, meta, {r["id"]: r for r in rows})
    cols = {c: [v[:a.max_length * k] for v in vals] for c, vals in cols.items()}
    n_bytes = sum(p.stat().st_size for p in folder.iterdir())
    tokens = sum(len(r["pos"]) for r in rows)
    info = {"k": k, "sidecar_bytes": n_bytes, "trained_tokens": tokens,
            "bytes_per_trained_token": round(n_bytes / max(1, tokens), 1), "teacher_topk_s": round(secs, 1),
            "with_topk": st["with_topk"]}
    print(f"[topk{k}] sidecar {n_bytes} bytes for {tokens} trained tokens "
          f"({info['bytes_per_trained_token']} B/token), computed in {secs:.0f}s", flush=True)
    return Dataset.from_dict({"input_ids": ds["input_ids"], "labels": ds["labels"], **cols}), info


def train_once(a, tok, train, held, kd_cfg=None, name=None, train_ds=None) -> dict:
    """One full fine-tuning run; KD when kd_cfg is given. Returns eval loss and step time."""
    from trl import SFTConfig

    from imitate.device import precision, training
    from imitate.distill.kd_trainer import KDTrainer, kd_setup
    from imitate.train.student_trainer import StudentTrainer
    from kd_gpu import StepTimer   # this script's folder is on sys.path
    from imitate.train.data import encode_all

    name = name or ("kd" if kd_cfg else "ce")
    args = SFTConfig(output_dir=str(Path(a.out) / name), max_steps=a.steps, per_device_train_batch_size=a.batch_size,
                     per_device_eval_batch_size=a.batch_size, learning_rate=a.lr, lr_scheduler_type="cosine",
                     warmup_steps=max(1, a.steps // 10), logging_steps=max(1, a.steps // 8), save_strategy="no",
                     report_to=[], **precision(training()), max_length=a.max_length, seed=a.seed,
                     gradient_checkpointing=False,
                     dataloader_num_workers=0, disable_tqdm=not sys.stderr.isatty())
    model = student(tok, a)
    # The finetune stage's encoding: loss (and KD terms) on the teacher's answer tokens only, and the
    # held-out loss is CE on the teacher's answers, as in `finetune`.
    train_ds = train_ds if train_ds is not None else encode_all(tok, train, "train", a.max_length)
    kw = dict(model=model, args=args, train_dataset=train_ds,
              eval_dataset=encode_all(tok, held, "held-out", a.max_length), processing_class=tok)
    trainer = KDTrainer(**kw, **kd_setup(kd_cfg, model, tok, seed=a.seed)) if kd_cfg else StudentTrainer(**kw)
    timer = StepTimer()
    trainer.add_callback(timer)
    t0 = time.time()
    with PeakRSS() as rss:
        out = trainer.train()
    wall = time.time() - t0
    ev = trainer.evaluate()
    skip = max(1, a.steps // 6)   # the first steps warm up allocators and caches
    res = {"eval_loss": ev["eval_loss"], "train_runtime_s": round(wall, 1),
           "step_s": round(statistics.median(timer.times[skip:]), 3),
           "step_cpu_s": round(statistics.median(timer.cpu[skip:]), 3), "peak_rss_mb": round(rss.peak / 2 ** 20),
           "last_train_logs": [h for h in trainer.state.log_history if "loss" in h][-1]}
    print(f"[{name}] eval_loss {res['eval_loss']:.4f}  step {res['step_s']:.3f}s ({res['step_cpu_s']:.3f} CPU-s)  "
          f"train {wall:.0f}s  last log {res['last_train_logs']}", flush=True)
    return res


def main(argv=None) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    a = parse_args(argv)
    t_start = time.time()
    Path(a.out).mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(model_dir())
    teacher = None if a.input else AutoModelForCausalLM.from_pretrained(model_dir(), dtype=torch.float32).eval()
    convs = [{"messages": r["messages"]} for r in conversations(a, tok, teacher)]
    del teacher
    random.Random(a.seed + 1).shuffle(convs)
    if len(convs) < 3:
        raise SystemExit(f"need at least 3 conversations, got {len(convs)}")
    n_eval = min(a.n_eval, len(convs) // 3)
    held, train = convs[:n_eval], convs[n_eval:n_eval + a.n_train]
    print(f"{len(train)} training, {len(held)} held-out conversations; {a.steps} steps of {a.batch_size}; "
          f"student d={a.student_hidden} x {a.student_layers} layers", flush=True)
    ce = cached(a, "ce", train, held, None, lambda: train_once(a, tok, train, held))
    kd_cfg = KDOptions(kd_teacher=["embedded"], kd=["logit", "feature"], layer_map=a.layer_map,
                       kd_temperature=a.temperature, lambda_ce=1.0, lambda_kl=a.lambda_kl, lambda_mse=a.lambda_mse)
    kd = cached(a, "kd", train, held, kd_cfg, lambda: train_once(a, tok, train, held, kd_cfg))
    runs = {"ce": ce, "kd": kd}
    for k in (20, 5):
        tk_cfg = KDOptions(kd_teacher=[], kd=["topk"], layer_map="", kd_temperature=a.temperature,
                           lambda_ce=1.0, lambda_kl=a.lambda_kl, lambda_mse=0.0)

        def run_topk(k=k, tk_cfg=tk_cfg):
            ds, info = topk_sidecar(a, tok, train, k)
            return {**train_once(a, tok, train, held, tk_cfg, name=f"topk{k}", train_ds=ds), "sidecar": info}

        runs[f"topk{k}"] = cached(a, f"topk{k}", train, held, tk_cfg, run_topk)
    topk = {f"eval_loss_{n}": round(r["eval_loss"], 4) for n, r in runs.items() if n.startswith("topk")}
    topk.update({f"step_time_ratio_{n}": round(r["step_s"] / ce["step_s"], 2) for n, r in runs.items()
                 if n.startswith("topk")})
    topk.update({f"step_cpu_ratio_{n}": round(r["step_cpu_s"] / ce["step_cpu_s"], 2) for n, r in runs.items()
                 if n != "ce"})
    topk.update({f"peak_rss_mb_{n}": r.get("peak_rss_mb") for n, r in runs.items()})
    topk["sidecar_bytes_per_trained_token_k20"] = runs["topk20"]["sidecar"]["bytes_per_trained_token"]
    result = {"eval_loss_ce": round(ce["eval_loss"], 4), "eval_loss_kd": round(kd["eval_loss"], 4), **topk,
              "kd_better": kd["eval_loss"] < ce["eval_loss"], "step_s_ce": ce["step_s"], "step_s_kd": kd["step_s"],
              "step_time_ratio": round(kd["step_s"] / ce["step_s"], 2), "steps": a.steps,
              "batch_size": a.batch_size, "train_records": len(train), "eval_records": len(held),
              "student": f"llama d={a.student_hidden} layers={a.student_layers}", "teacher": MODEL_NAME,
              "temperature": a.temperature, "lambda_kl": a.lambda_kl, "lambda_mse": a.lambda_mse, "threads": torch.get_num_threads(),
              "total_s": round(time.time() - t_start, 1)}
    write_json(Path(a.out) / "kd_vs_sft.json", {**result, "runs": runs})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
