"""CPU finetune speed: one record per forward pass in fp32 (the old CPU path) against padding-free
micro-batches, and against finetune's defaults (those micro-batches, plus bf16 autocast and a bf16 KD
teacher where this CPU multiplies bf16 faster than fp32), back to back in one run, for SFT and for
SFT + logit KD. Each setting runs `imitate finetune` in its own process on the same records, student and
steps as the demo; the figure is how many times as fast as the first setting the same steps trained
(train_runtime_s in finetune_stats.json), and the held-out loss after training shows that the settings
learn the same.

Needs a run folder with kept.jsonl and a student folder, such as the demo's: `make demo` first, then
Run: .venv/bin/python benchmarks/finetune_cpu.py [--run runs/demo] [--steps 16] [--only sft|kd]
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> the settings finetune would not choose by itself (patched in the child process)
SETTINGS = {
    "fp32, 1 record/pass": {"row_tokens": 1, "bf16": False},
    "fp32, micro-batches": {"bf16": False},
    "defaults": {},
}

CHILD = """
import json, os, sys
s = json.loads(sys.argv[1])
if s.get("bf16") is False:
    os.environ["IMITATE_CPU_DTYPE"] = "float32"   # the student and the KD teacher in fp32
from imitate import cli, device
if "row_tokens" in s:
    device.CPU_ROW_TOKENS = s["row_tokens"]
sys.exit(cli.main(["finetune", *sys.argv[2:]]))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/demo", help="run folder with kept.jsonl (default: runs/demo)")
    ap.add_argument("--student", default=None, help="student folder (default: RUN/pruned)")
    ap.add_argument("--steps", type=int, default=16, help="optimizer steps per run (default: 16, as the demo)")
    ap.add_argument("--only", choices=["sft", "kd"], default=None, help="run only SFT or only KD")
    args = ap.parse_args()
    run = Path(args.run)
    student = args.student or str(run / "pruned")
    if not (run / "kept.jsonl").is_file() or not Path(student, "config.json").is_file():
        print(f"error: {run} needs kept.jsonl and a student folder ({student}): run `make demo` first", file=sys.stderr)
        return 2
    kinds = {"sft": [], "kd": ["--kd", "logit", "--kd-teacher", "embedded", "--kd-temperature", "1"]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, extra in kinds.items():
            if args.only and kind != args.only:
                continue
            for name, setting in SETTINGS.items():
                out = Path(tmp) / f"{kind}-{len(rows)}"
                flags = ["--run", str(run), "--input", str(run / "kept.jsonl"), "--student", student,
                         "--max-steps", str(args.steps), "--batch-size", "4", "--max-length", "320",
                         "--learning-rate", "5e-4", "--output", str(out), *extra]
                print(f"== {kind}: {name}", file=sys.stderr, flush=True)
                # finetune writes RUN/finetune_stats.json too: keep the run's own copy
                saved = {p: p.read_bytes() for p in (run / "finetune_stats.json", run / "finetune_config.json")
                         if p.is_file()}
                try:
                    subprocess.run([sys.executable, "-c", CHILD, json.dumps(setting), *flags], cwd=ROOT, check=True)
                finally:
                    for p, data in saved.items():
                        p.write_bytes(data)
                st = json.loads((out / "finetune_stats.json").read_text())
                rows.append((kind, name, st["tokens_per_s"], st["train_runtime_s"], st["eval_loss_after"],
                             st["device"]["micro_batch"], st["device"]["bf16"]))
    print(f"\n{'':5}{'setting':24}{'train s':>9}{'speed':>8}{'tokens/s':>10}{'held-out':>10}  per pass, bf16")
    for kind in kinds:
        mine = [r for r in rows if r[0] == kind]
        for r in mine:
            print(f"{kind:5}{r[1]:24}{r[3]:9.1f}{mine[0][3] / r[3]:7.2f}x{r[2]:10.1f}{r[4]:10.4f}  {r[5]}, {r[6]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
