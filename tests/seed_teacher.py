"""A scripted teacher for the questions stage's tests: answers FaultServer requests by prompt kind.

Questions are random words drawn from a hash of the prompt, so different prompts give questions
that are not near-duplicates, and the same prompt always gives the same answer.
"""
from __future__ import annotations

import hashlib
import random
import re

WORDS = [f"{a}{b}" for a in ("bra", "clo", "dre", "fli", "gru", "plo", "sna", "tri", "vue", "zon")
         for b in ("bat", "cen", "dor", "fim", "gal", "hux", "lor", "mip", "nek", "pos", "rud", "tav")]


def rng_for(text: str) -> random.Random:
    return random.Random(hashlib.sha256(text.encode()).hexdigest())


def words(rng: random.Random, k: int) -> str:
    return " ".join(rng.sample(WORDS, k))


def given(prompt: str) -> str:
    return re.search(r"#Given Prompt#:\n(.*?)\n#(?:Rewritten|Created) Prompt#:", prompt, re.S).group(1)


def list_answer(prompt: str, n: int) -> str:
    rng = rng_for(prompt)
    items = "\n".join(f"{i}. Why does {words(rng, 7)} matter?" for i in range(1, n + 1))
    return f"Sure! Here are {n} new questions:\n\n{items}\n\nI hope these questions are useful."


def evolve_answer(prompt: str, special=None) -> str:
    q = given(prompt)
    rng = rng_for(prompt)
    if special:
        for marker, out in special.items():
            if marker in q:
                return out.replace("$Q", q)
    if "#Created Prompt#" in prompt:
        return f"#Created Prompt#: How would {words(rng, 8)} change?"
    return f"#Rewritten Prompt#: {q} Consider also {words(rng, 12)} in your answer."


def teacher(special=None, judge=None, sorry=()):
    """An `answer` callable for FaultServer. special: {marker in the given question: evolution
    output ($Q = the question)}; judge: {marker: verdict text}; sorry: markers answered "Sorry"."""
    def answer(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        if "come up with" in prompt:
            return list_answer(prompt, int(re.search(r"come up with (\d+)", prompt).group(1)))
        if "#Given Prompt#" in prompt:
            return evolve_answer(prompt, special)
        if "Your Judgement" in prompt:
            first = prompt.split("The Second Prompt:")[0]
            return next((v for m, v in (judge or {}).items() if m in first), "Not Equal")
        if any(m in prompt for m in sorry):
            return "Sorry, I cannot answer that."
        return "A long and careful answer. " + " ".join(["It depends on many things."] * 20)
    return answer
