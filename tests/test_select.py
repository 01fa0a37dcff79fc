"""The select stage: the budget, the baselines (length, seeded random), IFD on a tiny model with resume,
the judge through the fault server (unparsed replies counted, nothing asked twice), diversity, the
category cap, and finetune reading selected.jsonl."""
from __future__ import annotations

import json

import pytest
from fault_server import FaultServer

from imitate.cli import main
from imitate.data.records import read_jsonl
from imitate.rundir import RunDir
from imitate.select import ifd, rank


def record(i: int, answer: str, category: str = "general") -> dict:
    return {"id": f"r{i}", "category": category, "messages": [
        {"role": "user", "content": f"Question number {i}: tell me about topic {i}."},
        {"role": "assistant", "content": answer}]}


def kept(run, records) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


ANSWERS = [" ".join(f"word{j}" for j in range(3 + 4 * i)) for i in range(8)]   # lengths 3, 7, ..., 31 words


def test_length_keeps_the_longest_and_says_why_the_rest_went(tmp_path):
    run = tmp_path / "run"
    kept(run, [record(i, a) for i, a in enumerate(ANSWERS)])
    assert main(["select", "--run", str(run), "--by", "length", "--keep", "3"]) == 0
    assert [r["id"] for r in read_jsonl(run / "selected.jsonl")] == ["r5", "r6", "r7"]
    rows = {r["id"]: r for r in read_jsonl(run / "scores.jsonl")}
    assert rows["r7"]["rank"] == 1 and rows["r7"]["selected"] and rows["r7"]["scores"] == {"length": 31.0}
    assert rows["r0"]["reason"] == "budget" and rows["r0"]["rank"] == 8
    stats = json.loads((run / "select_stats.json").read_text())
    assert stats["selected"] == 3 and stats["left_out"] == {"budget": 5}


def test_random_selects_the_same_records_for_one_seed(tmp_path):
    records = [record(i, a) for i, a in enumerate(ANSWERS * 3)]
    picks = []
    for n, seed in enumerate((7, 7, 8)):
        run = tmp_path / f"run{n}"
        kept(run, records)
        assert main(["select", "--run", str(run), "--by", "random", "--keep-share", "0.25",
                     "--rng-seed", str(seed), "--cap-ratio", "0"]) == 0
        picks.append([r["line"] for r in read_jsonl(run / "scores.jsonl") if r["selected"]])
    assert len(picks[0]) == 6 and picks[0] == picks[1] and picks[0] != picks[2]


@pytest.mark.parametrize("args, message", [
    (["--keep", "0"], "--keep must be at least 1"),
    (["--keep-share", "1.5"], "--keep-share must be in (0, 1]"),
    (["--keep", "3", "--keep-share", "0.5"], "not both"),
    (["--by", "ifd,bogus"], "--by takes one or more of"),
    (["--by", "length,length"], "named twice"),
])
def test_a_malformed_budget_or_scorer_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    run = tmp_path / "run"
    kept(run, [record(0, "an answer")])
    assert main(["select", "--run", str(run), *args]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["kept.jsonl"]


def test_diversity_skips_a_near_duplicate_of_a_better_record(tmp_path):
    long = "The river flows to the sea through the green valley where farmers grow wheat and corn every year"
    records = [record(0, long + " and more."), record(1, long + " and more!"), record(2, "Short distinct reply.")]
    records[1]["messages"][0] = records[0]["messages"][0]   # the same question
    run = tmp_path / "run"
    kept(run, records)
    assert main(["select", "--run", str(run), "--by", "length", "--keep", "2", "--diversity"]) == 0
    rows = {r["id"]: r for r in read_jsonl(run / "scores.jsonl")}
    assert rows["r1"]["reason"].startswith("near_duplicate: near r0")
    assert rows["r0"]["selected"] and rows["r2"]["selected"]


def test_the_category_cap_leaves_room_for_small_categories():
    records = [record(i, a, "big") for i, a in enumerate(ANSWERS)] + [record(9, "tiny answer", "small")]
    left = rank.choose(records, rank.ranks(rank.length(records)), 4, diversity=None, cap_ratio=1.0)
    assert 8 not in left   # the small category's record is taken although it ranks last
    assert sum(r.startswith("category_cap") for r in left.values()) == 6


def test_ranks_share_ties_and_combine_by_their_mean():
    assert rank.ranks([3.0, 1.0, 3.0, None]) == [0.5, 2.0, 0.5, None]
    assert rank.combine({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, None]}) == [1.0, 1.0, None]


def test_ifd_on_a_tiny_model_resumes_from_its_cache(tmp_path, tiny, monkeypatch):
    from imitate.eval import likelihood

    records = [record(i, a) for i, a in enumerate(ANSWERS[:6])]
    cache = tmp_path / "select_ifd.jsonl"
    full = ifd.score(str(tiny), records, tmp_path / "fresh.jsonl", batch_size=4)
    ifd.score(str(tiny), records[:2], cache, batch_size=4)   # a run killed after two records
    with open(cache, "a") as f:
        f.write('{"id": "torn')                               # ... in the middle of a line
    seen = []
    real = likelihood.answer_nll
    monkeypatch.setattr(likelihood, "answer_nll", lambda m, t, convs, *a, **k: seen.append(len(convs)) or real(
        m, t, convs, *a, **k))
    resumed = ifd.score(str(tiny), records, cache, batch_size=4)
    assert sum(seen) == 2 * 4   # only the 4 missing records, given and alone
    for key, row in full.items():
        assert resumed[key]["ifd"] == pytest.approx(row["ifd"], rel=1e-4)
        assert 0 < row["ifd"] and row["tokens"] > 0


def test_ifd_stage_records_unscorable_answers(tmp_path, tiny):
    run = tmp_path / "run"
    records = [record(i, a) for i, a in enumerate(ANSWERS[:4])]
    records[0]["messages"][0]["content"] = "Tell me about this: " + "very long context " * 100   # > 128 tokens
    kept(run, records)
    assert main(["select", "--run", str(run), "--model", str(tiny), "--keep", "2", "--max-length", "128"]) == 0
    rows = read_jsonl(run / "scores.jsonl")
    assert rows[0]["reason"] == "unscorable: no answer token within --max-length 128" and rows[0]["rank"] is None
    assert all(r["reason"] is None or r["reason"].split(":")[0] in ("budget", "ifd>=1") for r in rows[1:])
    assert len(read_jsonl(run / "select_ifd.jsonl")) == 4


def test_the_judge_counts_unparsed_replies_and_pays_once(tmp_path, capsys):
    replies = {"r0": "Score: 5\nExact.", "r1": "I think it is fine.", "r2": "Score: 2/5 - vague", "r3": "Score: 9"}

    def answer(body):
        text = body["messages"][-1]["content"]
        return next(v for k, v in replies.items() if f"number {k[1:]}:" in text)

    run = tmp_path / "run"
    kept(run, [record(i, a) for i, a in enumerate(ANSWERS[:4])])
    args = ["select", "--run", str(run), "--by", "judge", "--keep", "1", "--cap-ratio", "0"]
    with FaultServer(answer=answer) as srv:
        assert main([*args, "--teacher-url", srv.url, "--teacher-model", "t"]) == 0
        assert main([*args, "--teacher-url", srv.url, "--teacher-model", "t"]) == 0
        assert len(srv.requests) == 4   # the second run re-used every rating
    rows = {r["id"]: r for r in read_jsonl(run / "scores.jsonl")}
    assert rows["r0"]["selected"] and rows["r0"]["scores"] == {"judge": 5.0}
    assert rows["r2"]["scores"] == {"judge": 2.0} and rows["r2"]["reason"] == "budget"
    for unparsed in ("r1", "r3"):   # no score, and 9 is off the 0-5 scale: never a default
        assert rows[unparsed]["scores"] == {"judge": None} and rows[unparsed]["reason"].startswith("unparsed")
    judge = json.loads((run / "select_stats.json").read_text())["scorers"]["judge"]
    assert judge["rated"] == 2 and judge["unparsed"] == 2 and judge["failed"] == 0


def test_finetune_trains_on_selected_when_select_ran(tmp_path, tiny, capsys):
    from imitate.stages import finetune

    run = tmp_path / "run"
    kept(run, [record(i, a) for i, a in enumerate(ANSWERS)])
    cfg = finetune.Config(run=str(run), student=str(tiny), max_steps=1)
    assert finetune.records_path(cfg) == RunDir(run).kept
    assert main(["select", "--run", str(run), "--by", "length", "--keep", "4"]) == 0
    assert finetune.records_path(cfg) == RunDir(run).selected
    _, records = finetune.load_records(cfg)
    assert len(records) == 4


def test_report_and_notebook_views_show_the_selection(tmp_path):
    from imitate import inspect as insp

    run = tmp_path / "run"
    kept(run, [record(i, a) for i, a in enumerate(ANSWERS)])
    assert main(["select", "--run", str(run), "--by", "length", "--keep", "3"]) == 0
    data = insp.load_run(run)
    table = insp.select_examples(data, n=2)
    assert list(table["selected"]) == [True, True, False, False]
    assert table["answer"].iloc[0] == ANSWERS[7] and table["reason"].iloc[2] == "budget"
    assert insp.fig_select(data).axes[0].get_title() == "length"
    assert main(["report", "--run", str(run)]) == 0
    section = (run / "report.html").read_text().split("<h2>Selection</h2>")[1].split("<h2>")[0]
    assert section.count("<img") == 1 and "budget" in section   # the figure, and the examples' reasons


def test_a_judge_request_that_fails_leaves_its_record_unanswered(tmp_path):
    run = tmp_path / "run"
    kept(run, [record(i, a) for i, a in enumerate(ANSWERS[:2])])
    with FaultServer(always="500") as srv:
        assert main(["select", "--run", str(run), "--by", "judge", "--keep", "1", "--teacher-url", srv.url,
                     "--teacher-model", "t", "--max-attempts", "1"]) == 1   # nothing selected: an error
    rows = read_jsonl(run / "scores.jsonl")
    assert [r["reason"] for r in rows] == ["unanswered: the judge request failed"] * 2
    assert read_jsonl(run / "selected.jsonl") == []
