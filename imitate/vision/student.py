"""A vision-language student: finetune trains one when --student is a VLM (a config with a
`vision_config`: SmolVLM / Idefics3, LLaVA, Qwen2-VL, ...), through TRL's vision-language SFT path.

- Data: each kept record becomes a prompt-completion row: the prompt is every turn before the last
  (system, user, and earlier turns), the completion is the last assistant turn, and `images` are the
  record's images (path + sha256, loaded and checked when a batch is built, not held in memory).
- The processor (the student's AutoProcessor: its chat template, image processor and tokenizer)
  renders and tokenizes each batch in TRL's DataCollatorForVisionLanguageModeling; the images go
  before the text of the first user turn, as collect sent them to the teacher.
- Labels: the completion's tokens only (TRL's completion_only_loss), less the whitespace after the
  end-of-turn token (as for text students: the end of turn is learnt, the newline after it is not).
  The prompt, so every image token, is never trained; `ImageBatches` checks it on every batch.
  Only the last assistant turn of a multi-turn record is trained.
- LoRA goes on the language model's linear layers only (or those of them named by --target-modules);
  the vision tower and the connector stay frozen.
- --kd feature with a vision encoder as --kd-teacher: cross-modal feature KD (imitate.vision.kd).
No packing (TRL packs no images); on CPU one record per forward pass, as for text.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from imitate.distill.options import KDOptions
from imitate.errors import UserError
from imitate.train.options import TrainOptions

LINEAR_LEAVES = "all-linear"


def is_vision_student(path: str) -> bool:
    """Whether a model folder (or hub id) is a vision-language model: its config has a vision_config."""
    from transformers import AutoConfig
    try:
        cfg = AutoConfig.from_pretrained(path)
    except (OSError, ValueError):
        return False
    return getattr(cfg, "vision_config", None) is not None


def load_processor(path: str):
    from transformers import AutoProcessor
    try:
        proc = AutoProcessor.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the vision-language student's processor: {e}", path) from None
    if not hasattr(proc, "image_processor") or not getattr(proc, "chat_template", None):
        raise UserError("the vision-language student needs a processor with an image processor and a chat "
                        "template (processor_config.json / chat_template.json beside the model)", path)
    if proc.tokenizer.pad_token is None:
        proc.tokenizer.pad_token = proc.tokenizer.eos_token
    return proc


def merge_vision_adapter(adapter_dir: Path, base_path: str) -> None:
    """--merge: base + adapter reloaded on CPU in fp32, merged, saved in the base's own dtype with the
    processor to adapter_dir/merged (a plain vision-language model folder)."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from imitate.train.model import save_in_base_dtype

    base = AutoModelForImageTextToText.from_pretrained(base_path, dtype=torch.float32)
    save_in_base_dtype(PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload(), base_path,
                       adapter_dir / "merged")
    AutoProcessor.from_pretrained(str(adapter_dir)).save_pretrained(adapter_dir / "merged")


def language_linears(model: nn.Module, names: list[str]) -> list[str]:
    """Full names of the language model's nn.Linear modules (all of them, or those whose last name
    part is in `names`): LoRA's targets. The LM head is left out, as PEFT's all-linear does."""
    lm = model.get_decoder()
    prefix = next(n for n, m in model.named_modules() if m is lm)
    out = [n for n, m in model.named_modules() if n.startswith(prefix + ".") and isinstance(m, nn.Linear)
           and (names == [LINEAR_LEAVES] or n.rsplit(".", 1)[-1] in names)]
    if not out:
        raise UserError(f"--target-modules {','.join(names)} names no linear layer of the student's language model")
    return out


def rows(records: list[dict], where) -> list[dict]:
    """Prompt-completion rows with images, from records with messages (and maybe images)."""
    out = []
    for i, rec in enumerate(records, start=1):
        msgs = rec["messages"]
        if msgs[-1]["role"] != "assistant" or not msgs[-1]["content"].strip():
            raise UserError("record does not end with a non-empty assistant turn (nothing to learn)", where,
                            rec.get("_line", i))
        out.append({"prompt": msgs[:-1], "completion": [msgs[-1]],
                    "images": [{"path": im["path"], "sha256": im["sha256"]} for im in rec.get("images") or ()]})
    return out


def image_token_ids(processor, model) -> set[int]:
    """Token ids that stand for images (never trained): the config's image token and the processor's
    added image tokens (SmolVLM: <image>, <fake_token_around_image>, <global-img>)."""
    tok = processor.tokenizer
    ids = {getattr(model.config, k) for k in ("image_token_id", "image_token_index") if getattr(model.config, k, None)}
    for name in ("image_token", "fake_image_token", "global_image_tag", "global_image_token", "boi_token", "eoi_token"):
        t = getattr(processor, name, None)
        if isinstance(t, str) and t in tok.get_vocab():
            ids.add(tok.convert_tokens_to_ids(t))
    return ids


class ImageBatches:
    """TRL's vision-language collator on rows whose images are {path, sha256}: loads them (checked),
    builds the batch, takes the whitespace after the end of turn out of the labels, and fails if a
    label falls on an image token."""

    def __init__(self, inner, processor, image_ids: set[int]):
        self.inner, self.image_ids, self.tokenizer = inner, sorted(image_ids), processor.tokenizer
        self.encoder_processor = None   # cross-modal KD: also the encoder's pixel values (imitate.vision.kd)

    def __call__(self, examples):
        from imitate.data.images import load_pil

        images = [load_pil(e.get("images") or []) for e in examples]
        batch = self.inner([{**e, "images": list(im)} for e, im in zip(examples, images)])
        if self.encoder_processor is not None and any(images):
            flat = [im for row in images for im in row]
            batch["kd_pixel_values"] = self.encoder_processor(images=flat, return_tensors="pt")["pixel_values"]
            batch["kd_image_counts"] = torch.tensor([len(row) for row in images])
        labels = batch["labels"]
        for r in range(labels.shape[0]):   # trailing whitespace tokens of the completion: not trained
            pos = (labels[r] != -100).nonzero().flatten().tolist()
            while pos and not self.tokenizer.decode([int(labels[r, pos[-1]])]).strip():
                labels[r, pos.pop()] = -100
        if torch.isin(batch["input_ids"][labels != -100], torch.tensor(self.image_ids)).any():
            raise AssertionError("an image token is in the labels")
        return batch


def build_trainer(cfg: TrainOptions, kd: KDOptions, path: Path, records: list[dict], student_path: str,
                  student_name: str, logs_dir: str):
    """(trainer, info) for a vision-language student on `records` (read from `path`); finetune's
    build_trainer hands over here."""
    import transformers
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText
    from trl import SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from imitate.device import whole_rows
    from imitate.train.data import set_system, split
    from imitate.train.model import load_model, sft_config

    if kd.kd and kd.kd != ["feature"]:
        raise UserError("a vision-language student takes --kd feature only (with a vision encoder as --kd-teacher)")
    records = set_system(records, cfg.student_system)
    train_recs, eval_recs = split(records, cfg.eval_fraction, cfg.rng_seed)
    processor = load_processor(student_path)
    dev = whole_rows(cfg.device())
    transformers.set_seed(cfg.rng_seed)
    model = load_model(student_path, dev, AutoModelForImageTextToText)
    args = sft_config(cfg, dev, len(train_recs), logs_dir)
    args.completion_only_loss = True
    args.remove_unused_columns = False
    args.dataset_kwargs = {"skip_prepare_dataset": True}
    inner = DataCollatorForVisionLanguageModeling(processor=processor, max_length=cfg.max_length,
                                                  completion_only_loss=True)
    collator = ImageBatches(inner, processor, image_token_ids(processor, model))
    peft = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=language_linears(model, list(cfg.target_modules)), task_type="CAUSAL_LM")
    kwargs = dict(model=model, args=args, train_dataset=Dataset.from_list(rows(train_recs, path)),
                  eval_dataset=Dataset.from_list(rows(eval_recs, path)), processing_class=processor,
                  peft_config=peft, data_collator=collator)
    if kd.kd:
        from imitate.vision.kd import CrossModalKDTrainer, kd_setup
        trainer = CrossModalKDTrainer(**kwargs, **kd_setup(kd, model, processor, seed=cfg.rng_seed))
    else:
        trainer = SFTTrainer(**kwargs)
    n_images = sum(len(r["images"]) for r in records)
    print(f"finetune: vision-language student, {n_images} images in {len(records)} records; LoRA on "
          f"{len(peft.target_modules)} linear layers of the language model", file=sys.stderr)
    info = {"input": str(path), "student": student_name, "student_path": student_path,
            "train_records": len(train_recs), "eval_records": len(eval_recs), "device": dev,
            "eval_ids": [r["id"] for r in eval_recs]}
    return trainer, info
