"""What the benchmarks that read several runs' eval.jsonl share: their arguments (RUN folders and
--category) and the records, read and checked."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imitate.data.records import read_jsonl  # noqa: E402


def read(doc: str) -> dict[str, list[dict]] | None:
    """{run: its eval records, of the --category given (all when none)}, from the command line; None,
    with the error printed, when a run has no eval.jsonl or none of those categories."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders that eval wrote eval.jsonl into")
    ap.add_argument("--category", action="append", default=[],
                    help="only the questions of this category (repeat for several); unset: all")
    args = ap.parse_args()
    missing = [r for r in args.runs if not (Path(r) / "eval.jsonl").is_file()]
    if missing:
        print(f"error: no eval.jsonl in {', '.join(missing)}: run eval (or scripts/demo.sh) there first",
              file=sys.stderr)
        return None
    runs = {run: [r for r in read_jsonl(Path(run) / "eval.jsonl") if not args.category or r["category"] in args.category]
            for run in args.runs}
    empty = [run for run, recs in runs.items() if not recs]
    if empty:
        print(f"error: no answers of the categories {', '.join(args.category)} in {', '.join(empty)}", file=sys.stderr)
        return None
    return runs
