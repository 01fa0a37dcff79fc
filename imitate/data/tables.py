"""Rows from a source: one reader for every stage's input files.

A .jsonl file, a .json file (a JSON array of records, or JSON Lines), .csv, .parquet, a folder of
those (recursive, sorted), a folder written by `datasets.save_to_disk`, or else a Hugging Face hub
dataset name. Each gives a Table: the rows with the line (or record number) to name in errors.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from imitate.data.records import iter_jsonl
from imitate.errors import UserError

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
NOT_DATA = {"dataset_info.json"}      # LLaMA-Factory's description of an export folder


@dataclass
class Table:
    """The rows of one file or dataset: [(n, row)], n the JSONL line, CSV line, Parquet/dataset row
    (from 1) or, in a JSON array, the record's position (from 1; errors say "record N")."""
    where: Path | str
    kind: str                      # JSONL, JSON array, CSV, Parquet, saved dataset, hub dataset
    rows: list[tuple[int, dict]]
    columns: list[str] | None = None

    def error(self, message: str, n: int | None = None) -> UserError:
        if n is not None and self.kind == "JSON array":
            return UserError(f"record {n}: {message}", self.where)
        return UserError(message, self.where, n)


def read_tables(source, split: str = "train", noun: str = "data") -> list[Table]:
    """The tables of a path, a list of paths, a folder or a hub name (`noun` words the errors)."""
    return [hub_table(s, split) if isinstance(s, str) else read_table(s, split, noun)
            for s in sources(source, noun)]


def is_saved_dataset(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def sources(paths_or_name, noun: str = "data") -> list:
    """Expand the argument into files and saved-dataset folders (Path), or hub names (str)."""
    items = paths_or_name if isinstance(paths_or_name, (list, tuple)) else [paths_or_name]
    out = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir() and not is_saved_dataset(p):
            files = sorted(f for f in p.rglob("*")
                           if f.is_file() and f.suffix in SUFFIXES and f.name not in NOT_DATA)
            if not files:
                raise UserError(f"folder has no {noun} files ({', '.join(SUFFIXES)})", p)
            out.extend(files)
        elif p.exists():
            out.append(p)
        elif isinstance(item, str) and p.suffix not in SUFFIXES and not item.startswith((".", "/", "~")):
            out.append(item)  # not a path: try it as a Hugging Face hub dataset name
        else:
            raise UserError("no such file or folder", p)
    return out


def read_table(path: Path, split: str = "train", noun: str = "data") -> Table:
    if path.is_dir():
        from datasets import load_from_disk
        try:
            ds = load_from_disk(str(path))
        except Exception as e:
            raise UserError(f"cannot load the saved dataset: {e}", path) from None
        return _hf_table(ds, path, split, "saved dataset")
    if path.suffix in (".jsonl", ".json"):
        return _json_table(path)
    if path.suffix == ".csv":
        return _csv_table(path)
    if path.suffix == ".parquet":
        return _parquet_table(path)
    raise UserError(f"unknown {noun} file type {path.suffix!r}; use {', '.join(SUFFIXES)}", path)


def _json_table(path: Path) -> Table:
    """A JSON array of objects, or JSON Lines (one object per line), whatever the suffix says."""
    data = path.read_bytes()
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if head == b"[":
        try:
            body = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise UserError(f"bytes that are not UTF-8 (offset {e.start})", path,
                            data.count(b"\n", 0, e.start) + 1) from None
        try:
            items = json.loads(body)
        except json.JSONDecodeError as e:
            raise UserError(f"invalid JSON: {e.msg} (column {e.colno})", path, e.lineno) from None
        table = Table(path, "JSON array", [])
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise table.error(f"a record must be a JSON object, got {type(item).__name__}", n)
            table.rows.append((n, item))
        return table
    if head not in (b"{", b""):
        raise UserError(f"neither a JSON array of records nor JSON Lines (one object per line): the file "
                        f"starts with {head.decode('utf-8', 'replace')!r}", path)
    try:
        return Table(path, "JSONL", list(iter_jsonl(path)))
    except UserError as jsonl_error:
        try:
            whole = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            whole = None
        if not isinstance(whole, dict):
            raise jsonl_error from None
    # one pretty-printed object: say what it is
    lists = [k for k, v in whole.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
    hint = f"; its field {lists[0]!r} holds a list of {len(whole[lists[0]])} records" if lists else ""
    raise UserError("one JSON object over several lines: neither a JSON array of records nor JSON Lines "
                    f"(one object per line){hint}", path)


def _csv_table(path: Path) -> Table:
    """n = row number + 1 (the header is line 1)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            rows = list(reader)
    except UnicodeDecodeError as e:
        raise UserError(f"bytes that are not UTF-8 (offset {e.start})", path) from None
    except csv.Error as e:
        raise UserError(f"invalid CSV: {e}", path) from None
    return Table(path, "CSV", [(i + 2, r) for i, r in enumerate(rows)], list(columns))


def _parquet_table(path: Path) -> Table:
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise UserError(f"cannot read Parquet: {e}", path) from None
    return Table(path, "Parquet", list(enumerate(table.to_pylist(), start=1)), table.column_names)


def _hf_table(ds, where, split: str, kind: str) -> Table:
    from datasets import DatasetDict
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise UserError(f"no split {split!r}; splits: {', '.join(ds)}", where)
        ds = ds[split]
    return Table(where, kind, list(enumerate(ds, start=1)), list(ds.column_names))


def hub_table(name: str, split: str = "train") -> Table:
    from datasets import load_dataset
    try:
        ds = load_dataset(name, split=split)
    except Exception as e:
        raise UserError(f"not a file or folder, and loading it as a Hugging Face dataset failed: {e}",
                        name) from None
    return _hf_table(ds, name, split, "hub dataset")
