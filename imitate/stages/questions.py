"""Have the teacher write new questions (Self-Instruct or Evol-Instruct); write questions.jsonl.

--method self-instruct: each request shows a few --seeds questions of one category and asks for
  --per-request new ones (a numbered list, parsed robustly); rounds go on until --n are kept or
  --rounds are done.
--method evol: WizardLM's Evol-Instruct; each of --rounds rounds rewrites questions to be harder
  (add a constraint, deepen, concretize, more reasoning steps, complicate the input) or writes a
  rarer one in the same domain (in breadth), and eliminates failed evolutions (equal to the parent
  by the teacher's judgement or, with --no-judge, by similarity; answered with a short "sorry";
  only stop words; copied prompt words). A failed evolution's parent is evolved again next round.
Both drop near-duplicates (ROUGE-L >= --similarity-threshold), questions outside --min-words ..
--max-words, and questions that need an image, a file or a web page.

Seeds with images (`image` / `images`, as collect reads them) are refused (exit 2, nothing written):
the questions written are text, so the images would be lost, and the rules above drop questions that
need one. Give image seeds to collect directly.

Writes DIR/questions.jsonl ({id, question, category, method, round, parent_id (evol), language};
`collect` in the same run folder asks them), questions_dropped.jsonl (each dropped question with
drop_reason and evidence), questions_failed.jsonl, questions_stats.json, questions_config.json.
Every teacher answer is appended to DIR/questions_requests.jsonl as it arrives; re-running the same command re-uses those answers and sends
only what is missing (prompts live in prompts/self_instruct.txt and prompts/evol.yaml).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from imitate import config as config_mod
from imitate.config import opt
from imitate.data.records import write_json, write_jsonl
from imitate.data.seeds import load_seeds
from imitate.errors import UserError
from imitate.questions import evol, self_instruct
from imitate.questions.pool import Pool
from imitate.questions.rules import CODES
from imitate.questions.templates import load_evol, load_self_instruct
from imitate.rundir import DEFAULT, STAGES, RunDir
from imitate.shipped import SEEDS
from imitate.teacher.options import TeacherOptions
from imitate.teacher.session import Asker

METHODS = ("self-instruct", "evol")
READS, WRITES = STAGES["questions"]


@dataclass
class Config(TeacherOptions):
    seeds: str = opt(str(SEEDS), "seed questions to start from: JSONL/CSV/Parquet, a folder of "
                     "them, or a Hugging Face dataset (default: the shipped seeds)", old=("from",))
    run: str = opt(DEFAULT, "run folder to write questions.jsonl and its companions into")
    method: str = opt("self-instruct", "how the teacher writes questions", choices=METHODS)
    n: int = opt(50, "new questions wanted (at most this many are written)")
    rounds: int = opt(3, "self-instruct: most rounds to reach --n; evol: evolution rounds (depth)")
    judge: bool = opt(True, "evol: ask the teacher whether an evolved question equals its parent "
                      "(--no-judge: ROUGE-L >= --similarity-threshold instead)")
    answer_check: bool = opt(True, "evol: ask the teacher each evolved question and drop it when the "
                             "answer is a short 'sorry' (WizardLM)")
    max_tokens: int = opt(512, "most tokens in one list (self-instruct) or evolved question (evol)")
    answer_tokens: int = opt(160, "evol --answer-check: most tokens in the answer to an evolved question")
    temperature: float = opt(0.7, "sampling temperature for writing questions (the judge uses 0)")
    max_total_tokens: int | None = opt(None, "stop sending before prompt+completion tokens pass this")
    similarity_threshold: float = opt(0.7, "ROUGE-L at or above which a question is a near-duplicate")
    min_words: int = opt(3, "drop new questions with fewer words")
    max_words: int = opt(150, "drop new questions with more words")
    per_request: int = opt(5, "self-instruct: new questions asked for in one request")
    examples: int = opt(3, "self-instruct: example questions shown in one request")
    rng_seed: int = opt(0, "random seed of the draws (examples, lineages, evolution operations)",
                        old=("seed",))
    include_source: bool = opt(False, "also write the --seeds questions into questions.jsonl (method 'source')")
    question_field: str = opt("question", "--seeds column holding the question")
    category_field: str = opt("category", "--seeds column holding the category")
    split: str = opt("train", "split, when --seeds is a Hugging Face dataset")
    self_instruct_prompt: str | None = opt(None, "template file (default: prompts/self_instruct.txt)")
    evol_prompts: str | None = opt(None, "YAML of evolution templates (default: prompts/evol.yaml)")

    def __post_init__(self):
        TeacherOptions.__post_init__(self)
        for name in ("n", "rounds", "max_tokens", "answer_tokens", "min_words", "per_request", "examples"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.method not in METHODS:
            raise UserError(f"--method must be one of {', '.join(METHODS)}")
        if self.max_words < self.min_words:
            raise UserError("--max-words must be at least --min-words")
        if not 0 < self.similarity_threshold <= 1:
            raise UserError("--similarity-threshold must be in (0, 1]")
        if self.max_total_tokens is not None and self.max_total_tokens < 1:
            raise UserError("--max-total-tokens must be at least 1")
        if not 0 <= self.temperature <= 2:
            raise UserError("--temperature must be between 0 and 2")


def run(cfg: Config) -> int:
    # Everything that can be wrong with the input is checked before DIR is touched.
    seeds = load_seeds(cfg.seeds, question_field=cfg.question_field, category_field=cfg.category_field,
                       split=cfg.split)
    with_images = [s for s in seeds if s.get("images")]
    if with_images:
        raise UserError(f"{len(with_images)} seeds carry images (the first: {with_images[0]['id']!r}); the questions "
                        "stage writes text questions only and would lose them: give image seeds to collect "
                        "--seeds directly, or leave the image fields out", cfg.seeds)
    templates = load_self_instruct(cfg.self_instruct_prompt) if cfg.method == "self-instruct" \
        else load_evol(cfg.evol_prompts)
    remote = cfg.remote()
    run_dir = RunDir(cfg.run)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json(run_dir.questions_config, config_mod.to_dict(cfg))
    asker = Asker(run_dir, remote, cfg, max_total_tokens=cfg.max_total_tokens)
    print(f"{len(seeds)} seed questions from {cfg.seeds}; {cfg.method}, --n {cfg.n}, --rounds {cfg.rounds}; "
          f"{len(asker.cache)} answers on disk in {run_dir.questions_requests}")
    pool = Pool(seeds, cfg.similarity_threshold, cfg.min_words, cfg.max_words)
    rounds_log: list[dict] = []
    t0 = time.time()
    asyncio.run(_generate(cfg, seeds, asker, pool, templates, rounds_log))
    return finish(cfg, run_dir, seeds, asker, pool, rounds_log, time.time() - t0)


async def _generate(cfg, seeds, asker, pool, templates, rounds_log) -> None:
    method = self_instruct if cfg.method == "self-instruct" else evol
    try:
        await method.generate(cfg, seeds, asker, pool, templates, rounds_log)
    finally:
        await asker.close()


def finish(cfg: Config, run_dir: RunDir, seeds, asker: Asker, pool: Pool, rounds_log, wall: float) -> int:
    new = pool.accepted[: cfg.n]
    source = [{**s, "method": "source", "round": 0} for s in seeds] if cfg.include_source else []
    write_jsonl(run_dir.questions, source + new)
    write_jsonl(run_dir.questions_dropped, pool.dropped)
    write_jsonl(run_dir.questions_failed, asker.failed)
    s = asker.stats
    stats = {"method": cfg.method, "n": cfg.n, "written": len(new), "source_written": len(source),
             "accepted": len(pool.accepted), "surplus": len(pool.accepted) - len(new),
             "candidates": len(pool.accepted) + sum(v for k, v in pool.drops.items() if k != "request_failed"),
             "drops": {code: pool.drops[code] for code in CODES if pool.drops[code]},
             "rounds_run": len(rounds_log), "rounds": rounds_log,
             "requests_total": s["planned"], "sent": s["sent"], "succeeded": s["succeeded"],
             "failed": s["failed"], "retries": s["retries"], "skipped_existing": s["cached"],
             "judge_unclear": s["judge_unclear"], "prompt_tokens": s["prompt_tokens"],
             "completion_tokens": s["completion_tokens"], "wall_s": round(wall, 2),
             "teachers": [asker.teacher.label], "budget_stopped": asker.stopped == "budget",
             "aborted": asker.stopped[len("aborted: "):] if asker.stopped and asker.stopped != "budget" else None}
    write_json(run_dir.questions_stats, stats)
    drops = ", ".join(f"{k} {v}" for k, v in stats["drops"].items()) or "none"
    print(f"wrote {len(new)} new questions to {run_dir.questions} ({stats['candidates']} candidates; "
          f"dropped: {drops}); {s['sent']} requests sent, {s['cached']} answers re-used, {s['retries']} retries, "
          f"{s['failed']} failed")
    if stats["budget_stopped"]:
        print(f"stopped sending: the next request could pass --max-total-tokens {cfg.max_total_tokens}; "
              "the unfinished round was not used; re-run with a larger budget to go on")
    if s["failed"]:
        print(f"{s['failed']} requests failed for good (see {run_dir.questions_failed}); re-running sends them again")
    if stats["aborted"]:
        print(f"error: stopped: {stats['aborted']}")
        return 1
    if len(new) < cfg.n and not stats["budget_stopped"]:
        print(f"note: {len(new)} of --n {cfg.n} written; raise --rounds or check questions_dropped.jsonl")
    return 0
