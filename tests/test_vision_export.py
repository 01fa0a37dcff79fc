"""export of records with images: an `images` column of paths and one <image> per image in the first
user turn (LLaMA-Factory), in every format and in the Parquet copy; text exports unchanged."""
import json

import pyarrow.parquet as pq
import pytest
from test_vision_student import kept_file

from imitate.cli import main


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca"])
def test_image_records_export_with_their_images(tmp_path, fmt):
    kept = kept_file(tmp_path)
    with kept.open("a") as f:   # and one text record
        f.write(json.dumps({"id": "t", "messages": [{"role": "user", "content": "Hi?"},
                                                    {"role": "assistant", "content": "Hello."}]}) + "\n")
    recs = [json.loads(x) for x in kept.read_text().splitlines()]
    out = tmp_path / "export" / f"x{'.jsonl' if fmt == 'openai' else '.json'}"
    assert main(["export", "--input", str(kept), "--format", fmt, "--out", str(out), "--name", "x"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()] if fmt == "openai" else json.loads(out.read_text())
    assert [r["images"] for r in rows] == [[im["path"] for im in rec.get("images", [])] for rec in recs]
    for row, rec in zip(rows, recs):
        user = (next(m["content"] for m in row["messages"] if m["role"] == "user") if fmt == "openai" else
                next(t["value"] for t in row["conversations"] if t["from"] == "human") if fmt == "sharegpt" else
                row["instruction"])
        n = len(rec.get("images", []))
        assert user == "<image>" * n + rec["messages"][-2]["content"]
    table = pq.read_table(out.with_suffix(".parquet"))
    assert table.column("images").to_pylist() == [r["images"] for r in rows]
    info = json.loads((out.parent / "dataset_info.json").read_text())
    assert info["x"]["columns"]["images"] == "images"


def test_a_text_export_has_no_images_column(tmp_path):
    kept = tmp_path / "kept.jsonl"
    kept.write_text(json.dumps({"id": "t", "messages": [{"role": "user", "content": "Hi?"},
                                                       {"role": "assistant", "content": "Hello."}]}) + "\n")
    out = tmp_path / "export" / "x.json"
    assert main(["export", "--input", str(kept), "--format", "sharegpt", "--out", str(out), "--name", "x"]) == 0
    assert "images" not in json.loads(out.read_text())[0]
    assert "images" not in pq.read_table(out.with_suffix(".parquet")).column_names
    assert "images" not in json.loads((out.parent / "dataset_info.json").read_text())["x"]["columns"]
