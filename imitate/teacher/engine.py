"""The embedded teacher's engine: a small OpenAI-compatible chat server that decodes concurrent
requests together.

    python -m imitate.teacher.engine MODEL_DIR --port 8000 [--host 127.0.0.1] [--max-batch 32]

POST /v1/chat/completions (non-streaming; per request: messages, max_tokens or
max_completion_tokens, temperature, top_p, seed), GET /v1/models, GET /health. Continuous batching
(imitate/decode.py): a request joins the running batch at the next token step and answers as soon
as its own answer ends, so no request waits for a longer one. Greedy at temperature 0; otherwise
each request samples with its own temperature, top_p and seeded generator.
Against plain batched `generate` on the same requests: benchmarks/embedded_throughput.py.
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jinja2 import TemplateError
from transformers import AutoModelForCausalLM, AutoTokenizer

from imitate import decode
from imitate.device import placement

DEFAULT_MAX_TOKENS = 512   # when a request gives none (and the context leaves room)
GATHER_S = 0.02   # an idle engine waits this long for more of a burst, so the burst is prefilled together


class BadRequest(ValueError):
    """A request the server refuses with 400."""


@dataclass
class Job(decode.Row):
    """A request's row, and how its HTTP thread learns that it ended."""
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


def _number(value, name: str, default, kind, low, high):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)) \
            or not low <= value <= high:
        raise BadRequest(f"{name} must be {'an integer' if kind is int else 'a number'} in [{low}, {high}]")
    return kind(value)


def parse(body: dict, tokenizer, context: int) -> Job:
    """A Job from a chat completion request body; BadRequest for what this server cannot do."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages):
        raise BadRequest("messages must be a non-empty list of {role, content} with text content")
    if body.get("stream"):
        raise BadRequest("stream is not supported")
    if body.get("n", 1) != 1:
        raise BadRequest("only n = 1 is supported")
    try:
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    except TemplateError as e:   # e.g. roles the template does not accept
        raise BadRequest(f"the model's chat template refused these messages: {e}") from None
    room = context - len(prompt)
    if room < 1:
        raise BadRequest(f"the prompt's {len(prompt)} tokens leave no room in the model's context of {context} tokens")
    limit = body.get("max_completion_tokens")
    limit = body.get("max_tokens") if limit is None else limit
    max_tokens = _number(limit, "max_tokens", min(DEFAULT_MAX_TOKENS, room), int, 1, context)
    if max_tokens > room:
        raise BadRequest(f"the prompt's {len(prompt)} tokens + max_tokens {max_tokens} pass the model's "
                         f"context of {context} tokens")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63):
        raise BadRequest("seed must be an integer in [0, 2^63)")
    return Job(prompt, max_tokens, _number(body.get("temperature"), "temperature", 1.0, float, 0, 2),
               _number(body.get("top_p"), "top_p", 1.0, float, 0, 1), seed)


class Engine:
    """The model, its tokenizer, and the queue of jobs that `run_batches` runs."""

    def __init__(self, path: str, device: str, max_batch: int):
        device, dtype = placement(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        self.context = self.model.config.max_position_embeddings
        self.stop = decode.stops(self.model, self.tokenizer)
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.stop)
        self.max_batch = max_batch
        self.tokenizing = threading.Lock()   # one tokenizer, many request threads
        self.jobs: queue.Queue[Job] = queue.Queue()

    def submit(self, job: Job) -> None:
        """Queue a job and wait until it has ended."""
        self.jobs.put(job)
        job.done.wait()

    def _new_jobs(self, running: int) -> list[Job]:
        """The queued jobs that fit beside `running` rows; when none runs, wait for one and the rest
        of its burst (until GATHER_S passes with no new job)."""
        new = []
        if not running:
            new.append(self.jobs.get())
            while len(new) < self.max_batch:
                try:
                    new.append(self.jobs.get(timeout=GATHER_S))
                except queue.Empty:
                    break
        while running + len(new) < self.max_batch:
            try:
                new.append(self.jobs.get_nowait())
            except queue.Empty:
                break
        return new

    def run_batches(self) -> None:
        """Decode the queued jobs, forever. Call it in the main thread: there torch used both cores
        of a 2-core machine, while `generate` from another thread used 1.4 of them (45% slower)."""
        batch = decode.Batch(self.model, self.stop, self.pad)
        made, since = 0, time.time()
        while True:
            new = self._new_jobs(len(batch.rows))
            try:
                if new:
                    print(f"batch of {len(new)} joins {len(batch.rows)} running ({made} tokens in the "
                          f"{time.time() - since:.1f}s before; {batch.reused} prompt tokens reused so far)",
                          file=sys.stderr, flush=True)
                    made, since = len(new), time.time()
                    ended = batch.admit(new)
                else:
                    made += len(batch.rows)
                    ended = batch.step()
            except Exception as e:  # noqa: BLE001 - reported to each waiting request as a 500
                ended = new + batch.fail()
                for job in ended:
                    job.error = f"{type(e).__name__}: {e}"
            for job in ended:
                job.done.set()

    def answer(self, body: dict, name: str) -> dict:
        with self.tokenizing:
            job = parse(body, self.tokenizer, self.context)
        self.submit(job)
        if job.error:
            raise RuntimeError(job.error)
        with self.tokenizing:
            text = self.tokenizer.decode(job.tokens, skip_special_tokens=True)
        return {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion", "created": int(time.time()),
                "model": name, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                            "finish_reason": job.finish_reason, "logprobs": None}],
                "usage": {"prompt_tokens": len(job.prompt), "completion_tokens": len(job.tokens),
                          "total_tokens": len(job.prompt) + len(job.tokens)}}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128   # the default listen backlog of 5 delays a burst of new connections by a SYN retry (1 s)


def handler(engine: Engine, name: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive, as the openai client expects

        def _send(self, status: int, obj: dict) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str) -> None:
            self._send(status, {"error": {"message": message, "type": kind, "code": None}})

        def do_GET(self):
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "imitate"}]})
            else:
                self._error(404, f"no route {self.path}", "not_found_error")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/chat/completions":
                return self._error(404, f"no route {self.path}", "not_found_error")
            try:
                request = json.loads(body)
                if not isinstance(request, dict):
                    raise BadRequest("the body must be a JSON object")
                self._send(200, engine.answer(request, name))
            except (json.JSONDecodeError, BadRequest) as e:
                self._error(400, str(e), "invalid_request_error")
            except Exception as e:  # noqa: BLE001 - any other failure answers 500, never a dropped connection
                self._error(500, f"{type(e).__name__}: {e}" if not isinstance(e, RuntimeError) else str(e),
                            "server_error")

        def log_message(self, *args):   # one line per batch is logged instead
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="model folder")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda")
    ap.add_argument("--max-batch", type=int, default=32, help="most requests generated together")
    a = ap.parse_args(argv)
    engine = Engine(a.model, a.device, a.max_batch)
    server = Server((a.host, a.port), handler(engine, a.model))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving {a.model} on http://{a.host}:{a.port} ({engine.model.device}, {engine.model.dtype})",
          file=sys.stderr, flush=True)
    engine.run_batches()


if __name__ == "__main__":
    main()
