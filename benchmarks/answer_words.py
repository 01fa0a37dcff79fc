"""How long each model's eval answers are, in words: mean and median, and how many answers hit
--max-tokens (finish_reason 'length'). A mean can differ by a few long answers where the typical
(median) answer does not.

Run: .venv/bin/python benchmarks/answer_words.py runs/demo [--category C ...]
"""
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_runs import read  # noqa: E402


def main() -> int:
    runs = read(__doc__)
    if runs is None:
        return 2
    for run, recs in runs.items():
        cells = []
        for model in dict.fromkeys(r["model"] for r in recs):
            mine = [r for r in recs if r["model"] == model]
            words = [r["words"] for r in mine]
            cut = sum(r["finish_reason"] == "length" for r in mine)
            cells.append(f"{model} mean {statistics.mean(words):.1f} median {statistics.median(words):g} "
                         f"cut {cut}/{len(mine)}")
        print(f"{run}: " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
