import numpy as np
from datasketch import MinHash

from imitate.filters.dedup import Dedup, TokenHashes, shingle_hashes, signatures


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
