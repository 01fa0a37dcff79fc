"""Self-Instruct (Wang et al. 2023; Alpaca): new questions from a few examples of one category.

Round r asks for what is still missing: ceil(missing * OVERASK / per_request) requests, each
showing `examples` questions of one category (categories taken in turn, so they stay balanced;
examples drawn by random.Random(f"{seed}|{r}|{i}"), at most a third of them from the questions
already written) and asking for `per_request` new ones. The answers are parsed as lists, screened
by the rules (imitate.questions.rules) and near-duplicates, in request order, so the same answers
always give the same result.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict

from imitate.questions.parse import parse_list
from imitate.questions.pool import Pool, language_of, question_id
from imitate.questions.rules import Drop
from imitate.teacher.session import Asker

OVERASK = 1.5   # questions asked per question missing: about a third are dropped by the rules


def pick_examples(seeds: list[dict], made: list[dict], k: int, rng: random.Random) -> list[str]:
    n_made = min(len(made), k // 3)
    chosen = rng.sample(made, n_made) + rng.sample(seeds, min(len(seeds), k - n_made))
    rng.shuffle(chosen)
    return [c["question"] for c in chosen]


def category_language(seeds: list[dict]) -> str | None:
    langs = {s.get("language") for s in seeds}
    return langs.pop() if len(langs) == 1 else None


async def generate(cfg, seeds: list[dict], asker: Asker, pool: Pool, template, rounds_log: list) -> None:
    by_cat = defaultdict(list)
    for s in seeds:
        by_cat[s["category"]].append(s)
    cats = sorted(by_cat)
    made = defaultdict(list)
    params = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
    turn = 0
    for rnd in range(1, cfg.rounds + 1):
        missing = cfg.n - len(pool.accepted)
        if missing <= 0:
            break
        plan = []
        for i in range(math.ceil(missing * OVERASK / cfg.per_request)):
            cat = cats[(turn + i) % len(cats)]
            examples = pick_examples(by_cat[cat], made[cat], cfg.examples, random.Random(f"{cfg.rng_seed}|{rnd}|{i}"))
            prompt = template.substitute(n=cfg.per_request, category=cat,
                                         examples="\n".join(f"{j}. {q}" for j, q in enumerate(examples, 1)))
            plan.append((cat, asker.request("self_instruct", [{"role": "user", "content": prompt}], params)))
        turn += len(plan)
        answers = await asker.ask([req for _, req in plan], f"self-instruct round {rnd}")
        if asker.stopped:
            break   # an unfinished round is not used; a re-run replays it from the answers on disk
        log = {"round": rnd, "requests": len(plan), "candidates": 0, "accepted": 0, "unparsed": 0}
        for cat, req in plan:
            ans = answers.get(req.key)
            if ans is None:
                pool.drop(None, Drop("request_failed", "see questions_failed.jsonl"), round=rnd, category=cat,
                          request=req.key)
                continue
            items = parse_list(ans["content"])
            log["unparsed"] += not items
            for q in items:
                log["candidates"] += 1
                info = {"method": "self-instruct", "round": rnd, "category": cat, "request": req.key}
                drop = pool.screen(q)
                if drop:
                    pool.drop(q, drop, **info)
                    continue
                pool.remember(q)
                rec = {"id": question_id("si", q), "question": q, "category": cat, "method": "self-instruct",
                       "round": rnd}
                lang = language_of(q, category_language(by_cat[cat]))
                if lang:
                    rec["language"] = lang
                pool.accept(rec)
                made[cat].append(rec)
                log["accepted"] += 1
        rounds_log.append(log)
