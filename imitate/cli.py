"""`python -m imitate STAGE ...`: parse flags, build the stage's Config, call its run(cfg).

Each stage module exposes `Config` (a dataclass, see imitate.config), `run(cfg) -> int` and a
docstring whose first line is the subcommand's help. Modules are imported only when chosen, so
`--help` and light stages stay fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from imitate import config as config_mod
from imitate.errors import UserError

STAGES = {
    "collect": "imitate.stages.collect",
    "seeds": "imitate.stages.seeds",
    "filter": "imitate.stages.filter",
    "finetune": "imitate.stages.finetune",
    "export": "imitate.stages.export",
    "report": "imitate.stages.report",
    "teacher": "imitate.teacher.serve_cli",
}

SUMMARY = {
    "collect": "ask the teacher the seed questions and write collected.jsonl",
    "seeds": "have the teacher write new seed questions (Self-Instruct, Evol-Instruct)",
    "filter": "keep the answers worth imitating; write kept.jsonl and dropped.jsonl with reasons",
    "finetune": "LoRA-tune the student on kept.jsonl (TRL), optionally with white-box KD",
    "export": "write the kept set as OpenAI messages, ShareGPT or Alpaca, plus Parquet",
    "report": "write report.html: one self-contained page about a run folder",
    "teacher": "run the embedded teacher server alone (`teacher serve`)",
}


def _parser(stage: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imitate", description="Imitation learning from an API-only teacher.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="stage", metavar="STAGE")
    for name, summary in SUMMARY.items():
        sp = sub.add_parser(name, help=summary, description=summary)
        if name == stage:
            mod = importlib.import_module(STAGES[name])
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stage = next((a for a in argv if a in STAGES), None)
    try:
        args = vars(_parser(stage).parse_args(argv))
        if not args.get("stage"):
            _parser(None).print_help()
            return 2
        mod = importlib.import_module(STAGES[args.pop("stage")])
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
