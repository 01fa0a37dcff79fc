"""Rank what the filter kept and keep a budget: kept.jsonl -> selected.jsonl, scores.jsonl, select_stats.json.

Scorers (--by, several: the mean of their ranks): `ifd` (instruction-following difficulty from a small
local causal LM, the embedded model by default: imitate/select/ifd.py), `judge` (the teacher rates each
answer 0-5 on a stated rubric, AlpaGasus: imitate/select/judge.py), and the baselines `length` (longer
first) and `random` (seeded). --diversity then skips near-duplicates (MinHash) of better-ranked records,
and --cap-ratio keeps any category from taking more than its share of the budget. Every record gets a
line in scores.jsonl with its scores, its rank and why it was left out: budget, near_duplicate,
category_cap, ifd>=1 (its question does not help predict its answer), unscorable (no answer token within
--max-length), unparsed or unanswered (the judge). finetune trains on RUN/selected.jsonl when it exists.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imitate import config as config_mod
from imitate.config import opt
from imitate.data.formats import CONVERSATION_FORMATS, read_conversations
from imitate.data.records import write_json, write_jsonl
from imitate.errors import UserError
from imitate.filters.dedup import label
from imitate.rundir import DEFAULT, STAGES, RunDir
from imitate.select import SCORERS, rank
from imitate.teacher.options import TeacherOptions

READS, WRITES = STAGES["select"]


@dataclass
class Config(TeacherOptions):
    run: str = opt(DEFAULT, "run folder: reads kept.jsonl, writes selected.jsonl, scores.jsonl and "
                   "select_stats.json")
    input: str | None = opt(None, "records to rank instead of RUN/kept.jsonl (JSONL, JSON, CSV, Parquet, or a "
                            "dataset)")
    format: str = opt("auto", "format of the records: messages, sharegpt, alpaca, dolly, self_instruct; "
                      "auto: detected from the first record", choices=["auto", *CONVERSATION_FORMATS])
    by: list[str] = opt(None, f"scorers ({', '.join(SCORERS)}); several are combined by the mean of their "
                        "ranks",
                        factory=lambda: ["ifd"])
    keep: int | None = opt(None, "the budget: keep this many records (or give --keep-share)")
    keep_share: float | None = opt(None, "the budget as a share of the records, in (0, 1]; unset with --keep "
                                   "unset: 0.5")
    model: str | None = opt(None, "--by ifd: the causal LM that scores (a model folder or hub id; unset: the "
                            "embedded SmolLM2-135M-Instruct)")
    batch_size: int = opt(8, "--by ifd: records per forward pass")
    max_length: int = opt(1024, "--by ifd: tokens per record scored (longer ones are cut, as finetune cuts them)")
    diversity: bool = opt(False, "skip a near-duplicate (MinHash Jaccard >= --diversity-threshold, question and "
                          "answer) of a record already selected")
    diversity_threshold: float = opt(0.5, "the Jaccard similarity at which --diversity skips a record")
    cap_ratio: float = opt(2.0, "no category takes more than this x budget / categories (0: no cap)")
    rng_seed: int = opt(0, "random seed of --by random")
    judge_prompt: str | None = opt(None, "--by judge: YAML with `system` and `user` ($question, $answer); "
                                   "unset: prompts/rate.yaml")

    def __post_init__(self):
        TeacherOptions.__post_init__(self)
        self.by = [b.strip() for b in self.by if b.strip()]
        bad = [b for b in self.by if b not in SCORERS]
        if bad or not self.by:
            raise UserError(f"--by takes one or more of {', '.join(SCORERS)}; got {', '.join(self.by) or 'none'}")
        if len(set(self.by)) < len(self.by):
            raise UserError(f"a scorer is named twice in --by {','.join(self.by)}")
        if self.keep is not None and self.keep_share is not None:
            raise UserError("give the budget once: --keep N or --keep-share F, not both")
        if self.keep is not None and self.keep < 1:
            raise UserError(f"--keep must be at least 1, got {self.keep}")
        if self.keep_share is not None and not 0 < self.keep_share <= 1:
            raise UserError(f"--keep-share must be in (0, 1], got {self.keep_share}")
        if self.batch_size < 1 or self.max_length < 16:
            raise UserError("--batch-size must be at least 1 and --max-length at least 16")
        if not 0 < self.diversity_threshold <= 1:
            raise UserError(f"--diversity-threshold must be in (0, 1], got {self.diversity_threshold}")
        if self.cap_ratio < 0:
            raise UserError(f"--cap-ratio must be 0 (no cap) or more, got {self.cap_ratio}")

    def budget(self, n: int) -> int:
        if self.keep is not None:
            return min(self.keep, n)
        return max(1, round((0.5 if self.keep_share is None else self.keep_share) * n))


def score_all(cfg: Config, run_dir: RunDir, records: list[dict]) -> tuple[dict, dict, dict]:
    """({scorer: a value per record (None: none)}, {index: why it has no score}, stats per scorer)."""
    values, why, stats = {}, {}, {}
    for name in cfg.by:
        t0 = time.time()
        if name == "length":
            values[name] = rank.length(records)
        elif name == "random":
            values[name] = rank.shuffled(records, cfg.rng_seed)
        elif name == "ifd":
            from imitate import embedded
            from imitate.select import ifd

            model = embedded.resolve(cfg.model)
            got = ifd.score(model, records, run_dir.select_ifd, batch_size=cfg.batch_size,
                            max_length=cfg.max_length)
            rows = [got[ifd.record_key(r, model)] for r in records]
            for i, row in enumerate(rows):
                if row["ifd"] is None:
                    why.setdefault(i, f"unscorable: no answer token within --max-length {cfg.max_length}")
                elif row["ifd"] >= 1:
                    why.setdefault(i, "ifd>=1: the question does not help predict the answer "
                                      f"(IFD {row['ifd']:.3f})")
            values[name] = [None if i in why else row["ifd"] for i, row in enumerate(rows)]   # harder first
            stats[name] = {"model": cfg.model or "embedded"}
        else:   # judge
            from imitate.select import judge

            prompt = judge.load_prompt(cfg.judge_prompt) if cfg.judge_prompt else None
            values[name], missing, stats[name] = judge.rate(records, run_dir, cfg, prompt)
            for i, reason in enumerate(missing):
                if reason:
                    why.setdefault(i, {"unparsed": "unparsed: the judge's reply has no score from 0 to 5",
                                       "unanswered": "unanswered: the judge request failed"}[reason])
        stats.setdefault(name, {})["wall_s"] = round(time.time() - t0, 2)
        stats[name]["records_per_s"] = round(len(records) / max(time.time() - t0, 1e-9), 2)
    return values, why, stats


def run(cfg: Config) -> int:
    run_dir = RunDir(cfg.run)
    src = Path(cfg.input) if cfg.input else run_dir.kept
    lines = read_conversations(src, cfg.format)
    records = [rec for _, rec in lines]
    budget = cfg.budget(len(records))
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json(run_dir.select_config, config_mod.to_dict(cfg))
    print(f"select: {len(records)} records from {src}; by {', '.join(cfg.by)}; budget {budget}", file=sys.stderr)
    values, why, stats = score_all(cfg, run_dir, records)
    combined = rank.combine(values)
    combined = [None if i in why else c for i, c in enumerate(combined)]
    left = {**why, **rank.choose(records, combined, budget, cap_ratio=cfg.cap_ratio or None,
                                 diversity=cfg.diversity_threshold if cfg.diversity else None)}
    position = {i: n for n, i in enumerate(sorted((i for i, c in enumerate(combined) if c is not None),
                                                   key=lambda i: (combined[i], i)), start=1)}
    rows = [{"id": label(rec, i), "line": no, "rank": position.get(i), "selected": i not in left,
             "reason": left.get(i), "scores": {k: v[i] for k, v in values.items()}}
            for i, (no, rec) in enumerate(lines)]
    selected = [rec for i, rec in enumerate(records) if i not in left]
    reasons = Counter(r.split(":")[0] for r in left.values())
    write_jsonl(run_dir.scores, rows)
    write_jsonl(run_dir.selected, selected)
    write_json(run_dir.select_stats, {"input": str(src), "records": len(records), "budget": budget,
                                      "selected": len(selected), "by": cfg.by, "left_out": dict(reasons),
                                      "scorers": stats, "diversity": cfg.diversity, "cap_ratio": cfg.cap_ratio})
    print(f"select: {len(selected)} of {len(records)} selected; left out: "
          + (", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "none")
          + f" -> {run_dir.selected}, {run_dir.scores.name}")
    if not selected:
        print(f"error: no record was selected (see the reasons in {run_dir.scores}); finetune would read the empty "
              f"{run_dir.selected.name}", file=sys.stderr)
        return 1
    stopped = stats.get("judge", {}).get("stopped")
    if stopped:
        print(f"error: the judge stopped: {stopped}; re-run to ask the rest (answers so far are kept)", file=sys.stderr)
        return 1
    return 0
