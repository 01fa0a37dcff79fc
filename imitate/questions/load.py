"""Seed questions: read them from JSONL, CSV, Parquet, a folder of those, a saved Hugging Face
dataset or a hub dataset name, and normalise them to {id, question, category, reference?, language?}.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from imitate.errors import UserError
from imitate.records import iter_jsonl

SEED_SUFFIXES = (".jsonl", ".csv", ".parquet")


def _rows_csv(path: Path):
    """(line, row) with line = row number + 1 (the header is line 1)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            rows = list(reader)
    except UnicodeDecodeError as e:
        raise UserError(f"bytes that are not UTF-8 (offset {e.start})", path) from None
    except csv.Error as e:
        raise UserError(f"invalid CSV: {e}", path) from None
    return columns, [(i + 2, r) for i, r in enumerate(rows)]


def _rows_parquet(path: Path):
    """(row number, row), counting from 1."""
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise UserError(f"cannot read Parquet: {e}", path) from None
    return table.column_names, list(enumerate(table.to_pylist(), start=1))


def _rows_hf(ds, where, split: str):
    from datasets import DatasetDict
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise UserError(f"no split {split!r}; splits: {', '.join(ds)}", where)
        ds = ds[split]
    return ds.column_names, list(enumerate(ds, start=1))


def _rows_from(path: Path, split: str):
    """(columns or None, [(line, row)]) for one file or saved dataset folder."""
    if path.is_dir():
        from datasets import load_from_disk
        try:
            return _rows_hf(load_from_disk(str(path)), path, split)
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"cannot load the saved dataset: {e}", path) from None
    if path.suffix == ".jsonl":
        return None, list(iter_jsonl(path))
    if path.suffix == ".csv":
        return _rows_csv(path)
    if path.suffix == ".parquet":
        return _rows_parquet(path)
    raise UserError(f"unknown seed file type {path.suffix!r}; use {', '.join(SEED_SUFFIXES)}", path)


def _is_saved_dataset(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _sources(paths_or_name) -> list:
    """Expand the argument into files and saved-dataset folders, or hub names (str)."""
    items = paths_or_name if isinstance(paths_or_name, (list, tuple)) else [paths_or_name]
    out = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir() and not _is_saved_dataset(p):
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SEED_SUFFIXES)
            if not files:
                raise UserError(f"folder has no seed files ({', '.join(SEED_SUFFIXES)})", p)
            out.extend(files)
        elif p.exists():
            out.append(p)
        elif isinstance(item, str) and p.suffix not in SEED_SUFFIXES and not item.startswith((".", "/", "~")):
            out.append(item)  # not a path: try it as a Hugging Face hub dataset name
        else:
            raise UserError("no such file or folder", p)
    return out


def _hub_rows(name: str, split: str):
    from datasets import load_dataset
    try:
        ds = load_dataset(name, split=split)
    except Exception as e:
        raise UserError(f"not a file or folder, and loading it as a Hugging Face dataset failed: {e}",
                        name) from None
    return _rows_hf(ds, name, split)


def _text(value) -> str:
    """A cell as text: None and NaN become ''; 84 -> '84'; 84.0 -> '84'."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def load_seeds(paths_or_name, *, question_field: str = "question", id_field: str = "id",
               category_field: str = "category", reference_field: str = "reference",
               language_field: str = "language", split: str = "train") -> list[dict]:
    """Read seed questions and return [{id, question, category, reference?, language?}].

    Sources: .jsonl, .csv, .parquet files; a folder of them (recursive, sorted); a folder written by
    `datasets.Dataset.save_to_disk`; otherwise a hub dataset name for `datasets.load_dataset`.
    id: the given one, else "s" + 12 hex chars of sha256(question). category defaults to "general";
    reference (stringified) and language are left out when missing or empty.
    Errors name the file and line (JSONL line, CSV row + 1, Parquet/dataset row from 1).
    """
    seeds, seen = [], {}
    for src in _sources(paths_or_name):
        columns, rows = _hub_rows(src, split) if isinstance(src, str) else _rows_from(src, split)
        if columns is not None and question_field not in columns:
            raise UserError(f"no column {question_field!r}; columns: {', '.join(map(str, columns))}", src)
        if not rows:
            raise UserError("no seeds in this file", src)
        for line, row in rows:
            seed = _normalize(row, line, src, question_field, id_field, category_field,
                              reference_field, language_field)
            if seed["id"] in seen:
                raise UserError(f"duplicate id {seed['id']!r} (first at {seen[seed['id']]})", src, line)
            seen[seed["id"]] = f"{src}:{line}"
            seeds.append(seed)
    return seeds


def _normalize(row: dict, line, src, question_field, id_field, category_field,
               reference_field, language_field) -> dict:
    if question_field not in row:
        raise UserError(f"no {question_field!r} field (fields: {', '.join(map(str, row))})", src, line)
    raw = row[question_field]
    if isinstance(raw, (dict, list)):
        raise UserError(f"{question_field!r} must be text, got {type(raw).__name__}", src, line)
    question = _text(raw)
    if not question:
        raise UserError(f"empty {question_field!r}", src, line)
    sid = _text(row.get(id_field)) or "s" + hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]
    seed = {"id": sid, "question": question, "category": _text(row.get(category_field)) or "general"}
    reference, language = _text(row.get(reference_field)), _text(row.get(language_field))
    if reference:
        seed["reference"] = reference
    if language:
        seed["language"] = language
    return seed
