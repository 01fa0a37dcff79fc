"""`python -m imitate STAGE ...`: parse flags, build the stage's Config, call its run(cfg).

Each stage module exposes `Config` (a dataclass, see imitate.config), `run(cfg) -> int` and a
docstring whose first line is the subcommand's help. Modules are imported only when chosen, so
`--help` and light stages stay fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from imitate import config as config_mod
from imitate.errors import UserError
from imitate.rundir import STAGES

COMMANDS = {name: f"imitate.stages.{name}" for name in (*STAGES, "student", "teacher")}
RENAMED = {"seeds": "questions"}   # former subcommand names: still run, with a warning

SUMMARY = {
    "questions": "have the teacher write new questions (Self-Instruct, Evol-Instruct): questions.jsonl",
    "collect": "ask the teacher the seed questions and write collected.jsonl",
    "filter": "keep the answers worth imitating; write kept.jsonl and dropped.jsonl with reasons",
    "select": "rank the kept answers (IFD, a judge, length, random; diversity) and keep a budget: selected.jsonl",
    "student": "cut a shallower student from the teacher: keep N of its layers (a folder for finetune --student)",
    "finetune": "LoRA-tune the student on kept.jsonl (TRL), optionally with white-box KD",
    "eval": "score the student before and after training against the teacher: eval_stats.json",
    "export": "write the kept set as OpenAI messages, ShareGPT or Alpaca, plus Parquet",
    "report": "write report.html: one self-contained page about a run folder",
    "teacher": "run the embedded teacher alone (`teacher serve`), or cache its top-k for finetune --kd topk (`teacher topk`)",
}


def _parser(stage: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imitate", description="Imitation learning from an API-only teacher.",
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    sub = p.add_subparsers(dest="stage", metavar="STAGE")
    for name, summary in SUMMARY.items():
        sp = sub.add_parser(name, help=summary, description=summary, allow_abbrev=False)
        if name == stage:
            mod = importlib.import_module(COMMANDS[name])
            if mod.__doc__:
                sp.description = mod.__doc__
                sp.formatter_class = argparse.RawDescriptionHelpFormatter
            if hasattr(mod, "add_arguments"):
                mod.add_arguments(sp)
            else:
                sp.add_argument("--config", metavar="FILE.yaml",
                                help="YAML file of settings; flags given here override it")
                config_mod.add_arguments(sp, mod.Config)
    return p


def quiet_libraries() -> None:
    """The libraries' deprecation warnings and loading bars say nothing to a user of the stages; each stage
    reports its own progress. IMITATE_VERBOSE=1 keeps them."""
    if os.environ.get("IMITATE_VERBOSE"):
        return
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")   # read when huggingface_hub is imported
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")     # read when transformers is imported
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")   # "Truncating train dataset" bars


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_libraries()
    for i, a in enumerate(argv):
        if a in RENAMED:
            config_mod.renamed(f"`imitate {a}`", f"`imitate {RENAMED[a]}`")
            argv[i] = RENAMED[a]
        if not a.startswith("-"):
            break
    stage = next((a for a in argv if a in COMMANDS), None)
    try:
        args = vars(_parser(stage).parse_args(argv))
        if not args.get("stage"):
            _parser(None).print_help()
            return 2
        mod = importlib.import_module(COMMANDS[args.pop("stage")])
        if hasattr(mod, "main"):
            return mod.main(args)
        cfg = config_mod.build(mod.Config, args, args.pop("config", None))
        return mod.run(cfg) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
