"""The embedded teacher: our batching chat server (imitate/teacher/engine.py) on a free loopback port.

A real OpenAI-compatible server, so collect talks to it through the same client as to any
remote teacher. It decodes concurrent requests with continuous batching (imitate/decode.py);
`transformers serve --continuous-batching`, used before, was slower than plain batched generate on
these CPUs (shared/facts.md, benchmarks/embedded_throughput.py).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from imitate import embedded
from imitate.errors import UserError
from imitate.teacher.client import Teacher

EMBEDDED_NAME = f"{embedded.MODEL_NAME} (embedded)"   # what records and request keys carry
EMBEDDED_HINT = ("teacher: the embedded SmolLM2-135M-Instruct (batching server on loopback); "
                 "use --teacher-url URL --teacher-model NAME for another")


def request_timeout(setting: float | None, embedded: bool) -> float:
    """The per-request timeout: the user's, else 120 s for a remote teacher and 900 s for the
    embedded one. A timed-out request is not cancelled on the server, so its retry adds load: on
    2 CPU cores a busy batch can take minutes, and a short timeout would snowball."""
    return setting or (900.0 if embedded else 120.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(model: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "imitate.teacher.engine", str(model), "--host", host, "--port", str(port)]


def _die_with_parent(parent: int):
    """preexec_fn: the server gets SIGKILL when the process that started it dies, even by kill -9
    (Linux PR_SET_PDEATHSIG), so a killed collect leaves no server behind. If that parent is already
    gone when this runs, exit at once. Elsewhere, `stop()` and the normal exit paths stop it."""
    def arm():
        if sys.platform.startswith("linux"):
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # 1: PR_SET_PDEATHSIG
            if os.getppid() != parent:
                os._exit(1)
    return arm


def wait_healthy(url: str, proc: subprocess.Popen, log: Path | None, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"the embedded teacher server exited with code {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the embedded teacher server was not ready after {timeout:.0f}s")


class EmbeddedServer:
    """Context manager: start the server, wait for /health, give a Teacher, stop it on exit."""

    def __init__(self, log_path: Path | None = None, port: int | None = None, host: str = "127.0.0.1"):
        self.log_path = log_path
        self.port = port or free_port()
        self.host = host
        self.proc: subprocess.Popen | None = None

    def start(self) -> Teacher:
        model = embedded.model_dir()
        url = f"http://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        env.pop("OPENAI_API_KEY", None)   # the server needs no key; keep it out of its environment
        self.proc = subprocess.Popen(serve_command(model, self.port, self.host), stdout=log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent(os.getpid()))
        if log is not subprocess.DEVNULL:
            log.close()
        try:
            wait_healthy(url, self.proc, self.log_path)
        except RuntimeError as e:
            self.stop()
            raise UserError(str(e)) from None
        return Teacher(model=str(model), base_url=url + "/v1", name=EMBEDDED_NAME)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> Teacher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
