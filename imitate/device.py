"""The one rule for where a local model runs and in which dtype: student, teacher, judge, VLM, encoder.

- Inference (the embedded teacher, eval's answers, top-k, a KD teacher): bf16 on a GPU; on a CPU
  whichever of bf16 and fp32 this CPU multiplies faster (`fastest_cpu_dtype`).
- Training (finetune, the VLM student, benchmarks, tests): `training(...)` decides bf16, packing and
  micro-batches once; every `SFTConfig` / `TrainingArguments` takes its dtype from `precision(dev)`
  (TRL's SFTConfig defaults to bf16=True even on a CPU, where bf16 autocast can be 20x slower; a test
  checks that no config is built without it).
IMITATE_CPU_DTYPE=float32 or bfloat16 sets the CPU dtype for every stage.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import time

from imitate.errors import UserError

CPU_ROW_TOKENS = 2048   # most tokens in one CPU forward pass: activations grow with it


@functools.cache
def fastest_cpu_dtype():
    """bf16 where this CPU multiplies in it faster than in fp32 (native bf16: AVX-512 BF16, AMX), else fp32;
    measured once per process. At the shape of a 135M model's MLP, of two of these machines one ran bf16
    2.5x faster than fp32 and the other 5x slower (shared/facts.md). Each dtype's time is the fastest of
    seven multiplies, taken in turn, so that a busy CPU (other processes, a test suite) slows both alike
    and cannot flip the choice from one process to the next. IMITATE_CPU_DTYPE=float32 (or bfloat16) skips
    the test: to reproduce a run made in that dtype, or to see how a CPU without fast bf16 fares."""
    import torch

    chosen = os.environ.get("IMITATE_CPU_DTYPE")
    if chosen:
        if chosen not in ("float32", "bfloat16"):
            raise UserError(f"IMITATE_CPU_DTYPE must be float32 or bfloat16, not {chosen!r}")
        return getattr(torch, chosen)
    x, w = torch.randn(256, 576), torch.randn(1536, 576)
    pairs = {dtype: (x.to(dtype), w.to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(pairs, float("inf"))
    for a, b in pairs.values():   # warm up
        a @ b.T
    for _ in range(7):
        for dtype, (a, b) in pairs.items():
            t0 = time.perf_counter()
            a @ b.T
            best[dtype] = min(best[dtype], time.perf_counter() - t0)
    return torch.bfloat16 if best[torch.bfloat16] < best[torch.float32] else torch.float32


def placement(device: str = "auto"):
    """(device, dtype) for inference in this process ('auto': cuda when there is one)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return device, torch.bfloat16 if device == "cuda" else fastest_cpu_dtype()


def process_device(bf16: bool | None = None):
    """(torch.device, dtype) of a frozen model beside a trained one: this process's device (one GPU per
    process under `accelerate launch`), bf16 on a GPU; on a CPU bf16 if `bf16`, unset: as `placement`."""
    import torch
    from accelerate import PartialState

    device = PartialState().device
    if device.type == "cuda":
        return device, torch.bfloat16
    fast = fastest_cpu_dtype() == torch.bfloat16 if bf16 is None else bf16
    return device, torch.bfloat16 if fast else torch.float32


def cpu_micro_batch(batch_size: int, max_length: int) -> int:
    """Records per CPU forward pass: the largest divisor of batch_size whose rows fit CPU_ROW_TOKENS.
    Flattened into one padding-free row, 4 demo records trained 1.1-1.2x as fast as one record at a time
    in fp32 SFT, longer public answers 0.94x (benchmarks/finetune_cpu.py): it is bf16 that pays."""
    return max(d for d in range(1, batch_size + 1)
               if batch_size % d == 0 and (d == 1 or d * max_length <= CPU_ROW_TOKENS))


def training(bf16: bool | None = None, packing: bool | None = None, batch_size: int = 8,
             max_length: int = 1024) -> dict:
    """bf16, packing, padding-free micro-batches, attention kernel and Liger for training, decided once
    from the hardware and the flags (None: the hardware decides)."""
    import torch

    cuda = torch.cuda.is_available()
    if bf16 is None:
        bf16 = torch.cuda.is_bf16_supported() if cuda else fastest_cpu_dtype() == torch.bfloat16
    packing = cuda if packing is None else packing
    # Packed, padding-free rows need attention that respects document boundaries: FlashAttention 2
    # does it with varlen kernels; SDPA gets a block-diagonal mask from position_ids (correct, but
    # the mask costs memory quadratic in the flattened batch, see shared/facts.md).
    attn = "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else "sdpa"
    liger = bool(cuda and importlib.util.find_spec("liger_kernel"))
    micro_batch = batch_size if cuda else 1 if packing else cpu_micro_batch(batch_size, max_length)
    return {"cuda": cuda, "bf16": bf16, "packing": packing, "padding_free": packing or (not cuda and micro_batch > 1),
            "attn": attn, "liger": liger, "micro_batch": micro_batch}


def whole_rows(dev: dict) -> dict:
    """`dev` for training paths whose rows must stay whole and padded (top-k KD, vision-language):
    no packing, no padding-free rows; on CPU one record per forward pass."""
    return {**dev, "packing": False, "padding_free": False, "micro_batch": dev["micro_batch"] if dev["cuda"] else 1}


def precision(dev: dict) -> dict:
    """The dtype settings of an SFTConfig or TrainingArguments, from `training(...)`'s choice."""
    return {"bf16": dev["bf16"], "fp16": False, "use_cpu": not dev["cuda"]}
