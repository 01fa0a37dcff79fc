"""Continuous batching (imitate/decode.py) on a tiny random-init LLaMA in fp32: rows that join and
leave a running batch get what each would get alone from `model.generate`."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from imitate import decode  # noqa: E402

PAD = 0


@pytest.fixture(scope="module")
def model(tiny):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float32).eval()


PROMPTS = [[5 + i + k for k in range(n)] for i, n in enumerate([3, 17, 8, 1, 25, 4, 11])]
LIMITS = [6, 9, 3, 12, 5, 10, 7]


def alone(model, prompt: list[int], n: int) -> list[int]:
    out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                         max_new_tokens=n, do_sample=False, pad_token_id=PAD)
    return out[0, len(prompt):].tolist()


def run_all(model, rows, stops, max_batch) -> list[decode.Row]:
    ended = []
    decode.run(model, rows, stops, PAD, max_batch, ended.append)
    return ended


def test_greedy_rows_joining_and_leaving_equal_each_row_alone(model):
    refs = [alone(model, p, n) for p, n in zip(PROMPTS, LIMITS)]
    stop = refs[1][2]   # a token some rows say: they end there, the others at their max_tokens
    rows = [decode.Row(p, n) for p, n in zip(PROMPTS, LIMITS)]
    ended = run_all(model, rows, {stop}, max_batch=3)
    assert sorted(map(id, ended)) == sorted(map(id, rows))   # each row ended once
    said_stop = 0
    for row, ref in zip(rows, refs):
        cut = ref.index(stop) + 1 if stop in ref else len(ref)
        assert row.tokens == ref[:cut]
        assert row.finish_reason == ("stop" if stop in ref else "length")
        said_stop += row.finish_reason == "stop"
    assert said_stop >= 1


def test_a_seeded_row_samples_the_same_alone_and_in_a_crowd(model):
    def sampled(seed):
        return decode.Row(PROMPTS[2], 8, temperature=1.0, seed=seed)
    lone = sampled(7)
    run_all(model, [lone], set(), max_batch=1)
    crowd = [decode.Row(p, n) for p, n in zip(PROMPTS, LIMITS)] + [sampled(7), sampled(8)]
    run_all(model, crowd, set(), max_batch=4)
    assert crowd[-2].tokens == lone.tokens and len(lone.tokens) == 8
    assert crowd[-1].tokens != lone.tokens   # another seed: a clash of 8 draws is unlikely


def test_padding_that_only_a_left_row_used_is_cut(model):
    batch = decode.Batch(model, set(), PAD)
    assert batch.admit([decode.Row(list(range(5, 35)), 2), decode.Row([5, 6, 7], 6)]) == []
    assert batch.mask.shape == (2, 30)
    [long] = batch.step()   # the 30-token row has its 2 tokens
    assert long.finish_reason == "length" and len(long.tokens) == 2
    # left: 3 prompt tokens and the 1 generated token now in the cache
    assert batch.mask.shape == (1, 4) and batch.cache.get_seq_length() == 4
    assert batch.mask.all()


def test_prompts_that_start_alike_reuse_the_stored_start_and_answer_as_alone(model):
    start = list(range(40, 52))   # 12 shared tokens, as a system message shared by many requests
    prompts = [start + [60 + i] * (1 + i) for i in range(5)]
    refs = [alone(model, p, 6) for p in prompts]
    batch = decode.Batch(model, set(), PAD)
    ended = []
    for p in prompts:   # one by one, as requests reach a server: each later one finds the first's start
        ended += batch.admit([decode.Row(p, 6)])
        ended += batch.step()
    while batch.rows:
        ended += batch.step()
    assert batch.reused == 12 * 4
    assert sorted((r.prompt, r.tokens) for r in ended) == sorted(zip(prompts, refs))


def test_the_prompt_store_keeps_the_newest_within_its_token_budget():
    store = decode.Prefixes(budget=10, least=2)
    kv = [(torch.zeros(1, 1, 4, 2), torch.zeros(1, 1, 4, 2))]
    for first in (1, 2, 3):
        store.add([first, 7, 8, 9], kv)
    assert [t[0] for t, _ in store.entries] == [2, 3]   # 12 tokens > 10: the oldest went
    assert store.find([3, 7, 8, 5])[0] == 3 and store.find([1, 7, 8, 5]) == (0, None)
    assert store.find([3, 7, 8, 9])[0] == 3   # one token is always left to feed


def test_interior_padding_of_a_mixed_group_is_cut_when_the_long_row_leaves(model):
    batch = decode.Batch(model, set(), PAD)
    start = list(range(40, 52))
    batch.admit([decode.Row(start + [70], 3)])   # stores the 12-token start
    [first] = batch.step() + batch.step()
    # one row reuses the start; a 200-token row beside it ends at its first token
    reused, long = decode.Row(start + [71, 72], 4), decode.Row(list(range(5, 205)), 1)
    assert batch.admit([reused, long]) == [long]
    assert batch.mask.shape == (1, 14) and batch.mask.all() and batch.cache.get_seq_length() == 14
    assert reused.tokens == alone(model, reused.prompt, 1)


def test_a_tiny_temperature_is_greedy():
    assert decode.Row([1, 2], 3, temperature=1e-40, seed=1).temperature == 0.0


def test_sliding_window_models_are_refused(tiny):
    from transformers import AutoConfig, MistralConfig

    assert decode.full_attention(AutoConfig.from_pretrained(str(tiny)))
    assert not decode.full_attention(MistralConfig(sliding_window=64))
    assert decode.full_attention(MistralConfig(sliding_window=None))
