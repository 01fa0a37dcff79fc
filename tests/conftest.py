import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))   # tests/fault_server.py


@pytest.fixture(scope="session")
def embedded_teacher(tmp_path_factory):
    """The real embedded server (transformers serve), started once per test session."""
    from imitate.teacher.server import EmbeddedServer

    log = tmp_path_factory.mktemp("server") / "server.log"
    with EmbeddedServer(log_path=log) as teacher:
        yield teacher


def run_cli(*args, env=None, timeout=600, cwd=None):
    """Run `python -m imitate ARGS` in a subprocess; return CompletedProcess (text)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "imitate", *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=cwd or ROOT)


def kill_9_after(args, out, lines: int, timeout: float = 60):
    """Start `python -m imitate ARGS`, wait until `out` holds `lines` lines, then kill -9 it."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "imitate", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < lines):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer
    from imitate.embedded import model_dir
    return AutoTokenizer.from_pretrained(model_dir())


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, tokenizer):
    """A 2-layer random LLaMA saved with the embedded tokenizer: the fast student."""
    from transformers import LlamaConfig, LlamaForCausalLM
    import torch

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    out = tmp_path_factory.mktemp("tiny") / "student"
    LlamaForCausalLM(cfg).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
