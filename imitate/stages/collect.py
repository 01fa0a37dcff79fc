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
--batch-import, through `vllm run-batch` on your own GPUs: imitate/collect/batch.py.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from imitate import config as config_mod
from imitate.collect import batch, online
from imitate.collect.batch import BatchOptions
from imitate.collect.plan import dry_run, plan, teacher_list
from imitate.config import opt
from imitate.data.formats import SEED_FORMATS
from imitate.data.records import load_by_id, write_json
from imitate.data.seeds import load_seeds
from imitate.data.topk import compact
from imitate.errors import UserError
from imitate.rundir import DEFAULT, STAGES, RunDir
from imitate.shipped import SEEDS
from imitate.teacher.client import RetryPolicy, Teacher
from imitate.teacher.options import TeacherOptions
from imitate.teacher.runner import Request
from imitate.teacher.server import EMBEDDED_NAME
from imitate.teacher.session import Session

READS, WRITES = STAGES["collect"]

@dataclass
class Config(TeacherOptions, BatchOptions):
    seeds: str | None = opt(None, "seed questions: a JSONL/CSV/Parquet file, a folder of them, or a Hugging "
                            "Face dataset (saved folder or hub name); unset: RUN/questions.jsonl when the "
                            "questions stage wrote it, else the shipped seeds/seeds.jsonl")
    run: str = opt(DEFAULT, "run folder to write collected.jsonl and its companions into")
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
    logprobs: int | None = opt(None, "also ask for the top K (1-20) token log-probs of each answer token; stored "
                               "in RUN/topk/ for finetune --kd topk (gray-box KD)")
    teachers: list | None = None   # config file only: [{model, base_url, name, api_key_env}, ...]

    def __post_init__(self):
        TeacherOptions.__post_init__(self)
        BatchOptions.__post_init__(self)
        for name in ("samples", "prompts_per_seed", "max_tokens"):
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
        if not 0 <= self.temperature <= 2:
            raise UserError("--temperature must be between 0 and 2")
        if self.teachers is not None:
            if self.teacher_url:
                raise UserError("give teachers either in the config file or with --teacher-url, not both")
            if not isinstance(self.teachers, list) or not self.teachers or not all(
                    isinstance(t, dict) and t.get("model") for t in self.teachers):
                raise UserError("`teachers` must be a list of mappings, each with a `model`")


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
    remote = teacher_list(cfg.teachers, cfg.teacher_url, cfg.teacher_model)
    if remote is None and any(s.get("images") for s in seeds):
        raise UserError("these seeds carry images, and the embedded teacher reads text only: give a "
                        "vision-language teacher with --teacher-url and --teacher-model (e.g. Qwen2-VL on vLLM)")
    run_dir = RunDir(cfg.run)
    if cfg.batched:
        return run_batch(cfg, run_dir, seeds, remote)
    requests = plan_requests(cfg, seeds, remote or [Teacher(model="embedded", name=EMBEDDED_NAME)])
    if cfg.dry_run:
        return dry_run(requests)
    done = load_by_id(run_dir.collected)
    if run_dir.topk.exists():   # top-k staged by a killed run: keep those whose record exists
        compact(run_dir.topk, set(done))
    todo = [r for r in requests if r.key not in done]
    print(f"{len(seeds)} seeds -> {len(requests)} requests; {len(requests) - len(todo)} already "
          f"answered in {run_dir.collected}, {len(todo)} to send")
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json(run_dir.collect_config, config_mod.to_dict(cfg))
    if not todo:
        print("nothing to send")
        return 0
    extra = {"logprobs": True, "top_logprobs": cfg.logprobs} if cfg.logprobs else None
    session = Session(remote, run_dir.teacher_log, timeout=cfg.timeout, max_attempts=cfg.max_attempts, extra=extra)
    return asyncio.run(online.collect(session, run_dir, todo, len(requests) - len(todo), concurrency=cfg.concurrency,
                                      max_total_tokens=cfg.max_total_tokens, logprobs=cfg.logprobs))


def plan_requests(cfg: Config, seeds: list[dict], teachers: list[Teacher]) -> list[Request]:
    return plan(seeds, teachers, system_prompts=cfg.system_prompts, prompts_per_seed=cfg.prompts_per_seed,
                samples=cfg.samples, max_tokens=cfg.max_tokens, temperature=cfg.temperature,
                max_image_side=cfg.max_image_side, rng_seed=cfg.rng_seed)


def run_batch(cfg: Config, run_dir: RunDir, seeds: list[dict], remote: list[Teacher] | None) -> int:
    retry = RetryPolicy(max_attempts=cfg.max_attempts, timeout=cfg.timeout or 600.0)
    if cfg.batch_status:
        return batch.guard(batch.status, run_dir, retry)
    if not remote and not cfg.teacher_model:
        raise UserError("--batch needs --teacher-model (with --teacher-url, or OpenAI's API without it)")
    requests = plan_requests(cfg, seeds, remote or [Teacher(model=cfg.teacher_model)])
    if cfg.dry_run:
        return batch.estimate(cfg, requests)
    return batch.run(cfg, run_dir, requests, retry, cfg.max_total_tokens, config_mod.to_dict(cfg))
