from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

from imitate.filters.base import Drop, Filter
from imitate.text.words import normalize
from imitate.records import turn

# Han and kana have no spaces: each character is a token there; elsewhere a run of letters/digits.
TOKEN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|[^\W_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+")
FMIX = (np.uint32(16), np.uint32(2246822507), np.uint32(13), np.uint32(3266489909), np.uint32(16))
MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
CHUNK = 16384   # shingles per numpy block: (CHUNK, num_perm) uint32 stays in cache


def label(rec: dict, i: int) -> str:
    """How evidence names a record: its id, or its position in the input."""
    return str(rec["id"]) if rec.get("id") is not None else f"record #{i + 1}"


def text_of(rec: dict) -> str:
    return turn(rec, "user") + "\n" + turn(rec, "assistant")


class TokenHashes(dict):
    """token -> crc32, filled on first sight (a process-local cache; crc32 is the same everywhere)."""

    def __missing__(self, tok: str) -> int:
        h = self[tok] = zlib.crc32(tok.encode("utf-8"))
        return h


def shingle_hashes(text: str, k: int, cache: TokenHashes) -> np.ndarray:
    """32-bit hashes of the word k-grams of `text` (one hash if it has fewer than k words)."""
    toks = TOKEN_RE.findall(text.lower())
    if not toks:
        return np.zeros(1, dtype=np.uint32)
    t = np.fromiter(map(cache.__getitem__, toks), dtype=np.uint64, count=len(toks))
    if len(t) < k:
        t = np.concatenate([t, np.zeros(k - len(t), dtype=np.uint64)])
    h = t[: len(t) - k + 1].copy()
    for j in range(1, k):   # polynomial combination of k token hashes, wrapping mod 2^64
        h = h * MIX[0] + t[j: len(t) - k + 1 + j]
    h ^= h >> np.uint64(31)
    h *= MIX[1]
    return (h >> np.uint64(32)).astype(np.uint32)


def signatures(texts: list[str], num_perm: int, seed: int, k: int) -> np.ndarray:
    """MinHash signatures (len(texts), num_perm) uint32, the same values as datasketch's
    `MinHash(num_perm, seed, scheme="affine32", hashfunc=identity).update_batch(shingles)`, computed
    for many texts at once: fmix32, then a*h+b mod 2^32 per permutation, then a segmented min."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    cache = TokenHashes()
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    start = 0
    while start < len(texts):
        parts, n = [], 0
        stop = start
        while stop < len(texts) and (n < CHUNK or stop == start):
            parts.append(shingle_hashes(texts[stop], k, cache))
            n += len(parts[-1])
            stop += 1
        hv = np.concatenate(parts)
        s1, m1, s2, m2, s3 = FMIX
        hv = hv ^ (hv >> s1)
        hv = hv * m1
        hv = hv ^ (hv >> s2)
        hv = hv * m2
        hv = hv ^ (hv >> s3)
        phv = hv[:, None] * a + b
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        out[start:stop] = np.minimum.reduceat(phv, offsets, axis=0)
        start = stop
    return out


def _signature_job(args):
    return signatures(*args)


class Dedup(Filter):
    """Drop exact and near duplicates; the first of a cluster stays and the others name it.

    Exact: question + answer after case folding, NFKC, and removing punctuation and extra spaces.
    Near: MinHash (`num_perm` permutations, datasketch's affine32 scheme, seed `seed`) of the word
    `shingle`-grams of question + answer, indexed by datasketch's MinHashLSH at Jaccard `threshold`;
    an LSH candidate counts only if the signatures' estimated Jaccard reaches `threshold` too.
    Signatures are computed with numpy for many records at once, on `workers` processes.

    How each drop code decides:
        exact: same normalized question and answer as an earlier record (evidence: its id).
        near: estimated Jaccard >= `threshold` with an earlier kept record (evidence: its id).
    """
    name = "dedup"
    codes = {
        'exact': 'same normalized question and answer as an earlier record',
        'near': 'a near duplicate (MinHash Jaccard ≥ threshold) of an earlier record',
    }
    params = ("threshold", "num_perm", "shingle", "seed", "workers")
    threshold = 0.8
    num_perm = 128
    shingle = 3
    seed = 1
    workers = 1

    def check_all(self, recs: list[dict], labels: list[str] | None = None) -> dict[int, Drop]:
        labels = labels or [label(r, i) for i, r in enumerate(recs)]
        drops: dict[int, Drop] = {}
        first: dict[bytes, int] = {}
        rest = []
        for i, rec in enumerate(recs):
            key = hashlib.blake2b(normalize(text_of(rec)).encode("utf-8"), digest_size=16).digest()
            if key in first:
                drops[i] = Drop("exact", f"same as {labels[first[key]]}")
            else:
                first[key] = i
                rest.append(i)
        drops.update(self.near(recs, rest, labels))
        return drops

    def all_signatures(self, texts: list[str]) -> np.ndarray:
        if self.workers <= 1 or len(texts) < 4000:
            return signatures(texts, self.num_perm, self.seed, self.shingle)
        import multiprocessing as mp

        step = -(-len(texts) // (self.workers * 4))
        jobs = [(texts[s:s + step], self.num_perm, self.seed, self.shingle) for s in range(0, len(texts), step)]
        with mp.get_context("spawn").Pool(self.workers) as pool:
            return np.concatenate(pool.map(_signature_job, jobs))

    def near(self, recs: list[dict], order: list[int], labels: list[str]) -> dict[int, Drop]:
        from datasketch import LeanMinHash, MinHashLSH

        sigs = self.all_signatures([text_of(recs[i]) for i in order])
        # LSH finds candidates (at most 0.9: datasketch needs 2+ bands); the signatures decide.
        lsh = MinHashLSH(threshold=min(self.threshold, 0.9), num_perm=self.num_perm)
        drops: dict[int, Drop] = {}
        for row, i in enumerate(order):
            m = LeanMinHash(seed=self.seed, hashvalues=sigs[row], scheme="affine32")
            best = None
            for cand in lsh.query(m):
                jac = float(np.mean(sigs[cand] == sigs[row]))
                if jac >= self.threshold and (best is None or order[cand] < order[best[0]]):
                    best = (cand, jac)
            if best is None:
                lsh.insert(row, m, check_duplication=False)
            else:
                drops[i] = Drop("near", f"near {labels[order[best[0]]]} (estimated Jaccard {best[1]:.2f})")
        return drops
