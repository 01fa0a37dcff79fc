"""The run folder: every file a stage reads or writes, by name, in one place.

`STAGES` holds what each stage reads and writes, as names of `FILES` (data: this module imports no
stage); `RunDir(path).collected` is the path of collected.jsonl in that folder. inspect, report and
the table of files in docs/architecture.md derive from these declarations, and a test checks that each
stage writes exactly what it declares.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

DEFAULT = "runs/default"   # the run folder of every stage when --run is not given


class Stage(NamedTuple):
    reads: tuple[str, ...]    # names of FILES
    writes: tuple[str, ...]


class File(NamedTuple):
    name: str              # the file or folder name inside the run folder
    holds: str             # one line: what it holds
    when: str = ""         # written only in this case ('' = always)


FILES = {
    "questions": File("questions.jsonl", "questions the teacher wrote; collect asks them when present"),
    "questions_dropped": File("questions_dropped.jsonl", "each dropped question, with drop_reason and evidence"),
    "questions_failed": File("questions_failed.jsonl", "requests of the questions stage that failed for good"),
    "questions_requests": File("questions_requests.jsonl", "every teacher answer of the questions stage, "
                               "appended as it arrives (resume)"),
    "questions_stats": File("questions_stats.json", "counts per drop code, rounds, tokens"),
    "questions_config": File("questions_config.json", "the settings of the questions stage"),
    "collected": File("collected.jsonl", "one record per teacher answer, appended as it arrives (resume)"),
    "failed": File("failed.jsonl", "requests that used up their attempts, with the last error",
                   "something was sent"),
    "collect_stats": File("collect_stats.json", "requests, retries, tokens, throughput", "something was sent"),
    "collect_config": File("collect_config.json", "the settings of collect"),
    "teacher_log": File("teacher_server.log", "the embedded teacher's server log", "the embedded teacher ran"),
    "batches": File("batches.json", "each batch: its input file, file id, batch id and status (re-attach after "
                    "a crash)", "--batch is given"),
    "batch_input": File("batch_input", "the requests as Batch API input files (shards)",
                        "--batch or --batch-file-only is given"),
    "batch_output": File("batch_output", "each ended batch's output and error files, as downloaded", "a batch ended"),
    "topk": File("topk", "the teacher's top-k log-probs per answer token, keyed by record id: meta.json, Parquet "
                 "shards, staging.jsonl while collecting", "collect --logprobs or teacher topk ran"),
    "kept": File("kept.jsonl", "the records the filters kept, unchanged"),
    "dropped": File("dropped.jsonl", "the records they dropped, with drop_reason = filter:code and evidence"),
    "filter_stats": File("filter_stats.json", "counts per drop reason, categories before and after"),
    "filter_config": File("filter_config.json", "the settings of filter"),
    "selected": File("selected.jsonl", "the records select kept within its budget, unchanged; finetune trains on "
                     "it when present"),
    "scores": File("scores.jsonl", "every record select read: its scores, rank, and why it was left out"),
    "select_ifd": File("select_ifd.jsonl", "each record's IFD losses, appended as computed (resume)", "--by ifd"),
    "select_requests": File("select_requests.jsonl", "every judge rating of select, appended as it arrives "
                            "(resume)", "--by judge"),
    "select_stats": File("select_stats.json", "the budget, counts per reason, score summaries, speed"),
    "select_config": File("select_config.json", "the settings of select"),
    "student": File("student", "the LoRA adapter and tokenizer (merged/ with --merge)"),
    "finetune_logs": File("finetune_logs", "the trainer's reports (--report-to)", "--report-to is set"),
    "finetune_stats": File("finetune_stats.json", "held-out loss before and after, loss curve, tokens/s, of the "
                                                  "run's last finetune (each student folder keeps its own copy)"),
    "finetune_config": File("finetune_config.json", "the settings of finetune"),
    "eval_requests": File("eval_requests.jsonl", "every answer and judge verdict of the eval stage, appended as "
                          "it arrives (resume)"),
    "eval": File("eval.jsonl", "every evaluated answer (base, student, teacher) with its scores and verdicts"),
    "eval_stats": File("eval_stats.json", "scores per model and category, the imitation gap before and after, "
                       "each model against the base"),
    "eval_config": File("eval_config.json", "the settings of eval"),
    "export": File("export", "the kept set as OpenAI / ShareGPT / Alpaca files, Parquet, dataset_info.json"),
    "export_config": File("export_config.json", "the settings of the last export"),
    "report": File("report.html", "one self-contained page about the run"),
    "report_config": File("report_config.json", "the settings of report"),
}

# stage -> (the run-folder files it reads, those it writes), in pipeline order. The stage modules
# (imitate.stages.NAME) take their READS and WRITES from here; a test checks that each writes exactly these.
STAGES = {
    "questions": Stage(reads=("questions_requests",),
                 writes=("questions", "questions_dropped", "questions_failed", "questions_requests",
                         "questions_stats", "questions_config", "teacher_log")),
    "collect": Stage(reads=("questions", "collected", "failed", "batches", "batch_input", "batch_output"),
                 writes=("collected", "failed", "collect_stats", "collect_config", "teacher_log", "batches",
                         "batch_input", "batch_output", "topk")),
    "filter": Stage(reads=("collected",),
                 writes=("kept", "dropped", "filter_stats", "filter_config")),
    "select": Stage(reads=("kept", "select_ifd", "select_requests"),
                 writes=("selected", "scores", "select_ifd", "select_requests", "select_stats", "select_config",
                         "teacher_log")),
    "finetune": Stage(reads=("kept", "selected", "topk"),
                 writes=("student", "finetune_logs", "finetune_stats", "finetune_config")),
    "eval": Stage(reads=("kept", "selected", "collected", "student", "finetune_stats", "finetune_config",
                         "eval_requests"),
                 writes=("eval_requests", "eval", "eval_stats", "eval_config", "teacher_log")),
    "export": Stage(reads=("kept",),
                 writes=("export", "export_config")),
    "report": Stage(reads=("collected", "failed", "kept", "dropped", "scores", "collect_stats", "filter_stats",
                           "select_stats",
                           "finetune_stats", "eval", "eval_stats", "collect_config", "filter_config",
                           "finetune_config", "eval_config"),
                 writes=("report", "report_config")),
}


class RunDir:
    """A run folder; each name of FILES is an attribute giving that file's path."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __getattr__(self, name: str) -> Path:
        try:
            return self.path / FILES[name].name
        except KeyError:
            raise AttributeError(f"no run-folder file named {name!r}; known: {', '.join(FILES)}") from None

    def __truediv__(self, other) -> Path:
        return self.path / other

    def __str__(self) -> str:
        return str(self.path)


def files_table() -> str:
    """The Markdown table of a run folder's files: which stage writes each, which read it."""
    io = STAGES
    rows = ["| file | written by | read by | holds |", "|---|---|---|---|"]
    for key, f in FILES.items():
        writers = [s for s, (_, w) in io.items() if key in w]
        readers = [s for s, (r, _) in io.items() if key in r]
        when = f" (when {f.when})" if f.when else ""
        name = f.name + ("/" if "." not in f.name else "")
        rows.append(f"| `{name}` | {', '.join(writers)} | {', '.join(readers) or '-'} | {f.holds}{when} |")
    return "\n".join(rows)


if __name__ == "__main__":   # python -m imitate.rundir: the table for docs/architecture.md
    print(files_table())
