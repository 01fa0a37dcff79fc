"""The student model for training: where it comes from, how it loads (in the dtype imitate.device chose),
its LoRA and TRL settings, and how a merged model is saved."""
from __future__ import annotations

import math
import os
from pathlib import Path

from imitate.device import precision
from imitate.errors import UserError
from imitate.train.data import check_tokenizer
from imitate.train.options import TrainOptions


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


def lora_config(cfg: TrainOptions):
    from peft import LoraConfig
    targets = "all-linear" if cfg.target_modules == ["all-linear"] else list(cfg.target_modules)
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def sft_config(cfg: TrainOptions, dev: dict, n_train: int, logs_dir: str):
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
        padding_free=dev["padding_free"], **precision(dev),
        activation_checkpointing=cfg.gradient_checkpointing,  # the new name of gradient_checkpointing
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        # trainer.state.num_input_tokens_seen, for tokens/s: padding-free rows have no padding to leave out (and
        # without an attention mask "non_padding" would skip every token equal to the pad token, <|im_end|>).
        include_num_input_tokens_seen="all" if dev["padding_free"] else "non_padding",
        use_liger_kernel=dev["liger"], seed=cfg.rng_seed, data_seed=cfg.rng_seed,
        logging_steps=max(1, steps // 20), save_strategy="no", eval_strategy="no",
        report_to=cfg.report_to, disable_tqdm=True, dataloader_num_workers=0,   # imitate.train.steps reports
        dataloader_pin_memory=dev["cuda"])
