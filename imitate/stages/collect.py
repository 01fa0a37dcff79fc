"""Ask the teacher the seed questions; write collected.jsonl.

Seeds (JSONL, CSV, Parquet, a folder of them, or a Hugging Face dataset) -> Orca-style system
messages (prompts/system_prompts.yaml, chosen per seed by a seeded rule) -> an OpenAI-compatible
teacher -> DIR/collected.jsonl, one record per answer.

Without --teacher-url, the embedded teacher (SmolLM2-135M-Instruct under our batching server,
imitate/teacher/engine.py) is started on loopback and stopped at the end. Point at another teacher
with --teacher-url URL --teacher-model NAME (key from OPENAI_API_KEY), or list several teachers
in a --config file:  teachers: [{model: NAME, base_url: URL, api_key_env: VAR}, ...]

Re-running the same command sends only what is missing: each request has a key hashed from its
teacher, messages, parameters and sample index, and answers are appended as they arrive.
With --batch the same requests go through the teacher's Batch API instead (half the price, answers
within 24 h; re-running re-attaches to the batches it made), or, with --batch-file-only and
--batch-import, through `vllm run-batch` on your own GPUs: imitate/stages/collect_batch.py.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from imitate import config as config_mod
from imitate.config import opt
from imitate.errors import UserError
from imitate.formats import SEED_FORMATS
from imitate.shipped import SEEDS
from imitate.progress import Progress
from imitate.prompts import choose_prompts, load_system_prompts
from imitate.questions.load import load_seeds
from imitate.records import Appender, load_by_id, utc_now, write_json, write_jsonl
from imitate.rundir import DEFAULT, RunDir
from imitate.teacher.client import Client, RetryPolicy, Teacher
from imitate.teacher.runner import Budget, Request, send_all
from imitate.teacher.server import EMBEDDED_HINT, EMBEDDED_NAME, EmbeddedServer, request_timeout



READS = ("questions", "collected", "failed", "batches", "batch_input", "batch_output")
WRITES = ("collected", "failed", "collect_stats", "collect_config", "teacher_log", "batches", "batch_input",
          "batch_output", "topk")

@dataclass
class Config:
    seeds: str | None = opt(None, "seed questions: a JSONL/CSV/Parquet file, a folder of them, or a Hugging "
                            "Face dataset (saved folder or hub name); unset: RUN/questions.jsonl when the "
                            "questions stage wrote it, else the shipped seeds/seeds.jsonl")
    run: str = opt(DEFAULT, "run folder to write collected.jsonl and its companions into")
    teacher_url: str | None = opt(None, "OpenAI-compatible base URL (e.g. http://host:8000/v1); "
                                  "unset: start the embedded teacher on loopback")
    teacher_model: str | None = opt(None, "model name to ask at --teacher-url")
    concurrency: int = opt(8, "requests in flight at once")
    samples: int = opt(1, "answers per (seed, system message), for self-consistency downstream")
    prompts_per_seed: int = opt(1, "system messages each seed is asked with")
    max_tokens: int = opt(384, "most tokens in one answer")
    temperature: float = opt(0.7, "sampling temperature sent to the teacher")
    limit: int | None = opt(None, "use only the first N seeds")
    without_reference: bool = opt(False, "use only the seeds that have no reference, keeping those that do "
                                  "for `eval --with-reference` (applied before --limit)")
    max_total_tokens: int | None = opt(None, "stop sending before prompt+completion tokens pass this")
    dry_run: bool = opt(False, "print the number of requests and a token estimate; send nothing")
    format: str = opt("auto", "format of the seed records: question (plain, see --question-field), messages, "
                      "sharegpt, alpaca, dolly, self_instruct; auto: detected from the first record",
                      choices=["auto", *SEED_FORMATS])
    question_field: str = opt("question", "seed column holding the question")
    category_field: str = opt("category", "seed column holding the category")
    reference_field: str = opt("reference", "seed column holding a short verifiable answer")
    image_field: str = opt("image", "seed column holding the path of one image the question is about "
                           "(relative to the seed file's folder); sent to the teacher with the question")
    images_field: str = opt("images", "seed column holding a list of image paths (as --image-field)")
    max_image_side: int = opt(1024, "downscale each image so that its longer side is at most this many "
                              "pixels before sending it (a base64 data URI)")
    split: str = opt("train", "split, when --seeds is a Hugging Face dataset")
    system_prompts: str | None = opt(None, "YAML file of system messages (default: prompts/system_prompts.yaml)")
    rng_seed: int = opt(0, "random seed of the rule that assigns system messages to seed questions, and of the "
                        "teacher's sampling (each request's seed comes from it and the request)",
                        old=("prompt_seed",))
    timeout: float | None = opt(None, "seconds before one request times out (then it is retried); "
                                "unset: 120 for a remote teacher, 900 for the embedded one on CPU")
    max_attempts: int = opt(6, "attempts per request, the first included")
    logprobs: int | None = opt(None, "also ask for the top K (1-20) token log-probs of each answer token; stored "
                               "in RUN/topk/ for finetune --kd topk (gray-box KD)")
    batch: bool = opt(False, "send through the teacher's Batch API (half the price, answers within 24 h); the "
                      "same command again re-attaches to the batches recorded in RUN/batches.json")
    batch_size: int = opt(50_000, "most requests in one batch (OpenAI: 50,000)")
    batch_bytes: int = opt(200_000_000, "most bytes in one batch input file (OpenAI: 200 MB)")
    poll: float = opt(30.0, "seconds between polls of the batches; doubled while nothing moves, up to 20 x --poll")
    detach: bool = opt(False, "with --batch: submit, record the batches and exit; run again without it to join")
    batch_status: bool = opt(False, "print where each batch in RUN/batches.json stands; send nothing")
    batch_file_only: bool = opt(False, "write the batch input files into RUN/batch_input/ and stop (for `vllm "
                                "run-batch` on your own GPUs)")
    batch_import: str | None = opt(None, "join a batch output file made elsewhere (`vllm run-batch -o OUT.jsonl`) "
                                   "into collected.jsonl and failed.jsonl")
    teachers: list | None = None   # config file only: [{model, base_url, name, api_key_env}, ...]

    def __post_init__(self):
        for name in ("concurrency", "samples", "prompts_per_seed", "max_tokens", "max_attempts", "batch_size",
                     "batch_bytes"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_image_side < 16:
            raise UserError("--max-image-side must be at least 16 pixels")
        if self.limit is not None and self.limit < 1:
            raise UserError("--limit must be at least 1")
        if self.max_total_tokens is not None and self.max_total_tokens < 1:
            raise UserError("--max-total-tokens must be at least 1")
        if self.logprobs is not None and not 1 <= self.logprobs <= 20:
            raise UserError("--logprobs must be between 1 and 20 (the top_logprobs OpenAI accepts)")
        if self.logprobs and self.batched:
            raise UserError("--logprobs is not supported with --batch yet")
        if self.timeout is not None and self.timeout <= 0:
            raise UserError("--timeout must be positive")
        if self.poll <= 0:
            raise UserError("--poll must be positive")
        if sum(map(bool, (self.detach, self.batch_status, self.batch_file_only, self.batch_import))) > 1:
            raise UserError("give at most one of --detach, --batch-status, --batch-file-only, --batch-import")
        if not 0 <= self.temperature <= 2:
            raise UserError("--temperature must be between 0 and 2")
        if self.teacher_url and not self.teacher_model:
            raise UserError("--teacher-url needs --teacher-model (the model name to ask)")
        if self.teachers is not None:
            if self.teacher_url:
                raise UserError("give teachers either in the config file or with --teacher-url, not both")
            if not isinstance(self.teachers, list) or not self.teachers or not all(
                    isinstance(t, dict) and t.get("model") for t in self.teachers):
                raise UserError("`teachers` must be a list of mappings, each with a `model`")

    @property
    def batched(self) -> bool:
        """Through a Batch API, or its files: --batch or any of the flags that imply it."""
        return bool(self.batch or self.detach or self.batch_status or self.batch_file_only or self.batch_import)


def teacher_list(cfg: Config) -> list[Teacher] | None:
    """The remote teachers, or None for the embedded one."""
    if cfg.teachers:
        known = {"model", "base_url", "name", "api_key_env"}
        for t in cfg.teachers:
            if set(t) - known:
                raise UserError(f"unknown teacher keys {sorted(set(t) - known)}; known: {sorted(known)}")
        teachers = [Teacher(**t) for t in cfg.teachers]
        seen = {}
        for t in teachers:
            if t.label in seen:
                raise UserError(f"two teachers are both called {t.label!r} ({seen[t.label]} and "
                                f"{t.base_url or 'api.openai.com'}): their answers would share request keys "
                                "and records could not tell them apart; give each a unique `name`")
            seen[t.label] = t.base_url or "api.openai.com"
        return teachers
    if cfg.teacher_url:
        return [Teacher(model=cfg.teacher_model, base_url=cfg.teacher_url)]
    return None


def plan(cfg: Config, seeds: list[dict], teachers: list[Teacher]) -> list[Request]:
    prompts = load_system_prompts(cfg.system_prompts)
    params = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
    out = []
    for seed in seeds:
        for sp in choose_prompts(seed, prompts, n=cfg.prompts_per_seed, rng_seed=cfg.rng_seed):
            messages = [{"role": "system", "content": sp.text}, {"role": "user", "content": seed["question"]}]
            for teacher in teachers:
                for k in range(cfg.samples):
                    out.append(Request(teacher, messages, params, k, meta={"seed": seed, "prompt_id": sp.id},
                                       images=tuple(seed.get("images", ())), image_side=cfg.max_image_side,
                                       rng_seed=cfg.rng_seed))
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


def seeds_path(cfg: Config) -> str:
    """--seeds, else the questions stage's output in this run folder, else the shipped seeds."""
    if cfg.seeds:
        return cfg.seeds
    written = RunDir(cfg.run).questions
    return str(written if written.is_file() else SEEDS)


def run(cfg: Config) -> int:
    # Everything that can be wrong with the input is checked before DIR is touched.
    source = seeds_path(cfg)
    if not cfg.seeds:
        print(f"seed questions: {source}")
    seeds = load_seeds(source, question_field=cfg.question_field, category_field=cfg.category_field,
                       reference_field=cfg.reference_field, split=cfg.split, format=cfg.format,
                       image_field=cfg.image_field, images_field=cfg.images_field)
    if cfg.without_reference:
        seeds = [s for s in seeds if s.get("reference") is None]
        if not seeds:
            raise UserError("--without-reference: every seed has a reference", source)
    seeds = seeds[: cfg.limit] if cfg.limit else seeds
    remote = teacher_list(cfg)
    if remote is None and any(s.get("images") for s in seeds):
        raise UserError("these seeds carry images, and the embedded teacher reads text only: give a "
                        "vision-language teacher with --teacher-url and --teacher-model (e.g. Qwen2-VL on vLLM)")
    if cfg.batched:
        from imitate.stages.collect_batch import run_batch   # imports this module
        return run_batch(cfg, seeds, remote)
    placeholder = [Teacher(model="embedded", name=EMBEDDED_NAME)]
    requests = plan(cfg, seeds, remote or placeholder)
    if cfg.dry_run:
        return dry_run(requests)
    run_dir = RunDir(cfg.run)
    done = load_by_id(run_dir.collected)
    if run_dir.topk.exists():   # top-k staged by a killed run: keep those whose record exists
        from imitate.distill.topk import compact
        compact(run_dir.topk, set(done))
    todo = [r for r in requests if r.key not in done]
    print(f"{len(seeds)} seeds -> {len(requests)} requests; {len(requests) - len(todo)} already "
          f"answered in {run_dir.collected}, {len(todo)} to send")
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json(run_dir.collect_config, config_mod.to_dict(cfg))
    if not todo:
        print("nothing to send")
        return 0
    server = None
    if remote is None:
        print(EMBEDDED_HINT)
        server = EmbeddedServer(log_path=run_dir.teacher_log)
        embedded = server.start()
        todo = [Request(embedded, r.messages, r.params, r.sample, r.meta, r.images, r.image_side, r.rng_seed)
                for r in todo]
    else:
        print("teachers: " + ", ".join(f"{t.label} at {t.base_url or 'api.openai.com'}" for t in remote))
    try:
        return asyncio.run(_collect(cfg, run_dir, todo, len(requests) - len(todo)))
    finally:
        if server:
            server.stop()


async def _collect(cfg: Config, run_dir: RunDir, todo: list[Request], skipped: int) -> int:
    timeout = request_timeout(cfg.timeout, todo[0].teacher.label == EMBEDDED_NAME)
    policy = RetryPolicy(max_attempts=cfg.max_attempts, timeout=timeout)
    extra = {"logprobs": True, "top_logprobs": cfg.logprobs} if cfg.logprobs else {}
    clients = {t.label: Client(t, policy, extra=extra) for t in {r.teacher.label: r.teacher for r in todo}.values()}
    progress = Progress(len(todo), "collect")
    t0 = time.time()
    try:
        with Appender(run_dir.collected) as out:
            if cfg.logprobs:   # each answer's top-k is staged in RUN/topk/ before its record is appended
                from imitate.distill.topk import staged
                out, record = staged(out, run_dir, cfg.logprobs, todo, to_record)
            res = await send_all(todo, clients, out, record if cfg.logprobs else to_record, cfg.concurrency,
                                 Budget(cfg.max_total_tokens), progress)
    finally:
        if cfg.logprobs:
            from imitate.distill.topk import finish_staging
            finish_staging(out, run_dir)
        progress.close()
        for c in clients.values():
            await c.close()
    wall = time.time() - t0
    failed = [to_failure(r, err, n) for r, err, n in res.failed]
    write_jsonl(run_dir.failed, failed)
    stats = {"requests_total": len(todo) + skipped, "sent": res.succeeded + len(res.failed),
             "succeeded": res.succeeded, "retries": res.retries, "failed": len(res.failed),
             "skipped_existing": skipped, "prompt_tokens": res.prompt_tokens,
             "completion_tokens": res.completion_tokens, "wall_s": round(wall, 2),
             "completion_tokens_per_s": round(res.completion_tokens / wall, 2) if wall else 0.0,
             "teachers": sorted(clients), "budget_stopped": res.budget_stopped}
    write_json(run_dir.collect_stats, stats)
    print(f"collected {res.succeeded} answers in {wall:.1f}s ({stats['completion_tokens_per_s']} tok/s), "
          f"{res.retries} retries, {len(res.failed)} failed -> {run_dir.collected}")
    if res.budget_stopped:
        print(f"stopped sending: the next request could pass --max-total-tokens {cfg.max_total_tokens}; "
              f"re-run with a larger budget to send the rest")
    if res.failed:
        print(f"{len(res.failed)} requests failed for good (see {run_dir.failed}); "
              "re-running sends them again")
    if res.aborted:
        print(f"error: stopped: {res.aborted}")
        return 1
    return 0


def dry_run(requests: list[Request]) -> int:
    b = Budget(None)
    prompt = sum(b.estimate(r) - int(r.params["max_tokens"]) for r in requests)
    completion = sum(int(r.params["max_tokens"]) for r in requests)
    print(f"dry run: {len(requests)} requests; about {prompt} prompt tokens (estimated from bytes) "
          f"and at most {completion} completion tokens; nothing sent")
    return 0
