"""Generated tokens/s of the embedded teacher through `imitate collect`, at several concurrencies.

Starts the embedded server once (transformers serve --continuous-batching on loopback), then runs
collect on the shipped seeds at each concurrency, with a fresh run folder each time.

Run: .venv/bin/python benchmarks/embedded_throughput.py [--concurrency 1,8,16] [--max-tokens 64] [--kv-blocks 0]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imitate import config as config_mod  # noqa: E402
from imitate.stages import collect  # noqa: E402
from imitate.teacher.server import KV_BLOCKS, EmbeddedServer  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM, Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", default="1,8,16", help="comma-separated concurrencies to measure")
    ap.add_argument("--max-tokens", type=int, default=64, help="most tokens per answer")
    ap.add_argument("--kv-blocks", type=int, default=KV_BLOCKS,
                    help="KV cache blocks of 256 tokens given to the server; 0: transformers' default "
                         "(60%% of RAM on CPU)")
    ap.add_argument("--rounds", type=int, default=2, help="requests per run = rounds x concurrency (at least 4)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    results = {}
    server = EmbeddedServer(log_path=tmp / "server.log", kv_blocks=a.kv_blocks)
    with server as teacher:
        for c in (int(x) for x in a.concurrency.split(",")):
            cfg = config_mod.build(collect.Config, {
                "run": str(tmp / f"c{c}"), "teacher_url": teacher.base_url, "teacher_model": teacher.model,
                "concurrency": c, "max_tokens": a.max_tokens, "limit": max(4, a.rounds * c), "temperature": 0.0})
            collect.run(cfg)
            stats = json.loads((tmp / f"c{c}" / "collect_stats.json").read_text())
            results[c] = stats["completion_tokens_per_s"]
            print(f"concurrency {c}: {stats['completion_tokens_per_s']} generated tokens/s "
                  f"({stats['completion_tokens']} tokens in {stats['wall_s']}s)", flush=True)
        rss = peak_rss_mb(server.proc.pid)
    print(json.dumps({"generated_tokens_per_s": results, "max_tokens": a.max_tokens, "kv_blocks": a.kv_blocks,
                      "server_peak_rss_mb": round(rss)}))


if __name__ == "__main__":
    main()
