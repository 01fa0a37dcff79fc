"""Client overhead: `imitate collect` against a bare asyncio.gather of AsyncOpenAI calls.

Both send the same requests (the seeds with their planned system messages) to the same
instant-answer server (benchmarks/instant_server.py, another process) at the same concurrency;
imitate's time is the whole stage: reading seeds, planning, hashing keys, appending and flushing
every record, writing stats.
Goal: imitate's requests/s at least 0.9 of the bare client's.

Run: .venv/bin/python benchmarks/collect_overhead.py [--requests 5000] [--concurrency 16]
"""
import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imitate import config as config_mod  # noqa: E402
from imitate.stages import collect  # noqa: E402
from imitate.teacher.server import free_port, wait_healthy  # noqa: E402


async def bare(url: str, messages: list[list[dict]], concurrency: int) -> float:
    client = openai.AsyncOpenAI(api_key="EMPTY", base_url=url, max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(msgs):
        async with sem:
            return await client.chat.completions.create(model="instant", messages=msgs,
                                                        max_tokens=32, temperature=0.7)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(m) for m in messages))
    wall = time.perf_counter() - t0
    await client.close()
    return wall


def imitate_run(url: str, seeds: Path, run: Path, concurrency: int) -> float:
    cfg = config_mod.build(collect.Config, {"seeds": str(seeds), "run": str(run), "teacher_url": url,
                                            "teacher_model": "instant", "concurrency": concurrency,
                                            "max_tokens": 32})
    t0 = time.perf_counter()
    assert collect.run(cfg) == 0
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000, help="requests per side")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight on both sides")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs per side; best is kept")
    a = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("instant_server.py")), str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, None, timeout=30)
        questions = [f"Question number {i}: why is {i} interesting?" for i in range(a.requests)]
        tmp = Path(tempfile.mkdtemp())
        seeds = tmp / "seeds.jsonl"
        seeds.write_text("".join(json.dumps({"id": f"b{i}", "question": q}) + "\n" for i, q in enumerate(questions)))
        # The bare side sends exactly the messages imitate plans (system message + question).
        cfg = config_mod.build(collect.Config, {"seeds": str(seeds), "teacher_url": "x", "teacher_model": "m"})
        messages = [r.messages for r in collect.plan(cfg, collect.load_seeds(str(seeds)),
                                                      collect.teacher_list(cfg))]
        bare_s, imit_s = [], []
        for r in range(a.repeats):   # alternate, so drift on a shared machine hits both sides
            bare_s.append(asyncio.run(bare(url + "/v1", messages, a.concurrency)))
            imit_s.append(imitate_run(url + "/v1", seeds, tmp / f"run{r}", a.concurrency))
        b, i = a.requests / min(bare_s), a.requests / min(imit_s)
        print(json.dumps({"requests": a.requests, "concurrency": a.concurrency, "bare_req_per_s": round(b, 1),
                          "imitate_req_per_s": round(i, 1), "ratio": round(i / b, 3)}))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
