"""The export stage: each format read back by `datasets`, LLaMA-Factory's dataset_info.json, errors."""
from __future__ import annotations

import json

import pytest

from imitate import cli
from imitate.stages import export

SINGLE = {"id": "a", "messages": [{"role": "system", "content": "Be exact."},
                                  {"role": "user", "content": "What is 2+2?"},
                                  {"role": "assistant", "content": "4"}]}
MULTI = {"id": "b", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                                 {"role": "user", "content": "Name a prime."},
                                 {"role": "assistant", "content": "7"}]}


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "myrun"
    d.mkdir()
    (d / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (SINGLE, MULTI)))
    return d


def load(path, tmp_path):
    import datasets
    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


def export_and_load(run_dir, tmp_path, fmt):
    assert cli.main(["export", "--run", str(run_dir), "--format", fmt]) == 0
    main = run_dir / "export" / (fmt + export.SUFFIX[fmt])
    rows, parquet_rows = load(main, tmp_path).to_list(), load(main.with_suffix(".parquet"), tmp_path).to_list()
    assert rows == parquet_rows  # the Parquet copy holds the same rows
    return rows


def test_openai_messages_as_they_are(run_dir, tmp_path):
    rows = export_and_load(run_dir, tmp_path, "openai")
    assert rows == [{"messages": SINGLE["messages"]}, {"messages": MULTI["messages"]}]


def test_sharegpt_roles_and_system(run_dir, tmp_path):
    rows = export_and_load(run_dir, tmp_path, "sharegpt")
    assert rows[0] == {"system": "Be exact.", "conversations": [{"from": "human", "value": "What is 2+2?"},
                                                                {"from": "gpt", "value": "4"}]}
    assert [t["from"] for t in rows[1]["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert rows[1]["system"] == ""


def test_alpaca_last_turn_and_history(run_dir, tmp_path):
    rows = export_and_load(run_dir, tmp_path, "alpaca")
    assert rows[0]["instruction"] == "What is 2+2?" and rows[0]["output"] == "4" and rows[0]["system"] == "Be exact."
    assert rows[1]["instruction"] == "Name a prime." and rows[1]["output"] == "7"
    assert rows[1]["history"] == [["Hi", "Hello!"]] and rows[1]["input"] == ""


def test_dataset_info_entries_accumulate(run_dir):
    for fmt in export.FORMATS:
        assert cli.main(["export", "--run", str(run_dir), "--format", fmt]) == 0
    info = json.loads((run_dir / "export" / "dataset_info.json").read_text())
    assert set(info) == {"myrun_openai", "myrun_sharegpt", "myrun_alpaca"}
    assert info["myrun_sharegpt"] == {"file_name": "sharegpt.json", "formatting": "sharegpt",
                                      "columns": {"messages": "conversations", "system": "system"}}
    assert info["myrun_alpaca"]["formatting"] == "alpaca" and info["myrun_alpaca"]["columns"]["history"] == "history"
    assert info["myrun_openai"]["tags"]["role_tag"] == "role"
    for entry in info.values():
        assert (run_dir / "export" / entry["file_name"]).is_file()


def test_out_path_and_name(run_dir, tmp_path):
    out = tmp_path / "elsewhere" / "train.json"
    assert cli.main(["export", "--run", str(run_dir), "--format", "alpaca", "--out", str(out),
                     "--name", "mine", "--no-parquet"]) == 0
    assert len(json.loads(out.read_text())) == 2 and not out.with_suffix(".parquet").exists()
    assert list(json.loads((out.parent / "dataset_info.json").read_text())) == ["mine"]


def test_error_empty_file(tmp_path, capsys):
    (tmp_path / "kept.jsonl").write_text("\n")
    assert cli.main(["export", "--run", str(tmp_path)]) == 2
    assert "no records" in capsys.readouterr().err


def test_error_no_assistant_turn(tmp_path, capsys):
    (tmp_path / "kept.jsonl").write_text(json.dumps(SINGLE) + "\n" +
                                         json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    assert cli.main(["export", "--run", str(tmp_path), "--format", "openai"]) == 2
    assert "kept.jsonl:2:" in capsys.readouterr().err


def test_error_turns_out_of_order_for_sharegpt(tmp_path, capsys):
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"},
                        {"role": "assistant", "content": "a"}]}
    (tmp_path / "kept.jsonl").write_text(json.dumps(bad) + "\n")
    assert cli.main(["export", "--run", str(tmp_path), "--format", "sharegpt"]) == 2
    err = capsys.readouterr().err
    assert "kept.jsonl:1:" in err and "user/assistant pairs" in err
    assert not (tmp_path / "export" / "sharegpt.json").exists()  # nothing half-written


# -- round trips: each export read back with auto-detection gives the same conversations -----------

@pytest.mark.parametrize("fmt", export.FORMATS)
def test_round_trip_through_each_format(run_dir, fmt, capsys):
    from imitate.data.formats import read_conversations
    assert cli.main(["export", "--run", str(run_dir), "--format", fmt]) == 0
    out = run_dir / "export" / (fmt + export.SUFFIX[fmt])
    capsys.readouterr()
    back = read_conversations(out)
    assert [r["messages"] for _, r in back] == [SINGLE["messages"], MULTI["messages"]]
    want = {"openai": "messages"}.get(fmt, fmt)
    assert f"as {want} ({'JSONL' if fmt == 'openai' else 'JSON array'}, 2 records)" in capsys.readouterr().err
    assert [r["messages"] for _, r in read_conversations(out.with_suffix(".parquet"))] == [r["messages"] for _, r in back]


ALPACA_IN = [{"instruction": "Classify these.", "input": "oak, copper, elephant", "output": "plant, mineral, animal"},
             {"instruction": "Name a colour.", "input": "", "output": "Blue."}]


def test_alpaca_in_alpaca_out_keeps_the_input_apart(tmp_path):
    src = tmp_path / "alpaca_data.json"
    src.write_text(json.dumps(ALPACA_IN, indent=4))
    out = tmp_path / "out" / "alpaca.json"
    assert cli.main(["filter", "--input", str(src), "--run", str(tmp_path / "r"), "--filters", "none",
                     "--balance", "none"]) == 0
    assert cli.main(["export", "--run", str(tmp_path / "r"), "--format", "alpaca", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [{k: r[k] for k in ("instruction", "input", "output")} for r in rows] == ALPACA_IN
    # export reads other formats directly too
    assert cli.main(["export", "--input", str(src), "--run", str(tmp_path / "r2"), "--format", "openai"]) == 0
    first = json.loads((tmp_path / "r2" / "export" / "openai.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["content"] == "Classify these.\n\noak, copper, elephant"


def test_error_in_a_json_array_names_the_record(tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"messages": SINGLE["messages"]},
                               {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                                             {"role": "assistant", "content": "c"}]}]))
    assert cli.main(["export", "--input", str(src), "--run", str(tmp_path / "r"), "--format", "alpaca"]) == 2
    assert f"{src}: record 2: ShareGPT and Alpaca need" in capsys.readouterr().err
    assert not (tmp_path / "r" / "export").exists()


# -- stable column types -----------------------------------------------------------------------------

def _export(tmp_path, name, records, fmt):
    d = tmp_path / name
    d.mkdir()
    (d / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert cli.main(["export", "--run", str(d), "--format", fmt]) == 0
    return d / "export" / (fmt + export.SUFFIX[fmt])


def test_alpaca_exports_with_and_without_history_load_together(tmp_path):
    import datasets
    plain = _export(tmp_path, "plain", [SINGLE], "alpaca")         # history empty everywhere
    multi = _export(tmp_path, "multi", [MULTI], "alpaca")          # history holds a pair
    feats = export.features("alpaca")
    assert feats["history"] == datasets.List(datasets.List(datasets.Value("string")))
    for files in ([plain, multi], [multi, plain]):
        ds = datasets.load_dataset("json", data_files=[str(f) for f in files], features=feats, split="train",
                                   cache_dir=str(tmp_path / "hf"))
        assert ds.features == feats and sorted(len(h) for h in ds["history"]) == [0, 1]
        pq = datasets.load_dataset("parquet", data_files=[str(f.with_suffix(".parquet")) for f in files],
                                   split="train", cache_dir=str(tmp_path / "hf"))
        assert pq.features == feats and pq.to_list() == ds.to_list()


def test_sharegpt_system_is_a_string_everywhere(tmp_path):
    import datasets
    none = _export(tmp_path, "none", [MULTI], "sharegpt")          # no system message anywhere
    some = _export(tmp_path, "some", [SINGLE], "sharegpt")
    assert json.loads(none.read_text())[0]["system"] == ""
    ds = datasets.load_dataset("json", data_files=[str(none), str(some)], split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.features["system"] == datasets.Value("string") and ds["system"] == ["", "Be exact."]
    assert load(none.with_suffix(".parquet"), tmp_path).features == export.features("sharegpt")


def test_openai_export_is_what_trl_sft_takes(run_dir, tmp_path):
    from trl.data_utils import is_conversational
    rows = export_and_load(run_dir, tmp_path, "openai")
    assert all(is_conversational(r) for r in rows)
