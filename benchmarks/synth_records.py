"""Synthetic collected.jsonl records for benchmarks: varied questions and answers in English and
Korean, with a share of exact duplicates, near duplicates and defects (refusals, loops, false
equations), so every filter has real work. Deterministic for a given seed.

    python benchmarks/synth_records.py 100000 > /tmp/synth.jsonl
"""
from __future__ import annotations

import json
import random
import sys

TOPICS = ["photosynthesis", "the French Revolution", "binary search", "compound interest", "volcanoes",
          "the immune system", "supply and demand", "recursion", "plate tectonics", "the water cycle",
          "neural networks", "the Roman Empire", "climate change", "hash tables", "the stock market",
          "black holes", "vaccines", "democracy", "the printing press", "electric cars"]
FRAMES = ["Explain {t} to a beginner.", "What is {t}?", "Why does {t} matter?", "Describe {t} in detail.",
          "Give three facts about {t}.", "How would you teach {t} to a child?", "Compare {t} and {u}."]
KO_FRAMES = ["{t}에 대해 설명해 주세요.", "{t}은 왜 중요한가요?", "{t}의 특징을 알려 주세요."]
CONTEXT = ("for a small business owner", "with a simple example", "in under five minutes",
           "for my history class", "without using jargon", "as if I were ten years old",
           "with the most important points first", "for a job interview tomorrow",
           "and mention one common mistake", "in the context of everyday life")
KO_WORDS = "이것은 중요한 개념입니다 많은 사람들이 일상에서 경험하며 과학자들은 오랫동안 연구해 왔습니다 예를 들어 결과적으로 따라서".split()


def vocabulary(rng: random.Random, n: int = 5000) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvk"
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    return sorted(words)


def sentence(rng, vocab, weights) -> str:
    ws = rng.choices(vocab, weights, k=rng.randint(8, 18))
    glue = ["the", "of", "and", "is", "to", "in", "that", "with"]
    for i in range(1, len(ws), 3):
        ws[i] = rng.choice(glue)
    return " ".join(ws).capitalize() + "."


def english(rng, vocab, weights, topic) -> str:
    text = " ".join(sentence(rng, vocab, weights) for _ in range(rng.randint(3, 9)))
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    if rng.random() < 0.3:
        text += f" For example, {a} × {b} = {a * b}."
    return f"{topic.capitalize()} matters here. " + text


def korean(rng) -> str:
    return " ".join(" ".join(rng.choices(KO_WORDS, k=rng.randint(6, 12))) + "." for _ in range(rng.randint(3, 6)))


def defect(rng, rec) -> None:
    kind = rng.choice(["refusal", "loop", "equation", "short", "length"])
    msg = rec["messages"][-1]
    if kind == "refusal":
        msg["content"] = "I'm sorry, but I can't help with that."
    elif kind == "loop":
        msg["content"] = "This is the same sentence again. " * 12
    elif kind == "equation":
        msg["content"] += " So 12 × 7 = 80."
    elif kind == "short":
        msg["content"] = "Yes."
    else:
        rec["finish_reason"] = "length"


def records(n: int, seed: int = 0):
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    weights = [1 / (i + 1) for i in range(len(vocab))]   # Zipf-like word frequencies
    made: list[dict] = []
    for i in range(n):
        r = rng.random()
        if made and r < 0.04:                                       # exact duplicate
            rec = json.loads(json.dumps(rng.choice(made[-5000:])))
        elif made and r < 0.08:                                     # near duplicate: one word changed
            rec = json.loads(json.dumps(rng.choice(made[-5000:])))
            words = rec["messages"][-1]["content"].split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            rec["messages"][-1]["content"] = " ".join(words)
        else:
            t, u = rng.sample(TOPICS, 2)
            if rng.random() < 0.1:
                q, a, cat = rng.choice(KO_FRAMES).format(t=t), korean(rng), "korean"
            else:
                q = rng.choice(FRAMES).format(t=t, u=u)
                # Most real seed sets hold distinct questions: add context and a number to each.
                q = q[:-1] + f" {rng.choice(CONTEXT)}, in about {rng.randint(50, 400)} words" + q[-1]
                a, cat = english(rng, vocab, weights, t), t.split()[-1]
            rec = {"seed_id": f"s{rng.randrange(n // 3 + 1)}", "category": cat,
                   "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                   "finish_reason": "stop"}
            if rng.random() < 0.05:
                defect(rng, rec)
        rec["id"] = f"r{i}"
        made.append(rec)
        yield rec


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for rec in records(count):
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
