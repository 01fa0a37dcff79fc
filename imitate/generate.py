"""Answers from a local model: batched `generate` with left padding (transformers), or vLLM on a GPU.

Batched `generate` beat `transformers serve --continuous-batching` on the embedded model on CPU
(benchmarks/eval_generate.py), so the eval stage generates in-process. Prompts are rendered with the
model's own chat template, as in training, and sorted by length so a batch pads little. Greedy at
temperature 0; otherwise sampled, seeded per batch.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Callable

from imitate.errors import UserError


def load(path: str | Path):
    """(model, tokenizer) from a model folder or hub id, or from a PEFT adapter folder (merged into
    its base in memory, so it generates as fast as the base). On the device and in the dtype the embedded
    teacher picks: bf16 on a GPU, and on a CPU whichever of bf16 and fp32 it multiplies faster."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imitate.teacher.engine import placement

    device, dtype = placement("auto")
    try:
        if (Path(path) / "adapter_config.json").is_file():
            from peft import AutoPeftModelForCausalLM
            model = AutoPeftModelForCausalLM.from_pretrained(str(path), dtype=dtype).merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the model: {e}", path) from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.to(device).eval(), tok


def _stops(model, tok) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    return {i for i in ids if i is not None}


def generate(model, tok, chats: list[list[dict]], *, max_tokens: int, temperature: float, seed: int,
             batch_size: int, done: Callable[[list[int], list[dict]], None]) -> None:
    """Answer each chat (a list of messages); after each batch call done(indices, answers), an answer
    being {content, finish_reason ('stop' or 'length'), prompt_tokens, completion_tokens}."""
    import torch
    import transformers

    prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    order = sorted(range(len(chats)), key=lambda i: -len(prompts[i]))
    stops = _stops(model, tok)
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        enc = tok([prompts[i] for i in batch], return_tensors="pt", padding=True,
                  add_special_tokens=False).to(model.device)
        transformers.set_seed(seed + start)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_tokens, pad_token_id=tok.pad_token_id, **sampling)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        done(batch, [_answer(row, mask, stops, tok) for row, mask in zip(new, enc["attention_mask"].tolist())])


def _answer(ids: list[int], mask: list[int], stops: set[int], tok) -> dict:
    end = next((j for j, t in enumerate(ids) if t in stops), None)
    kept = ids if end is None else ids[:end]
    return {"content": tok.decode(kept, skip_special_tokens=True).strip(),
            "finish_reason": "length" if end is None else "stop",
            "prompt_tokens": sum(mask), "completion_tokens": len(kept) + (end is not None)}


def vllm_ready() -> bool:
    """vLLM installed and a GPU present."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch
    return torch.cuda.is_available()


def generate_vllm(path: str, chats: list[list[dict]], *, max_tokens: int, temperature: float, seed: int,
                  done: Callable[[list[int], list[dict]], None]) -> None:
    """All chats at once through vLLM: a model folder, or an adapter folder on its base (LoRA)."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    adapter = Path(path) / "adapter_config.json"
    lora = json.loads(adapter.read_text()) if adapter.is_file() else None
    llm = LLM(model=lora["base_model_name_or_path"] if lora else path, seed=seed, enable_lora=bool(lora),
              max_lora_rank=max(16, lora["r"]) if lora else 16)
    outs = llm.chat(chats, SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed),
                    lora_request=LoRARequest("student", 1, str(path)) if lora else None)
    done(list(range(len(chats))), [
        {"content": o.outputs[0].text.strip(), "finish_reason": o.outputs[0].finish_reason,
         "prompt_tokens": len(o.prompt_token_ids), "completion_tokens": len(o.outputs[0].token_ids)}
        for o in outs])
