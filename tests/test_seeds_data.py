"""The shipped seed questions, and load_seeds on every supported source and every error it reports."""
import csv
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from imitate.errors import UserError
from imitate.teacher.prompts import question_kind
from imitate.data.seeds import load_seeds

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds" / "seeds.jsonl"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def raw():
    return [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- the shipped seeds

def test_counts(raw):
    assert len(raw) >= 200
    cats = Counter(r["category"] for r in raw)
    assert len(cats) >= 8 and min(cats.values()) >= 20, cats
    korean = [r for r in raw if HANGUL.search(r["question"])]
    assert len(korean) / len(raw) >= 0.20
    assert len({r["category"] for r in korean}) >= 8  # Korean is spread over the categories
    assert sum(1 for r in raw if r.get("reference")) >= 60
    ids = [r["id"] for r in raw]
    assert len(set(ids)) == len(ids)


def test_fields(raw):
    for r in raw:
        assert set(r) <= {"id", "question", "category", "language", "reference"}, r["id"]
        assert r["question"].strip() == r["question"] and r["question"], r["id"]
        assert r["language"] == ("ko" if HANGUL.search(r["question"]) else "en"), r["id"]
        if "reference" in r:
            assert isinstance(r["reference"], str) and 0 < len(r["reference"]) <= 40, r["id"]
    assert len({r["question"] for r in raw}) == len(raw)  # no repeated question


def test_mix_of_kinds_and_multiple_choice_references(raw):
    kinds = Counter(question_kind(r["question"]) for r in raw)
    assert kinds["multiple_choice"] >= 10 and kinds["short_answer"] >= 50 and kinds["open"] >= 50
    mc = [r for r in raw if question_kind(r["question"]) == "multiple_choice"]
    assert len({r["category"] for r in mc}) >= 5
    for r in mc:  # the reference of a multiple-choice seed is one of its option letters
        letters = re.findall(r"(?:^|\s)([A-H])\)", r["question"], re.M)
        assert r.get("reference") in letters, r["id"]


def test_some_references_recomputed(raw):
    by_q = {r["question"]: r.get("reference") for r in raw}
    assert by_q["What is 12 multiplied by 7?"] == str(12 * 7)
    assert by_q["What is 2 to the power of 10?"] == str(2 ** 10)
    assert by_q["What is the value of 2 ** 3 ** 2 in Python?"] == str(2 ** 3 ** 2)
    assert by_q["How many hours are in a week?"] == str(7 * 24)
    assert by_q["17 더하기 26은 얼마인가요?"] == str(17 + 26)


def test_load_seeds_reads_the_shipped_file(raw):
    seeds = load_seeds(SEEDS)
    assert [s["id"] for s in seeds] == [r["id"] for r in raw]
    assert seeds[0] == raw[0]


# ---------------------------------------------------------------- sources

def _csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


MAP = dict(question_field="prompt", id_field="qid", category_field="topic", reference_field="answer",
           language_field="lang")


def test_csv_with_column_mapping(tmp_path):
    path = _csv(tmp_path / "s.csv", ["qid", "prompt", "topic", "answer", "lang"],
                [["q1", "What is 6 x 7?", "math", "42", "en"],
                 ["", "  Name a colour.  ", "", "", ""]])
    a, b = load_seeds(path, **MAP)
    assert a == {"id": "q1", "question": "What is 6 x 7?", "category": "math", "reference": "42", "language": "en"}
    want_id = "s" + hashlib.sha256(b"Name a colour.").hexdigest()[:12]
    assert b == {"id": want_id, "question": "Name a colour.", "category": "general"}


def test_parquet_numbers_become_text_and_missing_values_are_left_out(tmp_path):
    path = _parquet(tmp_path / "s.parquet", [
        {"qid": 7, "prompt": "What is 12 x 7?", "answer": 84, "topic": "math"},
        {"qid": 8, "prompt": "Half of 1?", "answer": 0.5, "topic": None},
        {"qid": 9, "prompt": "Explain rain.", "answer": None, "topic": "science"}])
    seeds = load_seeds(path, **MAP)
    assert [s["id"] for s in seeds] == ["7", "8", "9"]
    assert seeds[0]["reference"] == "84" and seeds[1]["reference"] == "0.5"
    assert "reference" not in seeds[2] and "language" not in seeds[2]
    assert seeds[1]["category"] == "general"


def test_a_list_reference_is_a_list_of_accepted_answers(tmp_path):
    rows = [{"question": "Who wrote Hamlet?", "answer": ["Shakespeare", "William Shakespeare", "Shakespeare", " "]},
            {"question": "Capital of France?", "answer": ["Paris"]},
            {"question": "Explain rain.", "answer": []}]
    for path in (_jsonl(tmp_path / "s.jsonl", rows), _parquet(tmp_path / "s.parquet", rows)):
        a, b, c = load_seeds(path, reference_field="answer")
        assert a["reference"] == ["Shakespeare", "William Shakespeare"]   # distinct, non-empty, in order
        assert b["reference"] == "Paris" and "reference" not in c


def test_folder_is_read_recursively_in_sorted_order(tmp_path):
    _jsonl(tmp_path / "b.jsonl", [{"id": "b1", "question": "B one?"}])
    (tmp_path / "sub").mkdir()
    _csv(tmp_path / "sub" / "c.csv", ["id", "question"], [["c1", "C one?"]])
    _parquet(tmp_path / "a.parquet", [{"id": "a1", "question": "A one?"}])
    (tmp_path / "notes.txt").write_text("not seeds")
    assert [s["id"] for s in load_seeds(tmp_path)] == ["a1", "b1", "c1"]
    assert [s["id"] for s in load_seeds([tmp_path / "b.jsonl", str(tmp_path / "a.parquet")])] == ["b1", "a1"]


def test_saved_hf_dataset_and_dataset_dict(tmp_path):
    from datasets import Dataset, DatasetDict
    ds = Dataset.from_list([{"prompt": "Capital of France?", "answer": "Paris", "qid": "f1"},
                            {"prompt": "프랑스의 수도는 어디인가요?", "answer": "파리", "qid": "f2"}])
    ds.save_to_disk(str(tmp_path / "one"))
    seeds = load_seeds(tmp_path / "one", **MAP)
    assert [(s["id"], s["reference"]) for s in seeds] == [("f1", "Paris"), ("f2", "파리")]
    DatasetDict({"train": ds, "test": ds.select([1])}).save_to_disk(str(tmp_path / "dict"))
    assert [s["id"] for s in load_seeds(tmp_path / "dict", split="test", **MAP)] == ["f2"]
    with pytest.raises(UserError, match="no split 'validation'; splits: train, test"):
        load_seeds(tmp_path / "dict", split="validation", **MAP)


def test_hub_name_goes_to_load_dataset(monkeypatch):
    import datasets
    calls = []

    def fake_load_dataset(name, split):
        calls.append((name, split))
        return datasets.Dataset.from_list([{"question": "Hub question?"}])
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    seeds = load_seeds("someone/some-seeds", split="validation")
    assert calls == [("someone/some-seeds", "validation")]
    assert seeds[0]["question"] == "Hub question?"

    def failing(name, split):
        raise FileNotFoundError("offline")
    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(UserError, match="someone/none: not a file or folder.*offline"):
        load_seeds("someone/none")


# ---------------------------------------------------------------- errors

def _error(*args, **kw) -> str:
    with pytest.raises(UserError) as e:
        load_seeds(*args, **kw)
    return str(e.value)


def test_missing_paths(tmp_path):
    assert _error(tmp_path / "nope.jsonl") == f"{tmp_path / 'nope.jsonl'}: no such file or folder"
    assert _error(str(tmp_path / "nofolder")).endswith("no such file or folder")
    (tmp_path / "empty").mkdir()
    assert "folder has no seed files" in _error(tmp_path / "empty")


def test_empty_files(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n\n")
    assert _error(tmp_path / "e.jsonl") == f"{tmp_path / 'e.jsonl'}: no seeds in this file"
    _csv(tmp_path / "e.csv", ["id", "question"], [])
    assert _error(tmp_path / "e.csv") == f"{tmp_path / 'e.csv'}: no seeds in this file"


def test_empty_question_names_file_and_line(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"question": "Fine?"}, {"question": "Also fine?"}, {"question": "  "}])
    assert _error(path) == f"{path}:3: empty 'question'"
    path = _csv(tmp_path / "s.csv", ["id", "question"], [["a", "Fine?"], ["b", " "]])
    assert _error(path) == f"{path}:3: empty 'question'"  # row 2 + 1 for the header
    path = _parquet(tmp_path / "s.parquet", [{"question": "Fine?"}, {"question": None}])
    assert _error(path) == f"{path}:2: empty 'question'"


def test_missing_question_column_or_field(tmp_path):
    path = _csv(tmp_path / "s.csv", ["id", "instruction"], [["a", "Do it."]])
    assert _error(path) == f"{path}: no column 'question'; columns: id, instruction"
    path = _parquet(tmp_path / "s.parquet", [{"instruction": "Do it."}])
    assert _error(path) == f"{path}: no column 'question'; columns: instruction"
    path = _jsonl(tmp_path / "s.jsonl", [{"question": "ok?"}, {"instruction": "Do it.", "output": "x"}])
    assert _error(path) == f"{path}:2: no 'question' field (fields: instruction, output)"


def test_question_must_be_text(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"question": ["a", "list"]}])
    assert _error(path) == f"{path}:1: 'question' must be text, got list"


def test_duplicate_ids_name_both_places(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"id": "x", "question": "One?"}, {"id": "y", "question": "Two?"},
                                         {"id": "x", "question": "Three?"}])
    assert _error(path) == f"{path}:3: duplicate id 'x' (first at {path}:1)"
    other = _csv(tmp_path / "t.csv", ["id", "question"], [["y", "Again?"]])
    _jsonl(path, [{"id": "x", "question": "One?"}, {"id": "y", "question": "Two?"}])
    assert _error([path, other]) == f"{other}:2: duplicate id 'y' (first at {path}:2)"


def test_same_question_without_ids_is_a_duplicate(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"question": "Same?"}, {"question": "Same?"}])
    assert "duplicate id 's" in _error(path) and _error(path).startswith(f"{path}:2: ")


def test_bad_jsonl_lines(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"question": "ok?"}\n{"question": \n')
    assert _error(path).startswith(f"{path}:2: invalid JSON")
    path.write_text('{"question": "ok?"}\n["a list"]\n')
    assert _error(path) == f"{path}:2: a line must be a JSON object, got list"
    path.write_bytes(b'{"question": "ok?"}\n{"question": "\xff"}\n')
    assert _error(path).startswith(f"{path}:2: bytes that are not UTF-8")


def test_bad_csv_bytes_and_unknown_suffix(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"id,question\na,\xff\xfe?\n")
    assert _error(path).startswith(f"{path}: bytes that are not UTF-8")
    other = tmp_path / "s.txt"
    other.write_text("What?")
    assert _error(other) == f"{other}: unknown seed file type '.txt'; use .jsonl, .json, .csv, .parquet"
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    assert _error(bad).startswith(f"{bad}: cannot read Parquet")


def test_json_array_seeds_and_folders_skip_dataset_info(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"id": "j1", "question": "From an array?"}], indent=2))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"x": {"file_name": "a.json"}}))
    _jsonl(tmp_path / "b.jsonl", [{"id": "b1", "question": "B one?"}])
    assert [s["id"] for s in load_seeds(tmp_path)] == ["j1", "b1"]


def test_other_formats_need_no_field_flags(tmp_path):
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps([{"instruction": "Translate to French.", "input": "cat", "output": "chat"}]))
    (s,) = load_seeds(alpaca)
    assert s["question"] == "Translate to French.\n\ncat" and s["input"] == "cat" and s["output"] == "chat"
    dolly = _jsonl(tmp_path / "dolly.jsonl", [{"instruction": "Who wrote Hamlet?", "context": "",
                                              "response": "Shakespeare", "category": "open_qa"}])
    assert load_seeds(dolly)[0]["category"] == "open_qa"
    # --category-field still maps in those formats
    assert load_seeds(dolly, category_field="nope")[0]["category"] == "general"
