"""Step time of KD training against plain SFT on the same student (goal: KD at most 1.5x SFT).

Random-init LLaMA shapes (no download), synthetic token rows of fixed length, the same SFTConfig for
every run; the runs differ only in the trainer: StudentTrainer (SFT), then KDTrainer with --kd logit, feature,
logit+feature, and topk (gray-box: a random top-20 per position rides with the rows, no teacher runs). Timing: the median of the steps after --warmup (a callback records each step).

    python benchmarks/kd_gpu.py                         # GPU: student 135M shape, teacher 360M shape, bf16
    python benchmarks/kd_gpu.py --quick                 # CPU smoke run with tiny shapes (~1 minute)

The device image lacks trl and datasets: carry their wheels (see /work/shared/facts.md). The last
line printed is JSON: step_s per run and the ratio of each KD run to SFT.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

# name: (hidden, layers, heads, kv_heads, intermediate), the SmolLM2 family shapes, vocab 49152
SHAPES = {"tiny": (64, 2, 4, 2, 128), "small": (256, 6, 4, 2, 768), "135m": (576, 30, 9, 3, 1536),
          "360m": (960, 32, 15, 5, 2560), "1.7b": (2048, 24, 32, 32, 8192)}
VOCAB = 49152


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny shapes and few steps, runs on a CPU")
    p.add_argument("--student", choices=SHAPES, default="135m")
    p.add_argument("--teacher", choices=SHAPES, default="360m")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the median")
    p.add_argument("--lora", action=argparse.BooleanOptionalAction, default=True, help="LoRA r=16 all-linear")
    p.add_argument("--runs", default="sft,logit,feature,logit+feature,topk")
    p.add_argument("--k", type=int, default=20, help="top-k width of the topk run")
    p.add_argument("--out", default="runs/bench_kd_gpu")
    a = p.parse_args(argv)
    if a.quick:
        a.student, a.teacher, a.batch_size, a.seq_len, a.steps, a.warmup = "tiny", "small", 4, 128, 6, 2
    return a


def llama(shape: str, seed: int, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    h, n, heads, kv, inter = SHAPES[shape]
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=h, num_hidden_layers=n, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096,
                      tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return LlamaForCausalLM(cfg).to(dtype)


class StepTimer:
    """A TrainerCallback recording the wall time (`times`) and this process's CPU time (`cpu`) of each
    optimizer step (synchronizing CUDA). benchmarks/kd_vs_sft.py uses it too."""

    def __init__(self):
        self.times, self.cpu, self._t = [], [], None

    def _sync(self):
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kw):
        self._sync()
        self._t, self._c = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kw):
        self._sync()
        self.times.append(time.perf_counter() - self._t)
        self.cpu.append(time.process_time() - self._c)

    def __getattr__(self, name):  # every other TrainerCallback event: do nothing
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)


def stub_tokenizer():
    """A real (tiny) tokenizer object for SFTTrainer's checks; the data is already token ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")),
                                   pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def with_topk(data: list[dict], k: int) -> list[dict]:
    """The rows with a random teacher top-k per position (flat T*k lists, as `teacher topk` gives them)."""
    g = torch.Generator().manual_seed(1)
    out = []
    for row in data:
        n = len(row["input_ids"])
        ids = torch.randint(3, VOCAB, (n, k), generator=g)
        lps = torch.log_softmax(torch.randn(n, k, generator=g), -1) - 0.05   # 5% of the mass left to the rest
        out.append({**row, "kd_ids": ids.flatten().tolist(), "kd_logprobs": lps.flatten().tolist()})
    return out


def run_one(kind: str, a, data, tok_stub, teacher):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

    from imitate.device import precision, training
    from imitate.distill.features import build_regressors, default_layer_map, text_config
    from imitate.distill.kd_trainer import KDTrainer
    from imitate.train.student_trainer import StudentTrainer

    gpu = torch.cuda.is_available()
    student = llama(a.student, 0, torch.bfloat16 if gpu else torch.float32)
    args = SFTConfig(output_dir=str(Path(a.out) / kind), max_steps=a.steps, per_device_train_batch_size=a.batch_size,
                     learning_rate=1e-4, logging_steps=10, save_strategy="no", report_to=[],
                     **precision(training()), max_length=a.seq_len, gradient_checkpointing=False,
                     disable_tqdm=True)
    timer = StepTimer()
    kw = dict(model=student, args=args, train_dataset=Dataset.from_list(data), processing_class=tok_stub,
              peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
              if a.lora else None, callbacks=[timer])
    if kind == "topk":
        kw["train_dataset"] = Dataset.from_list(with_topk(data, a.k))
    if kind == "sft":
        trainer = StudentTrainer(**kw)
    else:
        kd = tuple(kind.split("+"))
        s, t = text_config(student), text_config(teacher)
        pairs = default_layer_map(s.num_hidden_layers, t.num_hidden_layers) if "feature" in kd else []
        regs = build_regressors(pairs, s.hidden_size, t.hidden_size) if pairs else None
        trainer = KDTrainer(**kw, teachers=[] if kd == ("topk",) else [teacher], kd=kd, layer_map=pairs,
                            regressors=regs)
    trainer.train()
    steps = timer.times[a.warmup:] or timer.times
    mem = torch.cuda.max_memory_allocated() / 2**30 if gpu else None
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    tokens = a.batch_size * a.seq_len
    med = statistics.median(steps)
    print(f"[{kind}] median step {med:.4f}s over {len(steps)} steps, {tokens / med:.0f} tokens/s"
          + (f", peak {mem:.1f} GiB" if mem else ""), flush=True)
    return {"step_s": round(med, 4), "tokens_per_s": round(tokens / med), "peak_gib": mem and round(mem, 1)}


def main(argv=None) -> int:
    a = parse_args(argv)
    gpu = torch.cuda.is_available()
    teacher = llama(a.teacher, 1, torch.bfloat16 if gpu else torch.float32)
    teacher.to("cuda" if gpu else "cpu").eval().requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    n_rows = a.batch_size * a.steps
    ids = torch.randint(3, VOCAB, (n_rows, a.seq_len), generator=g)
    data = [{"input_ids": r.tolist()} for r in ids]  # already tokenized: TRL only collates
    tok_stub = stub_tokenizer()
    results = {}
    for kind in a.runs.split(","):
        results[kind] = run_one(kind, a, data, tok_stub, teacher)
    base = results.get("sft", {}).get("step_s")
    summary = {"device": torch.cuda.get_device_name() if gpu else "cpu", "student": a.student, "teacher": a.teacher,
               "lora": a.lora, "batch_size": a.batch_size, "seq_len": a.seq_len, "steps": a.steps, "runs": results,
               "ratio_to_sft": {k: round(v["step_s"] / base, 2) for k, v in results.items() if base and k != "sft"}}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "kd_gpu.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
