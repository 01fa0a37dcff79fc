"""Depth pruning: a shallower student cut from the teacher (ShortGPT, Minitron).

Keep N of the teacher's decoder layers, chosen by block influence (1 - cosine similarity between a
layer's input and output hidden states, averaged over the tokens of a few calibration texts: a layer
that barely changes its input matters least) or uniformly spaced. Embeddings, final norm, lm_head
and tokenizer stay the teacher's, so logit KD from the teacher needs no vocabulary mapping.
"""
from __future__ import annotations

from pathlib import Path

from imitate.errors import UserError

METHODS = ("influence", "uniform")


def calibration_texts(n: int) -> list[str]:
    """n shipped seed questions, evenly spaced over the file (so over its categories and languages)."""
    from imitate.data.seeds import load_seeds
    from imitate.shipped import SEEDS

    seeds = load_seeds(str(SEEDS))
    step = max(1, len(seeds) // n)
    return [s["question"] for s in seeds[::step][:n]]


def decoder_layers(model):
    """The model's decoder blocks (model.model.layers in the LLaMA family)."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise UserError(f"{type(model).__name__} is not a LLaMA-family decoder (it has no model.layers)")
    return layers


def influence(model, tokenizer, texts: list[str]) -> list[float]:
    """Block influence of each decoder layer, averaged over all tokens of `texts`."""
    import torch

    layers = decoder_layers(model)
    sums, tokens = torch.zeros(len(layers), dtype=torch.float64), 0

    def hook(i):
        def record(module, args, kwargs, out):
            x = args[0] if args else kwargs["hidden_states"]
            y = out[0] if isinstance(out, tuple) else out
            cos = torch.nn.functional.cosine_similarity(x.float(), y.float(), dim=-1)
            sums[i] += (1 - cos).sum().item()
        return record

    handles = [layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)]
    try:
        with torch.inference_mode():
            for text in texts:
                ids = tokenizer(text, return_tensors="pt")["input_ids"]
                model(input_ids=ids)
                tokens += ids.shape[1]
    finally:
        for h in handles:
            h.remove()
    return (sums / tokens).tolist()


def choose(n_layers: int, keep: int, scores: list[float] | None) -> list[int]:
    """The kept layer indices, ascending: the `keep` highest scores, or evenly spaced (first and
    last included) when there are no scores."""
    if scores is not None:
        return sorted(sorted(range(n_layers), key=lambda i: -scores[i])[:keep])
    if keep == 1:
        return [0]
    return [round(i * (n_layers - 1) / (keep - 1)) for i in range(keep)]


def cut(model, kept: list[int]) -> None:
    """Keep only the decoder layers `kept`, renumbered 0..N-1, in place."""
    import torch

    layers = decoder_layers(model)
    model.model.layers = torch.nn.ModuleList(layers[i] for i in kept)
    for new, layer in enumerate(model.model.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new   # the KV cache is indexed by it
    config = model.config
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = [config.layer_types[i] for i in kept]
    config.num_hidden_layers = len(kept)


def prune(teacher: Path, out: Path, keep: int, by: str, n_texts: int) -> dict:
    """Write a student with `keep` of the teacher's layers to `out`; return what pruned.json holds."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher)
    model = AutoModelForCausalLM.from_pretrained(teacher, dtype="auto")
    saved_dtype = model.dtype
    model = model.float().eval()   # fp32: bf16 matmuls are very slow on CPUs without native bf16
    n_layers = len(decoder_layers(model))
    scores = influence(model, tokenizer, calibration_texts(n_texts)) if by == "influence" else None
    kept = choose(n_layers, keep, scores)
    cut(model, kept)
    model.to(saved_dtype).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"teacher": str(teacher), "by": by, "teacher_layers": n_layers, "kept": kept,
            "dropped": [i for i in range(n_layers) if i not in kept],
            "influence": [round(s, 6) for s in scores] if scores else None,
            "calibration_texts": n_texts if scores else 0, "dtype": str(saved_dtype).removeprefix("torch.")}
