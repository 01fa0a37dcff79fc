"""Several runs' eval against the base, one line each and pooled: questions each model gains and loses
against the base (eval's against_base, from each run's eval.jsonl) and the exact sign test on the sums.
Pooling counts a question once per run, so it speaks of these runs' questions and draws together; the
runs should score the same models (base, sft, sft+kd, teacher: the demo's). --category keeps only the
questions of the given categories (repeat it), such as the sources of seeds/public/.

Run: .venv/bin/python benchmarks/pooled_eval.py runs/full_s0 runs/full_s1 runs/full_s2
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_runs import read  # noqa: E402
from imitate.eval.stats import against_base, paired_lines, sign_test  # noqa: E402


def main() -> int:
    runs = read(__doc__)
    if runs is None:
        return 2
    total: dict = {}
    for run, recs in runs.items():
        models = dict.fromkeys(r["model"] for r in recs)
        right = {m: sum(bool(r["correct"]) for r in recs if r["model"] == m) for m in models}
        cells = []
        for m, scores in against_base(recs).items():
            for score, d in scores.items():
                t = total.setdefault((m, score), [0, 0])
                t[0] += d["gained"]
                t[1] += d["lost"]
            ref = scores.get("reference_accuracy")
            if ref:
                cells.append(f"{m} +{ref['gained']} -{ref['lost']}")
        print(f"{run}: right {right}; reference answers against the base: {', '.join(cells)}")
    pooled: dict = {}
    for (m, score), (g, lost) in total.items():
        pooled.setdefault(m, {})[score] = {"gained": g, "lost": lost, "p": sign_test(g, lost)}
    print("pooled " + "\n".join(paired_lines(pooled)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
