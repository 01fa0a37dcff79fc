import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from imitate.errors import UserError
from imitate.stages.filter import Config, run
from imitate.filters.apply import build_filters, per_record

FIX = Path(__file__).parent / "fixtures" / "filter"


def read(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(FIX / "run" / "collected.jsonl", d / "collected.jsonl")
    return d


def test_stage_on_a_run_folder(run_dir):
    assert run(Config(run=str(run_dir), balance="none", workers=1)) == 0
    src = read(run_dir / "collected.jsonl")
    kept, dropped = read(run_dir / "kept.jsonl"), read(run_dir / "dropped.jsonl")
    assert sorted(r["id"] for r in kept + dropped) == sorted(r["id"] for r in src)
    by_id = {r["id"]: r for r in src}
    for r in kept:
        assert r == by_id[r["id"]]                        # kept records are unchanged
    for r in dropped:
        filt, code = r["drop_reason"].split(":")
        assert filt in Config().filters and code and r["evidence"]
        assert {k: v for k, v in r.items() if k not in ("drop_reason", "evidence")} == by_id[r["id"]]
    stats = json.loads((run_dir / "filter_stats.json").read_text())
    assert stats["input"] == len(src) and stats["kept"] + stats["dropped"] == len(src)
    assert sum(stats["reasons"].values()) == len(dropped)
    assert stats["filters"] == Config().filters and stats["balance"] == "none"
    assert stats["thresholds"]["dedup"]["threshold"] == 0.8
    assert sum(stats["categories_after"].values()) == len(kept)
    assert json.loads((run_dir / "filter_config.json").read_text())["balance"] == "none"
    assert "meaningless:empty" in stats["reasons"] and "language:mismatch" in stats["reasons"]


def test_filters_choose_and_order(run_dir):
    run(Config(run=str(run_dir), filters=["none"], balance="none", workers=1))
    assert len(read(run_dir / "dropped.jsonl")) == 0
    run(Config(run=str(run_dir), filters=["refusal", "meaningless"], balance="none", workers=1))
    reasons = {r["drop_reason"].split(":")[0] for r in read(run_dir / "dropped.jsonl")}
    assert reasons == {"refusal", "meaningless"}
    with pytest.raises(UserError, match="unknown filter"):
        Config(filters=["nonsense"])


def _categories(sizes):
    recs = []
    for cat, n in sizes.items():
        for i in range(n):
            answer = f"Answer {i} about {cat}: " + "a useful and complete sentence here. " * (1 + i % 3)
            recs.append({"id": f"{cat}{i}", "seed_id": f"{cat}-s{i // 2}", "category": cat,
                         "messages": [{"role": "user", "content": f"Question {i} on {cat}?"},
                                      {"role": "assistant", "content": answer}]})
    return recs


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


def test_balance_cap_and_uniform(tmp_path):
    src = tmp_path / "in.jsonl"
    _write(src, _categories({"math": 30, "code": 10, "chat": 8, "poetry": 4}))
    run(Config(run=str(tmp_path / "cap"), input=str(src), filters=["none"], balance="cap", cap_ratio=2.0))
    stats = json.loads((tmp_path / "cap" / "filter_stats.json").read_text())
    assert stats["categories_after"] == {"chat": 8, "code": 10, "math": 18, "poetry": 4}   # median 9
    assert stats["reasons"] == {"balance:cap": 12}
    assert stats["underfilled"]["poetry"] == {"records": 4, "median": 9.0, "more_seeds": 3}
    kept = read(tmp_path / "cap" / "kept.jsonl")
    math_seeds = {r["seed_id"] for r in kept if r["category"] == "math"}
    assert len(math_seeds) == 15            # one answer per seed question before second samples
    run(Config(run=str(tmp_path / "uni"), input=str(src), filters=["none"], balance="uniform"))
    stats = json.loads((tmp_path / "uni" / "filter_stats.json").read_text())
    assert set(stats["categories_after"].values()) == {4}
    again = tmp_path / "cap2"
    run(Config(run=str(again), input=str(src), filters=["none"], balance="cap"))
    assert read(again / "kept.jsonl") == kept                                  # seeded: same choice


def test_quality_bar_on_the_labelled_set(tmp_path):
    """At least 95% of bad records dropped and at most 5% of good ones, with --balance none."""
    run(Config(run=str(tmp_path), input=str(FIX / "labelled.jsonl"), balance="none", workers=1))
    kept, dropped = read(tmp_path / "kept.jsonl"), read(tmp_path / "dropped.jsonl")
    assert len(kept) + len(dropped) >= 150
    bad = [r for r in kept + dropped if r["label"] == "bad"]
    good = [r for r in kept + dropped if r["label"] == "good"]
    recall = sum(r in dropped for r in bad) / len(bad)
    false_pos = sum(r in dropped for r in good) / len(good)
    assert recall >= 0.95, [r["id"] for r in bad if r in kept]
    assert false_pos <= 0.05, [(r["id"], r["drop_reason"]) for r in good if r in dropped]
    korean_good = [r for r in good if any("\uac00" <= ch <= "\ud7a3" for ch in r["messages"][-1]["content"])]
    assert len(korean_good) >= 10
    assert not [r for r in dropped if r in korean_good and r["drop_reason"].startswith("language")]


@pytest.mark.parametrize("lines,needle", [
    (['{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}',
      '{"messages": [oops'], ":2: invalid JSON"),
    (['{"id": "x"}'], ":1: record has no `messages`"),
    (['{"messages": [{"role": "user", "content": "hi"}]}'], ":1: record has no assistant turn"),
])
def test_cli_bad_input(tmp_path, lines, needle):
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli("filter", "--run", out, "--input", src)
    assert proc.returncode == 2
    assert f"{src}{needle}" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_cli_missing_file_and_success(tmp_path, run_dir):
    proc = run_cli("filter", "--run", tmp_path / "empty")
    assert proc.returncode == 2 and "collected.jsonl: no such file" in proc.stderr
    proc = run_cli("filter", "--run", run_dir, "--balance", "none", "--filters", "meaningless,refusal")
    assert proc.returncode == 0, proc.stderr
    assert "meaningless:empty" in proc.stdout and "category" in proc.stdout
    assert json.loads((run_dir / "filter_stats.json").read_text())["filters"] == ["meaningless", "refusal"]
    proc = run_cli("filter", "--run", run_dir, "--filters", "meaningless,bogus")
    assert proc.returncode == 2 and "unknown filter bogus" in proc.stderr


def test_per_record_pass_on_two_processes_matches_one():
    src = read(FIX / "labelled.jsonl")
    recs = (src * 32)[:5200]                                   # 5000+: the pool is used
    filters = [f for f in build_filters(Config(workers=2)) if f.per_record]
    one, two = per_record(recs, filters, 1), per_record(recs, filters, 2)
    assert one == two and len(one) > 1000
