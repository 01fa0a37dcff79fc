"""Training throughput of `imitate finetune`'s setup against plain TRL SFTTrainer + LoRA.

Both train LoRA r=16 on all linear layers of the same random-init LLaMA-shaped model, on the same
synthetic chats, with batch 8 and max length 1024, in bf16 on a GPU:

  imitate  the stage's own SFTConfig/LoraConfig/data (imitate.stages.finetune): our assistant-only
           labels, packing with padding-free rows, FlashAttention 2 / Liger when installed
  trl      SFTTrainer with TRL's defaults (no packing, padded batches, TRL's own gradient
           checkpointing default, which is on; --baseline-no-gc turns it off for a like-for-like row)

tokens/s counts the non-padding tokens the trainer fed the model (TRL's `num_tokens`), after
--warmup steps. MFU = 6 * N * tokens/s / peak bf16 FLOP/s, with N the parameters in matrix
multiplies (all but the input embedding; a tied LM head counted once as a matmul). 6N is the usual
forward+backward approximation; with LoRA the frozen weights need no weight gradients, so the
work really done is nearer 4N per token (and more with activation checkpointing, which reruns
the forward): MFU here is the conventional figure, not the hardware's view. Attention FLOPs are
left out.

    python benchmarks/finetune_gpu.py                         # GPU: 135M and ~1B shapes
    python benchmarks/finetune_gpu.py --quick                 # CPU check: tiny shapes, 3 steps
    python benchmarks/finetune_gpu.py --tokenizer shared/tokenizer   # where the embedded one is absent

The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback  # noqa: E402

SHAPES = {  # LlamaConfig kwargs
    "135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),  # Llama-3.2-1B shape
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, tie_word_embeddings=True),
}
PEAK_BF16 = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12),
             ("L40S", 362e12), ("L4", 121e12), ("A10G", 70e12)]  # dense, no sparsity
WORDS = ("the of and to in is that for it as with was on be by this are or from at which an have not "
         "they more one all their has can its when there been were who will would other about so what "
         "model answer question because number step first second then value result sum total product "
         "explain reason check again therefore example case both small large data train learn teacher "
         "student language token sentence write read water energy city river history science").split()


def synthetic_chats(n: int, seed: int, max_words: int) -> list[dict]:
    """Chats with lognormal lengths (many short, some long), like a kept set of teacher answers."""
    rng = random.Random(seed)

    def text(mean_words):
        k = max(3, min(max_words, int(rng.lognormvariate(0, 0.6) * mean_words)))
        return " ".join(rng.choice(WORDS) for _ in range(k))
    return [{"messages": [{"role": "system", "content": "You are a helpful assistant. Think step by step."},
                          {"role": "user", "content": text(max_words // 12)},
                          {"role": "assistant", "content": text(max_words // 3)}]} for _ in range(n)]


def build_model(shape: str, vocab: int, dtype, device, attn: str):
    kw = dict(SHAPES[shape])
    kw["vocab_size"] = max(kw.get("vocab_size", 0), vocab)
    config = LlamaConfig(max_position_embeddings=4096, **kw)
    config._attn_implementation = attn
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    return model


def matmul_params(model) -> int:
    total = sum(p.numel() for p in model.parameters())  # tied weights counted once
    embed = model.get_input_embeddings().weight.numel()
    return total if model.config.tie_word_embeddings else total - embed


class Timer(TrainerCallback):
    """Wall time and token count between the end of step `warmup` and the last step."""

    def __init__(self, warmup: int):
        self.warmup, self.trainer, self.start = warmup, None, None
        self.end = None

    def _mark(self):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter(), int(self.trainer._total_train_tokens)

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.warmup:
            self.start = self._mark()
        elif state.global_step == state.max_steps:
            self.end = self._mark()


def imitate_trainer(model, tok, chats, a, out_dir):
    from imitate.stages import finetune
    from imitate.train.data import encode_all
    from imitate.train.model import lora_config, sft_config
    from imitate.train.student_trainer import StudentTrainer
    cfg = finetune.Config(run=out_dir, max_steps=a.steps, batch_size=a.batch, max_length=a.max_length,
                          lora_r=16, packing=True, gradient_checkpointing=a.gc)
    dev = cfg.device()
    args = sft_config(cfg, dev, len(chats), out_dir)
    args.logging_steps, args.disable_tqdm = a.steps, True
    return StudentTrainer(model=model, args=args, train_dataset=encode_all(tok, chats, "synthetic", a.max_length),
                          processing_class=tok, peft_config=lora_config(cfg))


def trl_trainer(model, tok, chats, a, out_dir):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from imitate.device import precision, training
    kw = {} if not a.baseline_no_gc else {"activation_checkpointing": False}
    args = SFTConfig(output_dir=out_dir, max_steps=a.steps, per_device_train_batch_size=a.batch,
                     max_length=a.max_length, **precision(training(packing=False)), report_to="none",
                     save_strategy="no", logging_steps=a.steps, disable_tqdm=True, **kw)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(chats), processing_class=tok,
                      peft_config=lora)


def measure(setup: str, shape: str, tok, chats, a) -> dict:
    from imitate.device import training
    cuda = torch.cuda.is_available()
    dev = training(packing=True)
    attn = dev["attn"] if setup == "imitate" else "sdpa"
    dtype = torch.bfloat16 if cuda else torch.float32
    model = build_model(shape, len(tok), dtype, "cuda" if cuda else "cpu", attn)
    n = matmul_params(model)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out_dir:
        make = imitate_trainer if setup == "imitate" else trl_trainer
        trainer = make(model, tok, chats, a, out_dir)
        timer = Timer(a.warmup)
        timer.trainer = trainer
        trainer.add_callback(timer)
        trainer.train()
    (t0, k0), (t1, k1) = timer.start, timer.end
    tps = (k1 - k0) / (t1 - t0)
    peak = a.peak_tflops * 1e12 if a.peak_tflops else peak_flops()
    row = {"shape": shape, "setup": setup, "params_matmul": n, "tokens_per_s": round(tps, 1),
           "mfu_6n": round(6 * n * tps / peak, 4) if peak else None, "steps_timed": a.steps - a.warmup,
           "packing": bool(trainer.args.packing), "padding_free": bool(trainer.padding_free),
           "gradient_checkpointing": bool(trainer.args.activation_checkpointing), "attention": attn,
           "liger": bool(trainer.args.use_liger_kernel), "bf16": bool(trainer.args.bf16),
           "max_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None}
    print(f"{shape:>5} {setup:>8}: {tps:10.0f} tokens/s  MFU {row['mfu_6n']}  {row}", file=sys.stderr)
    del trainer, model
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return row


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((f for key, f in PEAK_BF16 if key in name), None)


def load_tokenizer(path: str | None):
    from transformers import AutoTokenizer
    if path is None:
        from imitate.embedded import model_dir
        path = model_dir()
    return AutoTokenizer.from_pretrained(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes, few steps: a CPU check of the script")
    p.add_argument("--shapes", default=None, help="comma list of 135m,1b,tiny (default: 135m,1b; tiny with --quick)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 30; 3 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="steps left out of the timing (default 5; 1 with --quick)")
    p.add_argument("--batch", type=int, default=None, help="records per step (default 8; 2 with --quick)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per row (default 1024; 128 with --quick)")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder with a chat template (default: embedded)")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s when the GPU is not known")
    p.add_argument("--gc", action="store_true", help="activation checkpointing in the imitate setup")
    p.add_argument("--baseline-no-gc", action="store_true", help="turn off TRL's default activation checkpointing")
    a = p.parse_args(argv)
    q = a.quick
    a.shapes = (a.shapes or ("tiny" if q else "135m,1b")).split(",")
    a.steps = a.steps or (3 if q else 30)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 5)
    a.batch = a.batch or (2 if q else 8)
    a.max_length = a.max_length or (128 if q else 1024)
    if not 0 < a.warmup < a.steps:
        p.error("need 0 < --warmup < --steps")
    tok = load_tokenizer(a.tokenizer)
    chats = synthetic_chats(a.steps * a.batch, seed=0, max_words=int(a.max_length * 0.9))
    rows = [measure(setup, shape, tok, chats, a) for shape in a.shapes for setup in ("trl", "imitate")]
    speedup = {s: round(next(r["tokens_per_s"] for r in rows if r["shape"] == s and r["setup"] == "imitate")
                        / next(r["tokens_per_s"] for r in rows if r["shape"] == s and r["setup"] == "trl"), 2)
               for s in a.shapes}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(json.dumps({"device": device, "batch": a.batch, "max_length": a.max_length, "steps": a.steps,
                      "warmup": a.warmup, "lora_r": 16, "results": rows, "speedup_imitate_over_trl": speedup}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
