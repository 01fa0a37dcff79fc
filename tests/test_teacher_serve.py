"""`python -m imitate teacher serve` runs the embedded teacher alone until interrupted."""
import json
import signal
import subprocess
import sys
import time
import urllib.request

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
