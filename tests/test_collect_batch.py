"""collect --batch against the tests' fault server: shards, every ending of a batch, the join, kill -9
at each step (nothing submitted twice, every request once), --detach / --batch-status, and the
offline path (--batch-file-only, then --batch-import of a `vllm run-batch` output file)."""
import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from conftest import ROOT
from fault_server import FaultServer, answer_for
from test_collect_faults import lines, seeds_file

from imitate.cli import main

RECORD_KEYS = {"id", "seed_id", "category", "messages", "sample", "teacher", "usage", "finish_reason", "created"}


def args(srv, tmp_path, *extra, n=4, run="run"):
    return ["collect", "--seeds", str(seeds_file(tmp_path, n)), "--run", str(tmp_path / run),
            "--teacher-url", srv.url, "--teacher-model", "m", "--max-tokens", "16", "--samples", "2",
            "--batch", "--poll", "0.05", *map(str, extra)]


def records(tmp_path):
    run = tmp_path / "run"
    return lines(run / "collected.jsonl"), lines(run / "failed.jsonl")


def shard_keys(tmp_path) -> list[set]:
    return [{x["custom_id"] for x in lines(p)} for p in sorted((tmp_path / "run" / "batch_input").glob("*.jsonl"))]


def assert_each_once(tmp_path, total):
    ok, failed = records(tmp_path)
    counts = Counter(r["id"] for r in ok + failed)
    assert len(counts) == total and set(counts.values()) == {1}, counts
    return ok, failed


def posts(srv):
    return [c for c in srv.calls if c[0] == "POST"]


def test_batch_collects_every_request_once_and_a_rerun_sends_nothing(tmp_path):
    with FaultServer() as srv:
        assert main(args(srv, tmp_path, "--batch-size", "3")) == 0   # 8 requests -> shards of 3, 3, 2
        ok, failed = assert_each_once(tmp_path, 8)
        assert not failed and len(srv.batches) == 3
        calls = len(srv.calls)
        assert main(args(srv, tmp_path, "--batch-size", "3")) == 0
        assert len(srv.calls) == calls   # nothing sent, nothing even polled
    assert [len(k) for k in shard_keys(tmp_path)] == [3, 3, 2]
    first = lines(tmp_path / "run" / "batch_input" / "0000.jsonl")[0]
    assert first["method"] == "POST" and first["url"] == "/v1/chat/completions"
    assert first["body"]["model"] == "m" and first["body"]["max_tokens"] == 16
    assert first["body"]["messages"][0]["role"] == "system"
    rec = next(r for r in ok if r["id"] == first["custom_id"])
    assert set(rec) == RECORD_KEYS and rec["messages"][:2] == first["body"]["messages"]
    assert rec["teacher"]["batch_id"] in srv.batches and rec["usage"]["completion_tokens"] > 0
    state = json.loads((tmp_path / "run" / "batches.json").read_text())["shards"]
    assert all(s["joined"] and s["status"] == "completed" and s["file_id"] for s in state)
    stats = json.loads((tmp_path / "run" / "collect_stats.json").read_text())
    assert stats["succeeded"] == 8 and stats["batches"] == 3


def test_keys_match_the_online_path(tmp_path):
    with FaultServer() as srv:
        assert main([a for a in args(srv, tmp_path, run="online") if a != "--batch"]) == 0
        assert main(args(srv, tmp_path)) == 0
    online = {r["id"] for r in lines(tmp_path / "online" / "collected.jsonl")}
    assert online == {r["id"] for r in records(tmp_path)[0]}


def test_shards_keep_to_the_byte_limit(tmp_path, capsys):
    with FaultServer() as srv:
        assert main(args(srv, tmp_path, "--batch-bytes", "1200")) == 0
        assert_each_once(tmp_path, 8)
        for p in (tmp_path / "run" / "batch_input").glob("*.jsonl"):
            assert p.stat().st_size <= 1200
        assert len(srv.batches) > 1
        assert main(args(srv, tmp_path, "--batch-bytes", "100", run="b")) == 2
    assert "--batch-bytes 100" in capsys.readouterr().err


@pytest.mark.parametrize("outcome", ["shuffle", "unknown", "repeat", "errors", "shuffle+unknown+repeat+errors"])
def test_output_files_are_joined_by_custom_id(tmp_path, outcome, capsys):
    with FaultServer(batches=[outcome]) as srv:
        assert main(args(srv, tmp_path)) == 0
    ok, failed = assert_each_once(tmp_path, 8)
    out = capsys.readouterr().out
    assert ("unknown custom_id" in out) == ("unknown" in outcome)
    assert ("custom_id seen before" in out) == ("repeat" in outcome)
    if "errors" in outcome:
        assert len(failed) == 1 and failed[0]["error"].startswith("HTTP 400") and failed[0]["batch_id"]
    else:
        assert not failed


def test_an_expired_batch_asks_the_unfinished_again(tmp_path):
    with FaultServer(batches=["expire"]) as srv:
        assert main(args(srv, tmp_path)) == 0
    ok, failed = assert_each_once(tmp_path, 8)
    assert not failed and len(srv.batches) == 2
    first, again = shard_keys(tmp_path)
    assert len(again) == 4 and again < first   # only the half the window closed on
    assert {r["teacher"]["batch_id"] for r in ok} == set(srv.batches)


def test_a_failed_batch_reports_its_errors(tmp_path, capsys):
    with FaultServer(batches=["fail"]) as srv:
        assert main(args(srv, tmp_path)) == 0
        ok, failed = assert_each_once(tmp_path, 8)
        calls = len(srv.calls)
        assert main(args(srv, tmp_path)) == 0
        assert len(srv.calls) == calls   # failures are records too: not sent again by --batch
    assert not ok and all("The model does not exist" in f["error"] for f in failed)
    assert "invalid_request: The model does not exist. (line 1)" in capsys.readouterr().out


def test_a_cancelled_batch_keeps_what_it_answered(tmp_path):
    with FaultServer(batches=["cancel"]) as srv:
        assert main(args(srv, tmp_path)) == 0
    ok, failed = assert_each_once(tmp_path, 8)
    assert len(ok) == 4 and all("cancelled" in f["error"] for f in failed)


def test_500_while_polling_is_retried(tmp_path):
    with FaultServer(poll_faults=["500", "500", "ok", "500"]) as srv:
        assert main(args(srv, tmp_path)) == 0
    assert not assert_each_once(tmp_path, 8)[1]


def kill_9_when_blocked(srv, argv):
    """Run `python -m imitate ARGV`, kill -9 it while the fault server holds its request, then release."""
    proc = subprocess.Popen([sys.executable, "-m", "imitate", *argv], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert srv.blocked.wait(60), "the run never reached the blocking request"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        srv.release.set()


@pytest.mark.parametrize("block,at", [("upload", 2), ("create", 2), ("created", 2), ("content", 2)])
def test_kill_9_then_rerun_submits_nothing_twice(tmp_path, block, at):
    """upload: the file reached the API, its id not the run folder; create: the file id is recorded,
    no batch made; created: the batch is made, its id not recorded (found again by batches.list);
    content: the first batch is joined, the second's output is being downloaded."""
    with FaultServer(block=block, block_at=at) as srv:
        argv = args(srv, tmp_path, "--batch-size", "3")
        kill_9_when_blocked(srv, argv)
        assert main(argv) == 0
        inputs = [b["input_file_id"] for b in srv.batches.values()]
        uploaded = [f for f in srv.files.values() if f["purpose"] == "batch"]
        calls = len(srv.calls)
        assert main(argv) == 0 and len(srv.calls) == calls
    assert_each_once(tmp_path, 8)
    assert len(inputs) == len(set(inputs)) == 3   # one batch per shard
    assert len({srv.files[i]["data"] for i in inputs}) == 3   # and no shard in two batches
    assert len(uploaded) == (4 if block == "upload" else 3)   # the orphan upload costs nothing
    assert (("GET", "/v1/batches?limit=100") in {c[:2] for c in srv.calls}) == (block in ("create", "created"))


def test_a_join_cut_short_is_finished_without_duplicates(tmp_path, capsys):
    with FaultServer(batches=["errors"]) as srv:
        assert main(args(srv, tmp_path)) == 0
        run = tmp_path / "run"
        state = json.loads((run / "batches.json").read_text())
        for s in state["shards"]:
            s["joined"] = False   # as when kill -9 lands in the middle of the join
        (run / "batches.json").write_text(json.dumps(state))
        whole = (run / "collected.jsonl").read_text().splitlines(keepends=True)
        (run / "collected.jsonl").write_text("".join(whole[:3]) + whole[3][:30])
        sent = len(posts(srv))
        assert main(args(srv, tmp_path)) == 0
        assert len(posts(srv)) == sent
    assert_each_once(tmp_path, 8)
    assert "torn" in capsys.readouterr().err


def test_detach_then_status_then_join(tmp_path, capsys):
    with FaultServer() as srv:
        argv = args(srv, tmp_path, "--batch-size", "5")
        assert main(argv + ["--detach"]) == 0
        assert len(srv.batches) == 2 and not (tmp_path / "run" / "collected.jsonl").exists()
        assert main(argv + ["--detach"]) == 0 and len(srv.batches) == 2
        capsys.readouterr()
        assert main(["collect", "--run", str(tmp_path / "run"), "--batch-status"]) == 0
        out = capsys.readouterr().out
        assert "batch_0001" in out and "batch_0002" in out and "in_progress" in out
        assert main(argv) == 0
    assert_each_once(tmp_path, 8)


def test_budget_stops_planning_before_the_cap(tmp_path, capsys):
    with FaultServer() as srv:
        argv = args(srv, tmp_path, "--max-total-tokens", "300", n=10)
        assert main(argv) == 0
        ok, _ = records(tmp_path)
        assert 0 < len(ok) < 20 and "max-total-tokens" in capsys.readouterr().out
        assert json.loads((tmp_path / "run" / "collect_stats.json").read_text())["budget_stopped"]
        batches = len(srv.batches)
        assert main(argv) == 0 and len(srv.batches) == batches   # the cap holds across re-runs


def test_dry_run_states_the_saving(tmp_path, capsys):
    with FaultServer() as srv:
        assert main(args(srv, tmp_path, "--dry-run")) == 0
        assert not srv.calls and not (tmp_path / "run").exists()
    out = capsys.readouterr().out
    assert "8 requests" in out and "1 batch(es)" in out and "50% of the online price" in out


def test_batch_needs_a_model_and_one_mode(tmp_path, capsys):
    assert main(["collect", "--seeds", str(seeds_file(tmp_path)), "--run", str(tmp_path / "r"), "--batch"]) == 2
    assert "--teacher-model" in capsys.readouterr().err
    assert main(["collect", "--batch-status", "--detach", "--teacher-model", "m"]) == 2
    assert "at most one" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_multi_teacher_batches_ask_one_model_each(tmp_path):
    with FaultServer() as a, FaultServer() as b:
        cfg = tmp_path / "teachers.yaml"
        cfg.write_text(f"teachers:\n  - {{model: alpha, base_url: '{a.url}'}}\n"
                       f"  - {{model: beta, base_url: '{b.url}'}}\n")
        assert main(["collect", "--config", str(cfg), "--seeds", str(seeds_file(tmp_path, 3)), "--run",
                     str(tmp_path / "run"), "--batch", "--poll", "0.05"]) == 0
        assert len(a.batches) == len(b.batches) == 1
    ok, _ = assert_each_once(tmp_path, 6)
    for p in (tmp_path / "run" / "batch_input").glob("*.jsonl"):
        assert len({x["body"]["model"] for x in lines(p)}) == 1
    assert Counter(r["teacher"]["model"] for r in ok) == {"alpha": 3, "beta": 3}


def test_api_key_is_used_but_never_written(tmp_path, monkeypatch, capsys):
    secret = "sk-test-DO-NOT-WRITE-batch-51c2"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FaultServer(batches=["expire"]) as srv:
        assert main(args(srv, tmp_path)) == 0
    assert srv.calls and {c[2] for c in srv.calls} == {f"Bearer {secret}"}
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    for f in (tmp_path / "run").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def vllm_output(shard_path, out_path):
    """What `vllm run-batch -i SHARD -o OUT` writes: one line per request, here out of order, the
    first one failed (vllm: status 400 and the error as text)."""
    rows = []
    for i, req in enumerate(lines(shard_path)):
        if i == 0:
            rows.append({"id": f"vllm-{i}", "custom_id": req["custom_id"], "error": "model not found",
                         "response": {"status_code": 400, "request_id": f"vllm-batch-{i}"}})
        else:
            rows.append({"id": f"vllm-{i}", "custom_id": req["custom_id"], "error": None,
                         "response": {"status_code": 200, "request_id": f"vllm-batch-{i}",
                                      "body": answer_for(req["body"])}})
    out_path.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))


def test_file_only_then_vllm_import(tmp_path, capsys):
    with FaultServer() as srv:
        argv = [a for a in args(srv, tmp_path) if a != "--batch"]
        assert main(argv + ["--batch-file-only"]) == 0
        assert not srv.calls
    shard_path = tmp_path / "run" / "batch_input" / "offline-0000.jsonl"
    assert len(lines(shard_path)) == 8 and "vllm run-batch -i" in capsys.readouterr().out
    out = tmp_path / "out.jsonl"
    vllm_output(shard_path, out)
    assert main(argv + ["--batch-import", str(out)]) == 0
    ok, failed = assert_each_once(tmp_path, 8)
    assert len(ok) == 7 and failed[0]["error"] == "model not found"
    assert {r["teacher"]["batch_id"] for r in ok} == {"import:out.jsonl"} and set(ok[0]) == RECORD_KEYS
    assert main(argv + ["--batch-import", str(out)]) == 0   # again: nothing written twice
    assert_each_once(tmp_path, 8)
    assert main(argv + ["--batch-file-only"]) == 0   # every request has its record: no shard left
    assert not list((tmp_path / "run" / "batch_input").glob("offline-*"))


@pytest.mark.parametrize("content,where", [
    (None, "no such file"),
    ('{"custom_id": "a", "error": "x"}\n{"custom_id": ', ":2:"),                 # invalid JSON
    ('{"id": "x", "response": {"status_code": 200, "body": {}}}\n', ":1:"),    # no custom_id
    ('{"custom_id": "a", "response": {"status_code": 200}}\n', ":1:")])        # neither body nor error
def test_bad_import_files_are_refused_before_anything_is_written(tmp_path, capsys, content, where):
    out = tmp_path / "out.jsonl"
    if content is not None:
        out.write_text(content)
    with FaultServer() as srv:
        argv = [a for a in args(srv, tmp_path) if a != "--batch"]
        assert main(argv + ["--batch-import", str(out)]) == 2
    err = capsys.readouterr().err
    assert "out.jsonl" in err and where in err and not (tmp_path / "run").exists()
