"""collect against the tests' own fault-injecting server: retries, failures, aborts, budget."""
import json

import pytest
from fault_server import FaultServer

from imitate.cli import main


def seeds_file(tmp_path, n=3, **extra):
    path = tmp_path / "seeds.jsonl"
    rows = [{"id": f"q{i}", "question": f"Explain why the number {i} is interesting.", "category": "math",
             **extra} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def collect(server, tmp_path, *extra, n=3):
    run = tmp_path / "run"
    code = main(["collect", "--seeds", str(seeds_file(tmp_path, n)), "--run", str(run),
                 "--teacher-url", server.url, "--teacher-model", "test-model", "--concurrency", "1",
                 "--max-tokens", "32", *map(str, extra)])
    return code, run


def stats(run):
    return json.loads((run / "collect_stats.json").read_text())


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "drop", "slow"])
def test_transient_faults_are_retried(tmp_path, fault):
    with FaultServer([fault, fault], slow_s=2.0) as srv:
        code, run = collect(srv, tmp_path, "--timeout", "0.5")
    assert code == 0
    s = stats(run)
    assert s["succeeded"] == 3 and s["failed"] == 0 and s["retries"] == 2
    assert len(lines(run / "collected.jsonl")) == 3
    assert srv.count() == 5


def test_retry_after_is_honoured(tmp_path):
    with FaultServer(["429"], retry_after=0.6) as srv:
        code, _ = collect(srv, tmp_path, n=1)
    assert code == 0
    first, second = srv.requests[0]["t"], srv.requests[1]["t"]
    assert second - first >= 0.6


def test_attempts_are_capped_and_sdk_does_not_retry(tmp_path):
    with FaultServer(always="500") as srv:
        code, run = collect(srv, tmp_path, "--max-attempts", "3", n=2)
    assert code == 0   # failures are listed, the run itself completes
    assert srv.count() == 6   # 2 requests x 3 attempts: the SDK's own retries are off
    failed = lines(run / "failed.jsonl")
    assert len(failed) == 2 and all(f["attempts"] == 3 and "500" in f["error"] for f in failed)
    assert stats(run)["failed"] == 2


def test_400_fails_once_without_retry(tmp_path):
    with FaultServer(["400"]) as srv:
        code, run = collect(srv, tmp_path)
    assert code == 0
    assert srv.count() == 3
    failed = lines(run / "failed.jsonl")
    assert len(failed) == 1 and failed[0]["attempts"] == 1 and "400" in failed[0]["error"]
    assert len(lines(run / "collected.jsonl")) == 2


@pytest.mark.parametrize("fault", ["401", "quota"])
def test_fatal_errors_abort_the_run(tmp_path, fault, capsys):
    with FaultServer(always=fault) as srv:
        code, run = collect(srv, tmp_path, n=5)
    assert code == 1
    assert srv.count() == 1   # not retried, and nothing more sent
    out = capsys.readouterr().out
    assert "stopped" in out and ("401" in out or "quota" in out)


def test_budget_stops_before_the_cap(tmp_path, capsys):
    with FaultServer() as srv:
        code, run = collect(srv, tmp_path, "--max-total-tokens", "400", n=20)
    assert code == 0
    s = stats(run)
    assert s["budget_stopped"] is True
    assert 0 < s["succeeded"] < 20
    assert s["prompt_tokens"] + s["completion_tokens"] <= 400
    assert "max-total-tokens" in capsys.readouterr().out


def test_dry_run_sends_and_writes_nothing(tmp_path, capsys):
    with FaultServer() as srv:
        code, run = collect(srv, tmp_path, "--dry-run", "--samples", "2", n=4)
    assert code == 0 and srv.count() == 0 and not run.exists()
    assert "8 requests" in capsys.readouterr().out


def test_samples_and_prompts_per_seed(tmp_path):
    with FaultServer() as srv:
        code, run = collect(srv, tmp_path, "--samples", "2", "--prompts-per-seed", "2", n=2)
    recs = lines(run / "collected.jsonl")
    assert code == 0 and len(recs) == 8 and len({r["id"] for r in recs}) == 8
    for seed in ("q0", "q1"):
        mine = [r for r in recs if r["seed_id"] == seed]
        assert {r["sample"] for r in mine} == {0, 1}
        assert len({r["teacher"]["system_prompt_id"] for r in mine}) == 2


def test_api_key_is_used_but_never_written(tmp_path, monkeypatch, capsys):
    secret = "sk-test-DO-NOT-WRITE-7f3a9"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FaultServer(["401"]) as srv:
        collect(srv, tmp_path)
    with FaultServer() as srv:
        code, run = collect(srv, tmp_path)
    assert code == 0 and srv.requests[0]["auth"] == f"Bearer {secret}"
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    for f in run.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_multi_teacher_from_config(tmp_path):
    with FaultServer() as a, FaultServer() as b:
        cfg = tmp_path / "teachers.yaml"
        cfg.write_text(f"teachers:\n  - {{model: alpha, base_url: '{a.url}'}}\n"
                       f"  - {{model: beta, base_url: '{b.url}', name: beta-v2}}\nconcurrency: 2\n")
        run = tmp_path / "run"
        code = main(["collect", "--config", str(cfg), "--seeds", str(seeds_file(tmp_path, 3)),
                     "--run", str(run)])
    recs = lines(run / "collected.jsonl")
    assert code == 0 and len(recs) == 6
    assert sorted(r["teacher"]["model"] for r in recs) == ["alpha"] * 3 + ["beta-v2"] * 3
    assert a.count() == 3 and b.count() == 3 and stats(run)["teachers"] == ["alpha", "beta-v2"]


def test_same_model_at_two_urls_needs_names(tmp_path, capsys):
    """Two teachers with one model name would share request keys and clients: refused up front;
    with a `name` each, both are asked and their records tell them apart."""
    with FaultServer() as a, FaultServer() as b:
        cfg = tmp_path / "teachers.yaml"
        cfg.write_text(f"teachers:\n  - {{model: m, base_url: '{a.url}'}}\n  - {{model: m, base_url: '{b.url}'}}\n")
        code = main(["collect", "--config", str(cfg), "--seeds", str(seeds_file(tmp_path, 2)),
                     "--run", str(tmp_path / "run")])
        assert code == 2 and "unique `name`" in capsys.readouterr().err
        assert a.count() == b.count() == 0 and not (tmp_path / "run").exists()
        cfg.write_text(f"teachers:\n  - {{model: m, base_url: '{a.url}', name: m-a}}\n"
                       f"  - {{model: m, base_url: '{b.url}', name: m-b}}\n")
        code = main(["collect", "--config", str(cfg), "--seeds", str(seeds_file(tmp_path, 2)),
                     "--run", str(tmp_path / "run")])
    recs = lines(tmp_path / "run" / "collected.jsonl")
    assert code == 0 and a.count() == b.count() == 2
    assert sorted(r["teacher"]["model"] for r in recs) == ["m-a", "m-a", "m-b", "m-b"]
    assert len({r["id"] for r in recs}) == 4


def test_each_request_carries_a_seed_from_its_key(tmp_path):
    with FaultServer() as srv:
        code, run = collect(srv, tmp_path, "--samples", "2", n=2)
        sent = [r["body"] for r in srv.requests]
    assert code == 0 and len(sent) == 4
    seeds = [b["seed"] for b in sent]
    assert all(isinstance(s, int) and 0 <= s < 2 ** 31 for s in seeds)
    assert len(set(seeds)) == 4   # the two samples of a question draw differently
    (tmp_path / "again").mkdir()
    with FaultServer() as srv:   # a fresh run asking the same requests sends the same seeds
        code, _ = collect(srv, tmp_path / "again", "--samples", "2", n=2)
        assert code == 0 and sorted(r["body"]["seed"] for r in srv.requests) == sorted(seeds)


def test_another_rng_seed_draws_anew_under_the_same_key():
    from imitate.teacher.client import Teacher
    from imitate.teacher.runner import Request

    ask = dict(teacher=Teacher(model="m"), messages=[{"role": "user", "content": "Why?"}],
               params={"temperature": 0.7})
    draws = [Request(**ask, rng_seed=n) for n in (0, 1, 2)]
    assert len({r.key for r in draws}) == 1   # one request: a rerun finds its answer whatever the seed
    seeds = [r.wire_params()["seed"] for r in draws]
    assert len(set(seeds)) == 3 and all(0 <= s < 2 ** 31 for s in seeds)
    assert seeds[0] == int(draws[0].key[:8], 16) & 0x7FFFFFFF   # --rng-seed 0: the key alone decides
