"""Dataset formats: read rows from any source, detect the record format, convert the records.

Rows come from imitate.data.tables (one reader for every stage's input files).

One registry of record formats (`FORMATS`), detected from a file's first record in this order:

  messages       {"messages": [{"role", "content"}, ...]}                        OpenAI, TRL
  sharegpt       {"conversations": [{"from": "human"|"gpt"|"system", "value"}], "system"?}
  self_instruct  {"instruction", "instances": [{"input", "output"}], "id"?, "name"?, "is_classification"?}
  dolly          {"instruction", "context"?, "response", "category"?}
  alpaca         {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...]}
  question       {"question", "category"?, "reference"?, ...}     seeds only (--question-field ...)

For seeds, a first record holding the question field is `question` whatever else it holds; a
record that fits nothing falls back to `question` (whose errors name the missing field). Each
format converts a record into conversations (records with `messages`, for filter, finetune and
export) and into seed questions (for collect and the questions stage); the record's other fields
are kept. An instruction's `input` (Dolly: `context`) joins it the way Alpaca's prompt does: the
instruction, a blank line, then the input; it is also kept as the field `input`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from imitate.data.records import check_messages
from imitate.data.tables import Table, read_tables
from imitate.errors import UserError

JOIN = "\n\n"                         # between an instruction and its input (Alpaca's prompt)
SHORT_REFERENCE_WORDS = 10            # a Self-Instruct output this short becomes the seed's reference


# ---------------------------------------------------------------------------- helpers

class Fields(NamedTuple):
    """Seed field names (--question-field, ...); the question field matters in `question` mode only."""
    question: str = "question"
    id: str = "id"
    category: str = "category"
    reference: str = "reference"
    language: str = "language"


Fail = Callable[[str], UserError]


def text(value) -> str:
    """A cell as text: None and NaN become ''; 84 -> '84'; 84.0 -> '84'; stripped."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def join_input(instruction: str, extra: str) -> str:
    """The user turn of an instruction with an input: the instruction, a blank line, then the input
    (Alpaca's prompt); the instruction alone when the input is empty."""
    if not extra.strip():
        return instruction
    if not instruction.strip():
        return extra
    return instruction + JOIN + extra


def field_list(row: dict) -> str:
    return ", ".join(map(str, row)) or "none"


def _str(row: dict, key: str, fail: Fail, what: str = "") -> str:
    """row[key] as a string ('' when missing or null); numbers become text; anything else fails."""
    value = row.get(key)
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return text(value)
    raise fail(f"{what}`{key}` must be text, got {type(value).__name__}")


def _rest(row: dict, used) -> dict:
    return {k: v for k, v in row.items() if k not in used}


def _checked(rec: dict, fail: Fail, need_assistant: bool = True) -> dict:
    """rec, after checking its messages (roles, text, a user turn, and an assistant turn)."""
    try:
        msgs = check_messages(rec, None, None, need_assistant=need_assistant)
    except UserError as e:
        raise fail(str(e)) from None
    if not any(m["role"] == "user" for m in msgs):
        raise fail("record has no user turn")
    return rec


def _first_user(rec: dict, fail: Fail) -> str:
    question = next(m["content"] for m in _checked(rec, fail, False)["messages"] if m["role"] == "user").strip()
    if not question:
        raise fail("empty first user turn")
    return question


def _history(row: dict, fail: Fail) -> list[dict]:
    """The system message and the earlier turns of an Alpaca record."""
    msgs = []
    system = _str(row, "system", fail)
    if system.strip():
        msgs.append({"role": "system", "content": system})
    history = row.get("history") or []
    if not isinstance(history, list):
        raise fail(f"`history` must be a list of [user, assistant] pairs, got {type(history).__name__}")
    for i, pair in enumerate(history, start=1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise fail(f"`history` item {i} must be a [user, assistant] pair of texts")
        msgs += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return msgs


def _turn_pair(user: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def _with_input(rec: dict, extra: str, key: str = "input") -> dict:
    if extra.strip():
        rec[key] = extra
    return rec


# ---------------------------------------------------------------------------- the formats
# Each has: fits(row) (auto-detection), conversations(row, fail) -> [record with messages],
# questions(row, fail, fields) -> [{"question", ...the record's other fields}].

def _messages_conversations(row, fail):
    return [_checked(row, fail)]


def _messages_questions(row, fail, fields):
    return [{**_rest(row, {"messages"}), "question": _first_user(row, fail)}]


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "model": "assistant",
                  "system": "system"}


def _sharegpt_record(row, fail) -> dict:
    turns = row["conversations"]
    if not isinstance(turns, list):
        raise fail(f"`conversations` must be a list of turns, got {type(turns).__name__}")
    msgs = []
    system = _str(row, "system", fail)
    if system.strip():
        msgs.append({"role": "system", "content": system})
    for i, t in enumerate(turns, start=1):
        if not isinstance(t, dict):
            raise fail(f"turn {i} of `conversations` must be an object with `from` and `value`")
        who, value = t.get("from", t.get("role")), t.get("value", t.get("content"))
        role = SHAREGPT_ROLES.get(str(who).lower())
        if role is None:
            raise fail(f"turn {i} of `conversations`: unknown speaker {who!r} "
                       "(known: human, user, gpt, assistant, system)")
        if not isinstance(value, str):
            raise fail(f"turn {i} of `conversations`: `value` must be text, got {type(value).__name__}")
        msgs.append({"role": role, "content": value})
    return {**_rest(row, {"conversations", "system"}), "messages": msgs}


def _sharegpt_conversations(row, fail):
    return [_checked(_sharegpt_record(row, fail), fail)]


def _sharegpt_questions(row, fail, fields):
    rec = _sharegpt_record(row, fail)
    return [{**_rest(rec, {"messages"}), "question": _first_user(rec, fail)}]


def _instruction_questions(row, fail, used, extra_key):
    """Alpaca and Dolly seeds: the instruction joined with its input/context; that kept as `input`."""
    instruction, extra = _str(row, "instruction", fail).strip(), _str(row, extra_key, fail).strip()
    question = join_input(instruction, extra)
    if not question:
        raise fail("empty `instruction`")
    return [_with_input({**_rest(row, used), "question": question}, extra)]


def _alpaca_conversations(row, fail):
    instruction, extra = _str(row, "instruction", fail), _str(row, "input", fail)
    user = join_input(instruction, extra)
    if not user.strip():
        raise fail("empty `instruction`")
    msgs = _history(row, fail) + _turn_pair(user, _str(row, "output", fail))
    rec = _with_input(_rest(row, {"instruction", "input", "output", "system", "history"}), extra)
    return [_checked({**rec, "messages": msgs}, fail)]


def _alpaca_questions(row, fail, fields):
    return _instruction_questions(row, fail, {"instruction", "input"}, "input")


def _dolly_conversations(row, fail):
    instruction, extra = _str(row, "instruction", fail), _str(row, "context", fail)
    user = join_input(instruction, extra)
    if not user.strip():
        raise fail("empty `instruction`")
    rec = _with_input(_rest(row, {"instruction", "context", "response"}), extra)
    return [_checked({**rec, "messages": _turn_pair(user, _str(row, "response", fail))}, fail)]


def _dolly_questions(row, fail, fields):
    return _instruction_questions(row, fail, {"instruction", "context"}, "context")


def _instances(row, fail) -> list[tuple[int, str, str]]:
    """[(k, input, output)] of a Self-Instruct task, k from 1."""
    instances = row["instances"]
    if not isinstance(instances, list):
        raise fail(f"`instances` must be a list of {{input, output}}, got {type(instances).__name__}")
    out = []
    for k, inst in enumerate(instances, start=1):
        if not isinstance(inst, dict):
            raise fail(f"instance {k} must be an object with `input` and `output`")
        out.append((k, _str(inst, "input", fail, f"instance {k}: "), _str(inst, "output", fail, f"instance {k}: ")))
    return out


def _self_instruct_conversations(row, fail):
    instruction = _str(row, "instruction", fail)
    instances = _instances(row, fail)
    if not instances:
        raise fail("`instances` is empty: no answer to learn from")
    out = []
    for k, extra, output in instances:
        rec = _with_input(_rest(row, {"instruction", "instances"}), extra)
        if len(instances) > 1 and text(rec.get("id")):
            rec["id"] = f"{text(rec['id'])}-{k}"
        user = join_input(instruction, extra)
        if not user.strip():
            raise fail("empty `instruction`")
        out.append(_checked({**rec, "messages": _turn_pair(user, output)}, fail))
    return out


def _self_instruct_questions(row, fail, fields):
    """One question per instance with an input (instruction + input), one for the instruction alone
    (the instances with an empty input); a short output is the reference, a longer one is kept as
    `output`."""
    instruction = _str(row, "instruction", fail).strip()
    if not instruction:
        raise fail("empty `instruction`")
    base = _rest(row, {"instruction", "instances"})
    out, plain = [], False
    for k, extra, output in _instances(row, fail) or [(1, "", "")]:
        extra, output = extra.strip(), output.strip()
        if not extra:
            if plain:
                continue
            plain = True
        q = _with_input({**base, "question": join_input(instruction, extra)}, extra)
        if output and not text(q.get(fields.reference)) and len(output.split()) <= SHORT_REFERENCE_WORDS:
            q[fields.reference] = output
        elif output:
            q["output"] = output
        out.append((k, q))
    task_id = text(row.get(fields.id))
    if len(out) > 1 and task_id:
        for k, q in out:
            q[fields.id] = f"{task_id}-{k}"
    return [q for _, q in out]


def _question_questions(row, fail, fields):
    qf = fields.question
    if qf not in row:
        raise fail(f"no {qf!r} field (fields: {field_list(row)})")
    raw = row[qf]
    if isinstance(raw, (dict, list)):
        raise fail(f"{qf!r} must be text, got {type(raw).__name__}")
    question = text(raw)
    if not question:
        raise fail(f"empty {qf!r}")
    return [{**_rest(row, {qf}), "question": question}]


class Format(NamedTuple):
    name: str
    title: str
    needs: tuple                # fields a record must have for its conversations
    asks: tuple                 # fields a record must have for its seed questions
    fits: Callable | None       # auto-detection from the first record (None: seeds fallback)
    conversations: Callable | None
    questions: Callable


def _instruction_with(*keys):
    return lambda r: "instruction" in r and any(k in r for k in keys)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("messages", "OpenAI/TRL messages", ("messages",), ("messages",),
           lambda r: isinstance(r.get("messages"), list), _messages_conversations, _messages_questions),
    Format("sharegpt", "ShareGPT", ("conversations",), ("conversations",),
           lambda r: isinstance(r.get("conversations"), list), _sharegpt_conversations, _sharegpt_questions),
    Format("self_instruct", "Self-Instruct", ("instruction", "instances"), ("instruction", "instances"),
           lambda r: "instruction" in r and isinstance(r.get("instances"), list),
           _self_instruct_conversations, _self_instruct_questions),
    Format("dolly", "Dolly", ("instruction", "response"), ("instruction",),
           _instruction_with("response", "context"), _dolly_conversations, _dolly_questions),
    Format("alpaca", "Alpaca", ("instruction", "output"), ("instruction",),
           _instruction_with("output", "input"), _alpaca_conversations, _alpaca_questions),
    Format("question", "plain questions", (), (), None, None, _question_questions),
)}
CONVERSATION_FORMATS = tuple(n for n, f in FORMATS.items() if f.conversations)
SEED_FORMATS = tuple(FORMATS)
NO_FORMAT = ("record has no `messages` list and fits no other known format (ShareGPT `conversations`; "
             "Alpaca `instruction` + `output`; Dolly `instruction` + `response`; Self-Instruct "
             "`instruction` + `instances`)")


# ---------------------------------------------------------------------------- detection, conversion

def detect(row: dict, *, seeds: bool = False, question_field: str = "question") -> str | None:
    """The format of a record: the first of FORMATS whose rule fits; for seeds, `question` when the
    record has the question field, and as the fallback. None: nothing fits (conversations)."""
    if seeds and question_field in row:
        return "question"
    for name, f in FORMATS.items():
        if f.fits and f.fits(row):
            return name
    return "question" if seeds else None


def choose(table: Table, forced: str = "auto", *, seeds: bool = False, question_field: str = "question") -> str:
    """The format of a table (forced, or detected from its first record); says which on stderr."""
    names = SEED_FORMATS if seeds else CONVERSATION_FORMATS
    if forced not in ("auto",) + names:
        raise UserError(f"--format must be auto or one of {', '.join(names)}, not {forced!r}")
    if not table.rows:
        raise table.error("file has no records")
    if forced == "auto":
        n, first = table.rows[0]
        fmt = detect(first, seeds=seeds, question_field=question_field)
        if fmt is None:
            raise table.error(f"{NO_FORMAT}; fields: {field_list(first)}", n)
    else:
        fmt = forced
    print(f"read {table.where} as {fmt} ({table.kind}, {len(table.rows)} records)", file=sys.stderr)
    return fmt


def _needs(table: Table, fmt: str, n: int, row: dict, needs: tuple, forced: bool) -> None:
    missing = [k for k in needs if k not in row]
    if missing:
        how = "given with --format" if forced else "detected from the first record"
        raise table.error(f"record does not fit the {fmt} format ({how}): no "
                          f"{' or '.join(f'`{k}`' for k in missing)}; fields: {field_list(row)}", n)


def conversations(table: Table, fmt: str, forced: bool = False) -> Iterator[tuple[int, dict]]:
    """(n, record with messages) for each row; a task of several instances gives several records."""
    f = FORMATS[fmt]
    for n, row in table.rows:
        _needs(table, fmt, n, row, f.needs, forced)
        for rec in f.conversations(row, lambda msg, n=n: table.error(msg, n)):
            yield n, rec


def questions(table: Table, fmt: str, fields: Fields = Fields(), forced: bool = False) -> Iterator[tuple[int, dict]]:
    """(n, {"question", ...the record's other fields}) for each seed question of each row."""
    f = FORMATS[fmt]
    if fmt == "question" and table.columns is not None and fields.question not in table.columns:
        raise UserError(f"no column {fields.question!r}; columns: {', '.join(map(str, table.columns))}",
                        table.where)
    for n, row in table.rows:
        _needs(table, fmt, n, row, f.asks, forced)
        for q in f.questions(row, lambda msg, n=n: table.error(msg, n), fields):
            yield n, q


def iter_conversations(source, format: str = "auto", split: str = "train") -> Iterator[tuple[Table, int, dict]]:
    """(table, n, record with messages) over every file of a source, each file's format detected
    from its first record unless `format` forces one."""
    for table in read_tables(source, split, noun="data"):
        fmt = choose(table, format)
        for n, rec in conversations(table, fmt, forced=format != "auto"):
            yield table, n, rec


def read_conversations(path: str | Path, format: str = "auto", split: str = "train") -> list[tuple[int, dict]]:
    """(line, record) for records that carry `messages` with a user and an assistant turn (filter,
    finetune, export). The file may be JSONL, a JSON array (then the number is the record's position,
    from 1), CSV, Parquet, a folder of those or a Hugging Face dataset, holding messages, ShareGPT,
    Alpaca, Dolly or Self-Instruct records (see imitate.data.formats): each file's format is detected
    from its first record unless `format` names one; other records come back converted to messages."""
    out = [(no, rec) for _, no, rec in iter_conversations(path, format, split)]
    if not out:
        raise UserError("file has no records", path)
    return out
