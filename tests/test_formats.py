"""imitate.data.formats: one reader for every container, format detection, conversion to conversations
and to seed questions, and the errors for records that fit nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from imitate.data import formats, tables
from imitate.errors import UserError
from imitate.data.seeds import load_seeds
from imitate.data.formats import read_conversations

REAL = Path(__file__).parent / "fixtures" / "real"

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat, move, sleep."},
    {"instruction": "Classify the following into animals, plants, and minerals", "input": "Oak tree, copper ore, elephant",
     "output": "Animals: elephant. Plants: oak tree. Minerals: copper ore."},
]
DOLLY = [
    {"instruction": "When did Virgin Australia start operating?", "context": "Virgin Australia commenced services "
     "on 31 August 2000 as Virgin Blue.", "response": "On 31 August 2000.", "category": "closed_qa"},
    {"instruction": "Which is a species of fish? Tope or Rope", "context": "", "response": "Tope",
     "category": "classification"},
]
SELF_INSTRUCT = [
    {"id": "seed_task_0", "name": "breakfast_suggestion", "instruction": "Suggest a breakfast without eggs.",
     "instances": [{"input": "", "output": "Oatmeal with banana and a protein shake, about 700 calories in all, "
                                           "with bacon on the side."}], "is_classification": False},
    {"id": "seed_task_1", "name": "antonym", "instruction": "Give the antonym of the word.",
     "instances": [{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"},
                   {"input": "", "output": "Please give a word."}], "is_classification": False},
]
SHAREGPT = [
    {"id": "c1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                                   {"from": "human", "value": "Name a prime."}, {"from": "gpt", "value": "7"}],
     "system": "Be brief."},
    {"id": "c2", "conversations": [{"from": "system", "value": "Be exact."}, {"from": "user", "value": "2+2?"},
                                   {"from": "assistant", "value": "4"}]},
]
MESSAGES = [{"id": "m1", "category": "math", "reference": "4",
             "messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _array(path, rows):
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _err(fn, *args, **kw) -> str:
    with pytest.raises(UserError) as e:
        fn(*args, **kw)
    return str(e.value)


def user(text):
    return {"role": "user", "content": text}


def bot(text):
    return {"role": "assistant", "content": text}


# ---------------------------------------------------------------- detection

@pytest.mark.parametrize("rows,want", [(MESSAGES, "messages"), (SHAREGPT, "sharegpt"), (ALPACA, "alpaca"),
                                       (DOLLY, "dolly"), (SELF_INSTRUCT, "self_instruct")])
def test_detect_from_first_record(rows, want):
    assert formats.detect(rows[0]) == want
    assert formats.detect(rows[0], seeds=True) == want


def test_detect_seeds_question_field_first_and_fallback():
    assert formats.detect({"question": "Why?", "messages": []}, seeds=True) == "question"
    assert formats.detect({"prompt": "Why?"}, seeds=True, question_field="prompt") == "question"
    assert formats.detect({"text": "Why?"}, seeds=True) == "question"   # nothing else fits: plain mode's errors
    assert formats.detect({"text": "Why?"}) is None
    assert formats.detect({"instruction": "Do it."}) is None           # an instruction alone is no answer


def test_detection_is_printed_once_per_file(tmp_path, capsys):
    path = _array(tmp_path / "alpaca_data.json", ALPACA)
    read_conversations(path)
    assert capsys.readouterr().err.strip() == f"read {path} as alpaca (JSON array, 2 records)"
    load_seeds(_jsonl(tmp_path / "d.jsonl", DOLLY), format="dolly")
    assert "as dolly (JSONL, 2 records)" in capsys.readouterr().err


# ---------------------------------------------------------------- conversations

def test_alpaca_conversations_join_input_and_keep_it():
    rows = ALPACA + [{"instruction": "Go on.", "input": "", "output": "Done.", "system": "Be kind.",
                      "history": [["Start a story.", "Once upon a time."]], "id": "x"}]
    recs = [r for _, r in formats.conversations(tables.Table("a.json", "JSON array", list(enumerate(rows, 1))),
                                                "alpaca")]
    assert recs[0] == {"messages": [user(ALPACA[0]["instruction"]), bot(ALPACA[0]["output"])]}
    assert recs[1]["messages"][0]["content"] == ("Classify the following into animals, plants, and minerals\n\n"
                                                 "Oak tree, copper ore, elephant")
    assert recs[1]["input"] == "Oak tree, copper ore, elephant"
    assert recs[2] == {"id": "x", "messages": [{"role": "system", "content": "Be kind."}, user("Start a story."),
                                               bot("Once upon a time."), user("Go on."), bot("Done.")]}


def test_dolly_conversations_keep_category(tmp_path):
    recs = [r for _, r in read_conversations(_jsonl(tmp_path / "d.jsonl", DOLLY))]
    assert recs[0]["messages"] == [user(DOLLY[0]["instruction"] + "\n\n" + DOLLY[0]["context"]),
                                   bot(DOLLY[0]["response"])]
    assert recs[0]["category"] == "closed_qa" and recs[0]["input"] == DOLLY[0]["context"]
    assert recs[1] == {"category": "classification", "messages": [user(DOLLY[1]["instruction"]), bot("Tope")]}


def test_sharegpt_roles_and_system(tmp_path):
    got = read_conversations(_jsonl(tmp_path / "s.jsonl", SHAREGPT))
    assert got[0] == (1, {"id": "c1", "messages": [{"role": "system", "content": "Be brief."}, user("Hi"),
                                                   bot("Hello!"), user("Name a prime."), bot("7")]})
    assert got[1] == (2, {"id": "c2", "messages": [{"role": "system", "content": "Be exact."}, user("2+2?"),
                                                   bot("4")]})


def test_self_instruct_answers_one_record_per_instance(tmp_path):
    got = read_conversations(_jsonl(tmp_path / "t.jsonl", SELF_INSTRUCT))
    assert [n for n, _ in got] == [1, 2, 2, 2]
    assert [r["id"] for _, r in got] == ["seed_task_0", "seed_task_1-1", "seed_task_1-2", "seed_task_1-3"]
    assert got[1][1]["messages"] == [user("Give the antonym of the word.\n\nhot"), bot("cold")]
    assert got[1][1]["input"] == "hot" and got[1][1]["name"] == "antonym"
    assert got[3][1]["messages"][0] == user("Give the antonym of the word.") and "input" not in got[3][1]


def test_messages_records_pass_unchanged(tmp_path):
    assert read_conversations(_jsonl(tmp_path / "m.jsonl", MESSAGES)) == [(1, MESSAGES[0])]


def test_same_records_in_every_container(tmp_path, capsys):
    rows = DOLLY + DOLLY[:1]
    want = [r for _, r in read_conversations(_jsonl(tmp_path / "a.jsonl", rows))]
    for path in (_array(tmp_path / "b.json", rows), _jsonl(tmp_path / "c.json", rows),
                 _parquet(tmp_path / "d.parquet", rows)):
        assert [r for _, r in read_conversations(path)] == want, path
    import csv
    with open(tmp_path / "e.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert [r for _, r in read_conversations(tmp_path / "e.csv")] == want
    from datasets import Dataset
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    assert [r for _, r in read_conversations(tmp_path / "saved")] == want
    err = capsys.readouterr().err
    for kind in ("JSONL", "JSON array", "Parquet", "CSV", "saved dataset"):
        assert f"as dolly ({kind}, 3 records)" in err


def test_forced_format(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", [{"instruction": "Say hi.", "response": "hi", "output": "hello"}])
    assert read_conversations(path)[0][1]["messages"][1] == bot("hi")               # detected: dolly
    assert read_conversations(path, "alpaca")[0][1]["messages"][1] == bot("hello")  # forced: alpaca
    assert _err(read_conversations, path, "sharegpt") == (
        f"{path}:1: record does not fit the sharegpt format (given with --format): no `conversations`; "
        "fields: instruction, response, output")
    assert "--format must be auto or one of" in _err(read_conversations, path, "question")


# ---------------------------------------------------------------- seeds

def test_alpaca_and_dolly_seeds_join_input(tmp_path):
    a, b = load_seeds(_array(tmp_path / "a.json", ALPACA))
    assert a["question"] == ALPACA[0]["instruction"] and "input" not in a and a["output"] == ALPACA[0]["output"]
    assert b["question"] == ALPACA[1]["instruction"] + "\n\n" + ALPACA[1]["input"]
    assert b["input"] == ALPACA[1]["input"] and b["category"] == "general" and "reference" not in b
    c, d = load_seeds(_jsonl(tmp_path / "d.jsonl", DOLLY))
    assert c["question"] == DOLLY[0]["instruction"] + "\n\n" + DOLLY[0]["context"]
    assert c["input"] == DOLLY[0]["context"] and c["category"] == "closed_qa" and c["response"]
    assert d["question"] == DOLLY[1]["instruction"] and "input" not in d and d["category"] == "classification"


def test_self_instruct_seeds(tmp_path):
    seeds = load_seeds(_jsonl(tmp_path / "t.jsonl", SELF_INSTRUCT))
    assert [s["id"] for s in seeds] == ["seed_task_0", "seed_task_1-1", "seed_task_1-2", "seed_task_1-3"]
    long_one, hot, up, plain = seeds
    assert long_one["question"] == "Suggest a breakfast without eggs." and "reference" not in long_one
    assert long_one["output"].startswith("Oatmeal") and long_one["name"] == "breakfast_suggestion"
    assert hot == {"id": "seed_task_1-1", "question": "Give the antonym of the word.\n\nhot", "category": "general",
                   "reference": "cold", "name": "antonym", "is_classification": False, "input": "hot"}
    assert up["reference"] == "down" and plain["question"] == "Give the antonym of the word."
    # two instances without input would ask the same question: asked once
    twice = {**SELF_INSTRUCT[1], "instances": [{"input": "", "output": "a"}, {"input": "", "output": "b"}]}
    assert [s["id"] for s in load_seeds(_jsonl(tmp_path / "u.jsonl", [twice]))] == ["seed_task_1"]


def test_conversation_seeds_ask_the_first_user_turn(tmp_path):
    (m,) = load_seeds(_jsonl(tmp_path / "m.jsonl", MESSAGES))
    assert m == {"id": "m1", "question": "What is 2+2?", "category": "math", "reference": "4"}
    a, b = load_seeds(_jsonl(tmp_path / "s.jsonl", SHAREGPT))
    assert (a["id"], a["question"], b["question"]) == ("c1", "Hi", "2+2?")


def test_question_mode_keeps_flags_and_other_fields(tmp_path):
    path = _jsonl(tmp_path / "q.jsonl", [{"prompt": "Why is the sky blue?", "topic": "science", "source": "me"}])
    (s,) = load_seeds(path, question_field="prompt", category_field="topic")
    assert s["question"] == "Why is the sky blue?" and s["category"] == "science" and s["source"] == "me"
    assert load_seeds(path, question_field="prompt", format="question")[0]["question"] == "Why is the sky blue?"


# ---------------------------------------------------------------- bad input

def test_record_fitting_no_format_names_file_line_and_fields(tmp_path):
    path = _jsonl(tmp_path / "x.jsonl", [{"prompt": "hi", "answer": "hello"}])
    msg = _err(read_conversations, path)
    assert msg.startswith(f"{path}:1: record has no `messages` list and fits no other known format")
    assert msg.endswith("fields: prompt, answer")
    path = _array(tmp_path / "x.json", [ALPACA[0], {"prompt": "hi"}])
    assert _err(read_conversations, path) == (
        f"{path}: record 2: record does not fit the alpaca format (detected from the first record): "
        "no `instruction` or `output`; fields: prompt")


def test_bad_values_name_the_record(tmp_path):
    path = _array(tmp_path / "a.json", [ALPACA[0], {**ALPACA[0], "output": ["a", "list"]}])
    assert _err(read_conversations, path) == f"{path}: record 2: `output` must be text, got list"
    path = _jsonl(tmp_path / "s.jsonl", [{"conversations": [{"from": "human", "value": "hi"},
                                                            {"from": "robot", "value": "beep"}]}])
    assert "s.jsonl:1: turn 2 of `conversations`: unknown speaker 'robot'" in _err(read_conversations, path)
    path = _jsonl(tmp_path / "n.jsonl", [{"conversations": [{"from": "human", "value": "hi"}]}])
    assert _err(read_conversations, path) == f"{path}:1: record has no assistant turn"
    path = _jsonl(tmp_path / "h.jsonl", [{**ALPACA[0], "history": [["only one"]]}])
    assert "`history` item 1 must be a [user, assistant] pair" in _err(read_conversations, path)


def test_json_that_is_neither_array_nor_jsonl(tmp_path):
    path = tmp_path / "obj.json"
    path.write_text(json.dumps({"data": ALPACA}, indent=2))
    assert _err(read_conversations, path) == (
        f"{path}: one JSON object over several lines: neither a JSON array of records nor JSON Lines "
        "(one object per line); its field 'data' holds a list of 2 records")
    path.write_text('"just a string"\n')
    assert "neither a JSON array of records nor JSON Lines" in _err(read_conversations, path)
    path.write_text('[{"instruction": "a", "output": "b"}, "text"]')
    assert _err(read_conversations, path) == f"{path}: record 2: a record must be a JSON object, got str"
    path.write_text('[{"instruction": "a",\n "output": }]')
    assert _err(read_conversations, path).startswith(f"{path}:2: invalid JSON")
    path.write_text("[]")
    assert _err(read_conversations, path) == f"{path}: file has no records"


def test_seed_errors_in_json_arrays_say_record(tmp_path):
    path = _array(tmp_path / "q.json", [{"question": "One?"}, {"question": " "}])
    assert _err(load_seeds, path) == f"{path}: record 2: empty 'question'"
    path = _array(tmp_path / "d.json", [{"id": "x", "question": "One?"}, {"id": "x", "question": "Two?"}])
    assert _err(load_seeds, path) == f"{path}: record 2: duplicate id 'x' (first at {path}: record 1)"


# ---------------------------------------------------------------- the real public samples

def _sources():
    if not (REAL / "sources.json").is_file():
        pytest.skip("tests/fixtures/real/sources.json not written yet")
    return json.loads((REAL / "sources.json").read_text(encoding="utf-8"))


def test_real_samples_are_detected_as_declared(capsys):
    for src in _sources():
        path = REAL / src["file"]
        want = {"self_instruct_seeds": "self_instruct"}.get(src["format"], src["format"])
        table, = tables.read_tables(path)
        assert formats.choose(table) == want, src["file"]
        recs = read_conversations(path)
        assert len({n for n, _ in recs}) == len(table.rows), src["file"]
        assert all(any(m["role"] == "assistant" for m in r["messages"]) for _, r in recs)
        seeds = load_seeds(path)
        assert len(seeds) >= len(table.rows) and all(s["question"] for s in seeds), src["file"]


def test_real_self_instruct_seed_tasks():
    path = REAL / "seed_tasks.jsonl"
    if not path.is_file():
        pytest.skip("fixture not written yet")
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    seeds = {s["id"]: s for s in load_seeds(path)}
    for task in tasks:
        for inst in task["instances"]:
            s = seeds[task["id"]] if len(task["instances"]) == 1 else None
            if s is None:
                continue
            if inst["input"].strip():
                assert s["question"] == task["instruction"].strip() + "\n\n" + inst["input"].strip()
                assert s["input"] == inst["input"].strip()
            else:
                assert s["question"] == task["instruction"].strip()
            short = len(inst["output"].split()) <= formats.SHORT_REFERENCE_WORDS
            assert (s.get("reference") == inst["output"].strip()) == short, task["id"]
            assert short or s["output"] == inst["output"].strip()


# ---------------------------------------------------------------- the stages, with no field flags

def _filter_cli(src, run):
    from conftest import run_cli
    return run_cli("filter", "--input", src, "--run", run)


def test_filter_reads_an_alpaca_array(tmp_path):
    src = _array(tmp_path / "alpaca_data.json", ALPACA * 3)
    r = _filter_cli(src, tmp_path / "R")
    assert r.returncode == 0, r.stderr
    assert f"read {src} as alpaca (JSON array, 6 records)" in r.stderr
    stats = json.loads((tmp_path / "R" / "filter_stats.json").read_text())
    assert stats["input"] == 6 and stats["kept"] + stats["dropped"] == 6


def test_filter_reads_the_real_alpaca_data(tmp_path):
    src = REAL / "alpaca_data.json"
    if not src.is_file():
        pytest.skip("fixture not written yet")
    r = _filter_cli(src, tmp_path / "R")
    assert r.returncode == 0, r.stderr
    assert "as alpaca (JSON array, 200 records)" in r.stderr
    kept = [json.loads(line) for line in (tmp_path / "R" / "kept.jsonl").read_text().splitlines()]
    stats = json.loads((tmp_path / "R" / "filter_stats.json").read_text())
    assert stats["input"] == 200 and len(kept) == stats["kept"] > 100
    assert all(r["messages"][0]["role"] == "user" and r["messages"][-1]["role"] == "assistant" for r in kept)


def test_filter_bad_record_writes_nothing(tmp_path):
    src = _array(tmp_path / "mixed.json", ALPACA + [{"title": "x", "body": "y"}])
    r = _filter_cli(src, tmp_path / "R")
    assert r.returncode == 2 and f"{src}: record 3: record does not fit the alpaca format" in r.stderr
    assert "fields: title, body" in r.stderr and not (tmp_path / "R").exists()
