"""Read a run folder into pandas: one RunData with a DataFrame per JSONL file and a dict per stats file.

Whatever a stage has not written yet is None, so the same code reads a run with only some stages done.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from imitate.data.records import iter_jsonl, read_json, turn
from imitate.errors import UserError
from imitate.rundir import FILES, STAGES
from imitate.text.language import guess

# file name -> RunData attribute: the files report.html shows (STAGES["report"].reads): JSONL files
# as DataFrames, JSON files (stats and settings) as dicts
FRAMES = {FILES[k].name: k for k in STAGES["report"].reads if FILES[k].name.endswith(".jsonl")}
STATS = {FILES[k].name: k for k in STAGES["report"].reads if FILES[k].name.endswith(".json")}


def stage_files() -> dict[str, list[str]]:
    """stage -> the names of the files it writes; the first (its stats file, written last, or its
    main output) marks the stage as done."""
    out = {}
    for stage, (_, writes) in STAGES.items():
        names = [FILES[k].name for k in writes]
        names.sort(key=lambda n: not n.endswith("_stats.json"))
        out[stage] = names
    return out


class NotRunYet(Exception):
    """A figure or table needs a file that the run folder does not hold yet."""


@dataclass
class RunData:
    """One run folder, read. A DataFrame has one row per record plus the columns of `add_columns`."""

    path: Path
    collected: pd.DataFrame | None = None
    failed: pd.DataFrame | None = None
    kept: pd.DataFrame | None = None
    dropped: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    collect_stats: dict | None = None
    filter_stats: dict | None = None
    select_stats: dict | None = None
    finetune_stats: dict | None = None
    eval: pd.DataFrame | None = None
    eval_stats: dict | None = None
    collect_config: dict | None = None
    filter_config: dict | None = None
    finetune_config: dict | None = None
    eval_config: dict | None = None
    files: list[str] = field(default_factory=list)

    def need(self, *names: str) -> None:
        """Raise NotRunYet unless every attribute in `names` is present."""
        absent = [n for n in names if getattr(self, n) is None]
        if absent:
            files = [f for f, a in {**FRAMES, **STATS}.items() if a in absent]
            raise NotRunYet(f"needs {', '.join(files)} in {self.path}")

    def need_any(self, *names: str) -> None:
        if all(getattr(self, n) is None for n in names):
            files = [f for f, a in {**FRAMES, **STATS}.items() if a in names]
            raise NotRunYet(f"needs one of {', '.join(files)} in {self.path}")

    def answers(self) -> pd.DataFrame:
        """The records whose answers describe the run best: kept if filtered, else collected."""
        self.need_any("kept", "collected")
        return self.kept if self.kept is not None else self.collected


def script_language(text: str) -> str:
    """The text's language (imitate.text.language.guess), 'other' when it cannot tell (code only,
    numbers, a few letters)."""
    return guess(text) or "other"


def _get(rec: dict, *keys):
    for k in keys:
        rec = rec.get(k) if isinstance(rec, dict) else None
    return rec


def add_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add question, answer, answer_chars, answer_words, language, category, teacher_model, token
    columns to a frame of records (in place; also returned). A record's own `language` (stamped by
    a filter) wins over the script heuristic; a missing category reads '(none)'."""
    recs = df.to_dict("records") if len(df) else []
    df["category"] = [r.get("category") if isinstance(r.get("category"), str) else "(none)" for r in recs]
    df["question"] = [turn(r, "user") if isinstance(r.get("messages"), list) else "" for r in recs]
    df["answer"] = [turn(r, "assistant") if isinstance(r.get("messages"), list) else "" for r in recs]
    df["answer_chars"] = pd.array([len(a) for a in df["answer"]], dtype="int64")
    df["answer_words"] = [len(a.split()) for a in df["answer"]]
    own = [r.get("language") if isinstance(r.get("language"), str) else None for r in recs]
    df["language"] = [lang or script_language(a or q)
                      for lang, a, q in zip(own, df["answer"], df["question"])]
    # a record names its teacher as {"model": ...}; collect's failed.jsonl as a plain label
    df["teacher_model"] = [r["teacher"] if isinstance(r.get("teacher"), str) else
                           _get(r, "teacher", "model") or "(unknown)" for r in recs]
    for k in ("prompt_tokens", "completion_tokens"):
        df[k] = pd.array([_get(r, "usage", k) for r in recs], dtype="Int64")
    if "drop_reason" not in df:
        df["drop_reason"] = None
    return df


def read_frame(path: Path) -> pd.DataFrame:
    """A JSONL file as a DataFrame with the added columns. A torn last line (a stage still writing,
    or killed) is skipped; any other bad line raises UserError naming file and line."""
    recs = [obj for _, obj in iter_jsonl(path, allow_torn_tail=True)]
    df = pd.DataFrame.from_records(recs) if recs else pd.DataFrame(columns=["messages"])
    return add_columns(df)


def load_run(run_dir: str | Path) -> RunData:
    """Read every known file of a run folder; what is absent stays None."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError("run folder not found" if not path.exists() else "not a folder", path)
    run = RunData(path=path, files=sorted(p.name for p in path.iterdir()))
    for name, attr in FRAMES.items():
        if (path / name).is_file():
            setattr(run, attr, read_frame(path / name))
    for name, attr in STATS.items():
        if (path / name).is_file():
            setattr(run, attr, read_json(path / name))
    return run


def stages(run: RunData) -> pd.DataFrame:
    """One row per stage: which of its files the folder holds, and whether it looks done."""
    rows = []
    files = stage_files()
    written = [n for names in files.values() for n in names]
    for stage, names in files.items():
        if stage == "report":   # this page
            continue
        # a file several stages write (the embedded teacher's log) says nothing about which one ran
        have = [n for n in names if n in run.files and written.count(n) == 1]
        if stage == "finetune":   # students written elsewhere in the run (--output), each with its own stats
            have += [n for n in run.files if n not in have and (run.path / n / "finetune_stats.json").is_file()]
        status = "done" if names[0] in have else ("partial" if have else "not run yet")
        rows.append({"stage": stage, "status": status, "files": ", ".join(have) or "-"})
    return pd.DataFrame(rows)
