"""Bad input: file:line errors, exit 2, nothing sent and nothing written; bad settings."""
import pytest
from conftest import run_cli
from fault_server import FaultServer

CASES = {
    "invalid_json": (b'{"question": "ok"}\n{"question": "broken"\n', ":2:", "invalid JSON"),
    "not_object": (b'{"question": "ok"}\n["a list"]\n', ":2:", "JSON object"),
    "missing_question": (b'{"question": "ok"}\n{"id": "x", "category": "math"}\n', ":2:", "question"),
    "empty_question": (b'{"question": "ok"}\n{"question": "   "}\n', ":2:", "question"),
    "not_utf8": (b'{"question": "ok"}\n{"question": "caf\xe9"}\n', ":2:", "UTF-8"),
    "empty_file": (b"", "seeds.jsonl", "no seeds"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_seed_files(tmp_path, case):
    content, where, what = CASES[case]
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes(content)
    run = tmp_path / "run"
    with FaultServer() as srv:
        r = run_cli("collect", "--seeds", seeds, "--run", run, "--teacher-url", srv.url, "--teacher-model", "m")
    assert r.returncode == 2, r.stderr
    assert where in r.stderr and what.lower() in r.stderr.lower(), r.stderr
    assert "Traceback" not in r.stderr
    assert srv.count() == 0 and not run.exists()


def test_missing_seed_file(tmp_path):
    r = run_cli("collect", "--seeds", tmp_path / "nope.jsonl", "--run", tmp_path / "run", "--dry-run")
    assert r.returncode == 2 and "nope.jsonl" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("flags,msg", [(["--concurrency", "0"], "--concurrency"),
                                       (["--teacher-url", "http://127.0.0.1:9/v1"], "--teacher-model"),
                                       (["--temperature", "5"], "--temperature")])
def test_bad_settings(tmp_path, flags, msg):
    r = run_cli("collect", "--run", tmp_path / "run", *flags)
    assert r.returncode == 2 and msg in r.stderr and not (tmp_path / "run").exists()


def test_bad_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("concurrency: 2\nnot_a_setting: 1\n")
    r = run_cli("collect", "--config", cfg, "--run", tmp_path / "run", "--dry-run")
    assert r.returncode == 2 and "not_a_setting" in r.stderr


def test_help_explains_every_flag():
    r = run_cli("collect", "--help")
    assert r.returncode == 0
    for flag in ("--seeds", "--run", "--teacher-url", "--teacher-model", "--concurrency", "--samples",
                 "--prompts-per-seed", "--max-tokens", "--temperature", "--limit", "--max-total-tokens",
                 "--dry-run", "--config"):
        assert flag in r.stdout
