"""Answers from a local vision-language student (the eval stage's base and trained students, when its
questions carry images): batched `generate` through the student's processor.

The chat is rendered as finetune trained it (imitate.vision.student): TRL's prepare_multimodal_messages
puts one image placeholder per image before the text of the first user turn, and the processor's chat
template and image processor turn chat and images into input ids and pixel values. The images are read
by path and checked against their sha256 (imitate.data.images.load_pil), one batch at a time. A batch
holds chats with the same number of images (a processor takes no mix of chats with and without images),
longest first, left-padded. Generation stops at the end-of-turn token the chat template closes an
assistant turn with (SmolVLM: <end_of_utterance>; trained as the last label) or the model's eos.
Always transformers on the model's device: vLLM serves the text students only (imitate.eval.generate).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from imitate.errors import UserError


def _adapter_base(path: str | Path) -> str | None:
    adapter = Path(path) / "adapter_config.json"
    if not adapter.is_file():
        return None
    base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise UserError("adapter_config.json names no base model (base_model_name_or_path)", adapter)
    return base


def is_vision_model(path: str | Path) -> bool:
    """Whether a model folder, hub id or PEFT adapter folder (through its base) is vision-language."""
    from imitate.vision.student import is_vision_student
    base = _adapter_base(path)
    return is_vision_student(base if base else str(path))


def load(path: str | Path):
    """(model, processor) of a vision-language model folder or adapter folder (merged into its base in
    memory), on the device and in the dtype imitate.eval.generate.load picks."""
    from transformers import AutoModelForImageTextToText

    from imitate.device import placement
    from imitate.vision.student import load_processor

    device, dtype = placement("auto")
    base = _adapter_base(path)
    try:
        model = AutoModelForImageTextToText.from_pretrained(base or str(path), dtype=dtype)
        if base:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the vision-language model: {e}", path) from None
    processor = load_processor(str(path))
    processor.tokenizer.padding_side = "left"
    return model.to(device).eval(), processor


def end_of_turn(processor) -> int | None:
    """The token the chat template puts right after an assistant turn's text, if it is one token."""
    from trl.data_utils import prepare_multimodal_messages

    mark = "\x00TURN\x00"
    text = processor.apply_chat_template(prepare_multimodal_messages([{"role": "assistant", "content": mark}]),
                                         tokenize=False)
    after = text.split(mark, 1)[1].strip() if mark in text else ""
    if not after:
        return None
    ids = processor.tokenizer(after, add_special_tokens=False)["input_ids"]
    return ids[0] if ids and processor.tokenizer.decode(ids[:1]).strip() else None


def render(processor, chat: list[dict], n_images: int) -> str:
    """The prompt text of one chat with `n_images` images, as training rendered it, ready to answer."""
    from trl.data_utils import prepare_multimodal_messages

    msgs = prepare_multimodal_messages([dict(m) for m in chat], images=[None] * n_images)
    return processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def generate(model, processor, chats: list[list[dict]], images: list[list[dict]], *, max_tokens: int,
             temperature: float, seed: int, batch_size: int, done: Callable[[list[int], list[dict]], None]) -> None:
    """Answer each chat about its images ([{"path", "sha256"}], maybe none); after each batch call
    done(indices, answers), as imitate.eval.generate.generate does."""
    import torch
    import transformers

    from imitate.data.images import load_pil
    from imitate.decode import stops

    tok = processor.tokenizer
    prompts = [render(processor, c, len(ims)) for c, ims in zip(chats, images)]
    order = sorted(range(len(chats)), key=lambda i: (len(images[i]), -len(prompts[i])))
    ends = stops(model, tok) | ({end_of_turn(processor)} - {None})
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    batches, start = [], 0
    while start < len(order):
        n = len(images[order[start]])
        batch = [i for i in order[start:start + batch_size] if len(images[i]) == n]
        batches.append(batch)
        start += len(batch)
    for b, batch in enumerate(batches):
        pil = [load_pil(images[i]) for i in batch]
        enc = processor(text=[prompts[i] for i in batch], images=pil if any(pil) else None, padding=True,
                        return_tensors="pt", add_special_tokens=False)
        enc = enc.to(model.device)
        if "pixel_values" in enc:
            enc["pixel_values"] = enc["pixel_values"].to(model.dtype)
        transformers.set_seed(seed + b)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_tokens, pad_token_id=tok.pad_token_id, **sampling)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        done(batch, [_answer(row, mask, ends, tok) for row, mask in zip(new, enc["attention_mask"].tolist())])


def _answer(ids: list[int], mask: list[int], stops: set[int], tok) -> dict:
    end = next((j for j, t in enumerate(ids) if t in stops), None)
    kept = ids if end is None else ids[:end]
    return {"content": tok.decode(kept, skip_special_tokens=True).strip(),
            "finish_reason": "length" if end is None else "stop",
            "prompt_tokens": sum(mask), "completion_tokens": len(kept) + (end is not None)}
