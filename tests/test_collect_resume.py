"""Crash safety: kill -9 mid-run and re-run; torn last lines; nothing paid twice."""
import json
from collections import Counter

from conftest import kill_9_after
from fault_server import FaultServer
from test_collect_faults import lines, seeds_file

from imitate.cli import main


def cmd(srv, tmp_path, seeds, run, conc):
    return ["collect", "--seeds", str(seeds), "--run", str(run), "--teacher-url", srv.url,
            "--teacher-model", "m", "--concurrency", str(conc), "--max-tokens", "16", "--samples", "2"]


def test_kill_9_then_resume_pays_at_most_the_in_flight(tmp_path):
    n, conc = 30, 4
    seeds = seeds_file(tmp_path, n)
    run = tmp_path / "run"
    out = run / "collected.jsonl"
    with FaultServer(delay=0.1) as srv:
        args = cmd(srv, tmp_path, seeds, run, conc)
        kill_9_after(args, out, 12)
        first = len(lines(out))
        assert 12 <= first < 2 * n, "the kill must land mid-run"

        assert main(args) == 0
        recs = lines(out)
        per_pair = Counter((r["seed_id"], r["sample"]) for r in recs)
        assert len(per_pair) == 2 * n and set(per_pair.values()) == {1}
        assert srv.count() <= 2 * n + conc   # only the answers in flight at the kill were paid twice
        stats = json.loads((run / "collect_stats.json").read_text())
        assert stats["skipped_existing"] == first

        sent = srv.count()
        assert main(args) == 0
        assert srv.count() == sent   # a third run sends nothing
        assert len(lines(out)) == 2 * n


def test_torn_last_line_is_repaired(tmp_path, capsys):
    seeds = seeds_file(tmp_path, 4)
    run = tmp_path / "run"
    with FaultServer() as srv:
        args = cmd(srv, tmp_path, seeds, run, 1)
        assert main(args) == 0
        out = run / "collected.jsonl"
        whole = out.read_text().splitlines(keepends=True)
        out.write_text("".join(whole[:-1]) + whole[-1][:40])   # a write torn by kill -9
        sent = srv.count()
        assert main(args) == 0
    assert "torn" in capsys.readouterr().err
    assert srv.count() == sent + 1   # only the torn answer is asked again
    recs = lines(out)
    assert len(recs) == 8 and len({r["id"] for r in recs}) == 8
