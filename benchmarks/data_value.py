"""Which data makes the better student: the same pruned student, trained with the same steps and batch
size, on each arm of one pool of teacher answers, scored by eval on public held-out questions.

Pool: the embedded teacher answers the first --pool questions of seeds/public/tune.jsonl, --samples times
each at temperature 0.9 (answers of mixed quality), per seed. Arms:
  all       everything collected             kept      the filter's kept set
  random    a random subset of the pool, the size of kept (select --by random)
  ifd       select --by ifd on kept, --share of it          length    select --by length, the same size
  ifd_div   select --by ifd --diversity on kept, the same size
  judge     select --by judge on kept, the same size (only with --judge-url and --judge-model)
Each arm trains the student cut from the embedded teacher (--keep-layers of 30) for --steps steps of 4
records (so every arm sees the same number of records; tokens differ with answer length and are reported).
eval then scores base, every arm and the teacher on the first --questions questions of
seeds/public/heldout.jsonl that have a reference (no judge), in one eval run per seed.

Figures: per seed and pooled over the seeds, each arm's right answers and mean teacher_nll, and the
paired sign test (questions one arm gets right and the other wrong) of every arm against `all` and
against `random`; pooled over seeds question by question. Written to OUT/data_value.json.

    .venv/bin/python benchmarks/data_value.py --quick              # one seed, small: about 11 minutes here (2026-12-07)
    .venv/bin/python benchmarks/data_value.py --seeds 0 1 2        # the experiment
    .venv/bin/python benchmarks/data_value.py --student-from PATH --keep-layers N   # a bigger student, on a GPU
A rerun reuses what each run folder holds (collect and eval resume; select and finetune are redone).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imitate.data.records import read_jsonl  # noqa: E402
from imitate.eval.stats import sign_test  # noqa: E402

BASELINES = ("all", "random")


def imitate(*flags: str) -> None:
    subprocess.run([sys.executable, "-m", "imitate", *flags], cwd=ROOT, check=True)


def count(path: Path) -> int:
    return sum(1 for line in path.open(encoding="utf-8") if line.strip())


def arms(a, run: Path, seed: int) -> dict[str, Path]:
    """arm -> the records it trains on; each select arm in its own folder under RUN/arms/."""
    out = {"all": run / "collected.jsonl", "kept": run / "kept.jsonl"}
    n_kept = count(run / "kept.jsonl")
    size = max(1, round(a.share * n_kept))
    plans = {"random": ["--input", str(run / "collected.jsonl"), "--by", "random", "--keep", str(n_kept),
                        "--rng-seed", str(seed), "--cap-ratio", "0"],
             "ifd": ["--by", "ifd", "--keep", str(size)],
             "length": ["--by", "length", "--keep", str(size)],
             "ifd_div": ["--by", "ifd", "--keep", str(size), "--diversity"]}
    if a.judge_url:
        plans["judge"] = ["--by", "judge", "--keep", str(size), "--teacher-url", a.judge_url,
                          "--teacher-model", a.judge_model]
    for name, flags in plans.items():
        folder = run / "arms" / name
        folder.mkdir(parents=True, exist_ok=True)
        if name == "ifd_div" and (run / "arms" / "ifd" / "select_ifd.jsonl").is_file():   # the same IFD scores
            shutil.copy(run / "arms" / "ifd" / "select_ifd.jsonl", folder / "select_ifd.jsonl")
        if "--input" not in flags:
            flags = ["--input", str(run / "kept.jsonl"), *flags]
        imitate("select", "--run", str(folder), *flags)
        out[name] = folder / "selected.jsonl"
    return out


def one_seed(a, seed: int, student: Path) -> Path:
    """Collect, filter, select, train every arm, eval them all; the eval folder."""
    run = Path(a.out) / f"s{seed}"
    imitate("collect", "--run", str(run), "--seeds", "seeds/public/tune.jsonl", "--limit", str(a.pool),
            "--samples", str(a.samples), "--temperature", "0.9", "--max-tokens", "176", "--concurrency", "16",
            "--rng-seed", str(seed))
    imitate("filter", "--run", str(run))
    trained = {}
    for name, records in arms(a, run, seed).items():
        out = run / "students" / name
        imitate("finetune", "--run", str(run / "arms" / name), "--input", str(records), "--student", str(student),
                "--max-steps", str(a.steps), "--batch-size", "4", "--max-length", "320", "--learning-rate",
                a.learning_rate, "--rng-seed", str(seed), "--output", str(out))
        stats = json.loads((out / "finetune_stats.json").read_text())
        trained[name] = {"records": count(records), "train_tokens": stats["train_tokens"]}
    ev = run / "eval"
    ev.mkdir(parents=True, exist_ok=True)
    # eval's base is the student finetune started from; with no finetune in this folder, say which it is
    (ev / "finetune_config.json").write_text(json.dumps({"student": str(student)}))
    imitate("eval", "--run", str(ev), "--eval-seeds", "seeds/public/heldout.jsonl", "--with-reference",
            "--limit", str(a.questions), "--max-tokens", "112", "--no-judge", "--rng-seed", str(seed),
            *[f"--student={name}={run / 'students' / name}" for name in trained])
    (ev / "arms.json").write_text(json.dumps(trained, indent=1))
    return ev


def compare(recs: list[dict], arm: str, ref: str) -> tuple[int, int]:
    """(questions `arm` gets right and `ref` wrong, the reverse)."""
    by = {(r["model"], r["seed_id"]): r["correct"] for r in recs if r["correct"] is not None}
    qs = {q for m, q in by if m == arm} & {q for m, q in by if m == ref}
    return sum(by[arm, q] and not by[ref, q] for q in qs), sum(by[ref, q] and not by[arm, q] for q in qs)


def summary(evals: dict[int, Path]) -> dict:
    out, pooled = {"seeds": {}}, {}
    for seed, ev in evals.items():
        recs = read_jsonl(ev / "eval.jsonl")
        stats = json.loads((ev / "eval_stats.json").read_text())["scores"]
        models = list(stats)
        row = {m: {"right": sum(bool(r["correct"]) for r in recs if r["model"] == m),
                   "answers": stats[m]["all"]["answers"], "teacher_nll": stats[m]["all"].get("teacher_nll")}
               for m in models}
        for m in models:
            for ref in BASELINES:
                if m in (ref, "base", "teacher") or ref not in models:
                    continue
                g, lo = compare(recs, m, ref)
                row[m][f"vs_{ref}"] = {"gained": g, "lost": lo, "p": sign_test(g, lo)}
                acc = pooled.setdefault(m, {}).setdefault(f"vs_{ref}", [0, 0])
                acc[0], acc[1] = acc[0] + g, acc[1] + lo
        arms_info = json.loads((ev / "arms.json").read_text())
        for m, info in arms_info.items():
            row[m].update(info)
        out["seeds"][seed] = row
    out["pooled"] = {m: {k: {"gained": g, "lost": lo, "p": sign_test(g, lo)} for k, (g, lo) in d.items()}
                     for m, d in pooled.items()}
    out["pooled_right"] = {m: sum(s[m]["right"] for s in out["seeds"].values() if m in s)
                           for m in next(iter(out["seeds"].values()))}
    return out


def table(res: dict) -> str:
    seeds = list(res["seeds"])
    models = list(res["seeds"][seeds[0]])
    lines = [f"| model | right ({' / '.join(f's{s}' for s in seeds)}) | pooled | teacher_nll | records | "
             "vs all (pooled) | vs random (pooled) |", "|---|---|---|---|---|---|---|"]
    for m in models:
        right = " / ".join(str(res["seeds"][s][m]["right"]) for s in seeds)
        nll = " / ".join(f"{res['seeds'][s][m]['teacher_nll']:.3f}" if res["seeds"][s][m]["teacher_nll"] else "-"
                         for s in seeds)
        recs = " / ".join(str(res["seeds"][s][m].get("records", "-")) for s in seeds)
        vs = [(lambda d: f"+{d['gained']} −{d['lost']} (p {d['p']:.3f})" if d else "-")(
            res["pooled"].get(m, {}).get(f"vs_{ref}")) for ref in BASELINES]
        lines.append(f"| {m} | {right} | {res['pooled_right'][m]} | {nll} | {recs} | {vs[0]} | {vs[1]} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/data_value", help="one run folder per seed goes here")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random seeds (default: 0 1 2)")
    ap.add_argument("--pool", type=int, default=350,
                    help="questions of seeds/public/tune.jsonl asked (default: all 350)")
    ap.add_argument("--samples", type=int, default=3, help="answers per question (default: 3)")
    ap.add_argument("--share", type=float, default=0.5, help="the select arms keep this share of kept (default: 0.5)")
    ap.add_argument("--steps", type=int, default=32, help="optimizer steps of 4 records per arm (default: 32)")
    ap.add_argument("--learning-rate", default="5e-4", help="(default: 5e-4)")
    ap.add_argument("--questions", type=int, default=210, help="held-out questions with a reference (default: 210)")
    ap.add_argument("--keep-layers", type=int, default=26, help="layers the student keeps of the teacher's 30")
    ap.add_argument("--student-from", default="embedded", help="the model the student is cut from (default: "
                    "the embedded teacher; a bigger one on a GPU)")
    ap.add_argument("--judge-url", help="an OpenAI-compatible judge for the `judge` arm")
    ap.add_argument("--judge-model", help="its model name")
    ap.add_argument("--quick", action="store_true", help="one seed, 60 questions x 2 answers, 16 steps, 60 eval "
                    "questions")
    a = ap.parse_args()
    if a.quick:
        a.seeds, a.pool, a.samples, a.steps, a.questions = a.seeds[:1], 60, 2, 16, 60
    if bool(a.judge_url) != bool(a.judge_model):
        ap.error("--judge-url and --judge-model go together")
    t0 = time.time()
    student = Path(a.out) / f"student{a.keep_layers}"
    if not (student / "config.json").is_file():
        imitate("student", "--from", a.student_from, "--out", str(student), "--keep-layers", str(a.keep_layers))
    evals = {seed: one_seed(a, seed, student) for seed in a.seeds}
    res = {**summary(evals), "settings": {k: v for k, v in vars(a).items()}, "wall_s": round(time.time() - t0)}
    (Path(a.out) / "data_value.json").write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"wrote {Path(a.out) / 'data_value.json'} in {res['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
