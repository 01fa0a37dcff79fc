"""Evol-Instruct (WizardLM, Xu et al. 2023): make questions harder (in depth) or rarer (in breadth).

ceil(n / rounds) lineages start from seeds drawn by random.Random(f"{seed}|evol") (cycling when
there are fewer seeds). Each round evolves every lineage's current question with one of the six
operations (five in depth, one in breadth; drawn by random.Random(f"{seed}|{round}|{lineage}")),
then eliminates, as the paper does:
- the rules on the question alone (stop words only, copied prompt words, an apology instead of a
  question, too short/long, needs media), and near-duplicates of other questions;
- no_gain: identical to its parent, or judged "Equal" to it by the teacher (the paper's equality
  prompt; "unclear" verdicts are kept and counted), or with --no-judge ROUGE-L >= the threshold;
- answer_sorry (with --answer-check): the teacher's answer to the evolved question contains
  "sorry" and has under 80 words (an answer cut by max_tokens does not count as short).
A survivor is written and becomes its lineage's next question; after a failed evolution the parent
goes back to the pool and is evolved again next round (with a fresh operation draw).
"""
from __future__ import annotations

import math
import random

from imitate.questions.parse import clean_evolved, parse_judgement
from imitate.questions.pool import Pool, language_of, question_id
from imitate.questions.rules import Drop, check_answer_sorry, check_question
from imitate.questions.similarity import rouge_l
from imitate.teacher.session import Asker


def lineages(seeds: list[dict], n: int, rounds: int, seed: int) -> list[dict]:
    order = list(seeds)
    random.Random(f"{seed}|evol").shuffle(order)
    heads = []
    for j in range(math.ceil(n / rounds)):
        s = order[j % len(order)]
        heads.append({"id": s["id"], "question": s["question"], "category": s["category"],
                      "language": s.get("language"), "ancestors": {s["question"]}})
    return heads


async def generate(cfg, seeds: list[dict], asker: Asker, pool: Pool, prompts, rounds_log: list) -> None:
    heads = lineages(seeds, cfg.n, cfg.rounds, cfg.rng_seed)
    params = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
    for rnd in range(1, cfg.rounds + 1):
        plan = []
        for j, head in enumerate(heads):
            op = prompts.names[random.Random(f"{cfg.rng_seed}|{rnd}|{j}").randrange(len(prompts.names))]
            msgs = [{"role": "user", "content": prompts.evolve(op, head["question"])}]
            plan.append((j, op, asker.request("evolve", msgs, params)))
        answers = await asker.ask([req for _, _, req in plan], f"evol round {rnd}")
        if asker.stopped:
            break
        cands = screen(cfg, rnd, heads, plan, answers, pool)
        log = {"round": rnd, "requests": len(plan), "candidates": len(cands)}
        if cfg.judge and cands:
            cands = await judge(rnd, heads, cands, asker, pool, prompts)
        if cfg.answer_check and cands and not asker.stopped:
            cands = await answer_check(cfg, rnd, heads, cands, asker, pool)
        if asker.stopped:
            break
        for j, op, q in cands:
            head = heads[j]
            rec = {"id": question_id("ev", q), "question": q, "category": head["category"], "method": "evol",
                   "parent_id": head["id"], "round": rnd, "operation": op}
            lang = language_of(q, head["language"])
            if lang:
                rec["language"] = lang
            pool.accept(rec)
            heads[j] = {**head, "id": rec["id"], "question": q, "language": lang or head["language"],
                        "ancestors": head["ancestors"] | {q}}
        rounds_log.append({**log, "accepted": len(cands)})


def _info(head: dict, rnd: int, op: str) -> dict:
    return {"method": "evol", "round": rnd, "category": head["category"], "parent_id": head["id"], "operation": op}


def screen(cfg, rnd: int, heads: list[dict], plan: list, answers: dict, pool: Pool) -> list[tuple]:
    """(lineage, operation, evolved question) for each evolution that passes the cheap rules."""
    out = []
    for j, op, req in plan:
        head = heads[j]
        info = _info(head, rnd, op)
        ans = answers.get(req.key)
        if ans is None:
            pool.drop(None, Drop("request_failed", "see questions_failed.jsonl"), request=req.key, **info)
            continue
        q = clean_evolved(ans["content"])
        drop = check_question(q, pool.min_words, pool.max_words, evolved=True)
        if drop is None and " ".join(q.split()).lower() == " ".join(head["question"].split()).lower():
            drop = Drop("no_gain", "identical to its parent")
        if drop is None and not cfg.judge:
            score = rouge_l(q, head["question"])
            if score >= cfg.similarity_threshold:
                drop = Drop("no_gain", f"ROUGE-L {score:.2f} with its parent (--no-judge)")
        drop = drop or pool.duplicate(q, exclude=head["ancestors"])
        if drop:
            pool.drop(q, drop, **info)
            continue
        pool.remember(q)
        out.append((j, op, q))
    return out


async def judge(rnd: int, heads: list[dict], cands: list, asker: Asker, pool: Pool, prompts) -> list:
    """Keep the candidates the teacher does not judge Equal to their parent."""
    params = {"max_tokens": 16, "temperature": 0.0}
    reqs = [asker.request("judge", [{"role": "user", "content": prompts.judge(heads[j]["question"], q)}], params)
            for j, _, q in cands]
    answers = await asker.ask(reqs, f"evol round {rnd} judge")
    if asker.stopped:
        return []   # the round is not used
    out = []
    for (j, op, q), req in zip(cands, reqs):
        info = _info(heads[j], rnd, op)
        ans = answers.get(req.key)
        if ans is None:
            pool.forget(q)
            pool.drop(q, Drop("request_failed", "the judge request failed; see questions_failed.jsonl"), **info)
            continue
        verdict = parse_judgement(ans["content"])
        if verdict is None:
            asker.stats["judge_unclear"] += 1
        if verdict:
            pool.forget(q)
            pool.drop(q, Drop("no_gain", f"judge: {ans['content'].strip()[:60]!r}"), **info)
            continue
        out.append((j, op, q))
    return out


async def answer_check(cfg, rnd: int, heads: list[dict], cands: list, asker: Asker, pool: Pool) -> list:
    """Ask the evolved questions; drop those the teacher answers with a short apology."""
    params = {"max_tokens": cfg.answer_tokens, "temperature": cfg.temperature}
    reqs = [asker.request("answer", [{"role": "user", "content": q}], params) for _, _, q in cands]
    answers = await asker.ask(reqs, f"evol round {rnd} answer check")
    if asker.stopped:
        return []
    out = []
    for (j, op, q), req in zip(cands, reqs):
        info = _info(heads[j], rnd, op)
        ans = answers.get(req.key)
        drop = None
        if ans is None:
            drop = Drop("request_failed", "the answer-check request failed; see questions_failed.jsonl")
        elif ans.get("finish_reason") != "length":
            drop = check_answer_sorry(ans["content"])
        if drop:
            pool.forget(q)
            pool.drop(q, drop, **info)
            continue
        out.append((j, op, q))
    return out
