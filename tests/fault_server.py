"""A small chat-completions server of the tests' own, on loopback, that injects faults.

`faults` is consumed one entry per incoming request, in arrival order; when empty, requests are
answered normally. Entries: "ok", "429" (with Retry-After), "500", "slow", "malformed", "drop",
"400", "401", "quota" (429 insufficient_quota). `always` makes one fault permanent.
`answer`, when given, is called with the request body and returns the answer text (default: "Here
is a careful answer to: <question> ... The answer is 42.").
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self, faults=(), always: str | None = None, delay: float = 0.0,
                 retry_after: float = 0.3, slow_s: float = 3.0, answer=None):
        self.answer = answer
        self.faults = list(faults)
        self.always = always
        self.delay = delay
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.requests: list[dict] = []   # {"t", "fault", "auth", "body"}
        self.lock = threading.Lock()
        handler = type("H", (_Handler,), {"owner": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_fault(self) -> str:
        with self.lock:
            if self.always:
                return self.always
            return self.faults.pop(0) if self.faults else "ok"

    def count(self, fault: str | None = None) -> int:
        return sum(1 for r in self.requests if fault is None or r["fault"] == fault)


def answer_for(body: dict, answer=None) -> dict:
    question = next(m["content"] for m in body["messages"] if m["role"] == "user")
    text = f"Here is a careful answer to: {question} First, we reason step by step. The answer is 42."
    if answer is not None:
        text = answer(body)
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "test"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 20 + len(question) // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": 20 + len(question) // 4 + len(text) // 4}}


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, payload, headers=None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        o = self.owner
        fault = o.next_fault()
        with o.lock:
            o.requests.append({"t": time.time(), "fault": fault, "body": body,
                               "auth": self.headers.get("Authorization", "")})
        if o.delay:
            time.sleep(o.delay)
        err = lambda msg, code=None, typ="invalid_request_error": {  # noqa: E731
            "error": {"message": msg, "type": typ, "code": code}}
        if fault == "ok":
            self._send(200, answer_for(body, o.answer))
        elif fault == "429":
            self._send(429, err("rate limited", "rate_limit_exceeded", "requests"),
                       {"Retry-After": str(o.retry_after)})
        elif fault == "quota":
            self._send(429, err("You exceeded your current quota", "insufficient_quota", "insufficient_quota"))
        elif fault == "500":
            self._send(500, err("internal error", None, "server_error"))
        elif fault in ("400", "401"):
            self._send(int(fault), err(f"error {fault}"))
        elif fault == "slow":
            time.sleep(o.slow_s)
            self._send(200, answer_for(body, o.answer))
        elif fault == "malformed":
            self._send(200, b'{"id": "x", "choices": [{"message": ')
        elif fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            raise ValueError(fault)
