"""Peak memory of `imitate finetune` with its default flags, on long records.

Builds 69 records from the shipped seed questions with long answers (10 of about 1,500 words, longer
than 1024 tokens; the rest 200-600 words), runs `python -m imitate finetune --input FILE --max-steps N` in a
subprocess with no other flag, and prints its peak RSS (finetune_stats.json `peak_rss_mb`). A watchdog
kills the run when its RSS passes --rss-limit-gb, so a setting that does not fit cannot take a
shared machine down with it.

Run: .venv/bin/python benchmarks/finetune_memory.py [--max-steps 4] [--rss-limit-gb 16] [-- FINETUNE FLAGS]
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from imitate.data.seeds import load_seeds  # noqa: E402
from imitate.shipped import SEEDS  # noqa: E402

RECORDS, LONG = 69, 10


def records(rng: random.Random) -> list[dict]:
    """Answers made of seed questions: about 1,500 words for the LONG ones (> 1024 tokens), 200-600 else."""
    seeds = [s for s in load_seeds(str(SEEDS)) if s.get("language") == "en"]
    words = " ".join(s["question"] for s in seeds).split()
    out = []
    for i in range(RECORDS):
        n = 1500 if i < LONG else rng.randint(200, 600)
        start = rng.randrange(len(words))
        answer = " ".join((words * 4)[start: start + n])
        seed = seeds[i % len(seeds)]
        out.append({"id": f"m{i}", "seed_id": seed["id"], "messages": [
            {"role": "system", "content": "You are a helpful assistant. Explain step by step."},
            {"role": "user", "content": seed["question"]}, {"role": "assistant", "content": answer}]})
    rng.shuffle(out)
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-steps", type=int, default=4)
    ap.add_argument("--rss-limit-gb", type=float, default=16.0, help="kill the run past this RSS")
    ap.add_argument("flags", nargs="*", help="more finetune flags, after --")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "long.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records(random.Random(0))))
    cmd = [sys.executable, "-m", "imitate", "finetune", "--input", str(data), "--run", str(tmp / "run"),
           "--max-steps", str(a.max_steps), *a.flags]
    print(" ".join(cmd[1:]), flush=True)
    t0, seen = time.time(), 0.0
    proc = subprocess.Popen(cmd, cwd=ROOT)
    while proc.poll() is None:
        seen = max(seen, rss_mb(proc.pid))
        if seen > a.rss_limit_gb * 1024:
            proc.kill()
            proc.wait()
            print(f"killed: RSS passed {a.rss_limit_gb} GB after {time.time() - t0:.0f}s")
            return
        time.sleep(0.1)
    stats = json.loads((tmp / "run" / "finetune_stats.json").read_text())
    print(json.dumps({"peak_rss_mb": stats.get("peak_rss_mb"), "sampled_peak_rss_mb": round(seen),
                      "wall_s": round(time.time() - t0), "steps": stats["steps"],
                      "tokens_per_s": stats["tokens_per_s"], "returncode": proc.returncode}))


if __name__ == "__main__":
    main()
