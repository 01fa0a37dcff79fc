"""End to end against the real embedded teacher (transformers serve on loopback)."""
import json

import pytest
from conftest import run_cli

from imitate.teacher.server import EMBEDDED_NAME


@pytest.mark.slow
def test_collect_on_the_embedded_teacher(tmp_path):
    run = tmp_path / "run"
    r = run_cli("collect", "--run", run, "--limit", "3", "--max-tokens", "24", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "embedded" in r.stdout and "--teacher-url" in r.stdout   # says which teacher, and how to change it
    recs = [json.loads(x) for x in (run / "collected.jsonl").read_text().splitlines()]
    assert len(recs) == 3
    for rec in recs:
        assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant"]
        assert rec["messages"][2]["content"].strip()
        assert rec["teacher"]["model"] == EMBEDDED_NAME and rec["teacher"]["system_prompt_id"]
        assert rec["usage"]["completion_tokens"] > 0 and rec["finish_reason"] in ("stop", "length")
        assert rec["seed_id"].startswith("s") and rec["category"]
    stats = json.loads((run / "collect_stats.json").read_text())
    assert stats["succeeded"] == 3 and stats["completion_tokens"] > 0
    again = run_cli("collect", "--run", run, "--limit", "3", "--max-tokens", "24")
    assert again.returncode == 0 and "nothing to send" in again.stdout   # no server started, nothing paid
