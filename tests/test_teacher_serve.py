"""The embedded server: `teacher serve` runs it alone until interrupted; it never outlives its starter."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

from imitate.teacher.server import free_port


@pytest.mark.slow
def test_teacher_serve_answers_until_interrupted():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "imitate", "teacher", "serve", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.time() + 300
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("ready:") or not line:
                break
        ready = lines[-1]
        assert ready.startswith("ready:") and f"--teacher-url http://127.0.0.1:{port}/v1" in ready, lines
        model = ready.split("--teacher-model ")[1].strip()
        body = json.dumps({"model": model, "max_tokens": 8,
                           "messages": [{"role": "user", "content": "Say hello."}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            answer = json.loads(r.read())
        assert answer["choices"][0]["message"]["content"].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    with pytest.raises(OSError):   # the server went with it
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_collect_leaves_no_server(tmp_path):
    """The embedded server dies with the collect that started it, even after kill -9."""
    proc = subprocess.Popen([sys.executable, "-m", "imitate", "collect", "--run", str(tmp_path / "run"),
                             "--limit", "2", "--max-tokens", "8"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not _children(proc.pid):
        assert proc.poll() is None, "collect ended before it started the server"
        time.sleep(0.1)
    [server] = _children(proc.pid)
    time.sleep(2)   # let the server get going (loading the model)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5
    while time.time() < deadline and _alive(server):
        time.sleep(0.1)
    assert not _alive(server), f"server {server} outlived the collect that started it"
