"""Which student shows imitation: for each --keep N, the embedded teacher is cut to N layers, trained as
the demo trains (SFT, and with --kd also SFT + logit KD) on one collect's records, and eval scores the base,
the students and the teacher on held-out questions with a reference (strict reference accuracy, as eval).

Each N gets its own run folder under --out, with a copy of the source run's collect and filter output, so
that the held-out split and the question set are the same for every N; the teacher's answers are asked
once and copied along. The figures: questions answered right, filter pass rate and teacher_nll, per model.

Needs a run folder that collect and filter wrote, such as `SIZE=full make demo`'s (142 questions, two answers each).
Run: .venv/bin/python benchmarks/student_sweep.py --run runs/demo --keep 24 26 28 [--kd] [--input collected]
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("collect_config.json", "collect_stats.json", "collected.jsonl", "dropped.jsonl", "failed.jsonl",
          "filter_config.json", "filter_stats.json", "kept.jsonl")


def imitate(*flags: str) -> None:
    subprocess.run([sys.executable, "-m", "imitate", *flags], cwd=ROOT, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/demo", help="run folder with collected.jsonl and kept.jsonl (default: runs/demo)")
    ap.add_argument("--out", default="runs/sweep", help="where each N's run folder goes (default: runs/sweep)")
    ap.add_argument("--keep", type=int, nargs="+", default=[24, 26, 28], help="layer counts to try (default: 24 26 28)")
    ap.add_argument("--input", choices=["kept", "collected"], default="kept",
                    help="train on the kept answers (as the demo) or on every collected answer (default: kept)")
    ap.add_argument("--kd", action="store_true", help="also train an SFT + logit KD student, as the demo")
    ap.add_argument("--steps", type=int, default=64, help="optimizer steps per student (default: 64, SIZE=full's)")
    ap.add_argument("--learning-rate", default="5e-4", help="peak learning rate (default: 5e-4, SIZE=full's; "
                    "the small demo's: 1e-3 with --steps 8)")
    ap.add_argument("--questions", type=int, default=80, help="eval questions at most (default: 80)")
    ap.add_argument("--seed", type=int, default=0, help="finetune and eval seed (default: 0)")
    args = ap.parse_args()
    src = Path(args.run)
    missing = [f for f in ("collected.jsonl", "kept.jsonl") if not (src / f).is_file()]
    if missing:
        print(f"error: {src} has no {', '.join(missing)}: run collect and filter (or `SIZE=full make demo`) first",
              file=sys.stderr)
        return 2
    table, cache = [], None
    for n in args.keep:
        run = Path(args.out) / f"keep{n}"
        run.mkdir(parents=True, exist_ok=True)
        for f in COPIED:
            if (src / f).is_file():
                shutil.copy(src / f, run / f)
        if cache and not (run / "eval_requests.jsonl").exists():
            shutil.copy(cache, run / "eval_requests.jsonl")   # the teacher's answers, asked once
        if not (run / "pruned" / "config.json").is_file():
            imitate("student", "--out", str(run / "pruned"), "--keep-layers", str(n))
        train = ["--run", str(run), "--input", str(run / f"{args.input}.jsonl"), "--student", str(run / "pruned"),
                 "--max-steps", str(args.steps), "--batch-size", "4", "--max-length", "320",
                 "--learning-rate", args.learning_rate, "--rng-seed", str(args.seed)]
        students = {"sft": []}
        if args.kd:
            students["sft+kd"] = ["--kd", "logit", "--kd-teacher", "embedded", "--kd-temperature", "1"]
        folder = {name: run / name.replace("+", "_") for name in students}
        for name, extra in students.items():
            imitate("finetune", *train, "--output", str(folder[name]), *extra)
        imitate("eval", "--run", str(run), "--eval-seeds", "seeds/seeds.jsonl", "--with-reference",
                "--limit", str(args.questions), "--max-tokens", "112", "--no-judge", "--rng-seed", str(args.seed),
                *[f for name in students for f in ("--student", f"{name}={folder[name]}")])
        cache = run / "eval_requests.jsonl"
        scores = json.loads((run / "eval_stats.json").read_text())["scores"]
        for model, s in scores.items():
            a = s["all"]
            right = round(a["reference_accuracy"] * a["with_reference"])
            table.append((n, model, f"{right}/{a['with_reference']}", a["filter_pass"], a["teacher_nll"]))
    print(f"\n{'keep':>4}  {'model':8}{'right':>8}{'filter pass':>13}{'teacher_nll':>13}")
    for n, model, right, passed, nll in table:
        print(f"{n:>4}  {model:8}{right:>8}{passed:>13.3f}{'-' if nll is None else f'{nll:.3f}':>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
