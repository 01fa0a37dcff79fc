"""Score the student before and after training, and the teacher, on questions never trained on.

Questions: finetune's held-out records (their ids in RUN/finetune_stats.json), plus --eval-seeds FILE
(any seed format), less any question this run collected or trained on. Models (--models): base (the student before
training), each trained student (base + the adapter in RUN/student, or --student [NAME=]PATH, repeated
to compare several) and teacher (a held-out record's own answer; other questions are asked through
collect's client: --teacher-url, else the embedded teacher). The students get the system
message they were trained with (after finetune's --student-system, if any).

Images: a held-out record's images, and an --eval-seeds question's (--image-field / --images-field, as
collect reads them), go with the question to every model. The teacher and the judge get them as collect
sends them (runner.Request: image content parts, downscaled to --max-image-side); a vision-language
base or student generates locally through its processor (imitate.vision.answer). A text-only student,
or the embedded (text-only) teacher or judge, given image questions is refused before anything runs.
A question is known by its text and its images' sha256: the same words about another image are fresh.

Scores per model and category: reference accuracy (the final answer states `reference`;
stricter than the filter, which drops only a contradiction), filter pass rate
(the default filters, with drop reasons), the judge's preference of the model's answer against the
teacher's (asked in both orders; a disagreement is a tie), answer length and language. The imitation
gap is teacher - model on each score, for the base (before training) and each student (after).
Against the base, on the same questions: how many each model gets right that the base got wrong
(gained) and the reverse (lost), for reference accuracy and filter pass, with the exact sign test's p.

Every answer and verdict is appended to RUN/eval_requests.jsonl as it arrives; a re-run generates and
asks only what is missing. RUN/eval.jsonl (every answer with its scores) and RUN/eval_stats.json are
written at the end.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imitate import config as config_mod
from imitate import generate, judge
from imitate.config import opt
from imitate.errors import UserError
from imitate.progress import Progress
from imitate.prompts import choose_prompts, load_system_prompts
from imitate.questions.asker import Asker
from imitate.questions.load import load_seeds
from imitate.records import Appender, load_by_id, read_conversations, utc_now, write_json, write_jsonl
from imitate.rundir import DEFAULT, RunDir
from imitate.teacher.client import RetryPolicy, Teacher
from imitate.teacher.runner import Request
from imitate.teacher.server import EMBEDDED_NAME, request_timeout
from imitate.text.answers import matches_reference
from imitate.text.language import guess
from imitate.train.data import set_system

READS = ("kept", "collected", "student", "finetune_stats", "finetune_config", "eval_requests")
WRITES = ("eval_requests", "eval", "eval_stats", "eval_config", "teacher_log")
STUDENT = "student"   # the name of a --student given without NAME=, and of RUN/student
SCORES = ("reference_accuracy", "filter_pass", "judge_margin", "mean_words", "language_match")


@dataclass
class Config:
    run: str = opt(DEFAULT, "run folder: reads finetune's held-out records and student/, writes eval.jsonl "
                   "and eval_stats.json")
    eval_seeds: str | None = opt(None, "also ask these questions, never used for training: a seed file, folder "
                                 "or dataset in any seed format (then finetune's held-out set may be absent)")
    question_field: str = opt("question", "--eval-seeds column holding the question")
    category_field: str = opt("category", "--eval-seeds column holding the category")
    reference_field: str = opt("reference", "--eval-seeds column holding a short verifiable answer")
    image_field: str = opt("image", "--eval-seeds column holding the path of one image the question is about "
                           "(relative to the seed file's folder); every model is asked with it")
    images_field: str = opt("images", "--eval-seeds column holding a list of image paths (as --image-field)")
    max_image_side: int = opt(1024, "downscale each image sent to the teacher and the judge so that its longer "
                              "side is at most this many pixels (as collect's --max-image-side)")
    models: list[str] = opt(None, "models to score: base, teacher and the students' names; unset: all",
                            factory=list)
    student: list[str] = opt(None, "a trained student, as NAME=PATH or PATH (named 'student'): an adapter or "
                             "model folder; repeat to compare several; unset: RUN/student", factory=list)
    teacher_url: str | None = opt(None, "OpenAI-compatible base URL of the teacher; unset: the embedded teacher")
    teacher_model: str | None = opt(None, "model name to ask at --teacher-url")
    judge: bool = opt(True, "ask a judge whether each student answer beats the teacher's (both orders)")
    judge_url: str | None = opt(None, "OpenAI-compatible base URL of the judge; unset: the teacher")
    judge_model: str | None = opt(None, "model name to ask at --judge-url")
    max_tokens: int = opt(256, "most tokens in one answer")
    temperature: float = opt(0.0, "sampling temperature of every model's answers (0: greedy)")
    batch_size: int = opt(16, "questions a local model answers at once")
    with_reference: bool = opt(False, "ask only the questions that have a reference, so that reference "
                               "accuracy covers every answer")
    limit: int | None = opt(None, "use only the first N questions (after --with-reference)")
    rng_seed: int = opt(0, "random seed of sampling and of the system messages --eval-seeds questions get")
    concurrency: int = opt(8, "teacher and judge requests in flight at once")
    timeout: float | None = opt(None, "seconds before one request times out; unset: 120 remote, 900 embedded")
    max_attempts: int = opt(6, "attempts per teacher or judge request, the first included")

    def __post_init__(self):
        names = list(self.students() or {STUDENT: None})
        if len(set(names)) < len(names) or {"base", "teacher"} & set(names):
            raise UserError("--student names must differ from each other and from base and teacher")
        known = ["base", *names, "teacher"]
        unknown = sorted(set(self.models) - set(known))
        if unknown:
            raise UserError(f"--models takes some of {', '.join(known)}; got {', '.join(self.models)}")
        self.models = [m for m in known if m in self.models] if self.models else known
        for name in ("max_tokens", "batch_size", "concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_image_side < 16:
            raise UserError("--max-image-side must be at least 16 pixels")
        if self.limit is not None and self.limit < 1:
            raise UserError("--limit must be at least 1")
        if not 0 <= self.temperature <= 2:
            raise UserError("--temperature must be between 0 and 2")
        for who in ("teacher", "judge"):
            if getattr(self, f"{who}_url") and not getattr(self, f"{who}_model"):
                raise UserError(f"--{who}-url needs --{who}-model (the model name to ask)")

    def students(self) -> dict[str, str]:
        """--student as {name: path}, in the order given."""
        return dict(s.split("=", 1) if "=" in s else (STUDENT, s) for s in self.student)

    def local(self) -> list[str]:
        """The models generated here, in --models order: the base and the students."""
        return [m for m in self.models if m != "teacher"]


# -- questions --------------------------------------------------------------------------------------

def read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"invalid JSON: {e.msg}", path, e.lineno) from None
    if not isinstance(obj, dict):
        raise UserError("expected a JSON object", path)
    return obj


def held_out(run_dir: RunDir, trained: dict, optional: bool) -> list[dict]:
    """finetune's held-out records as questions, each with the teacher's answer it was trained on; of
    several held-out answers to the same question (question_key), the first.
    `optional` (--eval-seeds given): none, rather than an error, when finetune named none."""
    ids = read_json(run_dir.finetune_stats).get("eval_ids") if run_dir.finetune_stats.is_file() else None
    if (not ids or None in ids) and optional:
        return []
    if not run_dir.finetune_stats.is_file():
        raise UserError("no finetune_stats.json: run finetune first, or give --eval-seeds FILE", run_dir.path)
    if not ids or None in ids:
        raise UserError("names no held-out record ids (records without `id`, or an older finetune): re-run "
                        "finetune, or give --eval-seeds FILE", run_dir.finetune_stats)
    src = Path(trained["input"]) if trained.get("input") else run_dir.kept
    recs = {rec.get("id"): rec for _, rec in read_conversations(src, trained.get("format", "auto"))}
    missing = [i for i in ids if i not in recs]
    if missing:
        raise UserError(f"{len(missing)} held-out records are no longer here (e.g. {missing[0]}; filtered "
                        "again since finetune?): re-run finetune", src)
    out, asked = [], set()
    for i in ids:
        rec, msgs = recs[i], recs[i]["messages"]
        last = max(j for j, m in enumerate(msgs) if m["role"] == "assistant")
        question = next(m["content"] for m in reversed(msgs[:last]) if m["role"] == "user")
        key = question_key(question, rec.get("images"))
        if key in asked:   # another answer to the same question (collect --samples): one question
            continue
        asked.add(key)
        out.append({**_fields(rec), "id": i, "source": "held_out", "prompt": msgs[:last], **_images(rec),
                    "answer": {"messages": msgs[:last], "content": msgs[last]["content"],
                               "finish_reason": rec.get("finish_reason"),
                               "usage": rec.get("usage")}})
    return out


def _images(rec: dict) -> dict:
    """{"images": [{"path", "sha256"}]} of a record or seed with images, else {}."""
    ims = [{"path": im["path"], "sha256": im["sha256"]} for im in rec.get("images") or ()]
    return {"images": ims} if ims else {}


def question_key(text: str, images: list[dict] | None) -> tuple:
    """What makes a question the same one: its text and its images' sha256."""
    return (text, *(im["sha256"] for im in images or ()))


def _fields(rec: dict) -> dict:
    return {"category": rec.get("category") or "general",
            **{k: rec[k] for k in ("reference", "language") if rec.get(k) is not None}}


def seen_questions(run_dir: RunDir, trained: dict) -> set[tuple]:
    """The last user turn of every record finetune read (held-out ones are asked as such) and of every
    answer collect gathered here (kept or not): questions that are not fresh."""
    src = Path(trained["input"]) if trained.get("input") else run_dir.kept
    seen = set()
    for path, fmt in ((src, trained.get("format", "auto")), (run_dir.collected, "messages")):
        if path.exists():
            seen |= {question_key(next(m["content"] for m in reversed(rec["messages"]) if m["role"] == "user"),
                                  rec.get("images")) for _, rec in read_conversations(path, fmt)}
    return seen


def new_questions(cfg: Config, seen: set[tuple]) -> list[dict]:
    """--eval-seeds as questions, less those in `seen`, each with a system message chosen
    as collect chooses it."""
    prompts = load_system_prompts()
    seeds = load_seeds(cfg.eval_seeds, question_field=cfg.question_field, category_field=cfg.category_field,
                       reference_field=cfg.reference_field, image_field=cfg.image_field,
                       images_field=cfg.images_field)
    fresh = [s for s in seeds if question_key(s["question"], s.get("images")) not in seen]
    if len(fresh) < len(seeds):
        print(f"eval: {len(seeds) - len(fresh)} of the --eval-seeds questions were collected or trained on "
              "in this run; left out", file=sys.stderr)
    return [{**_fields(s), **_images(s), "id": s["id"], "source": "eval_seeds",
             "prompt": [{"role": "system", "content": choose_prompts(s, prompts, 1, cfg.rng_seed)[0].text},
                        {"role": "user", "content": s["question"]}]} for s in fresh]


def student_chat(q: dict, system: str | None) -> list[dict]:
    """The question as the students see it: with the system message they were trained with."""
    return set_system([{"messages": q["prompt"]}], system)[0]["messages"]


def question_text(q: dict) -> str:
    return next(m["content"] for m in reversed(q["prompt"]) if m["role"] == "user")


# -- models -----------------------------------------------------------------------------------------

def fingerprint(folder: Path) -> str:
    """12 hex of a sha256 over a model folder's weight files: a retrained student gets new answers."""
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:12]


def local_models(cfg: Config, run_dir: RunDir, trained: dict) -> dict[str, dict]:
    """name -> {path, label} of the models generated here: base and student, as --models asks."""
    from imitate.stages.finetune import resolve_student

    out = {}
    if "base" in cfg.models:
        path, name = resolve_student(trained.get("student"))
        out["base"] = {"path": path, "label": f"base {name}"}
    for name, path in (cfg.students() or {STUDENT: run_dir.student}).items():
        if name not in cfg.models:
            continue
        path = Path(path)
        if not path.is_dir():
            raise UserError("no trained student here: run finetune first, or give --student PATH", path)
        out[name] = {"path": str(path), "label": f"student {fingerprint(path)}"}
    return out


def request_key(label: str, messages: list[dict], params: dict, images: list[dict] | None = None) -> str:
    """The key of one answer: runner.Request's hash of model, messages, parameters and images' sha256."""
    return Request(Teacher(model=label), messages, params, images=tuple(images or ())).key


def check_images(cfg: Config, questions: list[dict], local: dict[str, dict]) -> None:
    """Image questions need vision-language local models, and a remote teacher and judge (when asked):
    marks each local model `vision` (whether it generates through a processor)."""
    from imitate.vision.answer import is_vision_model

    n = sum(bool(q.get("images")) for q in questions)
    for name, model in local.items():
        model["vision"] = bool(n) and is_vision_model(model["path"])
        if n and not model["vision"]:
            raise UserError(f"{n} questions carry images and {name} reads text only: give a vision-language "
                            f"student (see README, Images), or leave {name} out with --models", model["path"])
    if not n:
        return
    asks_teacher = "teacher" in cfg.models and any(q.get("images") and "answer" not in q for q in questions)
    if asks_teacher and not cfg.teacher_url:
        raise UserError(f"{n} questions carry images, and the embedded teacher reads text only: give a "
                        "vision-language teacher with --teacher-url and --teacher-model")
    if cfg.judge and local and not (cfg.judge_url or cfg.teacher_url) and "teacher" in cfg.models:
        raise UserError(f"{n} questions carry images, and the embedded judge reads text only: give a "
                        "vision-language judge with --judge-url and --judge-model (or --teacher-url), or --no-judge")


def answer_locally(cfg: Config, run_dir: RunDir, name: str, model: dict, chats: list[list[dict]],
                   images: list[list[dict]], cache: dict, params: dict, theirs: list[str | None]) -> tuple[dict, list]:
    """Generate the answers not yet in `cache`, appending each batch; then, with the model still loaded,
    the NLL of the teacher's answer theirs[i] to chat i (imitate.likelihood: teacher_nll, lower is closer;
    None where there is none, and for vision-language models). ({'tokens_per_s', 'generated'},
    [(summed NLL, answer tokens) or None per chat]). images[i]: the images chat i is about."""
    keys = [request_key(model["label"], c, params, ims) for c, ims in zip(chats, images)]
    todo = list({k: (c, ims) for k, c, ims in zip(keys, chats, images) if k not in cache}.items())
    print(f"eval: {name}: {len(set(keys)) - len(todo)} answers on disk, {len(todo)} to generate", file=sys.stderr)
    lm = tok = None
    speed = {"generated": 0}
    if todo:
        lm, tok, speed = _generate(cfg, run_dir, name, model, todo, cache, params)
    scored = [i for i, t in enumerate(theirs) if t is not None and not model.get("vision")]
    nll = [None] * len(chats)
    if scored:
        from imitate.likelihood import answer_nll
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


def _generate(cfg: Config, run_dir: RunDir, name: str, model: dict, todo: list, cache: dict, params: dict):
    """answer_locally's generation: (the loaded text model and tokenizer, or None, None; speed)."""
    lm = tok = None
    progress = Progress(len(todo), f"eval {name}")
    t0, tokens = time.time(), 0
    with Appender(run_dir.eval_requests) as out:
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

        kw = dict(max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=cfg.rng_seed, done=done)
        if model.get("vision"):
            from imitate.vision import answer
            vlm, processor = answer.load(model["path"])
            answer.generate(vlm, processor, [c for _, (c, _) in todo], [ims for _, (_, ims) in todo],
                            batch_size=cfg.batch_size, **kw)
        elif generate.vllm_ready():
            generate.generate_vllm(model["path"], [c for _, (c, _) in todo], **kw)
        else:
            lm, tok = generate.load(model["path"])
            generate.generate(lm, tok, [c for _, (c, _) in todo], batch_size=cfg.batch_size, **kw)
    progress.close()
    wall = time.time() - t0
    return lm, tok, {"generated": len(todo), "tokens_per_s": round(tokens / wall, 1) if wall else None}


# -- teacher and judge (HTTP, through collect's client) ---------------------------------------------

def _remote(url: str | None, model: str | None) -> Teacher | None:
    return Teacher(model=model, base_url=url) if url else None


async def ask_remote(cfg: Config, run_dir: RunDir, questions: list[dict], answers: dict,
                     judging: bool) -> tuple[dict, str | None]:
    """Without `judging`: the teacher's answers to the questions it has not answered, into answers['teacher'].
    With it: the judge's verdicts, ({(model, question id): [verdict with the model first, verdict with it
    second]}, why it stopped)."""
    teacher = _remote(cfg.teacher_url, cfg.teacher_model)
    judge_at = _remote(cfg.judge_url, cfg.judge_model) or teacher
    askers = {}

    def asker(remote: Teacher | None) -> Asker:
        key = remote.label if remote else None
        if key not in askers:
            policy = RetryPolicy(max_attempts=cfg.max_attempts, timeout=request_timeout(cfg.timeout, remote is None))
            askers[key] = Asker(run_dir, remote, concurrency=cfg.concurrency, max_total_tokens=None, policy=policy,
                                path=run_dir.eval_requests)
        return askers[key]

    verdicts = {}
    try:
        if "teacher" in cfg.models and not judging:
            ask = asker(teacher)
            params = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
            reqs = {q["id"]: ask.request("teacher", q["prompt"], params, q.get("images"), cfg.max_image_side)
                    for q in questions if "answer" not in q}
            got = await ask.ask(list(reqs.values()), "eval teacher") if reqs else {}
            answers["teacher"].update({qid: got[r.key] for qid, r in reqs.items() if r.key in got})
        pairs = [(m, q) for m in cfg.local() for q in questions if judging and cfg.judge
                 and q["id"] in answers.get(m, {}) and q["id"] in answers.get("teacher", {})]
        if pairs:
            ask, prompt = asker(judge_at), judge.load_prompt()
            reqs = {}
            for m, q in pairs:
                mine, theirs = answers[m][q["id"]]["content"], answers["teacher"][q["id"]]["content"]
                reqs[m, q["id"]] = [ask.request("judge", judge.messages(prompt, question_text(q), a, b), judge.PARAMS,
                                                q.get("images"), cfg.max_image_side)
                                    for a, b in ((mine, theirs), (theirs, mine))]
            got = await ask.ask([r for two in reqs.values() for r in two], "eval judge")
            verdicts = {k: [judge.verdict(got[r.key]["content"]) if r.key in got else None for r in two]
                        for k, two in reqs.items()}
    finally:
        for a in askers.values():
            await a.close()
    stopped = next((a.stopped for a in askers.values() if a.stopped), None)
    return verdicts, stopped


# -- scores -----------------------------------------------------------------------------------------

def score(model: str, q: dict, ans: dict, verdicts: list | None) -> dict:
    """One eval record: shaped like a collected record (so the filters read it), plus its scores.
    `ans` is an answer record: the messages the model was given, its content, finish_reason, usage."""
    text = ans["content"]
    correct = matches_reference(text, q["reference"], question_text(q), strict=True) \
        if q.get("reference") is not None else (None, None)
    rec = {"id": f"{model}/{q['id']}", "seed_id": q["id"], "model": model, "source": q["source"],
           "category": q["category"], "messages": ans["messages"] + [{"role": "assistant", "content": text}],
           **{k: q[k] for k in ("reference", "language", "images") if k in q},
           "finish_reason": ans.get("finish_reason"), "usage": ans.get("usage"),
           "correct": correct[0], "final_answer": correct[1], "words": len(text.split()),
           "answer_language": guess(text), "question_language": q.get("language") or guess(question_text(q)),
           "drop_reason": None, "evidence": None}
    if verdicts is not None:
        rec.update(verdicts=verdicts, judge=judge.outcome(*verdicts))
    return rec


def filter_all(recs: list[dict]) -> None:
    """Stamp drop_reason and evidence from the default filters, run on one model's answers."""
    from imitate.stages.filter import Config as FilterConfig, apply_filters, build_filters

    for i, (name, drop) in apply_filters(recs, build_filters(FilterConfig(workers=1)), 1, quiet=True).items():
        recs[i].update(drop_reason=f"{name}:{drop.code}", evidence=drop.evidence)


def score_all(models: list[str], questions: list[dict], answers: dict, verdicts: dict) -> list[dict]:
    """The eval records of every answer: answers[model][question id] is an answer record, verdicts[model,
    question id] the judge's two verdicts."""
    recs = []
    for m in models:
        mine = [score(m, q, answers[m][q["id"]], verdicts.get((m, q["id"])) if m != "teacher" else None)
                for q in questions if q["id"] in answers[m]]
        filter_all(mine)
        recs += mine
    return recs


def _share(flags: list) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def summarize(recs: list[dict]) -> dict:
    """The scores of a set of eval records."""
    refs = [r["correct"] for r in recs if r["correct"] is not None]
    langs = [r["answer_language"] == r["question_language"] for r in recs
             if r["answer_language"] and r["question_language"]]
    judged = Counter(r["judge"] for r in recs if r.get("judge"))
    n_judged = sum(judged.values())
    nll = [r for r in recs if r.get("teacher_tokens")]
    return {"answers": len(recs), "with_reference": len(refs), "reference_accuracy": _share(refs),
            "filter_pass": _share([r["drop_reason"] is None for r in recs]),
            "drop_reasons": dict(Counter(r["drop_reason"] for r in recs if r["drop_reason"]).most_common()),
            "judge": {k: judged[k] for k in ("win", "tie", "loss")} if n_judged else None,
            "judge_margin": round((judged["win"] - judged["loss"]) / n_judged, 4) if n_judged else None,
            "no_verdict": sum(v is None for r in recs for v in r.get("verdicts") or []),
            "mean_words": round(sum(r["words"] for r in recs) / len(recs), 1) if recs else None,
            "teacher_nll": round(sum(r["teacher_nll"] for r in nll) / sum(r["teacher_tokens"] for r in nll), 4)
            if nll else None,
            "language_match": _share(langs)}


def by_category(recs: list[dict]) -> dict:
    cats = sorted({r["category"] for r in recs})
    return {"all": summarize(recs), "categories": {c: summarize([r for r in recs if r["category"] == c])
                                                   for c in cats}}


def gap(teacher: dict, model: dict) -> dict:
    """teacher - model on each score; against itself the teacher ties, so the judge gap is -margin."""
    out = {k: round(teacher[k] - model[k], 4) for k in SCORES
           if teacher.get(k) is not None and model.get(k) is not None}
    if model.get("judge_margin") is not None:
        out["judge_margin"] = 0 - model["judge_margin"]
    return out


def stats(recs: list[dict]) -> dict:
    """Scores per model (overall and per category), in the order the records name the models, and each
    model's gap to the teacher: the base's before training, each student's after."""
    present = list(dict.fromkeys(r["model"] for r in recs))
    scores = {m: by_category([r for r in recs if r["model"] == m]) for m in present}
    gaps = {}
    t = scores.get("teacher")
    for m, s in scores.items():
        if t and m != "teacher":
            gaps[m] = {"all": gap(t["all"], s["all"]),
                       "categories": {c: gap(t["categories"][c], v) for c, v in s["categories"].items()
                                      if c in t["categories"]}}
    return {"scores": scores, "gap": gaps}


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact sign test (McNemar's, on the questions where two models differ): the chance of a
    split at least this uneven if a gain and a loss were equally likely."""
    n, k = gained + lost, min(gained, lost)
    return round(min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n), 4) if n else 1.0


PAIRED = {"reference_accuracy": lambda r: r["correct"], "filter_pass": lambda r: r["drop_reason"] is None}


def against_base(recs: list[dict]) -> dict:
    """Each other model against the base, question by question: {model: {score: {gained, lost, p}}}."""
    base = {r["seed_id"]: r for r in recs if r["model"] == "base"}
    out = {}
    for m in dict.fromkeys(r["model"] for r in recs if base and r["model"] != "base"):
        pairs = [(base[r["seed_id"]], r) for r in recs if r["model"] == m and r["seed_id"] in base]
        out[m] = {}
        for score, ok in PAIRED.items():
            both = [(ok(b), ok(a)) for b, a in pairs if ok(b) is not None and ok(a) is not None]
            gained, lost = sum(a and not b for b, a in both), sum(b and not a for b, a in both)
            if both:
                out[m][score] = {"gained": gained, "lost": lost, "p": sign_test(gained, lost)}
    return out


def paired_lines(paired: dict) -> list[str]:
    """The terminal's lines for against_base: one per score, each model's gains and losses and p."""
    lines = []
    for score in PAIRED:
        cells = [f"{m} +{d[score]['gained']} -{d[score]['lost']} (p {d[score]['p']:.3f})"
                 for m, d in paired.items() if score in d]
        if cells:
            lines.append(f"  {score}: " + ", ".join(cells))
    if lines:
        lines.insert(0, "against the base, questions gained and lost (p: two-sided sign test; small p: unlikely "
                        "by chance on these questions, not across seeds or draws of the teacher's answers):")
    return lines


def table(st: dict) -> str:
    """The overall scores, one row each, models side by side, then the gaps."""
    scores, gaps = st["scores"], st["gap"]
    cols = [(m, s["all"]) for m, s in scores.items()] + [(f"gap {m}", g["all"]) for m, g in gaps.items()]

    def cell(row: str, s: dict) -> str:
        if row == "judge win/tie/loss":
            return "/".join(str(s["judge"][k]) for k in ("win", "tie", "loss")) if s.get("judge") else "-"
        v = s.get(row)
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    rows = ["answers", "reference_accuracy", "filter_pass", "judge win/tie/loss", "judge_margin", "teacher_nll",
            "mean_words", "language_match"]
    lines = [[""] + [name for name, _ in cols]] + [[r] + [cell(r, s) for _, s in cols] for r in rows]
    lines = lines[:1] + [ln for ln in lines[1:] if any(c != "-" for c in ln[1:])]   # no judge: no judge rows
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


# -- the stage --------------------------------------------------------------------------------------

def check_run(cfg: Config) -> RunDir:
    run_dir = RunDir(cfg.run)
    if not run_dir.path.exists():
        raise UserError("run folder not found", run_dir.path)
    if not run_dir.path.is_dir():
        raise UserError("not a folder: --run takes the run folder", run_dir.path)
    return run_dir


def run(cfg: Config) -> int:
    # Everything that can be wrong with the input is checked before the run folder is touched.
    t0 = time.time()
    run_dir = check_run(cfg)
    trained = read_json(run_dir.finetune_config) if run_dir.finetune_config.is_file() else {}
    questions = held_out(run_dir, trained, optional=bool(cfg.eval_seeds))
    questions += new_questions(cfg, seen_questions(run_dir, trained)) if cfg.eval_seeds else []
    if cfg.with_reference:
        questions = [q for q in questions if q.get("reference") is not None]
        if not questions:
            raise UserError("--with-reference: none of the questions has a reference", cfg.eval_seeds or run_dir.path)
    questions = questions[: cfg.limit] if cfg.limit else questions
    local = local_models(cfg, run_dir, trained)
    check_images(cfg, questions, local)
    cache = load_by_id(run_dir.eval_requests)
    write_json(run_dir.eval_config, config_mod.to_dict(cfg))
    where = Counter(q["source"] for q in questions)
    parts = [f"{where[k]} {label}" for k, label in (("held_out", "held out by finetune"),
                                                     ("eval_seeds", "from --eval-seeds")) if where[k]]
    print(f"eval: {len(questions)} questions ({', '.join(parts)}); models: {', '.join(cfg.models)}", file=sys.stderr)

    params = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
    answers, speed, nll, stopped = {m: {} for m in cfg.models}, {}, {}, None
    if "teacher" in cfg.models:   # first: each local model scores the teacher's answers while it is loaded
        answers["teacher"] = {q["id"]: q["answer"] for q in questions if "answer" in q}
        _, stopped = asyncio.run(ask_remote(cfg, run_dir, questions, answers, judging=False))
    chats = [student_chat(q, trained.get("student_system")) for q in questions]
    images = [q.get("images") or [] for q in questions]
    theirs = [answers["teacher"][q["id"]]["content"] if q["id"] in answers.get("teacher", {}) else None
              for q in questions]
    for name, model in local.items():
        speed[name], got = answer_locally(cfg, run_dir, name, model, chats, images, cache, params, theirs)
        answers[name] = {q["id"]: cache[request_key(model["label"], c, params, ims)]
                         for q, c, ims in zip(questions, chats, images)}
        nll[name] = {q["id"]: x for q, x in zip(questions, got) if x is not None}
    # The judge is asked in a second session (it may be the embedded teacher, started again): not when
    # the teacher already stopped, as the same endpoint would fail again.
    verdicts, judge_stopped = asyncio.run(ask_remote(cfg, run_dir, questions, answers, judging=True)) \
        if cfg.judge and local and not stopped else ({}, None)
    stopped = stopped or judge_stopped

    recs = score_all(cfg.models, questions, answers, verdicts)
    for r in recs:
        if r["seed_id"] in nll.get(r["model"], {}):
            total, n = nll[r["model"]][r["seed_id"]]
            r.update(teacher_nll=round(total, 4), teacher_tokens=n)
    out = {"questions": len(questions), "sources": dict(Counter(q["source"] for q in questions)),
           "models": {m: local[m]["label"] for m in local},
           "judge": (cfg.judge_model or cfg.teacher_model or EMBEDDED_NAME) if verdicts else None,
           "backend": "vllm" if generate.vllm_ready() and not any(m.get("vision") for m in local.values())
           else "transformers generate", "generation": speed,
           **stats(recs), "against_base": against_base(recs), "stopped": stopped,
           "wall_s": round(time.time() - t0, 2)}
    write_jsonl(run_dir.eval, recs)
    write_json(run_dir.eval_stats, out)
    print(table(out))
    for line in paired_lines(out["against_base"]):
        print(line)
    print(f"wrote {run_dir.eval} and {run_dir.eval_stats.name}")
    if stopped:
        print(f"error: teacher or judge stopped: {stopped}; re-run to ask the rest", file=sys.stderr)
        return 1
    return 0
