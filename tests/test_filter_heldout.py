"""Measures the filter stage on an independent, hand-labelled held-out set.

tests/fixtures/filter_heldout/heldout.jsonl was written without looking at the filter code or
the filters' own fixtures. Each record carries `label` (good/bad) and `defect`; we run the real
CLI and check that bad records are dropped (recall) and good ones are kept (false positives).
"""
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "fixtures" / "filter_heldout" / "heldout.jsonl"

MIN_RECALL = 0.95
MAX_FALSE_POSITIVE_RATE = 0.05


def _read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _is_korean(text):
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def test_filter_heldout(tmp_path):
    records = _read_jsonl(HELDOUT)
    by_id = {r["id"]: r for r in records}
    assert len(by_id) == len(records) >= 140

    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "imitate", "filter", "--run", str(run), "--input", str(HELDOUT),
         "--balance", "none"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, f"filter failed:\n{proc.stdout}\n{proc.stderr}"

    kept = _read_jsonl(run / "kept.jsonl")
    dropped = _read_jsonl(run / "dropped.jsonl")
    kept_ids = {r["id"] for r in kept}
    reason = {r["id"]: r.get("drop_reason", "?") for r in dropped}
    assert kept_ids.isdisjoint(reason), "a record is both kept and dropped"
    assert kept_ids | set(reason) == set(by_id), "records missing from kept/dropped"

    good = [r for r in records if r["label"] == "good"]
    bad = [r for r in records if r["label"] == "bad"]
    bad_dropped = [r for r in bad if r["id"] in reason]
    good_dropped = [r for r in good if r["id"] in reason]
    recall = len(bad_dropped) / len(bad)
    fp_rate = len(good_dropped) / len(good)

    per_defect = defaultdict(lambda: [0, 0])          # defect -> [dropped, total]
    for r in records:
        per_defect[r["defect"]][1] += 1
        per_defect[r["defect"]][0] += r["id"] in reason

    print()
    print(f"held-out records: {len(records)} ({len(good)} good, {len(bad)} bad)")
    print(f"recall (bad dropped):           {len(bad_dropped)}/{len(bad)} = {recall:.3f}")
    print(f"false positives (good dropped): {len(good_dropped)}/{len(good)} = {fp_rate:.3f}")
    print()
    print(f"{'defect':<20} {'dropped':>7} {'total':>5} {'share':>6}")
    for defect in sorted(per_defect, key=lambda d: (d == "none", d)):
        n_drop, n = per_defect[defect]
        print(f"{defect:<20} {n_drop:>7} {n:>5} {n_drop / n:>6.2f}")
    print()
    print("misclassified:")
    miscl = [r for r in records
             if (r["label"] == "bad") != (r["id"] in reason)]
    for r in miscl:
        print(f"  {r['id']}  {r['label']:<4}  {r['defect']:<18} {reason.get(r['id'], 'kept')}")
    if not miscl:
        print("  (none)")

    korean_lang_drops = [(r["id"], reason[r["id"]]) for r in good_dropped
                         if _is_korean(r["messages"][1]["content"])
                         and reason[r["id"]].startswith("language:")]
    assert not korean_lang_drops, f"good Korean records dropped by language: {korean_lang_drops}"
    assert recall >= MIN_RECALL, f"recall {recall:.3f} < {MIN_RECALL}"
    assert fp_rate <= MAX_FALSE_POSITIVE_RATE, f"false-positive rate {fp_rate:.3f} > {MAX_FALSE_POSITIVE_RATE}"
