"""Intermediate features for feature-based KD: which layers, how to capture them, the regressors.

Layer numbering: layer k (1-based, 1..L) is the output of the k-th decoder block, before the final
norm: the residual stream after k blocks. Features are captured by forward hooks on the decoder
blocks (as torchdistill does), so neither model changes and the student's hooked outputs keep their
graph (transformers checkpoints a block's `forward`, not its `__call__`, so the hooks sit outside
gradient checkpointing).

Features are RMS-normalized per position before the MSE (`rms_normalize`): a LLaMA residual stream
carries a few "massive activations" (SmolLM2-135M, layer 15: RMS about 1000 at the first token,
about 6 elsewhere) that would otherwise be the whole loss.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from imitate.errors import UserError

REGRESSOR_FILE = "regressor.pt"


def _base(model: nn.Module) -> nn.Module:
    """The transformers model under PEFT / DDP wrappers."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):  # DDP
        model = model.module
    if hasattr(model, "get_base_model"):  # PeftModel
        model = model.get_base_model()
    return model


def text_config(model: nn.Module):
    cfg = _base(model).config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a causal LM (LLaMA-style `model.model.layers`, else the first
    ModuleList as long as config.num_hidden_layers)."""
    base = _base(model)
    n = text_config(model).num_hidden_layers
    inner = getattr(base, "model", None)
    layers = getattr(inner, "layers", None)
    if isinstance(layers, nn.ModuleList) and len(layers) == n:
        return layers
    for mod in base.modules():
        if isinstance(mod, nn.ModuleList) and len(mod) == n:
            return mod
    raise UserError(f"cannot find the {n} decoder layers of {type(base).__name__} for feature KD")


def default_layer_map(n_student: int, n_teacher: int) -> list[tuple[int, int]]:
    """One middle layer pair, matched proportionally (FitNets uses one middle "hint" layer):
    student layer ceil(L_S / 2) with teacher layer round(s * L_T / L_S). 6 and 30 layers -> 3:15."""
    s = (n_student + 1) // 2
    t = min(max(1, round(s * n_teacher / n_student)), n_teacher)
    return [(s, t)]


def parse_layer_map(text: str, n_student: int, n_teacher: int) -> list[tuple[int, int]]:
    """'3:15,4:20' -> [(3, 15), (4, 20)], checked against each model's depth; '' -> the default."""
    text = (text or "").strip()
    if not text:
        return default_layer_map(n_student, n_teacher)
    pairs = []
    for item in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*", item)
        if not m:
            raise UserError(f"--layer-map: {item!r} is not STUDENT:TEACHER with two integers (e.g. '3:15,4:20')")
        s, t = int(m.group(1)), int(m.group(2))
        if not 1 <= s <= n_student:
            raise UserError(f"--layer-map: student layer {s} in {item!r} is out of range 1..{n_student}")
        if not 1 <= t <= n_teacher:
            raise UserError(f"--layer-map: teacher layer {t} in {item!r} is out of range 1..{n_teacher}")
        if (s, t) in pairs:
            raise UserError(f"--layer-map: the pair {item!r} is given twice")
        pairs.append((s, t))
    return pairs


def pair_key(s: int, t: int) -> str:
    return f"s{s}_t{t}"


def build_regressors(pairs, d_student: int, d_teacher: int, seed: int | None = None) -> nn.ModuleDict:
    """One torch.nn.Linear(d_S, d_T) per layer pair, in fp32, keyed 's3_t15'."""
    gen_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    regs = nn.ModuleDict({pair_key(s, t): nn.Linear(d_student, d_teacher) for s, t in pairs})
    torch.random.set_rng_state(gen_state)
    return regs.float()


def save_regressors(regressors: nn.ModuleDict, pairs, path: str | Path) -> Path:
    """Write regressor.pt (atomically): the layer map and the Linear weights, on CPU."""
    from imitate.data.records import atomic_open

    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / REGRESSOR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"layer_map": [list(p) for p in pairs],
            "state_dict": {k: v.detach().cpu() for k, v in regressors.state_dict().items()}}
    with atomic_open(path, "wb") as f:
        torch.save(blob, f)
    return path


def load_regressors(path: str | Path) -> tuple[nn.ModuleDict, list[tuple[int, int]]]:
    path = Path(path)
    if path.is_dir():
        path = path / REGRESSOR_FILE
    blob = torch.load(path, map_location="cpu", weights_only=True)
    pairs = [tuple(p) for p in blob["layer_map"]]
    sd = blob["state_dict"]
    w = sd[f"{pair_key(*pairs[0])}.weight"]
    regs = build_regressors(pairs, w.shape[1], w.shape[0])
    regs.load_state_dict(sd)
    return regs, pairs


def rms_normalize(h: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """h / RMS(h) along the last dimension, in fp32: (..., d) -> (..., d)."""
    h = h.float()
    return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)


class LayerCapture:
    """Context manager: forward hooks on the chosen decoder layers (1-based); `outputs[k]` holds the
    hidden states (B, T, d) of layer k from the last forward inside the block."""

    def __init__(self, model: nn.Module, layers):
        self.blocks = decoder_layers(model)
        self.layers = sorted(set(layers))
        self.outputs: dict[int, torch.Tensor] = {}
        self._handles = []

    def _hook(self, k):
        def hook(_module, _args, out):
            self.outputs[k] = out[0] if isinstance(out, (tuple, list)) else out
        return hook

    def __enter__(self):
        for k in self.layers:
            self._handles.append(self.blocks[k - 1].register_forward_hook(self._hook(k)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()
        return False
