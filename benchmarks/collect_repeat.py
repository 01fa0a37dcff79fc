"""Does a rerun of collect draw the same answers? The same collect twice, into two fresh run folders, on
the embedded teacher (or --teacher-url), then the count of answers that came out identical, by request
key. collect sends each request a sampling seed from its key and --rng-seed; what still differs comes
from the server (the embedded teacher's numerics shift with how requests are batched together).

Run: .venv/bin/python benchmarks/collect_repeat.py [--limit 48] [--rng-seed 0] [-- more collect flags]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from imitate.data.records import read_jsonl  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=48, help="shipped seed questions to ask (default: 48, the demo's)")
    ap.add_argument("--rng-seed", type=int, default=0, help="collect's --rng-seed, the same both times (default: 0)")
    ap.add_argument("extra", nargs="*", help="more collect flags, after -- (default: the demo's: --max-tokens 176 "
                    "--concurrency 16, temperature 0.7)")
    args = ap.parse_args()
    flags = ["--limit", str(args.limit), "--rng-seed", str(args.rng_seed)] + (
        args.extra or ["--max-tokens", "176", "--concurrency", "16"])
    answers = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in (1, 2):
            run = Path(tmp) / f"run{i}"
            subprocess.run([sys.executable, "-m", "imitate", "collect", "--run", str(run), *flags], cwd=ROOT,
                           check=True)
            answers.append({r["id"]: r["messages"][-1]["content"] for r in read_jsonl(run / "collected.jsonl")})
    a, b = answers
    same = sum(a[k] == b.get(k) for k in a)
    print(f"identical answers in two collects: {same} of {len(a)} ({' '.join(flags)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
