"""What collect sends and writes: the teachers, the requests planned from the seeds (each seed with its
Orca-style system messages), the record of an answer and of a request that failed for good."""
from __future__ import annotations

from imitate.data.records import utc_now
from imitate.errors import UserError
from imitate.teacher.client import Teacher
from imitate.teacher.prompts import choose_prompts, load_system_prompts
from imitate.teacher.runner import Budget, Request


def teacher_list(teachers: list[dict] | None, url: str | None, model: str | None) -> list[Teacher] | None:
    """The remote teachers (from a config file's `teachers`, or --teacher-url and --teacher-model), or None
    for the embedded one."""
    if teachers:
        known = {"model", "base_url", "name", "api_key_env"}
        for t in teachers:
            if set(t) - known:
                raise UserError(f"unknown teacher keys {sorted(set(t) - known)}; known: {sorted(known)}")
        teachers = [Teacher(**t) for t in teachers]
        seen = {}
        for t in teachers:
            if t.label in seen:
                raise UserError(f"two teachers are both called {t.label!r} ({seen[t.label]} and "
                                f"{t.base_url or 'api.openai.com'}): their answers would share request keys "
                                "and records could not tell them apart; give each a unique `name`")
            seen[t.label] = t.base_url or "api.openai.com"
        return teachers
    if url:
        return [Teacher(model=model, base_url=url)]
    return None


def plan(seeds: list[dict], teachers: list[Teacher], *, system_prompts: str | None, prompts_per_seed: int,
         samples: int, max_tokens: int, temperature: float, max_image_side: int, rng_seed: int) -> list[Request]:
    """Every request of a collect: each seed with its system messages, for each teacher, `samples` times."""
    prompts = load_system_prompts(system_prompts)
    params = {"max_tokens": max_tokens, "temperature": temperature}
    out = []
    for seed in seeds:
        for sp in choose_prompts(seed, prompts, n=prompts_per_seed, rng_seed=rng_seed):
            messages = [{"role": "system", "content": sp.text}, {"role": "user", "content": seed["question"]}]
            for teacher in teachers:
                for k in range(samples):
                    out.append(Request(teacher, messages, params, k, meta={"seed": seed, "prompt_id": sp.id},
                                       images=tuple(seed.get("images", ())), image_side=max_image_side,
                                       rng_seed=rng_seed))
    return out


def to_record(req: Request, ans) -> dict:
    seed = req.meta["seed"]
    rec = {"id": req.key, "seed_id": seed["id"], "category": seed.get("category", "general"),
           "messages": req.messages + [{"role": "assistant", "content": ans.content}]}
    if seed.get("reference") is not None:
        rec["reference"] = seed["reference"]
    if seed.get("language"):
        rec["language"] = seed["language"]
    if req.images:
        rec["images"] = list(req.images)
    rec.update({"sample": req.sample,
                "teacher": {"model": req.teacher.label, "system_prompt_id": req.meta["prompt_id"],
                            "params": req.params},
                "usage": {"prompt_tokens": ans.prompt_tokens, "completion_tokens": ans.completion_tokens},
                "finish_reason": ans.finish_reason,
                "created": utc_now()})
    return rec


def to_failure(req: Request, error: str, attempts: int) -> dict:
    return {"id": req.key, "seed_id": req.meta["seed"]["id"], "teacher": req.teacher.label,
            "messages": req.messages, "sample": req.sample, "error": error, "attempts": attempts,
            **({"images": list(req.images)} if req.images else {})}


def token_estimate(requests: list[Request]) -> tuple[int, int]:
    """(prompt tokens, estimated from bytes; the most completion tokens) of `requests`."""
    b = Budget(None)
    completion = sum(int(r.params["max_tokens"]) for r in requests)
    return sum(b.estimate(r) for r in requests) - completion, completion


def dry_run(requests: list[Request]) -> int:
    prompt, completion = token_estimate(requests)
    print(f"dry run: {len(requests)} requests; about {prompt} prompt tokens (estimated from bytes) "
          f"and at most {completion} completion tokens; nothing sent")
    return 0
