"""The eval stage's two ways to generate on CPU, on the embedded SmolLM2-135M, same prompts, same run:
batched `generate` in-process (imitate.generate, left padding, greedy) against `transformers serve
--continuous-batching` (started here on loopback, asked through the teacher client at the same concurrency).

Generated tokens/s of each (model load and server start-up printed, not counted); both load the model in
its own dtype (bf16). The eval stage uses batched generate: within noise of the server, without its start-up.

Run: .venv/bin/python benchmarks/eval_generate.py [--questions 16] [--batch 8] [--max-tokens 64]
"""
import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imitate import embedded, generate  # noqa: E402
from imitate.questions.load import load_seeds  # noqa: E402
from imitate.shipped import SEEDS  # noqa: E402
from imitate.teacher.client import Client, RetryPolicy, Teacher  # noqa: E402
from imitate.teacher.server import free_port, wait_healthy  # noqa: E402

SERVE = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"


def batched(chats: list, a) -> tuple[int, float]:
    t0 = time.time()
    model, tok = generate.load(embedded.model_dir())
    print(f"batched generate: loaded after {time.time() - t0:.1f}s", flush=True)
    tokens = 0

    def done(_batch, answers):
        nonlocal tokens
        tokens += sum(x["completion_tokens"] for x in answers)

    t0 = time.time()
    generate.generate(model, tok, chats, max_tokens=a.max_tokens, temperature=0.0, seed=0,
                      batch_size=a.batch, done=done)
    return tokens, time.time() - t0


async def _ask(teacher, chats: list, a) -> int:
    client = Client(teacher, RetryPolicy(max_attempts=1, timeout=900))
    gate = asyncio.Semaphore(a.batch)

    async def one(chat):
        async with gate:
            return (await client.chat(chat, {"max_tokens": a.max_tokens, "temperature": 0.0})).completion_tokens
    try:
        return sum(await asyncio.gather(*(one(c) for c in chats)))
    finally:
        await client.close()


def served(chats: list, a) -> tuple[int, float]:
    """`transformers serve --continuous-batching` (KV cache capped at 96 blocks, as the embedded teacher had)."""
    model, port = embedded.model_dir(), free_port()
    log = Path(tempfile.mkdtemp()) / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, "serve", str(model), "--host", "127.0.0.1", "--port",
                                 str(port), "--continuous-batching", "--cb-num-blocks", "96", "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        print(f"transformers serve: ready after {time.time() - t0:.1f}s", flush=True)
        t0 = time.time()
        tokens = asyncio.run(_ask(Teacher(model=str(model), base_url=f"http://127.0.0.1:{port}/v1"), chats, a))
        return tokens, time.time() - t0
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=16, help="the first N shipped seed questions")
    ap.add_argument("--batch", type=int, default=8, help="batch size, and the server's concurrency")
    ap.add_argument("--max-tokens", type=int, default=64, help="most tokens per answer")
    a = ap.parse_args()
    chats = [[{"role": "user", "content": s["question"]}] for s in load_seeds(str(SEEDS))[: a.questions]]
    out = {}
    for name, fn in (("batched generate", batched), ("transformers serve", served)):
        tokens, wall = fn(chats, a)
        out[name] = round(tokens / wall, 1)
        print(f"{name}: {tokens} tokens in {wall:.1f}s: {out[name]} tok/s", flush=True)
    print(json.dumps({"tokens_per_s": out, "questions": a.questions, "batch": a.batch, "max_tokens": a.max_tokens}))


if __name__ == "__main__":
    main()
