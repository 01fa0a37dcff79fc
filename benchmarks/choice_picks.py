"""Multiple-choice answers in runs' eval.jsonl: how often each model commits to exactly one option, and
how often that option is the reference, against chance (1 / the number of options, averaged).
A model can gain reference accuracy on such questions by answering in the asked form alone: this tells
that gain apart from knowing more. An option counts as picked when eval's strict rule would accept it
as the reference (imitate.text.answers.matches_reference); exactly one accepted option is a pick.

--category keeps only the questions of the given categories (repeat it), as in pooled_eval.py.

Run: .venv/bin/python benchmarks/choice_picks.py runs/pub_s0 runs/pub_s1 runs/pub_s2 \
       --category arc_easy --category commonsenseqa --category openbookqa
"""
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_runs import read  # noqa: E402
from imitate.text.answers import matches_reference, options  # noqa: E402


def main() -> int:
    runs = read(__doc__)
    if runs is None:
        return 2
    count = defaultdict(lambda: {"answers": 0, "picked": 0, "right": 0, "chance": 0.0})
    for recs in runs.values():
        for r in recs:
            question = r["messages"][-2]["content"]
            opts = options(question)
            if str(r.get("reference")) not in opts:
                continue
            answer = r["messages"][-1]["content"]
            picks = [o for o in opts if matches_reference(answer, o, question, strict=True)[0]]
            c = count[r["model"]]
            c["answers"] += 1
            c["chance"] += 1 / len(opts)
            if len(picks) == 1:
                c["picked"] += 1
                c["right"] += picks[0] == r["reference"]
    if not count:
        print("error: no multiple-choice questions with an option letter as reference here", file=sys.stderr)
        return 2
    for model, c in count.items():
        share = f"{c['right'] / c['picked']:.1%}" if c["picked"] else "-"
        print(f"{model}: {c['answers']} answers, one option picked in {c['picked']} ({c['picked'] / c['answers']:.0%}), "
              f"right {c['right']}: {share} of picks, chance {c['chance'] / c['answers']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
