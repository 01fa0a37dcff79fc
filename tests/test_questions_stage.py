"""`imitate seeds` against the tests' fault server (scripted answers) and the embedded teacher."""
import json

import pytest
from conftest import kill_9_after, run_cli
from fault_server import FaultServer
from seed_teacher import teacher

from imitate.cli import main

TOPICS = ["rain", "volcanoes", "tides", "owls", "bread", "glass", "magnets", "bees"]


def seeds_file(tmp_path, markers=()):
    """One seed per topic (two categories); a marker word appended to a seed lets the scripted
    teacher treat that seed's evolutions in a chosen way."""
    path = tmp_path / "from.jsonl"
    rows = []
    for i, topic in enumerate(TOPICS):
        q = f"Explain how {topic} work in nature and daily life."
        if i < len(markers):
            q = q[:-1] + f" ({markers[i]})."
        rows.append({"id": f"q{i}", "question": q, "category": ("science", "life")[i % 2], "language": "en"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def seeds(srv, tmp_path, *extra, run="run", markers=()):
    run = tmp_path / run
    args = ["questions", "--seeds", seeds_file(tmp_path, markers), "--run", run, "--teacher-url", srv.url,
            "--teacher-model", "t", "--concurrency", "2", *extra]
    return main(list(map(str, args))), run


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def stats(run):
    return json.loads((run / "questions_stats.json").read_text())


def prompts_sent(srv, needle):
    return sum(needle in r["body"]["messages"][-1]["content"] for r in srv.requests)


def test_self_instruct_writes_the_seed_format_and_collect_reads_it(tmp_path):
    with FaultServer(answer=teacher()) as srv:
        code, run = seeds(srv, tmp_path, "--method", "self-instruct", "--n", "7", "--per-request", "3")
        assert code == 0
        recs = lines(run / "questions.jsonl")
        assert len(recs) == 7 and len({r["id"] for r in recs}) == 7
        for r in recs:
            assert r["method"] == "self-instruct" and r["round"] == 1 and r["language"] == "en"
            assert r["category"] in ("science", "life")
            assert r["question"].startswith("Why does ") and r["question"].endswith("matter?")   # numbering stripped
        s = stats(run)
        assert s["written"] == 7 and s["sent"] == s["requests_total"] == 4 and s["drops"] == {}
        assert s["accepted"] == s["candidates"] == 12 and s["surplus"] == 5
        # the requests alternate categories and show seeds of that category as examples
        sent = [r["body"]["messages"][0]["content"] for r in srv.requests]
        assert sum('category "life"' in p for p in sent) == sum('category "science"' in p for p in sent) == 2
        assert all("1. Explain how" in p for p in sent)
        assert main(["collect", "--seeds", str(run / "questions.jsonl"), "--run", str(run), "--teacher-url", srv.url,
                     "--teacher-model", "t", "--max-tokens", "16"]) == 0
    collected = lines(run / "collected.jsonl")
    assert sorted(r["seed_id"] for r in collected) == sorted(r["id"] for r in recs)


def test_self_instruct_drop_reasons_are_counted_and_explained(tmp_path):
    bad = ["Explain how rain work in nature and daily life!",     # near-duplicate of a seed
           "Why rain?", "Describe the image below in detail.", "What is this?",
           "Why do glaciers move slowly downhill?", "Why do glaciers move so slowly downhill?"]
    listing = "Here you go:\n" + "\n".join(f"{i}. {q}" for i, q in enumerate(bad, 1))
    with FaultServer(answer=lambda body: listing) as srv:
        code, run = seeds(srv, tmp_path, "--n", "1", "--per-request", "6", "--rounds", "1")
    assert code == 0
    s = stats(run)
    assert s["drops"] == {"duplicate": 2, "too_short": 1, "needs_media": 1, "stopwords_only": 1}
    assert [r["question"] for r in lines(run / "questions.jsonl")] == ["Why do glaciers move slowly downhill?"]
    dropped = {d["question"]: d for d in lines(run / "questions_dropped.jsonl")}
    assert dropped["Why do glaciers move so slowly downhill?"]["drop_reason"] == "duplicate"
    assert "glaciers" in dropped["Why do glaciers move so slowly downhill?"]["evidence"]
    assert dropped["Describe the image below in detail."]["evidence"] == "mentions 'image below'"


def test_evol_eliminates_by_each_rule(tmp_path):
    special = {"mk-copy": "#Rewritten Prompt#: $Q Make the given prompt harder.",
               "mk-apology": "I'm sorry, but I cannot rewrite this prompt.",
               "mk-stop": "What is this, and why?",
               "mk-same": "$Q",
               "mk-media": "$Q Answer using the attached file."}
    markers = list(special) + ["mk-equal", "mk-sorry", "mk-good"]
    with FaultServer(answer=teacher(special, judge={"mk-equal": "Equal"}, sorry=["mk-sorry"])) as srv:
        code, run = seeds(srv, tmp_path, "--method", "evol", "--n", "8", "--rounds", "1", markers=markers)
    assert code == 0
    s = stats(run)
    assert s["drops"] == {"needs_media": 1, "stopwords_only": 1, "copied_prompt": 1, "apology": 1,
                          "answer_sorry": 1, "no_gain": 2}
    [good] = lines(run / "questions.jsonl")
    assert "mk-good" in good["question"] and good["parent_id"] == "q7" and good["round"] == 1
    assert good["method"] == "evol" and good["operation"] and good["category"] == "life"
    evidence = {d["evidence"] for d in lines(run / "questions_dropped.jsonl") if d["drop_reason"] == "no_gain"}
    assert evidence == {"identical to its parent", "judge: 'Equal'"}
    # the judge saw only the survivors of the cheap rules, the answer check only the judge's survivors
    assert prompts_sent(srv, "Your Judgement") == 3 and s["requests_total"] == 8 + 3 + 2


def test_evol_no_judge_uses_similarity_to_the_parent(tmp_path):
    special = {"mk-close": "$Q Be brief."}
    with FaultServer(answer=teacher(special)) as srv:
        code, run = seeds(srv, tmp_path, "--method", "evol", "--n", "8", "--rounds", "1", "--no-judge",
                          "--no-answer-check", markers=["mk-close"] * 8)
    assert code == 0 and prompts_sent(srv, "Your Judgement") == 0 and srv.count() == 8
    assert stats(run)["drops"] == {"no_gain": 8}
    assert all("ROUGE-L" in d["evidence"] for d in lines(run / "questions_dropped.jsonl"))


def test_failed_evolution_goes_back_to_the_pool(tmp_path):
    refused = set()
    base = teacher()

    def answer(body):   # refuses each question's first evolution only
        prompt = body["messages"][-1]["content"]
        if "#Given Prompt#" in prompt and "#Rewritten Prompt#: Explain" not in prompt:
            q = prompt.split("#Given Prompt#:\n")[1].split("\n")[0]
            if q not in refused:
                refused.add(q)
                return "I'm sorry, I cannot do that."
        return base(body)
    with FaultServer(answer=answer) as srv:
        code, run = seeds(srv, tmp_path, "--method", "evol", "--n", "4", "--rounds", "2")
    assert code == 0
    recs = lines(run / "questions.jsonl")
    assert stats(run)["drops"] == {"apology": 2}
    assert len(recs) == 2 and {r["round"] for r in recs} == {2}
    assert {r["parent_id"] for r in recs} <= {f"q{i}" for i in range(8)}   # the seeds themselves, evolved again


def test_transient_errors_are_retried(tmp_path):
    with FaultServer(["429", "500"], answer=teacher()) as srv:
        code, run = seeds(srv, tmp_path, "--n", "3", "--per-request", "3")
    assert code == 0
    s = stats(run)
    assert s["retries"] == 2 and s["failed"] == 0 and s["written"] == 3 and srv.count() == s["sent"] + 2


def test_requests_that_fail_for_good_are_listed(tmp_path):
    with FaultServer(always="500", answer=teacher()) as srv:
        code, run = seeds(srv, tmp_path, "--n", "3", "--per-request", "3", "--max-attempts", "2", "--rounds", "1")
    assert code == 0
    assert stats(run)["failed"] == 2 and stats(run)["drops"] == {"request_failed": 2}
    assert len(lines(run / "questions_failed.jsonl")) == 2 and lines(run / "questions.jsonl") == []


def test_fatal_error_aborts(tmp_path, capsys):
    with FaultServer(always="401") as srv:
        code, run = seeds(srv, tmp_path, "--n", "5", "--concurrency", "1")
    assert code == 1 and srv.count() == 1
    assert "401" in capsys.readouterr().out and stats(run)["aborted"]


def test_budget_stop_then_resume_with_a_larger_budget(tmp_path, capsys):
    with FaultServer(answer=teacher()) as srv:
        code, run = seeds(srv, tmp_path, "--method", "evol", "--n", "6", "--rounds", "3", "--concurrency", "1",
                          "--max-total-tokens", "3000")
        assert code == 0 and stats(run)["budget_stopped"]
        assert "--max-total-tokens" in capsys.readouterr().out
        first = srv.count()
        assert 0 < first < 18
        code, _ = seeds(srv, tmp_path, "--method", "evol", "--n", "6", "--rounds", "3")
    assert code == 0
    s = stats(run)
    assert not s["budget_stopped"] and s["skipped_existing"] == first and s["sent"] == srv.count() - first
    assert s["written"] == 6


def test_kill_9_then_resume_sends_nothing_twice(tmp_path):
    conc = 3
    with FaultServer(answer=teacher(), delay=0.05) as srv:
        args = ["questions", "--seeds", str(seeds_file(tmp_path)), "--run", str(tmp_path / "run"), "--method", "evol",
                "--n", "16", "--rounds", "2", "--teacher-url", srv.url, "--teacher-model", "t",
                "--concurrency", str(conc)]
        log = tmp_path / "run" / "questions_requests.jsonl"
        kill_9_after(args, log, 12)
        before = len(lines(log))
        assert 12 <= before < 48, "the kill must land mid-run"
        assert main(args) == 0
        answered = [r["id"] for r in lines(log)]
        assert len(answered) == len(set(answered)) == stats(tmp_path / "run")["requests_total"]
        assert srv.count() <= len(answered) + conc      # only requests in flight at the kill were paid twice
        assert stats(tmp_path / "run")["skipped_existing"] == before
        sent = srv.count()
        assert main(args) == 0
        assert srv.count() == sent and stats(tmp_path / "run")["sent"] == 0     # a third run sends nothing
        # the interrupted run ends where an uninterrupted one does
        clean = [a if a != str(tmp_path / "run") else str(tmp_path / "clean") for a in args]
        assert main(clean) == 0
    assert (tmp_path / "run" / "questions.jsonl").read_text() == (tmp_path / "clean" / "questions.jsonl").read_text()


BAD = {"invalid_json": (b'{"question": "ok"}\n{"question": "broken"\n', ":2:", "invalid JSON"),
       "missing_question": (b'{"question": "ok"}\n{"id": "x"}\n', ":2:", "question"),
       "empty_file": (b"", "from.jsonl", "no seeds")}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_from_exits_2_and_writes_nothing(tmp_path, case):
    content, where, what = BAD[case]
    src = tmp_path / "from.jsonl"
    src.write_bytes(content)
    with FaultServer() as srv:
        r = run_cli("questions", "--seeds", src, "--run", tmp_path / "run", "--teacher-url", srv.url, "--teacher-model", "m")
    assert r.returncode == 2 and where in r.stderr and what.lower() in r.stderr.lower(), r.stderr
    assert "Traceback" not in r.stderr and srv.count() == 0 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags,msg", [(["--similarity-threshold", "0"], "--similarity-threshold"),
                                       (["--n", "0"], "--n"), (["--max-words", "2"], "--max-words"),
                                       (["--method", "magic"], "--method"),
                                       (["--teacher-url", "http://127.0.0.1:9/v1"], "--teacher-model")])
def test_bad_settings(tmp_path, flags, msg):
    r = run_cli("questions", "--run", tmp_path / "run", *flags)
    assert r.returncode == 2 and msg in r.stderr and not (tmp_path / "run").exists()


def test_bad_prompt_template(tmp_path):
    tpl = tmp_path / "t.txt"
    tpl.write_text("Write $n questions about $topic.")
    r = run_cli("questions", "--run", tmp_path / "run", "--self-instruct-prompt", tpl)
    assert r.returncode == 2 and "$category" in r.stderr and "t.txt" in r.stderr


def test_help_lists_the_flags():
    r = run_cli("questions", "--help")
    assert r.returncode == 0
    for flag in ("--seeds", "--method", "--n", "--rounds", "--teacher-url", "--teacher-model", "--no-judge",
                 "--concurrency", "--max-tokens", "--temperature", "--max-total-tokens", "--similarity-threshold",
                 "--rng-seed", "--config"):
        assert flag in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize("method", ["self-instruct", "evol"])
def test_on_the_embedded_teacher(tmp_path, embedded_teacher, method):
    args = ["questions", "--seeds", str(seeds_file(tmp_path)), "--run", str(tmp_path / "run"), "--method", method,
            "--n", "3", "--rounds", "1", "--per-request", "3", "--max-tokens", "80", "--answer-tokens", "24",
            "--teacher-url", embedded_teacher.base_url, "--teacher-model", embedded_teacher.model]
    assert main(args) == 0
    run = tmp_path / "run"
    s = stats(run)
    assert s["sent"] == s["succeeded"] == s["requests_total"] > 0 and s["completion_tokens"] > 0
    recs = lines(run / "questions.jsonl")
    assert len(recs) == s["written"] <= 3
    assert s["candidates"] == s["accepted"] + sum(s["drops"].values())
    for r in recs:   # the 135M model writes poor questions: check the form, not the quality
        assert isinstance(r["question"], str) and len(r["question"].split()) >= 3
        assert r["method"] == method and r["category"] in ("science", "life") and r["id"]
    assert len(lines(run / "questions_requests.jsonl")) == s["sent"]
    assert main(args) == 0 and stats(run)["sent"] == 0      # a re-run re-uses every answer
    assert (run / "questions.jsonl").read_text() == "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                                                       for r in recs)


def test_config_file_and_include_source(tmp_path):
    cfg = tmp_path / "seeds.yaml"
    cfg.write_text("method: evol\nn: 2\nrounds: 1\ninclude_source: true\njudge: false\n")
    with FaultServer(answer=teacher()) as srv:
        code, run = seeds(srv, tmp_path, "--config", cfg)
    assert code == 0
    recs = lines(run / "questions.jsonl")
    assert [r["method"] for r in recs] == ["source"] * 8 + ["evol"] * 2
    assert recs[0]["id"] == "q0" and recs[0]["round"] == 0
    assert prompts_sent(srv, "Your Judgement") == 0
    assert json_load(run / "questions_config.json")["method"] == "evol"


def json_load(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("method", ["self-instruct", "evol"])
def test_image_seeds_are_refused_not_stripped(tmp_path, capsys, method):
    from imitate.vision import drawn
    seeds = drawn.draw(tmp_path / "set", n_per_kind=1)
    with open(seeds, "a") as f:   # a text seed among them does not make the images go away
        f.write('{"id": "t1", "question": "Name three rivers in Europe."}\n')
    with FaultServer() as srv:
        assert main(["questions", "--seeds", str(seeds), "--run", str(tmp_path / "run"), "--method", method,
                     "--teacher-url", srv.url, "--teacher-model", "vlm"]) == 2
    err = capsys.readouterr().err
    assert "5 seeds carry images (the first: 'circles-00')" in err and "give image seeds to collect" in err
    assert str(seeds) in err and srv.count() == 0 and not (tmp_path / "run").exists()
