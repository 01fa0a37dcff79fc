import numpy as np
from datasketch import MinHash

from imitate.filters.dedup import Dedup, TokenHashes, distinctive, minhash, shingle_hashes, signatures


def rec(q, a, id=None):
    r = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    if id:
        r["id"] = id
    return r


ANSWER = ("The French Revolution began in 1789 because of a fiscal crisis, food shortages and anger at "
          "the privileges of the nobility and clergy, and it ended the absolute monarchy in France.")


def test_signatures_equal_datasketch():
    texts = [ANSWER, "short", "", "東京は日本の首都です", "one two"]
    sigs = signatures(texts, 64, 7, 3)
    for text, sig in zip(texts, sigs):
        m = MinHash(num_perm=64, seed=7, scheme="affine32", hashfunc=int)
        m.update_batch(shingle_hashes(text, 3, TokenHashes()).tolist())
        assert np.array_equal(m.hashvalues, sig)


def test_exact_duplicates_after_normalizing():
    recs = [rec("Why the revolution?", ANSWER, "a"), rec("why the REVOLUTION", ANSWER.upper() + "!!", "b"),
            rec("Why the revolution?", "  " + ANSWER.replace(" ", "  "))]
    drops = Dedup().check_all(recs)
    assert sorted(drops) == [1, 2]
    assert drops[1].code == "exact" and drops[1].evidence == "same as a"
    assert drops[2].evidence == "same as a"


def test_near_duplicates_name_the_first():
    edited = ANSWER.replace("food shortages", "shortages of food").replace("anger", "fury")
    other = ("Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside the "
             "chloroplasts of plant cells, and it feeds almost every food chain on Earth.")
    recs = [rec("Why the revolution?", ANSWER, "first"), rec("Why the revolution?", other, "x"),
            rec("Why the revolution?", ANSWER.replace("1789", "1789,"), "y"),
            rec("Why the revolution?", ANSWER + " A turning point.", "z"),
            rec("Why the revolution?", edited, "far")]
    drops = Dedup().check_all(recs)
    assert 1 not in drops and 0 not in drops
    assert drops[2].code == "exact"
    assert drops[3].code == "near" and drops[3].evidence.startswith("near first")
    assert 4 not in drops   # two edits in a short text: Jaccard about 0.7, under 0.8
    strict, loose = Dedup(threshold=0.99).check_all(recs), Dedup(threshold=0.6).check_all(recs)
    assert 3 not in strict and 4 not in strict
    assert loose[4].code == "near" and loose[4].evidence.startswith("near first")


def test_near_dedup_with_workers_matches_one_process():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(500)]
    base = [" ".join(rng.choice(vocab, 40)) for _ in range(4100)]   # 4000+: the pool is used
    recs = [rec("q", t) for t in base] + [rec("q", t + " extra") for t in base[:100]]
    one = Dedup(workers=1).check_all(recs)
    two = Dedup(workers=2).check_all(recs)
    assert one == two and len(one) >= 90


PREAMBLE = ("You can call the tool search(query), which returns the top web results as JSON with title, url "
            "and snippet fields. Call it when a question needs fresh facts, cite the url you used, never invent "
            "results, answer in one short paragraph and say so when the results do not settle the question. ")


def _templated(answers_by_question):
    return [rec(PREAMBLE + q, a, f"r{i}") for i, (q, a) in enumerate(answers_by_question)]


def test_a_shared_template_prefix_does_not_make_questions_near_duplicates():
    pairs = [("Who was the first president of the United States?", "George Washington."),
             ("Who was the 16th President of the United States?", "Abraham Lincoln.")]
    pairs += [(f"What is the capital of country number {i} on the list?", f"City {i}.") for i in range(40)]
    recs = _templated(pairs)
    assert Dedup().check_all(recs) == {}
    # Without the common-shingle removal the template dominates and they collapse.
    assert 1 in Dedup(common_min=10 ** 9).check_all(recs)


def test_with_a_template_duplicates_are_still_caught():
    pairs = [(f"What is the capital of country number {i} on the list?", f"City {i} is its capital.")
             for i in range(40)]
    pairs.append(("Why did the French Revolution begin?", ANSWER))
    pairs.append(("Why did the French Revolution begin?", ANSWER + " A turning point."))   # same question
    pairs.append(("Why did the French Revolution start?", ANSWER.replace("1789", "1789,")))
    pairs.append(pairs[40])                                                                # exact
    drops = Dedup().check_all(_templated(pairs))
    assert drops[41].code == "near" and drops[41].evidence.startswith("near r40")
    assert drops[42].code == "near" and drops[43].code == "exact"
    assert len(drops) == 3


def test_distinctive_removes_what_many_groups_share_and_keeps_a_text_with_nothing_else():
    common = np.array([1, 2, 3], dtype=np.uint32)
    parts = [np.concatenate([common, np.array([100 + i], dtype=np.uint32)]) for i in range(5)]
    parts.append(common.copy())
    flat, lens, removed = distinctive(parts, np.arange(6), cutoff=5)
    assert lens.tolist() == [1, 1, 1, 1, 1, 3] and removed == 15
    assert flat.tolist() == [100, 101, 102, 103, 104, 1, 2, 3]
    # One group holding all the copies (samples of one question) shares nothing with others.
    flat, lens, removed = distinctive(parts, np.zeros(6, dtype=np.int64), cutoff=5)
    assert removed == 0 and lens.tolist() == [4, 4, 4, 4, 4, 3]


def test_minhash_of_flat_shingles_equals_signatures():
    texts = [ANSWER, "short", "", "東京は日本の首都です"]
    parts = [shingle_hashes(t, 3, TokenHashes()) for t in texts]
    flat, lens = np.concatenate(parts), np.array([len(p) for p in parts])
    assert np.array_equal(minhash(flat, lens, 64, 7), signatures(texts, 64, 7, 3))


def test_common_shingle_removal_on_workers_matches_one_process():
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(500)]
    base = [" ".join(rng.choice(vocab, 30)) for _ in range(4100)]
    recs = [rec(PREAMBLE + f"Question {i % 900} about {vocab[i % 500]}?", t) for i, t in enumerate(base)]
    recs += [rec(r["messages"][0]["content"], r["messages"][1]["content"] + " extra") for r in recs[:100]]
    one = Dedup(workers=1).check_all(recs)
    assert one == Dedup(workers=2).check_all(recs) and len(one) >= 90


def test_empty_and_single_sets():
    assert Dedup().check_all([]) == {}
    assert Dedup().check_all([rec("q", "a")]) == {}
    assert signatures([], 16, 1, 3).shape == (0, 16)
