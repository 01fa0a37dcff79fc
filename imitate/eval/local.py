"""The answers of the models eval runs here (the base and the students): generated in-process with
continuous batching (imitate.eval.generate), through vLLM on a GPU, or through a VLM's processor; then,
with the model still loaded, the NLL of the teacher's answers under it."""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from imitate.data.records import Appender, utc_now
from imitate.eval import generate
from imitate.progress import Progress
from imitate.teacher.client import Teacher
from imitate.teacher.runner import Request


def fingerprint(folder: Path) -> str:
    """12 hex of a sha256 over a model folder's weight files: a retrained student gets new answers."""
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:12]


def request_key(label: str, messages: list[dict], params: dict, images: list[dict] | None = None) -> str:
    """The key of one answer: runner.Request's hash of model, messages, parameters and images' sha256."""
    return Request(Teacher(model=label), messages, params, images=tuple(images or ())).key


def answer_locally(requests: Path, name: str, model: dict, chats: list[list[dict]], images: list[list[dict]],
                   cache: dict, params: dict, theirs: list[str | None], *, seed: int, batch_size: int) -> tuple[dict, list]:
    """Generate the answers not yet in `cache` (with `params`: max_tokens, temperature), appending each to
    `requests` (RUN/eval_requests.jsonl); then, with the model still loaded,
    the NLL of the teacher's answer theirs[i] to chat i (imitate.eval.likelihood: teacher_nll, lower is closer;
    None where there is none, and for vision-language models). ({'tokens_per_s', 'generated'},
    [(summed NLL, answer tokens) or None per chat]). images[i]: the images chat i is about."""
    keys = [request_key(model["label"], c, params, ims) for c, ims in zip(chats, images)]
    todo = list({k: (c, ims) for k, c, ims in zip(keys, chats, images) if k not in cache}.items())
    print(f"eval: {name}: {len(set(keys)) - len(todo)} answers on disk, {len(todo)} to generate", file=sys.stderr)
    lm = tok = None
    speed = {"generated": 0}
    if todo:
        lm, tok, speed = _generate(requests, name, model, todo, cache, params, seed, batch_size)
    scored = [i for i, t in enumerate(theirs) if t is not None and not model.get("vision")]
    nll = [None] * len(chats)
    if scored:
        from imitate.eval.likelihood import answer_nll
        if lm is None:
            lm, tok = generate.load(model["path"])
        convs = [chats[i] + [{"role": "assistant", "content": theirs[i]}] for i in scored]
        for i, got in zip(scored, answer_nll(lm, tok, convs)):
            nll[i] = got
    if lm is not None and lm.device.type == "cuda":   # free it for the next model (vLLM sizes itself on what is free)
        import torch
        del lm
        torch.cuda.empty_cache()
    return speed, nll


def _generate(requests: Path, name: str, model: dict, todo: list, cache: dict, params: dict, seed: int,
              batch_size: int):
    """answer_locally's generation: (the loaded text model and tokenizer, or None, None; speed)."""
    lm = tok = None
    progress = Progress(len(todo), f"eval {name}")
    t0, tokens = time.time(), 0
    with Appender(requests) as out:
        def done(batch: list[int], answers: list[dict]) -> None:
            nonlocal tokens
            for j, ans in zip(batch, answers):
                key, (chat, ims) = todo[j]
                cache[key] = {"id": key, "kind": name, "model": model["label"], "messages": chat, "params": params,
                              **({"images": ims} if ims else {}), "content": ans["content"], "finish_reason": ans["finish_reason"],
                              "usage": {k: ans[k] for k in ("prompt_tokens", "completion_tokens")},
                              "created": utc_now()}
                out.write(cache[key])
            new = sum(a["completion_tokens"] for a in answers)
            tokens += new
            progress.update(done=len(batch), tokens=new)

        kw = dict(max_tokens=params["max_tokens"], temperature=params["temperature"], seed=seed, done=done)
        if model.get("vision"):
            from imitate.vision import answer
            vlm, processor = answer.load(model["path"])
            answer.generate(vlm, processor, [c for _, (c, _) in todo], [ims for _, (_, ims) in todo],
                            batch_size=batch_size, **kw)
        elif generate.vllm_ready():
            generate.generate_vllm(model["path"], [c for _, (c, _) in todo], **kw)
        else:
            lm, tok = generate.load(model["path"])
            generate.generate(lm, tok, [c for _, (c, _) in todo], batch_size=batch_size, **kw)
    progress.close()
    wall = time.time() - t0
    return lm, tok, {"generated": len(todo), "tokens_per_s": round(tokens / wall, 1) if wall else None}
