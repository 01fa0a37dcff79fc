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
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imitate import config as config_mod
from imitate.config import opt
from imitate.data.records import load_by_id, read_json, write_json, write_jsonl
from imitate.errors import UserError
from imitate.eval import generate
from imitate.eval.local import answer_locally, fingerprint, request_key
from imitate.eval.questions import held_out, new_questions, seen_questions, student_chat
from imitate.eval.remote import ask_remote
from imitate.eval.scores import score_all
from imitate.eval.stats import against_base, paired_lines, stats, table, verdict
from imitate.rundir import DEFAULT, STAGES, RunDir
from imitate.teacher.client import Teacher
from imitate.teacher.options import TeacherOptions
from imitate.teacher.server import EMBEDDED_NAME
from imitate.train.model import resolve_student

READS, WRITES = STAGES["eval"]
STUDENT = "student"   # the name of a --student given without NAME=, and of RUN/student


@dataclass
class Config(TeacherOptions):
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

    def __post_init__(self):
        names = list(self.students() or {STUDENT: None})
        if len(set(names)) < len(names) or {"base", "teacher"} & set(names):
            raise UserError("--student names must differ from each other and from base and teacher")
        known = ["base", *names, "teacher"]
        unknown = sorted(set(self.models) - set(known))
        if unknown:
            raise UserError(f"--models takes some of {', '.join(known)}; got {', '.join(self.models)}")
        self.models = [m for m in known if m in self.models] if self.models else known
        TeacherOptions.__post_init__(self)
        for name in ("max_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_image_side < 16:
            raise UserError("--max-image-side must be at least 16 pixels")
        if self.limit is not None and self.limit < 1:
            raise UserError("--limit must be at least 1")
        if not 0 <= self.temperature <= 2:
            raise UserError("--temperature must be between 0 and 2")
        if self.judge_url and not self.judge_model:
            raise UserError("--judge-url needs --judge-model (the model name to ask)")

    def students(self) -> dict[str, str]:
        """--student as {name: path}, in the order given."""
        return dict(s.split("=", 1) if "=" in s else (STUDENT, s) for s in self.student)

    def local(self) -> list[str]:
        """The models generated here, in --models order: the base and the students."""
        return [m for m in self.models if m != "teacher"]


def local_models(cfg: Config, run_dir: RunDir, trained: dict) -> dict[str, dict]:
    """name -> {path, label} of the models generated here: base and student, as --models asks."""
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


def check_images(cfg: Config, questions: list[dict], local: dict[str, dict]) -> None:
    """Image questions need vision-language local models, and a remote teacher and judge (when asked):
    marks each local model `vision` (whether it generates through a processor)."""
    from imitate.vision.answer import is_vision_model

    n = sum(bool(q.get("images")) for q in questions)
    for name, model in local.items():
        model["vision"] = bool(n) and is_vision_model(model["path"])
        if n and not model["vision"]:
            raise UserError(f"{n} questions carry images and {name} reads text only: give a vision-language "
                            f"student (see docs/usage.md, Images), or leave {name} out with --models", model["path"])
    if not n:
        return
    asks_teacher = "teacher" in cfg.models and any(q.get("images") and "answer" not in q for q in questions)
    if asks_teacher and not cfg.teacher_url:
        raise UserError(f"{n} questions carry images, and the embedded teacher reads text only: give a "
                        "vision-language teacher with --teacher-url and --teacher-model")
    if cfg.judge and local and not (cfg.judge_url or cfg.teacher_url) and "teacher" in cfg.models:
        raise UserError(f"{n} questions carry images, and the embedded judge reads text only: give a "
                        "vision-language judge with --judge-url and --judge-model (or --teacher-url), or --no-judge")


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
    if cfg.eval_seeds:
        fields = {k: getattr(cfg, k) for k in ("question_field", "category_field", "reference_field", "image_field",
                                               "images_field")}
        questions += new_questions(cfg.eval_seeds, fields, cfg.rng_seed, seen_questions(run_dir, trained))
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
        _, stopped = asyncio.run(ask_remote(cfg, None, run_dir, questions, answers, ask_teacher=True, judged=[],
                                            params=params, max_image_side=cfg.max_image_side))
    chats = [student_chat(q, trained.get("student_system")) for q in questions]
    images = [q.get("images") or [] for q in questions]
    theirs = [answers["teacher"][q["id"]]["content"] if q["id"] in answers.get("teacher", {}) else None
              for q in questions]
    for name, model in local.items():
        speed[name], got = answer_locally(run_dir.eval_requests, name, model, chats, images, cache, params, theirs,
                                          seed=cfg.rng_seed, batch_size=cfg.batch_size)
        answers[name] = {q["id"]: cache[request_key(model["label"], c, params, ims)]
                         for q, c, ims in zip(questions, chats, images)}
        nll[name] = {q["id"]: x for q, x in zip(questions, got) if x is not None}
    # The judge is asked in a second session (it may be the embedded teacher, started again): not when
    # the teacher already stopped, as the same endpoint would fail again.
    judge_at = Teacher(model=cfg.judge_model, base_url=cfg.judge_url) if cfg.judge_url else None
    verdicts, judge_stopped = asyncio.run(ask_remote(cfg, judge_at, run_dir, questions, answers, ask_teacher=False,
                                                     judged=cfg.local(), params=params,
                                                     max_image_side=cfg.max_image_side)) \
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
    out["verdict"] = verdict(out["against_base"])
    write_jsonl(run_dir.eval, recs)
    write_json(run_dir.eval_stats, out)
    print(table(out))
    intervals = [f"{m} {s['all']['reference_interval'][0]:.2f}-{s['all']['reference_interval'][1]:.2f}"
                 for m, s in out["scores"].items() if s["all"].get("reference_interval")]
    if intervals:
        print("reference_accuracy, 95% interval (Wilson): " + ", ".join(intervals))
    for line in paired_lines(out["against_base"]):
        print(line)
    if out["verdict"]:
        print(out["verdict"])
    print(f"wrote {run_dir.eval} and {run_dir.eval_stats.name}")
    if stopped:
        print(f"error: teacher or judge stopped: {stopped}; re-run to ask the rest", file=sys.stderr)
        return 1
    return 0
