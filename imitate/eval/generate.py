"""Answers from a local model: continuous batching in-process (imitate/decode.py), or vLLM on a GPU.

In-process continuous batching (imitate/decode.py): faster than plain batched `generate`, which
waits for each batch's longest answer (benchmarks/eval_generate.py). Prompts are rendered with the
model's own chat template, as in training. Greedy at temperature 0; otherwise sampled, each chat
with its own seed.
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

    from imitate.device import placement

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


def generate(model, tok, chats: list[list[dict]], *, max_tokens: int, temperature: float, seed: int,
             batch_size: int, done: Callable[[list[int], list[dict]], None]) -> None:
    """Answer each chat (a list of messages), at most batch_size at once with continuous batching
    (imitate/decode.py); as each answer ends call done([index], [answer]), an answer being {content,
    finish_reason ('stop' or 'length'), prompt_tokens, completion_tokens}. Chat i samples with seed + i."""
    from imitate import decode

    if not decode.full_attention(model.config):
        raise UserError(f"{type(model).__name__} has sliding-window attention layers, which eval's local "
                        "generation does not support (full-attention models, such as the LLaMA family)")
    prompts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
               for c in chats]
    rows = [decode.Row(p, max_tokens, temperature, seed=seed + i) for i, p in enumerate(prompts)]
    index = {id(r): i for i, r in enumerate(rows)}

    def finished(row: decode.Row) -> None:
        said = row.tokens[:-1] if row.finish_reason == "stop" else row.tokens   # without the stop token
        done([index[id(row)]], [{"content": tok.decode(said, skip_special_tokens=True).strip(),
                                 "finish_reason": row.finish_reason, "prompt_tokens": len(row.prompt),
                                 "completion_tokens": len(row.tokens)}])
    decode.run(model, rows, decode.stops(model, tok), tok.pad_token_id, batch_size, finished)


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
