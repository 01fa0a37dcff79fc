"""Write the kept set as OpenAI messages JSONL, ShareGPT JSON or Alpaca JSON, plus Parquet.

Each file is read as it is by `datasets.load_dataset("json", data_files=PATH)` (or "parquet"), and
a `dataset_info.json` entry beside it lets LLaMA-Factory use the folder as its `dataset_dir`
(entries of other exports in that folder are kept). Column types are fixed (`arrow_schema`): the
Parquet copy carries them; JSON infers them from the values, so an all-empty `history` reads as a
list of nulls there; to load several JSON exports in one call, pass their types:
`load_dataset("json", data_files=[a, b], features=export.features("alpaca"))`.
The input may be in any format imitate.data.formats reads (--input-format; an Alpaca or Dolly record's
`input` is split back off the instruction).

  openai    {"messages": [{"role", "content"}, ...]} per line: OpenAI fine-tuning, TRL, Axolotl
  sharegpt  [{"conversations": [{"from": "human"|"gpt", "value"}], "system"}, ...]
  alpaca    [{"instruction", "input", "output", "system", "history": [[user, assistant], ...]}, ...]
Records with images add `images` (their paths) and an `<image>` per image in the first user turn
(LLaMA-Factory's multimodal convention; imitate.data.images.export_row).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imitate import config as config_mod
from imitate.config import opt
from imitate.data.formats import CONVERSATION_FORMATS, JOIN, iter_conversations
from imitate.data.images import export_row, export_rows
from imitate.data.records import atomic_open, write_json, write_jsonl
from imitate.errors import UserError
from imitate.rundir import DEFAULT, STAGES, RunDir

FORMATS = ("openai", "sharegpt", "alpaca")
SUFFIX = {"openai": ".jsonl", "sharegpt": ".json", "alpaca": ".json"}
SHAREGPT_ROLE = {"user": "human", "assistant": "gpt"}
READS, WRITES = STAGES["export"]


@dataclass
class Config:
    run: str = opt(DEFAULT, "run folder holding kept.jsonl")
    input: str | None = opt(None, "records to export; unset: RUN/kept.jsonl")
    input_format: str = opt("auto", "format of the input records: messages, sharegpt, alpaca, dolly, "
                            "self_instruct; auto: detected from the first record",
                            choices=["auto", *CONVERSATION_FORMATS])
    format: str = opt("openai", "output format", choices=list(FORMATS))
    out: str | None = opt(None, "output file; unset: RUN/export/FORMAT.jsonl (openai) or FORMAT.json")
    name: str | None = opt(None, "dataset name in dataset_info.json; unset: RUNNAME_FORMAT")
    parquet: bool = opt(True, "also write the same rows as Parquet beside the file")

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UserError(f"--format must be one of {', '.join(FORMATS)}")


def turns(msgs: list[dict], path, line) -> tuple[str, list[tuple[str, str]]]:
    """(system text, [(user, assistant), ...]) for formats that need strict user/assistant pairs."""
    system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
    rest = msgs[1:] if msgs[0]["role"] == "system" else msgs
    roles = [m["role"] for m in rest]
    if len(rest) % 2 or roles != ["user", "assistant"] * (len(rest) // 2):
        raise UserError("ShareGPT and Alpaca need one optional system message, then user/assistant pairs "
                        f"ending with the assistant; got {' '.join(m['role'] for m in msgs)}", path, line)
    return system, [(rest[i]["content"], rest[i + 1]["content"]) for i in range(0, len(rest), 2)]


def split_input(question: str, extra) -> tuple[str, str]:
    """(instruction, input): the record's `input` split back off the end of its last user turn,
    where it was joined the way Alpaca's prompt does; else (question, "")."""
    if isinstance(extra, str) and extra.strip() and question.endswith(JOIN + extra) \
            and question[: -len(JOIN + extra)].strip():
        return question[: -len(JOIN + extra)], extra
    return question, ""


def to_row(fmt: str, msgs: list[dict], path, line, rec: dict | None = None) -> dict:
    if fmt == "openai":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in msgs]}
    system, pairs = turns(msgs, path, line)
    if fmt == "sharegpt":
        conv = [{"from": SHAREGPT_ROLE[r], "value": c} for u, a in pairs for r, c in (("user", u), ("assistant", a))]
        return {"conversations": conv, "system": system}
    (question, answer), history = pairs[-1], pairs[:-1]
    instruction, extra = split_input(question, (rec or {}).get("input"))
    return {"instruction": instruction, "input": extra, "output": answer, "system": system,
            "history": [list(p) for p in history]}


def dataset_info_entry(fmt: str, file_name: str) -> dict:
    """The LLaMA-Factory description of one exported file (data/README.md of LLaMA-Factory)."""
    if fmt == "openai":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"}}
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system"}}
    return {"file_name": file_name, "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output",
                        "system": "system", "history": "history"}}


def arrow_schema(fmt: str):
    """Explicit types, so an all-empty column (history, system) still gets a proper type."""
    import pyarrow as pa
    s = pa.string()
    if fmt == "openai":
        return pa.schema([("messages", pa.list_(pa.struct([("role", s), ("content", s)])))])
    if fmt == "sharegpt":
        return pa.schema([("conversations", pa.list_(pa.struct([("from", s), ("value", s)]))), ("system", s)])
    return pa.schema([("instruction", s), ("input", s), ("output", s), ("system", s),
                      ("history", pa.list_(pa.list_(s)))])


def features(fmt: str):
    """The `datasets.Features` of an export: pass them to `load_dataset("json", ...)` to read JSON
    exports with the Parquet copy's types (an all-empty history as List(List(string)))."""
    from datasets import Features
    return Features.from_arrow_schema(arrow_schema(fmt))


def write_parquet(path: Path, rows: list[dict], fmt: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    schema = arrow_schema(fmt)
    if rows and "images" in rows[0]:
        schema = schema.append(pa.field("images", pa.list_(pa.string())))
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_open(path, "wb") as f:
        pq.write_table(table, f)


def read_rows(path: Path, fmt: str, input_format: str = "auto") -> list[dict]:
    rows = []
    for table, no, rec in iter_conversations(path, input_format):
        try:
            rows.append(export_row(to_row(fmt, rec["messages"], None, None, rec), fmt, rec))
        except UserError as e:
            raise table.error(str(e), no) from None
    if not rows:
        raise UserError("file has no records (nothing to export)", path)
    return export_rows(rows)


def update_dataset_info(folder: Path, name: str, entry: dict) -> Path:
    info_path = folder / "dataset_info.json"
    info = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"invalid JSON: {e.msg}", info_path, e.lineno) from None
    info[name] = entry
    write_json(info_path, info)
    return info_path


def run(cfg: Config) -> int:
    run_dir = RunDir(cfg.run)
    src = Path(cfg.input) if cfg.input else run_dir.kept
    out = Path(cfg.out) if cfg.out else run_dir.export / (cfg.format + SUFFIX[cfg.format])
    if out.suffix == ".parquet":
        raise UserError("--out names the JSON/JSONL file; the Parquet copy is written beside it", out)
    rows = read_rows(src, cfg.format, cfg.input_format)
    if out.suffix == ".jsonl":
        write_jsonl(out, rows)
    else:
        with atomic_open(out) as f:
            json.dump(rows, f, ensure_ascii=False, indent=1)
            f.write("\n")
    written = [out]
    if cfg.parquet:
        written.append(out.with_suffix(".parquet"))
        write_parquet(written[-1], rows, cfg.format)
    name = cfg.name or f"{run_dir.path.resolve().name}_{cfg.format}"
    entry = dataset_info_entry(cfg.format, out.name)
    if "images" in rows[0]:
        entry["columns"]["images"] = "images"
    written.append(update_dataset_info(out.parent, name, entry))
    if run_dir.path.is_dir():
        write_json(run_dir.export_config, config_mod.to_dict(cfg))
    print(f"export: {len(rows)} records as {cfg.format} -> {', '.join(map(str, written))} "
          f"(LLaMA-Factory dataset '{name}')")
    return 0
