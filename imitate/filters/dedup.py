from __future__ import annotations

import hashlib
import math
import re
import zlib

import numpy as np

from imitate.data.records import turn
from imitate.filters.base import Drop, Filter
from imitate.text.words import normalize

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


def image_key(rec: dict) -> str:
    """The sha256 of a record's images, in order ('' for a text record): records about different
    images are never duplicates, however alike their words."""
    return ",".join(str(im.get("sha256", "")) for im in rec.get("images") or () if isinstance(im, dict))


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


def minhash(flat: np.ndarray, lens: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures (len(lens), num_perm) uint32 of shingle hashes laid end to end: record i
    owns the next lens[i] (1 or more) values of `flat`. The same values as datasketch's
    `MinHash(num_perm, seed, scheme="affine32", hashfunc=identity).update_batch(shingles)`:
    fmix32, then a*h+b mod 2^32 per permutation, then a segmented min, CHUNK shingles at a time."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    out = np.empty((len(lens), num_perm), dtype=np.uint32)
    ends = np.cumsum(lens)
    start = 0
    while start < len(lens):
        lo = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, lo + CHUNK, side="right")))
        hv = flat[lo:ends[stop - 1]]
        s1, m1, s2, m2, s3 = FMIX
        hv = hv ^ (hv >> s1)
        hv = hv * m1
        hv = hv ^ (hv >> s2)
        hv = hv * m2
        hv = hv ^ (hv >> s3)
        phv = hv[:, None] * a + b
        offsets = np.concatenate([[0], ends[start:stop - 1] - lo])
        out[start:stop] = np.minimum.reduceat(phv, offsets, axis=0)
        start = stop
    return out


def all_shingles(texts: list[str], k: int) -> list[np.ndarray]:
    cache = TokenHashes()
    return [shingle_hashes(t, k, cache) for t in texts]


def signatures(texts: list[str], num_perm: int, seed: int, k: int) -> np.ndarray:
    """MinHash signatures (len(texts), num_perm) uint32 of the word k-gram shingles of `texts`."""
    parts = all_shingles(texts, k)
    if not parts:
        return np.empty((0, num_perm), dtype=np.uint32)
    return minhash(np.concatenate(parts), np.array([len(p) for p in parts]), num_perm, seed)


def distinctive(parts: list[np.ndarray], groups: np.ndarray, cutoff: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(flat shingles, lengths, shingles removed): each text's shingles less those found in texts
    of `cutoff`+ groups, such as a template prefix that many questions share. A text with
    nothing left keeps all of its own."""
    lens = np.array([len(p) for p in parts], dtype=np.int64)
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)
    if groups.max(initial=-1) + 1 < cutoff:
        return flat, lens, 0
    # Sorting is faster here than np.unique's hashing.
    pairs = np.sort((np.repeat(groups.astype(np.uint64), lens) << np.uint64(32)) | flat.astype(np.uint64))
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]   # one per (group, shingle)
    values = np.sort((pairs & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    df = np.diff(np.append(starts, len(values)))                         # groups per shingle
    common = values[starts[df >= cutoff]]
    if not len(common):
        return flat, lens, 0
    drop = common[np.minimum(np.searchsorted(common, flat), len(common) - 1)] == flat
    left = lens - np.add.reduceat(drop.astype(np.int64), np.cumsum(lens) - lens)
    drop &= np.repeat(left > 0, lens)    # nothing distinctive left: keep the record's own shingles
    lens = np.where(left > 0, left, lens)
    return flat[~drop], lens, int(drop.sum())


def _shingle_job(args):
    return all_shingles(*args)


def _minhash_job(args):
    return minhash(*args)


class Dedup(Filter):
    """Drop exact and near duplicates; the first of a cluster stays and the others name it.

    Exact: question + answer after case folding, NFKC, and removing punctuation and extra spaces.
    The question is the last user turn; the system message is never part of it.
    Images: a record's images (their sha256, `image_key`) are part of both keys: the same question
    and answer about two different images are two records, never duplicates.
    Near: MinHash (`num_perm` permutations, datasketch's affine32 scheme, seed `seed`) of the word
    `shingle`-grams of the answer and of the last user turn, less the question's shingles that
    recur across the set: those found in max(`common_min`, `common_share` × distinct questions)
    or more distinct questions, such as a tool description, a persona or a preamble that many
    questions share (it would make "Who was the first president…" and "Who was the 16th
    president…" near duplicates). A question with nothing else left keeps all of its shingles.
    Signatures are indexed by datasketch's MinHashLSH at Jaccard `threshold`; an LSH candidate
    counts only if the signatures' estimated Jaccard reaches `threshold` too. Shingles and
    signatures are computed with numpy for many records at once, on `workers` processes.

    How each drop code decides:
        exact: same normalized question and answer as an earlier record (evidence: its id).
        near: estimated Jaccard >= `threshold` with an earlier kept record (evidence: its id).
    """
    name = "dedup"
    codes = {
        'exact': 'same normalized question and answer as an earlier record',
        'near': 'a near duplicate (MinHash Jaccard ≥ threshold) of an earlier record',
    }
    params = ("threshold", "num_perm", "shingle", "seed", "workers", "common_share", "common_min")
    threshold = 0.8
    num_perm = 128
    shingle = 3
    seed = 1
    workers = 1
    common_share = 0.01
    common_min = 20

    def check_all(self, recs: list[dict], labels: list[str] | None = None) -> dict[int, Drop]:
        if not recs:
            return {}
        labels = labels or [label(r, i) for i, r in enumerate(recs)]
        drops: dict[int, Drop] = {}
        first: dict[bytes, int] = {}
        rest = []
        for i, rec in enumerate(recs):
            key = hashlib.blake2b((image_key(rec) + "\n" + normalize(text_of(rec))).encode("utf-8"),
                                  digest_size=16).digest()
            if key in first:
                drops[i] = Drop("exact", f"same as {labels[first[key]]}")
            else:
                first[key] = i
                rest.append(i)
        drops.update(self.near(recs, rest, labels))
        return drops

    def all_signatures(self, questions: list[str], answers: list[str]) -> np.ndarray:
        """Signatures of question + answer pairs: the answer's shingles and the question's
        distinctive ones (`distinctive`, over distinct questions)."""
        if not answers:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        ids: dict[str, int] = {}
        qid = np.array([ids.setdefault(q, len(ids)) for q in questions], dtype=np.int64)
        distinct = list(ids)
        cutoff = max(self.common_min, math.ceil(self.common_share * len(distinct)))
        texts = distinct + answers
        pool = None
        if self.workers > 1 and len(answers) >= 4000:
            import multiprocessing as mp

            pool = mp.get_context("spawn").Pool(self.workers)
        try:
            if pool is None:
                parts = all_shingles(texts, self.shingle)
            else:
                step = -(-len(texts) // (self.workers * 4))
                parts = [p for chunk in pool.map(_shingle_job, [(texts[s:s + step], self.shingle)
                                                                for s in range(0, len(texts), step)])
                         for p in chunk]
            qflat, qlens, _ = distinctive(parts[:len(distinct)], np.arange(len(distinct)), cutoff)
            qparts = np.split(qflat, np.cumsum(qlens)[:-1])
            answer_parts = parts[len(distinct):]
            flat = np.concatenate([p for i, q in enumerate(qid) for p in (qparts[q], answer_parts[i])])
            lens = qlens[qid] + np.array([len(p) for p in answer_parts])
            if pool is None:
                return minhash(flat, lens, self.num_perm, self.seed)
            step = -(-len(lens) // (self.workers * 4))
            ends = np.concatenate([[0], np.cumsum(lens)])
            jobs = [(flat[ends[s]:ends[min(s + step, len(lens))]], lens[s:s + step], self.num_perm, self.seed)
                    for s in range(0, len(lens), step)]
            return np.concatenate(pool.map(_minhash_job, jobs))
        finally:
            if pool is not None:
                pool.close()
                pool.join()

    def near(self, recs: list[dict], order: list[int], labels: list[str]) -> dict[int, Drop]:
        from datasketch import LeanMinHash, MinHashLSH

        sigs = self.all_signatures([turn(recs[i], "user") for i in order], [turn(recs[i], "assistant") for i in order])
        # LSH finds candidates (at most 0.9: datasketch needs 2+ bands); the signatures decide.
        lsh = MinHashLSH(threshold=min(self.threshold, 0.9), num_perm=self.num_perm)
        images = [image_key(recs[i]) for i in order]
        drops: dict[int, Drop] = {}
        for row, i in enumerate(order):
            m = LeanMinHash(seed=self.seed, hashvalues=sigs[row], scheme="affine32")
            best = None
            for cand in lsh.query(m):
                if images[cand] != images[row]:
                    continue
                jac = float(np.mean(sigs[cand] == sigs[row]))
                if jac >= self.threshold and (best is None or order[cand] < order[best[0]]):
                    best = (cand, jac)
            if best is None:
                lsh.insert(row, m, check_duplication=False)
            else:
                drops[i] = Drop("near", f"near {labels[order[best[0]]]} (estimated Jaccard {best[1]:.2f})")
        return drops
