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
from imitate.errors import UserError
from imitate.distill import check_kd
from imitate.formats import CONVERSATION_FORMATS
from imitate.records import read_conversations, write_json
from imitate.rundir import DEFAULT, RunDir
from imitate.train.data import check_tokenizer, encode_all, set_system, split

READS = ("kept", "topk")
WRITES = ("student", "finetune_logs", "finetune_stats", "finetune_config")
REPORT_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}


@dataclass
class Config:
    run: str = opt(DEFAULT, "run folder: reads kept.jsonl, writes student/ and finetune_stats.json")
    input: str | None = opt(None, "records to train on; unset: RUN/kept.jsonl")
    format: str = opt("auto", "format of the records: messages, sharegpt, alpaca, dolly, self_instruct; "
                      "auto: detected from the first record",
                      choices=["auto", *CONVERSATION_FORMATS])
    student: str | None = opt(None, "student model folder or hub id; unset: the embedded SmolLM2-135M-Instruct")
    output: str | None = opt(None, "where the adapter goes; unset: RUN/student")
    max_steps: int = opt(-1, "optimizer steps; -1: train for --epochs")
    epochs: float = opt(3.0, "passes over the training records (when --max-steps is -1)")
    learning_rate: float = opt(2e-4, "peak learning rate (linear decay)")
    batch_size: int = opt(8, "records per device per step (on CPU: in padding-free micro-batches of at most "
                          "2048 tokens, gradients accumulated over the step)")
    grad_accum: int = opt(1, "micro-batches accumulated per optimizer step")
    max_length: int = opt(1024, "tokens per record (longer ones are cut); the row length when packing")
    lora_r: int = opt(16, "LoRA rank")
    lora_alpha: float = opt(32.0, "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = opt(0.05, "dropout on the LoRA path")
    target_modules: list[str] = opt(None, "modules to adapt: all-linear, or names like q_proj,v_proj",
                                    factory=lambda: ["all-linear"])
    eval_fraction: float = opt(0.05, "share of records held out for the before/after loss")
    rng_seed: int = opt(0, "random seed of the split, the LoRA init and the data order", old=("seed",))
    student_system: str | None = opt(None, "replace the teacher's system message with this text in the "
                                     "training data ('' drops it; unset: keep it)")
    merge: bool = opt(False, "also write RUN/student/merged/, a plain model with the adapter merged in")
    report_to: str = opt("none", "where TRL sends training reports",
                         choices=["none", "tensorboard", "wandb", "mlflow"])
    bf16: bool | None = opt(None, "bf16 mixed precision (the frozen base in bf16, the LoRA adapters in fp32); "
                            "unset: on when the GPU supports it, or where this CPU multiplies bf16 faster than fp32 "
                            "(IMITATE_CPU_DTYPE=float32 or bfloat16 sets that for every stage)")
    packing: bool | None = opt(None, "pack records into full rows, padding-free; unset: on a GPU only")
    gradient_checkpointing: bool = opt(False, "recompute activations in the backward pass to save memory")
    kd_teacher: list[str] = opt(None, "white-box KD: teacher model folders or hub ids whose weights are loaded "
                                "next to the student ('embedded': the embedded model); with a vision-language "
                                "--student and --kd feature: one vision encoder (SigLIP, CLIP) whose features "
                                "of each image the student's image tokens learn (cross-modal KD)", factory=list,
                                old=("teacher_model",))
    kd: list[str] = opt(None, "KD losses: logit, feature (white-box, with --kd-teacher); topk (gray-box, from "
                        "RUN/topk/, no teacher loaded)", factory=list)
    layer_map: str = opt("", "KD feature layers as 'student:teacher,...' ('': middle layers, proportional; "
                         "cross-modal: the student's middle layer and the encoder's last)")
    kd_temperature: float = opt(2.0, "KD softmax temperature", old=("temperature",))
    lambda_ce: float = opt(1.0, "KD weight of the cross-entropy on the teacher's answers")
    lambda_kl: float = opt(1.0, "KD weight of the logit KL term")
    lambda_mse: float = opt(1.0, "KD weight of the feature MSE term")

    def __post_init__(self):
        positive = {"batch_size": self.batch_size, "grad_accum": self.grad_accum, "lora_r": self.lora_r,
                    "learning_rate": self.learning_rate, "epochs": self.epochs, "lora_alpha": self.lora_alpha}
        for name, value in positive.items():
            if not value > 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive")
        if self.max_steps == 0 or self.max_steps < -1:
            raise UserError("--max-steps must be at least 1, or -1 to train for --epochs")
        if self.max_length < 16:
            raise UserError("--max-length must be at least 16 tokens")
        if not 0 <= self.lora_dropout < 1:
            raise UserError("--lora-dropout must be in [0, 1)")
        if not 0 < self.eval_fraction <= 0.5:
            raise UserError("--eval-fraction must be in (0, 0.5]")
        if not self.target_modules:
            raise UserError("--target-modules needs at least one name (or all-linear)")
        check_kd(self.kd, self.kd_teacher, self.kd_temperature,
                 {"lambda_ce": self.lambda_ce, "lambda_kl": self.lambda_kl, "lambda_mse": self.lambda_mse})
        packages = REPORT_PACKAGES.get(self.report_to, ())
        if packages and not any(importlib.util.find_spec(p) for p in packages):
            raise UserError(f"--report-to {self.report_to} needs `pip install {packages[0]}`")


def load_records(cfg: Config) -> tuple[Path, list[dict]]:
    """The training records, each tagged `_line` (its line in the file, for error messages)."""
    path = Path(cfg.input) if cfg.input else RunDir(cfg.run).kept
    return path, [{"messages": rec["messages"], "seed_id": rec.get("seed_id"), "id": rec.get("id"), "_line": no,
                   "images": bool(rec.get("images"))}
                  for no, rec in read_conversations(path, cfg.format)]


def resolve_student(student: str | None) -> tuple[str, str]:
    """(what from_pretrained gets, the name to report). A local path must exist; else a hub id."""
    if student is None:
        from imitate import embedded
        return str(embedded.model_dir()), embedded.MODEL_NAME
    p = Path(student).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise UserError("student folder has no config.json (not a model folder)", p)
        return str(p.resolve()), student
    if student.startswith((".", "/", "~")) or student.count("/") > 1 or "\\" in student:
        raise UserError("student model folder not found", student)
    return student, student


def load_tokenizer(path: str):
    from transformers import AutoTokenizer
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the student's tokenizer: {e}", path) from None
    check_tokenizer(tok, path)
    return tok


CPU_ROW_TOKENS = 2048   # most tokens in one CPU forward pass: activations grow with it


def cpu_micro_batch(batch_size: int, max_length: int) -> int:
    """Records per CPU forward pass: the largest divisor of batch_size whose rows fit CPU_ROW_TOKENS.
    Flattened into one padding-free row, 4 demo records trained 1.1-1.2x as fast as one record at a time
    in fp32 SFT, longer public answers 0.94x (benchmarks/finetune_cpu.py): it is bf16 that pays."""
    return max(d for d in range(1, batch_size + 1) if batch_size % d == 0 and (d == 1 or d * max_length <= CPU_ROW_TOKENS))


def device_choices(cfg: Config) -> dict:
    """bf16, packing, padding-free micro-batches, attention kernel and Liger, decided once from the
    hardware and the flags."""
    import torch

    from imitate.teacher.engine import fastest_cpu_dtype
    cuda = torch.cuda.is_available()
    if cfg.bf16 is not None:
        bf16 = cfg.bf16
    else:
        bf16 = torch.cuda.is_bf16_supported() if cuda else fastest_cpu_dtype() == torch.bfloat16
    packing = cfg.packing if cfg.packing is not None else cuda
    # Packed, padding-free rows need attention that respects document boundaries: FlashAttention 2
    # does it with varlen kernels; SDPA gets a block-diagonal mask from position_ids (correct, but
    # the mask costs memory quadratic in the flattened batch, see shared/facts.md).
    attn = "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else "sdpa"
    liger = bool(cuda and importlib.util.find_spec("liger_kernel"))
    micro_batch = cfg.batch_size if cuda else 1 if packing else cpu_micro_batch(cfg.batch_size, cfg.max_length)
    return {"cuda": cuda, "bf16": bf16, "packing": packing, "padding_free": packing or (not cuda and micro_batch > 1),
            "attn": attn, "liger": liger, "micro_batch": micro_batch}


def whole_rows(dev: dict) -> dict:
    """`dev` for training paths whose rows must stay whole and padded (top-k KD, vision-language):
    no packing, no padding-free rows; on CPU one record per forward pass."""
    return {**dev, "packing": False, "padding_free": False, "micro_batch": dev["micro_batch"] if dev["cuda"] else 1}


def load_model(path: str, dev: dict, auto=None):
    """The student in the dtype and attention `dev` chose; `auto`: the transformers Auto class
    (unset: AutoModelForCausalLM)."""
    import torch
    from transformers import AutoModelForCausalLM
    dtype = torch.bfloat16 if dev["bf16"] else torch.float32   # the frozen base; LoRA adapters stay fp32
    try:
        return (auto or AutoModelForCausalLM).from_pretrained(path, dtype=dtype, attn_implementation=dev["attn"])
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the student model: {e}", path) from None


def save_in_base_dtype(merged, base_path: str, out: Path) -> None:
    """Save a merged model (computed in fp32) in its base's own dtype."""
    import torch
    from transformers import AutoConfig
    dtype = getattr(AutoConfig.from_pretrained(base_path), "dtype", None) or torch.float32
    merged.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype).save_pretrained(out)


def lora_config(cfg: Config):
    from peft import LoraConfig
    targets = "all-linear" if cfg.target_modules == ["all-linear"] else list(cfg.target_modules)
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def sft_config(cfg: Config, dev: dict, n_train: int, logs_dir: str):
    """TRL SFTConfig. TRL's own defaults differ from TrainingArguments (bf16 and gradient
    checkpointing on), so every setting that matters is given here explicitly."""
    from trl import SFTConfig
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = cfg.batch_size * cfg.grad_accum * world
    steps = cfg.max_steps if cfg.max_steps > 0 else math.ceil(cfg.epochs * math.ceil(n_train / per_step))
    return SFTConfig(
        output_dir=logs_dir, max_steps=cfg.max_steps, num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate, per_device_train_batch_size=dev["micro_batch"],
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum * cfg.batch_size // dev["micro_batch"],
        # Records are cut to max_length when encoded (imitate.train.data.encode_all); packed rows are cut here.
        max_length=cfg.max_length if dev["packing"] else None, packing=dev["packing"], packing_strategy="bfd",
        padding_free=dev["padding_free"], bf16=dev["bf16"], fp16=False, use_cpu=not dev["cuda"],
        activation_checkpointing=cfg.gradient_checkpointing,  # the new name of gradient_checkpointing
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        # trainer.state.num_input_tokens_seen, for tokens/s: padding-free rows have no padding to leave out (and
        # without an attention mask "non_padding" would skip every token equal to the pad token, <|im_end|>).
        include_num_input_tokens_seen="all" if dev["padding_free"] else "non_padding",
        use_liger_kernel=dev["liger"], seed=cfg.rng_seed, data_seed=cfg.rng_seed,
        logging_steps=max(1, steps // 20), save_strategy="no", eval_strategy="no",
        report_to=cfg.report_to, disable_tqdm=True, dataloader_num_workers=0,   # imitate.train.steps reports
        dataloader_pin_memory=dev["cuda"])


def build_trainer(cfg: Config):
    """Everything up to a ready trainer: (trainer, info). Tests and benchmarks call this too."""
    import transformers

    student_path, student_name = resolve_student(cfg.student)
    from imitate.vision.student import is_vision_student
    if is_vision_student(student_path):   # images: TRL's vision-language path (imitate/vision/student.py)
        from imitate.vision.student import build_trainer as build_vision_trainer
        return build_vision_trainer(cfg, student_path, student_name)
    path, records = load_records(cfg)
    if any(r["images"] for r in records):
        raise UserError("these records carry images and the student reads text only: give a vision-language "
                        "--student (e.g. SmolVLM), see README 'Images'", path)
    tokenizer = load_tokenizer(student_path)
    records = set_system(records, cfg.student_system)
    train_recs, eval_recs = split(records, cfg.eval_fraction, cfg.rng_seed)
    train_ds = encode_all(tokenizer, train_recs, path, cfg.max_length)
    eval_ds = encode_all(tokenizer, eval_recs, path, cfg.max_length)
    dev = device_choices(cfg)
    if "topk" in cfg.kd:   # gray-box KD: the cached top-k ride along with the training rows
        from imitate.distill.topk import with_topk
        train_ds, dev = with_topk(cfg, tokenizer, train_recs, train_ds, dev)
    transformers.set_seed(cfg.rng_seed)  # the LoRA init happens inside the trainer's constructor
    model = load_model(student_path, dev)
    # One set of keyword arguments for both trainers, so SFT and KD train the same way.
    kwargs = dict(model=model, args=sft_config(cfg, dev, len(train_recs), str(RunDir(cfg.run).finetune_logs)),
                  train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
                  peft_config=lora_config(cfg))
    if cfg.kd:
        from imitate.distill.trainer import KDTrainer, kd_setup

        trainer = KDTrainer(**kwargs, **kd_setup(cfg, model, tokenizer))
    else:
        from imitate.train.trainer import StudentTrainer

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
        print(f"finetune: {info['student']} on {info['train_records']} records, {info['eval_records']} held out; "
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
    write_json(RunDir(cfg.run).finetune_config, config_mod.to_dict(cfg))
    write_json(RunDir(cfg.run).finetune_stats, stats)   # the run's last finetune (eval and report read it)
    write_json(out / "finetune_stats.json", stats)       # and each student keeps its own
    print(f"finetune: held-out loss {before[0]:.4f} -> {after[0]:.4f} (perplexity {before[1]:.2f} -> "
          f"{after[1]:.2f}) on {info['eval_records']} records; {trainer.state.global_step} steps, "
          f"{stats['tokens_per_s'] or 0:.0f} tokens/s, peak RSS {stats['peak_rss_mb']} MB; adapter in {out}")
    return 0

