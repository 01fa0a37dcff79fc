"""A small chat-completions server of the tests' own, on loopback, that injects faults.

`faults` is consumed one entry per incoming request, in arrival order; when empty, requests are
answered normally. Entries: "ok", "429" (with Retry-After), "500", "slow", "malformed", "drop",
"400", "401", "quota" (429 insufficient_quota), "400image" (a 400 refusing image input). `always` makes one fault permanent.
`answer`, when given, is called with the request body and returns the answer text (default: "Here
is a careful answer to: <question> ... The answer is 42.").

It also serves the files and batches endpoints the OpenAI SDK calls for the Batch API: upload
(POST /v1/files, multipart), create (POST /v1/batches), retrieve (GET /v1/batches/{id}), list
(GET /v1/batches) and file content (GET /v1/files/{id}/content). A batch answers its lines when it
is created, shows `in_progress` at its first retrieve and ends at its second. `batches` is consumed
one entry per created batch: words joined by "+": "ok" (default), "expire" (expired half done),
"fail" (failed, with errors), "cancel" (cancelled half done), "shuffle" (output lines out of order),
"unknown" (an output line with an unknown custom_id), "repeat" (an output line twice), "errors" (the
first request in the error file, HTTP 400). `poll_faults` is consumed one entry per retrieve ("500").
`block` ("upload": the file is stored, "create": before the batch is made, "created": after it,
"content"): the `block_at`-th such request sets `blocked` and waits for `release`, so a test can
kill -9 the client at that moment.
A request with `logprobs: true` gets `logprobs.content[].top_logprobs` (unless `logprobs=False`).
"""
from __future__ import annotations

import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self, faults=(), always: str | None = None, delay: float = 0.0,
                 retry_after: float = 0.3, slow_s: float = 3.0, answer=None, batches=(),
                 poll_faults=(), block: str | None = None, block_at: int = 1, logprobs: bool = True):
        self.answer = answer
        self.logprobs = logprobs   # answer `logprobs: true` requests with logprobs.content[].top_logprobs
        self.outcomes = list(batches)
        self.poll_faults = list(poll_faults)
        self.block, self.block_at = block, block_at
        self.blocked, self.release = threading.Event(), threading.Event()
        self.files: dict[str, dict] = {}     # id -> {"filename", "purpose", "data"}
        self.batches: dict[str, dict] = {}   # id -> the Batch object, plus "_output", "_errors", "_polls"
        self.calls: list[tuple] = []         # (method, path, auth) of the files and batches endpoints
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

    def wait_here(self, point: str) -> None:
        """Block this request when it is the `block_at`-th at `point`, until `release` is set."""
        with self.lock:
            if self.block != point:
                return
            self.block_at -= 1
            if self.block_at:
                return
            self.block = None
        self.blocked.set()
        self.release.wait(60)

    def add_file(self, data: bytes, filename: str, purpose: str) -> dict:
        with self.lock:
            fid = f"file-{len(self.files) + 1:04d}"
            self.files[fid] = {"filename": filename, "purpose": purpose, "data": data}
        return {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}

    def create_batch(self, body: dict) -> dict:
        with self.lock:
            words = set((self.outcomes.pop(0) if self.outcomes else "ok").split("+"))
            bid = f"batch_{len(self.batches) + 1:04d}"
        lines = [json.loads(x) for x in self.files[body["input_file_id"]]["data"].splitlines() if x.strip()]
        output, errors = batch_output(lines, words, self.answer)
        status = ("expired" if "expire" in words else "failed" if "fail" in words
                  else "cancelled" if "cancel" in words else "completed")
        batch = {"id": bid, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                 "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": int(time.time()), "metadata": body.get("metadata"),
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                 "_end": status, "_output": output, "_errors": errors, "_polls": 0}
        with self.lock:
            self.batches[bid] = batch
        return public(batch)

    def retrieve_batch(self, bid: str) -> dict:
        b = self.batches[bid]
        with self.lock:
            b["_polls"] += 1
            counts = b["request_counts"]
            if b["_polls"] == 1:
                b["status"] = "in_progress"
                counts["completed"] = len(b["_output"]) // 2
            elif b["status"] == "in_progress":
                b["status"] = b["_end"]
                counts["completed"] = len({x["custom_id"] for x in b["_output"]})
                counts["failed"] = len(b["_errors"])
        if b["status"] == "failed":
            b["errors"] = {"object": "list", "data": [{"code": "invalid_request", "line": 1, "param": "body.model",
                                                       "message": "The model does not exist."}]}
        elif b["status"] != "in_progress" and b["output_file_id"] is None:
            dump = lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()  # noqa: E731
            b["output_file_id"] = self.add_file(dump(b["_output"]), f"{bid}_output.jsonl", "batch_output")["id"]
            if b["_errors"]:
                b["error_file_id"] = self.add_file(dump(b["_errors"]), f"{bid}_error.jsonl", "batch_output")["id"]
        return public(b)


def public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def batch_output(lines: list[dict], words: set, answer=None) -> tuple[list, list]:
    """The output and error lines of a batch of request lines, shaped by its outcome words."""
    output, errors = [], []
    half = (len(lines) + 1) // 2
    for i, line in enumerate(lines):
        row = {"id": f"batch_req_{i}", "custom_id": line["custom_id"], "response": None, "error": None}
        if i >= half and "expire" in words:
            errors.append({**row, "error": {"code": "batch_expired", "message": "not executed in time"}})
        elif i >= half and "cancel" in words:
            continue
        elif i == 0 and "errors" in words:
            errors.append({**row, "response": {"status_code": 400, "request_id": f"req_{i}",
                                               "body": {"error": {"message": "bad request body",
                                                                  "type": "invalid_request_error"}}}})
        else:
            output.append({**row, "response": {"status_code": 200, "request_id": f"req_{i}",
                                               "body": answer_for(line["body"], answer)}})
    if "fail" in words:
        return [], []
    if "shuffle" in words:
        output.reverse()
    if "repeat" in words and output:
        output.append(output[0])
    if "unknown" in words:
        output.append({"id": "batch_req_x", "custom_id": "no-such-request", "error": None,
                       "response": {"status_code": 200, "request_id": "req_x",
                                    "body": answer_for({"messages": [{"role": "user", "content": "?"}]})}})
    return output, errors


def text_of(content) -> str:
    """A message's text: the string, or the text parts of a content list (image parts skipped)."""
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if p.get("type") == "text")
    return content


def answer_for(body: dict, answer=None) -> dict:
    question = text_of(next(m["content"] for m in body["messages"] if m["role"] == "user"))
    text = f"Here is a careful answer to: {question} First, we reason step by step. The answer is 42."
    if answer is not None:
        text = answer(body)
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "test"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 20 + len(question) // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": 20 + len(question) // 4 + len(text) // 4}}


def with_logprobs(resp: dict, body: dict) -> dict:
    """Add `choices[0].logprobs.content` when the request asked for logprobs: the answer cut into
    words (each with its leading space), the sampled one first among `top_logprobs` alternatives."""
    if not body.get("logprobs"):
        return resp
    import re
    k = int(body.get("top_logprobs") or 0)
    content = []
    for tok in re.findall(r"\s?[^\s]+|\s+", resp["choices"][0]["message"]["content"]):
        tops = [{"token": tok, "logprob": -0.1, "bytes": list(tok.encode())}]
        tops += [{"token": f" alt{j}", "logprob": -3.0 - j, "bytes": list(f" alt{j}".encode())} for j in range(1, k)]
        content.append({"token": tok, "logprob": -0.1, "bytes": list(tok.encode()), "top_logprobs": tops[:k]})
    resp["choices"][0]["logprobs"] = {"content": content}
    return resp


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
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client was killed while this request was held (block)

    def _batch_api(self, method: str, raw: bytes = b""):
        o = self.owner
        with o.lock:
            o.calls.append((method, self.path, self.headers.get("Authorization", "")))
        path = self.path.split("?")[0]
        if method == "POST" and path == "/v1/files":
            fields = multipart(self.headers["Content-Type"], raw)
            obj = o.add_file(fields["file"][1], fields["file"][0], fields["purpose"][1].decode())
            o.wait_here("upload")
            return self._send(200, obj)
        if method == "POST" and path == "/v1/batches":
            o.wait_here("create")
            obj = o.create_batch(json.loads(raw))
            o.wait_here("created")
            return self._send(200, obj)
        if method == "GET" and path == "/v1/batches":
            data = [public(b) for b in reversed(list(o.batches.values()))]
            return self._send(200, {"object": "list", "data": data, "has_more": False,
                                    "first_id": data[0]["id"] if data else None,
                                    "last_id": data[-1]["id"] if data else None})
        if method == "GET" and path.startswith("/v1/batches/"):
            if o.poll_faults and o.poll_faults.pop(0) == "500":
                return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
            return self._send(200, o.retrieve_batch(path.rsplit("/", 1)[1]))
        if method == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            o.wait_here("content")
            return self._send(200, o.files[path.split("/")[3]]["data"])
        self._send(404, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}})

    def do_GET(self):
        self._batch_api("GET")

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith(("/v1/files", "/v1/batches")):
            return self._batch_api("POST", raw)
        body = json.loads(raw)
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
            self._send(200, with_logprobs(answer_for(body, o.answer), body) if o.logprobs else answer_for(body, o.answer))
        elif fault == "429":
            self._send(429, err("rate limited", "rate_limit_exceeded", "requests"),
                       {"Retry-After": str(o.retry_after)})
        elif fault == "quota":
            self._send(429, err("You exceeded your current quota", "insufficient_quota", "insufficient_quota"))
        elif fault == "500":
            self._send(500, err("internal error", None, "server_error"))
        elif fault in ("400", "401"):
            self._send(int(fault), err(f"error {fault}"))
        elif fault == "400image":
            self._send(400, err("Invalid content type. image_url is only supported by certain models."))
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


def multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body."""
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {p.get_param("name", header="content-disposition"): (p.get_filename(), p.get_payload(decode=True))
            for p in msg.iter_parts()}
