"""Precision on real data: the default filter stage on public answer sets that count as good.

Every answer source in tests/fixtures/real/sources.json goes through `imitate.stages.filter.run`
(what `python -m imitate filter --input FILE --balance none` runs; balancing is no filter). Per
source and per drop code, at most MAX_SHARE of the records may go. Two kinds of drop are set
aside: dedup (near duplicates that really are near duplicates are fine; it has its own, looser
bar) and the drops that README.md there lists as right, under "Drops that are right", each with
its reason. Held-out sources have no such list: their drops are never read one by one.

    .venv/bin/python tests/test_filter_real.py --print    # the README's table, with recall

prints, per source, records, drop rate and reasons, and the recall of the labelled sets beside.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))

from imitate.data.formats import read_conversations  # noqa: E402
from imitate.stages.filter import Config, run  # noqa: E402

REAL = ROOT / "tests" / "fixtures" / "real"
LABELLED = {"labelled (tests/fixtures/filter)": ROOT / "tests" / "fixtures" / "filter" / "labelled.jsonl",
            "held-out labelled (tests/fixtures/filter_heldout)":
                ROOT / "tests" / "fixtures" / "filter_heldout" / "heldout.jsonl"}
MAX_SHARE = 0.01         # per source and drop code, right drops aside
MAX_DEDUP_SHARE = 0.03   # dedup, counted aside
ASIDE = ("dedup",)
# One right drop in README.md: - `file` `record` `filter:code`: reason
RIGHT_RE = re.compile(r"^- `([^`]+)` `([^`]+)` `(\w+:\w+)`: (.+)$")


def sources() -> list[dict]:
    return [s for s in json.loads((REAL / "sources.json").read_text(encoding="utf-8")) if s["kind"] == "answers"]


def right_drops() -> dict[str, dict[str, tuple[str, str]]]:
    """{file: {record: (drop reason, why it is right)}} from README.md's "Drops that are right"."""
    text = (REAL / "README.md").read_text(encoding="utf-8")
    section = text.split("### Drops that are right", 1)[1].split("\n## ", 1)[0]
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for line in section.splitlines():
        m = RIGHT_RE.match(line.strip())
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = (m.group(3), m.group(4))
    return out


def record_name(rec: dict, position: int) -> str:
    """How README names a record: its id, or `#N` (1-based) in a file without ids (Alpaca)."""
    return str(rec["id"]) if rec.get("id") is not None else f"#{position}"


def filter_file(path: Path) -> tuple[list[dict], list[dict]]:
    """(all records as the stage read them, in order, each with `_name`; the dropped ones)."""
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        assert run(Config(run=d, input=str(path), balance="none", workers=1)) == 0
        kept = [json.loads(line) for line in (Path(d) / "kept.jsonl").read_text(encoding="utf-8").splitlines()]
        dropped = [json.loads(line) for line in (Path(d) / "dropped.jsonl").read_text(encoding="utf-8").splitlines()]
        recs = [rec for _, rec in read_conversations(path)]
    # Dropped records come back unchanged apart from drop_reason and evidence: name them by id,
    # or by their position in the source for id-less records.
    names = {json.dumps(r, sort_keys=True): record_name(r, i + 1) for i, r in enumerate(recs)}
    for r in dropped:
        r["_name"] = names[json.dumps({k: v for k, v in r.items() if k not in ("drop_reason", "evidence")},
                                      sort_keys=True)]
    assert len(kept) + len(dropped) == len(recs)
    return recs, dropped


def over_bar(n: int, dropped: list[dict], right: dict[str, tuple[str, str]]) -> list[str]:
    """The bars a source breaks: a drop code over MAX_SHARE of `n` records, right drops aside,
    dedup over MAX_DEDUP_SHARE; and a listed right drop that the stage no longer makes as listed."""
    counts = Counter(r["drop_reason"] for r in dropped if r["_name"] not in right)
    bad = []
    for reason, c in sorted(counts.items()):
        limit = MAX_DEDUP_SHARE if reason.split(":")[0] in ASIDE else MAX_SHARE
        if c > limit * n:
            bad.append(f"{reason}: {c} of {n} ({c / n:.1%} > {limit:.0%})")
    got = {r["_name"]: r["drop_reason"] for r in dropped}
    for name, (reason, _) in right.items():
        if got.get(name) != reason:
            bad.append(f"README lists {name} as a right {reason} drop; the stage says {got.get(name, 'kept')}")
    return bad


@pytest.mark.parametrize("source", sources(), ids=lambda s: s["file"])
def test_real_source_keeps_its_good_answers(source):
    right = right_drops()
    if source["split"] == "heldout":
        assert source["file"] not in right, "held-out drops are not read one by one, so none is listed"
    recs, dropped = filter_file(REAL / source["file"])
    assert len(recs) >= 150
    problems = over_bar(len(recs), dropped, right.get(source["file"], {}))
    # Held-out: the message names counts per reason only, never a record.
    assert not problems, f"{source['file']}: " + "; ".join(problems)


def test_the_bar_can_fail():
    def drops(reason, k):
        return [{"_name": f"r{i}", "drop_reason": reason} for i in range(k)]
    assert over_bar(200, drops("too_short:words", 2), {}) == []                       # 1.0%: at the bar
    assert over_bar(200, drops("too_short:words", 6), {})                              # 3%: fails
    assert over_bar(200, drops("too_short:words", 6), {f"r{i}": ("too_short:words", "x") for i in range(5)}) == []
    assert over_bar(200, drops("dedup:near", 6), {}) == []                             # dedup aside: 3%
    assert over_bar(200, drops("dedup:near", 8), {})
    assert over_bar(200, [], {"r1": ("too_short:words", "x")})                         # listed, not dropped


def test_every_listed_right_drop_names_a_tuning_source():
    right = right_drops()
    split = {s["file"]: s["split"] for s in sources()}
    assert right and all(split.get(f) == "tuning" for f in right), right.keys()
    assert all(why.strip() for entries in right.values() for _, why in entries.values())


# ------------------------------------------------------------------ --print: the README table

def labelled_scores(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        run(Config(run=d, input=str(path), balance="none", workers=1))
        dropped = {json.loads(line)["id"] for line in (Path(d) / "dropped.jsonl").read_text().splitlines()}
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [r["id"] for r in recs if r["label"] == "bad"]
    good = [r["id"] for r in recs if r["label"] == "good"]
    return {"bad": len(bad), "caught": sum(i in dropped for i in bad),
            "good": len(good), "good_dropped": sum(i in dropped for i in good)}


def table() -> str:
    right = right_drops()
    rows = ["| source | split | records | dropped (dedup aside) | reasons | of them right | good kept (right aside) |",
            "|---|---|---:|---:|---|---:|---:|"]
    total_good = total_kept = 0
    for s in sources():
        recs, dropped = filter_file(REAL / s["file"])
        n = len(recs)
        listed = right.get(s["file"], {})
        counted = [r for r in dropped if r["drop_reason"].split(":")[0] not in ASIDE]
        reasons = Counter(r["drop_reason"] for r in dropped)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"
        n_right = sum(r["_name"] in listed for r in dropped)
        good = n - n_right
        kept = good - (len(dropped) - n_right)
        total_good, total_kept = total_good + good, total_kept + kept
        rows.append(f"| `{s['file']}` | {s['split']} | {n} | {len(counted)} ({len(counted) / n:.1%}) | {shown} | "
                    f"{n_right} | {kept / good:.1%} |")
    lines = ["\n".join(rows), "",
             "| labelled set | bad answers | recall (bad dropped) | good answers | false drops |",
             "|---|---:|---:|---:|---:|"]
    recalls = []
    for name, path in LABELLED.items():
        sc = labelled_scores(path)
        recalls.append(f"{sc['caught']}/{sc['bad']} = {sc['caught'] / sc['bad']:.3f} ({name.split(' (')[0]})")
        lines.append(f"| {name} | {sc['bad']} | {sc['caught'] / sc['bad']:.3f} | {sc['good']} | "
                     f"{sc['good_dropped'] / sc['good']:.3f} |")
    lines += ["", f"Side by side: precision on real data (good answers kept, all ten sources, right drops "
                  f"aside) {total_kept}/{total_good} = {total_kept / total_good:.3f}; recall on the labelled "
                  f"sets (bad answers dropped) " + ", ".join(recalls) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    if "--print" not in sys.argv[1:]:
        sys.exit("usage: tests/test_filter_real.py --print")
    print(table())
