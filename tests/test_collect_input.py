"""Bad input: file:line errors, exit 2, nothing sent and nothing written; bad settings."""
import json
from pathlib import Path

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
                 "--dry-run", "--config", "--format"):
        assert flag in r.stdout


# -- seeds in other formats: no field flags needed ----------------------------------------------------

REAL = Path(__file__).parent / "fixtures" / "real"
SELF_INSTRUCT = [
    {"id": "seed_task_0", "name": "antonym", "instruction": "Give the antonym.", "is_classification": False,
     "instances": [{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"}]},
    {"id": "seed_task_1", "name": "breakfast", "instruction": "Suggest a breakfast without eggs.",
     "is_classification": False, "instances": [{"input": "", "output": "Oatmeal."}]},
]


def test_self_instruct_seeds_dry_run(tmp_path):
    seeds = tmp_path / "seed_tasks.jsonl"
    seeds.write_text("".join(json.dumps(t) + "\n" for t in SELF_INSTRUCT))
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run: 3 requests" in r.stdout and "as self_instruct (JSONL, 2 records)" in r.stderr
    assert not (tmp_path / "run").exists()


def test_real_seed_tasks_dry_run(tmp_path):
    if not (REAL / "seed_tasks.jsonl").is_file():
        pytest.skip("fixture not written yet")
    r = run_cli("collect", "--seeds", REAL / "seed_tasks.jsonl", "--run", tmp_path / "run", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run: 175 requests" in r.stdout and "as self_instruct (JSONL, 175 records)" in r.stderr


def test_alpaca_seeds_and_forced_format(tmp_path):
    seeds = tmp_path / "alpaca.json"
    seeds.write_text(json.dumps([{"instruction": "Name a colour.", "input": "", "output": "Blue"},
                                 {"instruction": "Add them.", "input": "2 and 3", "output": "5"}], indent=2))
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run")
    assert r.returncode == 0 and "dry run: 2 requests" in r.stdout, r.stderr
    assert "as alpaca (JSON array, 2 records)" in r.stderr
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run", "--format", "question")
    assert r.returncode == 2 and f"{seeds}: record 1: no 'question' field (fields: instruction, input, output)" \
        in r.stderr


def test_seed_record_in_no_known_format(tmp_path):
    seeds = tmp_path / "s.json"
    seeds.write_text(json.dumps([{"prompt": "Why?", "topic": "x"}]))
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run")
    assert r.returncode == 2 and f"{seeds}: record 1: no 'question' field (fields: prompt, topic)" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run").exists()
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run", "--question-field", "prompt",
                "--category-field", "topic")
    assert r.returncode == 0 and "dry run: 1 requests" in r.stdout, r.stderr


def test_without_reference_keeps_the_referenced_seeds_for_eval(tmp_path):
    seeds = tmp_path / "s.jsonl"
    rows = [{"question": "Capital of France?", "reference": "Paris"}, {"question": "Write a haiku."},
            {"question": "2 + 2?", "reference": "4"}, {"question": "Describe rain.", "reference": ""},
            {"question": "Name a bird.", "reference": None}]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run", "--without-reference")
    assert r.returncode == 0 and "dry run: 3 requests" in r.stdout, r.stderr
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--dry-run", "--without-reference",
                "--limit", "2", "--samples", "2")
    assert r.returncode == 0 and "dry run: 4 requests" in r.stdout, r.stderr
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows if r.get("reference")))
    r = run_cli("collect", "--seeds", seeds, "--run", tmp_path / "run", "--without-reference")
    assert r.returncode == 2 and "every seed has a reference" in r.stderr and str(seeds) in r.stderr
    assert not (tmp_path / "run").exists()
