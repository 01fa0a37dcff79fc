"""Generated tokens/s of the embedded teacher through `imitate collect`, against plain batched
`model.generate` on the same model, the same prompts and the same max tokens, in one run.

Starts the embedded server once; at each concurrency, runs collect on the shipped seeds (a fresh run
folder each time), then at once generates the same requests in-process in batches of that
concurrency (greedy, left padding, on the device and in the dtype the server picks), and prints both figures and their ratio, per
second and per CPU-second (the server's process against this one's). Taking the two back to back
keeps them comparable on a shared machine; where other load comes and goes, the per-CPU-second
ratio is the steadier one, and each side counts its best of --repeats alternating runs.

Run: .venv/bin/python benchmarks/embedded_throughput.py [--concurrency 1,8,16] [--max-tokens 64] [--repeats 2]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imitate import config as config_mod  # noqa: E402
from imitate import embedded  # noqa: E402
from imitate.data.seeds import load_seeds  # noqa: E402
from imitate.shipped import SEEDS  # noqa: E402
from imitate.stages import collect  # noqa: E402
from imitate.teacher.client import Teacher  # noqa: E402
from imitate.device import placement  # noqa: E402
from imitate.teacher.server import EmbeddedServer  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM, Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collect_config(run: Path, c: int, a, teacher=None) -> collect.Config:
    given = {"run": str(run), "concurrency": c, "max_tokens": a.max_tokens, "limit": max(4, a.rounds * c),
             "temperature": 0.0, "timeout": 900}
    if teacher:
        given.update(teacher_url=teacher.base_url, teacher_model=teacher.model)
    return config_mod.build(collect.Config, given)


def through_collect(run: Path, c: int, a, teacher, pid: int) -> tuple[float, float]:
    """Generated tokens per second and per CPU-second of the server (pid) through collect at concurrency c."""
    cpu = cpu_s(pid)
    collect.run(collect_config(run, c, a, teacher))
    cpu = cpu_s(pid) - cpu
    stats = json.loads((run / "collect_stats.json").read_text())
    tokens = stats["completion_tokens"]
    print(f"embedded teacher, concurrency {c}: {stats['completion_tokens_per_s']} generated tokens/s "
          f"({tokens} tokens in {stats['wall_s']}s, {cpu:.0f} CPU-s)", flush=True)
    return stats["completion_tokens_per_s"], round(tokens / cpu, 2)


def generated(row: list[int], eos: int) -> int:
    """Tokens generated in one row: up to and including its first end-of-turn token, as the server counts."""
    return row.index(eos) + 1 if eos in row else len(row)


def plain_generate(model, tok, run: Path, c: int, a) -> tuple[float, float]:
    """Generated tokens per second and per CPU-second of model.generate on the same requests as
    collect's, in batches of c."""
    import torch

    cfg = collect_config(run, c, a)
    requests = collect.plan(cfg, load_seeds(str(SEEDS))[: cfg.limit], [Teacher(model="plain")])
    tokens, t0, cpu = 0, time.time(), time.process_time()
    for i in range(0, len(requests), c):
        texts = [tok.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True)
                 for r in requests[i: i + c]]
        enc = tok(texts, return_tensors="pt", padding=True, padding_side="left")
        with torch.inference_mode():
            out = model.generate(**enc.to(model.device), max_new_tokens=a.max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        tokens += sum(generated(row, tok.eos_token_id) for row in out[:, enc["input_ids"].shape[1]:].tolist())
    wall, cpu = time.time() - t0, time.process_time() - cpu
    print(f"plain generate, batch {c}: {tokens / wall:.2f} generated tokens/s ({tokens} tokens in {wall:.1f}s, "
          f"{cpu:.0f} CPU-s)", flush=True)
    return round(tokens / wall, 2), round(tokens / cpu, 2)


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", default="1,8,16", help="comma-separated concurrencies to measure")
    ap.add_argument("--max-tokens", type=int, default=64, help="most tokens per answer")
    ap.add_argument("--rounds", type=int, default=2, help="requests per run = rounds x concurrency (at least 4)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs of each side, alternating; the best of each counts (other load only slows)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    path = embedded.model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    device, dtype = placement("auto")   # where and in what the server runs the model
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    results = {}
    server = EmbeddedServer(log_path=tmp / "server.log")
    with server as teacher:
        for c in (int(x) for x in a.concurrency.split(",")):
            runs = [(through_collect(tmp / f"c{c}-{r}", c, a, teacher, server.proc.pid),
                     plain_generate(model, tok, tmp / f"g{c}-{r}", c, a)) for r in range(a.repeats)]
            (served, served_cpu), (plain, plain_cpu) = [[max(side) for side in zip(*sides)] for sides in zip(*runs)]
            results[c] = {"embedded": served, "plain_generate": plain, "ratio": round(served / plain, 2),
                          "per_cpu_s": {"embedded": served_cpu, "plain_generate": plain_cpu,
                                        "ratio": round(served_cpu / plain_cpu, 2)}}
            print(f"concurrency {c}, best of {a.repeats}: embedded teacher {served} vs plain generate {plain} tok/s: "
                  f"ratio {results[c]['ratio']}; per CPU-second {served_cpu} vs {plain_cpu}: ratio "
                  f"{results[c]['per_cpu_s']['ratio']}", flush=True)
        rss = peak_rss_mb(server.proc.pid)
    print(json.dumps({"generated_tokens_per_s": results, "max_tokens": a.max_tokens, "device": device,
                      "dtype": str(dtype).removeprefix("torch."), "server_peak_rss_mb": round(rss)}))


if __name__ == "__main__":
    main()
