"""Seed questions: read them from JSONL, JSON, CSV, Parquet, a folder of those, a saved Hugging Face
dataset or a hub dataset name, in any format imitate.data.formats knows (plain questions, messages,
ShareGPT, Alpaca, Dolly, Self-Instruct), and normalise them to
{id, question, category, reference?, language?, ...the record's other fields}.
"""
from __future__ import annotations

import hashlib

from imitate.data import formats, tables

SEED_SUFFIXES = tables.SUFFIXES
STANDARD = ("id", "question", "category", "reference", "language")


def load_seeds(paths_or_name, *, question_field: str = "question", id_field: str = "id",
               category_field: str = "category", reference_field: str = "reference",
               language_field: str = "language", split: str = "train", format: str = "auto",
               image_field: str = "image", images_field: str = "images") -> list[dict]:
    """Read seed questions and return [{id, question, category, reference?, language?, ...}].

    Sources: .jsonl, .json, .csv, .parquet files; a folder of them (recursive, sorted); a folder
    written by `datasets.Dataset.save_to_disk`; otherwise a hub dataset name for `datasets.load_dataset`.
    Format: detected per file from its first record (imitate.data.formats) unless `format` names one;
    `question` is the plain mode where `question_field` holds the question.
    id: the given one, else "s" + 12 hex chars of sha256(question). category defaults to "general";
    reference (text, or a list of accepted answers: `accepted`) and language are left out when
    missing or empty; the record's other
    non-empty fields are kept (an Alpaca `input` or Dolly `context` as `input`).
    Images: `image_field` (a path) and `images_field` (a list of paths), relative to the seed file's
    folder, become `images: [{"path", "sha256"}]`, each checked (imitate.data.images).
    Errors name the file and line (JSONL line, CSV row + 1, Parquet/dataset row from 1, "record N"
    of a JSON array).
    """
    fields = formats.Fields(question_field, id_field, category_field, reference_field, language_field)
    seeds, seen = [], {}
    for table in tables.read_tables(paths_or_name, split, noun="seed"):
        if not table.rows:
            raise table.error("no seeds in this file")
        fmt = formats.choose(table, format, seeds=True, question_field=question_field)
        for line, q in formats.questions(table, fmt, fields, forced=format != "auto"):
            seed = _normalize(q, fields)
            _images(seed, table, line, image_field, images_field, not formats.text(q.get(fields.id)))
            if seed["id"] in seen:
                raise table.error(f"duplicate id {seed['id']!r} (first at {seen[seed['id']]})", line)
            seen[seed["id"]] = f"{table.where}:{line}" if table.kind != "JSON array" else \
                f"{table.where}: record {line}"
            seeds.append(seed)
    return seeds


def _images(seed: dict, table, line: int, image_field: str, images_field: str, own_id: bool) -> None:
    """Replace a seed's image fields with its checked images, when it has any. An id made here
    (`own_id`) hashes the images too: one question about several images makes several seeds."""
    if seed.get(image_field) is None and seed.get(images_field) is None:
        return
    from pathlib import Path

    from imitate.data.images import seed_images
    base = table.where.parent if isinstance(table.where, Path) and table.where.is_file() else \
        table.where if isinstance(table.where, Path) else None
    images = seed_images(seed, image_field, images_field, base, lambda msg: table.error(msg, line))
    seed.pop(image_field, None)
    seed.pop(images_field, None)
    if images:
        seed["images"] = images
        if own_id:
            blob = "\0".join([seed["question"], *(im["sha256"] for im in images)])
            seed["id"] = "s" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def _empty(value) -> bool:
    return value is None or value == [] or value == {} or (not isinstance(value, (list, dict)) and not formats.text(value))


def accepted(value) -> str | list[str]:
    """A reference as text; a list of them (NQ-open's, TriviaQA's answers) as the distinct non-empty
    ones, any of which is right (one alone stays text); '' when there is none."""
    if hasattr(value, "tolist"):   # a Parquet / Arrow list cell
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return formats.text(value)
    answers = list(dict.fromkeys(t for t in map(formats.text, value) if t))
    if len(answers) > 1:
        return answers
    return answers[0] if answers else ""


def _normalize(q: dict, fields: formats.Fields) -> dict:
    """A seed from a converted record: its question, the mapped id/category/reference/language, and
    the rest of its non-empty fields."""
    question = q["question"]
    text = formats.text
    sid = text(q.get(fields.id)) or "s" + hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]
    seed = {"id": sid, "question": question, "category": text(q.get(fields.category)) or "general"}
    reference, language = accepted(q.get(fields.reference)), text(q.get(fields.language))
    if reference:
        seed["reference"] = reference
    if language:
        seed["language"] = language
    used = set(STANDARD) | {fields.id, fields.category, fields.reference, fields.language}
    seed.update({k: v for k, v in q.items() if k not in used and not _empty(v)})
    return seed
