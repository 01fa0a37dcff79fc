"""LoRA-tune the student on kept.jsonl with TRL; write DIR/student/ and DIR/finetune_stats.json.

The loss falls on the assistant (teacher) tokens only (see imitate/train/data.py for how). A seeded
held-out split (records of one question stay together) gives the student's loss and perplexity on
the teacher's answers before and after training. --student-system TEXT replaces the teacher's
system message in the training data ('' drops it): prompt erasing, as in Orca 2.

On a GPU: bf16, packing with padding-free batches, FlashAttention 2 when installed, Liger kernels
when installed. On CPU: bf16 where this CPU multiplies bf16 faster than fp32 (native bf16: AVX-512
BF16, AMX), else fp32; no packing, and a step's records go through in padding-free micro-batches of
at most CPU_ROW_TOKENS tokens. bf16 means the frozen base in bf16, the LoRA adapters in fp32, under
autocast. Several GPUs: `accelerate launch --config_file
configs/accelerate/ddp.yaml -m imitate finetune ...` (or fsdp.yaml); accelerate runs the show.
With --kd logit,feature and --kd-teacher, white-box KD (imitate.distill) replaces plain SFT.
"""
from __future__ import annotations

import importlib.util
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from imitate import config as config_mod
from imitate.config import opt
from imitate.data.formats import CONVERSATION_FORMATS, read_conversations
from imitate.data.records import write_json
from imitate.distill.options import KDOptions
from imitate.errors import UserError
from imitate.rundir import DEFAULT, STAGES, RunDir
from imitate.train.data import encode_all, set_system, split
from imitate.train.model import load_model, load_tokenizer, lora_config, resolve_student, save_in_base_dtype, sft_config
from imitate.train.options import TrainOptions

READS, WRITES = STAGES["finetune"]
REPORT_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}


@dataclass
class Config(TrainOptions, KDOptions):
    run: str = opt(DEFAULT, "run folder: reads kept.jsonl, writes student/ and finetune_stats.json")
    input: str | None = opt(None, "records to train on; unset: RUN/kept.jsonl")
    format: str = opt("auto", "format of the records: messages, sharegpt, alpaca, dolly, self_instruct; "
                      "auto: detected from the first record",
                      choices=["auto", *CONVERSATION_FORMATS])
    student: str | None = opt(None, "student model folder or hub id; unset: the embedded SmolLM2-135M-Instruct")
    output: str | None = opt(None, "where the adapter goes; unset: RUN/student")
    merge: bool = opt(False, "also write RUN/student/merged/, a plain model with the adapter merged in")

    def __post_init__(self):
        TrainOptions.__post_init__(self)
        KDOptions.__post_init__(self)
        packages = REPORT_PACKAGES.get(self.report_to, ())
        if packages and not any(importlib.util.find_spec(p) for p in packages):
            raise UserError(f"--report-to {self.report_to} needs `pip install {packages[0]}`")


def records_path(cfg: Config) -> Path:
    """--input, else RUN/selected.jsonl when select wrote it, else RUN/kept.jsonl."""
    run_dir = RunDir(cfg.run)
    return Path(cfg.input) if cfg.input else run_dir.selected if run_dir.selected.is_file() else run_dir.kept


def load_records(cfg: Config) -> tuple[Path, list[dict]]:
    """The training records, each tagged `_line` (its line in the file, for error messages)."""
    path = records_path(cfg)
    return path, [{"messages": rec["messages"], "seed_id": rec.get("seed_id"), "id": rec.get("id"), "_line": no,
                   "images": rec.get("images") or []}
                  for no, rec in read_conversations(path, cfg.format)]


def build_trainer(cfg: Config):
    """Everything up to a ready trainer: (trainer, info). Tests and benchmarks call this too."""
    import transformers

    student_path, student_name = resolve_student(cfg.student)
    from imitate.vision.student import is_vision_student
    if is_vision_student(student_path):   # images: TRL's vision-language path (imitate/vision/student.py)
        from imitate.vision.student import build_trainer as build_vision_trainer
        return build_vision_trainer(cfg, cfg, *load_records(cfg), student_path, student_name,
                                    str(RunDir(cfg.run).finetune_logs))
    path, records = load_records(cfg)
    if any(r["images"] for r in records):
        raise UserError("these records carry images and the student reads text only: give a vision-language "
                        "--student (e.g. SmolVLM), see docs/usage.md, Images", path)
    tokenizer = load_tokenizer(student_path)
    records = set_system(records, cfg.student_system)
    train_recs, eval_recs = split(records, cfg.eval_fraction, cfg.rng_seed)
    train_ds = encode_all(tokenizer, train_recs, path, cfg.max_length)
    eval_ds = encode_all(tokenizer, eval_recs, path, cfg.max_length)
    dev = cfg.device()
    if "topk" in cfg.kd:   # gray-box KD: the cached top-k ride along with the training rows
        from imitate.distill.topk import with_topk
        train_ds, dev = with_topk(RunDir(cfg.run).topk, cfg, tokenizer, train_recs, train_ds, dev)
    transformers.set_seed(cfg.rng_seed)  # the LoRA init happens inside the trainer's constructor
    model = load_model(student_path, dev)
    # One set of keyword arguments for both trainers, so SFT and KD train the same way.
    kwargs = dict(model=model, args=sft_config(cfg, dev, len(train_recs), str(RunDir(cfg.run).finetune_logs)),
                  train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
                  peft_config=lora_config(cfg))
    if cfg.kd:
        from imitate.distill.kd_trainer import KDTrainer, kd_setup

        trainer = KDTrainer(**kwargs, **kd_setup(cfg, model, tokenizer, seed=cfg.rng_seed, bf16=cfg.bf16))
    else:
        from imitate.train.student_trainer import StudentTrainer

        trainer = StudentTrainer(**kwargs)
    info = {"input": str(path), "student": student_name, "student_path": student_path,
            "train_records": len(train_recs), "eval_records": len(eval_recs), "device": dev,
            "eval_ids": [r["id"] for r in eval_recs]}
    return trainer, info


def _loss_ppl(metrics: dict) -> tuple[float, float]:
    if "eval_loss" not in metrics:
        raise UserError("the held-out records have no answer token within --max-length; raise --max-length "
                        "or --eval-fraction")
    loss = float(metrics["eval_loss"])
    return loss, math.exp(min(loss, 50.0))


def save_student(trainer, cfg: Config, info: dict) -> Path:
    """Adapter + tokenizer (and merged/ with --merge) into a .partial folder, then renamed over."""
    out = Path(cfg.output) if cfg.output else RunDir(cfg.run).student
    partial = out.with_name(out.name + ".partial")
    if trainer.is_world_process_zero():
        shutil.rmtree(partial, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(partial))  # every process: FSDP gathers the weights here
    if trainer.is_world_process_zero():
        (partial / "training_args.bin").unlink(missing_ok=True)
        if cfg.merge:
            merge_adapter(partial, info["student_path"])
        shutil.rmtree(out, ignore_errors=True)
        os.replace(partial, out)
        try:  # the trainer's output_dir: holds reports (--report-to tensorboard), else stays empty
            os.rmdir(trainer.args.output_dir)
        except OSError:
            pass
    trainer.accelerator.wait_for_everyone()
    return out


def merge_adapter(adapter_dir: Path, base_path: str) -> None:
    """Reload base + adapter on CPU in fp32, merge, save in the base's own dtype to adapter_dir/merged."""
    import torch

    from imitate.vision.student import is_vision_student, merge_vision_adapter
    if is_vision_student(base_path):
        return merge_vision_adapter(adapter_dir, base_path)
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer
    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), dtype=torch.float32)
    save_in_base_dtype(model.merge_and_unload(), base_path, adapter_dir / "merged")
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(adapter_dir / "merged")


def peak_memory() -> dict:
    """This process's peak resident memory, and on a GPU the most CUDA memory torch allocated, in MB."""
    import resource

    import torch
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KB on Linux
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {"peak_rss_mb": round(rss), "peak_cuda_mb": round(cuda) if cuda is not None else None}


def run(cfg: Config) -> int:
    from imitate.train.steps import quiet

    trainer, info = build_trainer(cfg)
    quiet(trainer)
    main = trainer.is_world_process_zero()
    if main:
        dev = info["device"]
        print(f"finetune: {info['student']} on {info['train_records']} records of {info['input']}, "
              f"{info['eval_records']} held out; "
              f"{'cuda' if dev['cuda'] else 'cpu'}, {'bf16' if dev['bf16'] else 'fp32'}, "
              f"packing {'on' if dev['packing'] else 'off'}, attention {dev['attn']}, "
              f"{dev['micro_batch']} record(s) per forward pass", file=sys.stderr)
    before = _loss_ppl(trainer.evaluate())
    result = trainer.train()
    after = _loss_ppl(trainer.evaluate())
    out = save_student(trainer, cfg, info)
    if not main:
        return 0
    runtime = float(result.metrics.get("train_runtime", 0.0))
    tokens = int(trainer.state.num_input_tokens_seen)
    stats = {"student": info["student"], "train_records": info["train_records"],
             "eval_records": info["eval_records"], "eval_loss_before": before[0], "eval_loss_after": after[0],
             "eval_ppl_before": before[1], "eval_ppl_after": after[1], "train_runtime_s": runtime,
             "train_tokens": tokens, "tokens_per_s": tokens / runtime if runtime else None,
             "max_steps": trainer.state.max_steps, "steps": trainer.state.global_step,
             "output": str(out), "kd": list(cfg.kd), "device": info["device"], "eval_ids": info["eval_ids"],
             **peak_memory(), "log_history": trainer.state.log_history}
    # the file read, so that eval finds the held-out records where finetune took them
    write_json(RunDir(cfg.run).finetune_config, {**config_mod.to_dict(cfg), "input": info["input"]})
    write_json(RunDir(cfg.run).finetune_stats, stats)   # the run's last finetune (eval and report read it)
    write_json(out / "finetune_stats.json", stats)       # and each student keeps its own
    print(f"finetune: held-out loss {before[0]:.4f} -> {after[0]:.4f} (perplexity {before[1]:.2f} -> "
          f"{after[1]:.2f}) on {info['eval_records']} records; {trainer.state.global_step} steps, "
          f"{stats['tokens_per_s'] or 0:.0f} tokens/s, peak RSS {stats['peak_rss_mb']} MB; adapter in {out}")
    return 0

