"""Continuous batching for a local causal LM: a row joins the running batch as soon as a slot is
free and leaves it at its own stop token or max_tokens, so no row waits for the batch's longest.

One decode step costs far less than batch-size times one row's step on a CPU (the weights are read
once per step): 67 ms at 8 rows against 41 ms at 1 for the embedded 135M model here. Plain batched
`generate` keeps finished rows in the batch until its longest row ends; this keeps the batch full of
live rows instead (benchmarks/embedded_throughput.py, benchmarks/eval_generate.py).

Rows are left-padded into one KV cache. New rows are prefilled together on their own (each from
where it parts from a recent prompt that starts the same way: Prefixes), then both caches are
left-padded to the longer and joined; leaving rows are dropped, and cache columns that only
padding uses are cut. Positions are counted per row over its real tokens, so padding changes nothing
but float rounding: in fp32 a row's answer is the same whatever it was batched with (tested); in bf16
a near tie can round the other way. Greedy at temperature 0 (below GREEDY_BELOW); otherwise each row
samples with its own temperature, top_p and seeded generator. The cache has no sliding window:
models with one are refused (full_attention).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

GREEDY_BELOW = 1e-5   # a lower temperature is greedy (dividing logits by it would overflow)


def full_attention(config) -> bool:
    """Whether every layer of a model attends to the whole context (what this cache assumes)."""
    config = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    kinds = getattr(config, "layer_types", None)
    if kinds:
        return all(k == "full_attention" for k in kinds)
    return not (getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True))


@dataclass
class Row:
    prompt: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    tokens: list[int] = field(default_factory=list)
    finish_reason: str = ""   # "stop" (its last token is a stop token) or "length"
    generator: torch.Generator | None = None

    def __post_init__(self):
        if self.temperature < GREEDY_BELOW:
            self.temperature = 0.0
        if self.temperature > 0 and self.seed is not None:
            self.generator = torch.Generator().manual_seed(self.seed)


def stops(model, tok) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    return {i for i in ids if i is not None}


def pick(row: Row, logits: torch.Tensor) -> int:
    """The row's next token from its last logits: argmax, or a draw at its temperature and top_p."""
    if row.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float().cpu() / row.temperature, dim=-1)
    if row.top_p < 1:   # nucleus: the smallest set of tokens whose probability reaches top_p
        ordered, order = probs.sort(descending=True)
        ordered[ordered.cumsum(0) - ordered > row.top_p] = 0
        probs = torch.zeros_like(probs).scatter(0, order, ordered)
    return int(torch.multinomial(probs, 1, generator=row.generator))


def _pad_left(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """t with zeros added before its entries along dim, to `width` entries."""
    missing = width - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class Prefixes:
    """The KV cache of recent prompts, one row each, so that a prompt that starts as one of them
    (the same system message and chat template start) is prefilled only from where they part. A
    token's keys and values depend only on the tokens before it, so the reuse is exact up to float
    rounding. Prefill was half of the embedded teacher's time on collect's requests (82 prompt
    tokens for 44 generated, 55% of the prompt tokens shared with an earlier prompt). The store is
    bounded in tokens (4096: 94 MB for the 135M model in bf16, 0.5 GB for an 8B one)."""

    def __init__(self, budget: int = 4096, least: int = 8):
        self.budget, self.least = budget, least
        self.entries: list[tuple[list[int], list[tuple[torch.Tensor, torch.Tensor]]]] = []   # oldest first

    def find(self, prompt: list[int]) -> tuple[int, list | None]:
        """(n, kv): the longest stored start of `prompt`, at least `least` tokens and leaving one to feed."""
        best, kv = 0, None
        for tokens, entry in self.entries:
            n, top = 0, min(len(tokens), len(prompt) - 1)
            while n < top and tokens[n] == prompt[n]:
                n += 1
            if n > best:
                best, kv = n, entry
        return (best, kv) if best >= self.least else (0, None)

    def add(self, prompt: list[int], kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Keep a prompt's keys and values ((1, heads, len(prompt), dim) per layer), dropping the oldest
        prompts past the budget."""
        self.entries = [e for e in self.entries if e[0] != prompt] + [(prompt, kv)]
        while sum(len(t) for t, _ in self.entries) > self.budget:
            self.entries.pop(0)


class Batch:
    """The rows being decoded together, their KV cache and attention mask."""

    def __init__(self, model, stops: set[int], pad: int):
        if not full_attention(model.config):
            raise ValueError(f"{type(model).__name__} has sliding-window attention layers; continuous batching "
                             "here needs full attention (LLaMA-family models)")
        self.model, self.stops, self.pad = model, stops, pad
        self.rows: list[Row] = []
        self.cache: DynamicCache | None = None
        self.mask = self.last = None   # (rows, cached positions); (rows, 1): each row's token to feed next
        self.prefixes = Prefixes()
        self.reused = 0   # prompt tokens taken from stored prompts instead of prefilled

    def _forward(self, ids, mask, cache) -> torch.Tensor:
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
                         use_cache=True, logits_to_keep=1)
        return out.logits[:, -1]

    def _advance(self, rows: list[Row], logits: torch.Tensor) -> list[bool]:
        """Append each row's next token; whether each row goes on."""
        greedy = logits.argmax(-1).tolist()
        going = []
        for i, row in enumerate(rows):
            token = greedy[i] if row.temperature <= 0 else pick(row, logits[i])
            row.tokens.append(token)
            if token in self.stops:
                row.finish_reason = "stop"
            elif len(row.tokens) >= row.max_tokens:
                row.finish_reason = "length"
            going.append(not row.finish_reason)
        return going

    @torch.inference_mode()
    def admit(self, rows: list[Row]) -> list[Row]:
        """Prefill new rows in one forward and join those that go on; returns the rows that already
        finished. A row that starts as a stored prompt has that start's keys and values put in the
        cache and feeds only the rest: row i's columns are [padding, its stored start, padding, the
        rest], the padding masked, so positions (counted over the mask) stay right."""
        dev = self.model.device
        found = [self.prefixes.find(r.prompt) for r in rows]
        start = max(n for n, _ in found)
        rest = max(len(r.prompt) - n for r, (n, _) in zip(rows, found))
        ids = torch.tensor([[self.pad] * (rest - len(r.prompt) + n) + r.prompt[n:] for r, (n, _) in zip(rows, found)],
                           device=dev)
        mask = torch.tensor([[0] * (start - n) + [1] * n + [0] * (rest - len(r.prompt) + n) + [1] * (len(r.prompt) - n)
                             for r, (n, _) in zip(rows, found)], device=dev)
        cache = DynamicCache()
        if start:
            stored = next(kv for n, kv in found if n)
            blank = [(k.new_zeros(*k.shape[:2], start, k.shape[3]), v.new_zeros(*v.shape[:2], start, v.shape[3]))
                     for k, v in stored]
            cache = DynamicCache([
                (torch.cat([_pad_left(kv[layer][0][:, :, :n], start, 2) if n else blank[layer][0] for n, kv in found]),
                 torch.cat([_pad_left(kv[layer][1][:, :, :n], start, 2) if n else blank[layer][1] for n, kv in found]))
                for layer in range(len(stored))])
            self.reused += sum(n for n, _ in found)
        logits = self._forward(ids, mask, cache)
        for i, row in enumerate(rows):   # store each prompt's own keys and values, without the padding
            cols = mask[i].nonzero().squeeze(1)
            self.prefixes.add(row.prompt, [(layer.keys[i:i + 1, :, cols], layer.values[i:i + 1, :, cols])
                                           for layer in cache.layers])
        going = self._advance(rows, logits)
        keep = [i for i, g in enumerate(going) if g]
        if keep:
            last = torch.tensor([[rows[i].tokens[-1]] for i in keep], device=dev)
            self._join([rows[i] for i in keep], cache, mask, keep, last)
            self._compact(torch.arange(len(self.rows), device=dev))
        return [r for r, g in zip(rows, going) if not g]

    def _join(self, rows: list[Row], cache: DynamicCache, mask: torch.Tensor, keep: list[int], last) -> None:
        index = torch.tensor(keep, device=mask.device)
        new = [(k[index], v[index]) for k, v in ((layer.keys, layer.values) for layer in cache.layers)]
        mask = mask[index]
        if not self.rows:
            self.rows, self.cache, self.mask, self.last = rows, DynamicCache(new), mask, last
            return
        width = max(mask.shape[1], self.mask.shape[1])
        old = [(layer.keys, layer.values) for layer in self.cache.layers]
        self.cache = DynamicCache([(torch.cat([_pad_left(k0, width, 2), _pad_left(k1, width, 2)]),
                                    torch.cat([_pad_left(v0, width, 2), _pad_left(v1, width, 2)]))
                                   for (k0, v0), (k1, v1) in zip(old, new)])
        self.mask = torch.cat([_pad_left(self.mask, width, 1), _pad_left(mask, width, 1)])
        self.last = torch.cat([self.last, last])
        self.rows = self.rows + rows

    @torch.inference_mode()
    def step(self) -> list[Row]:
        """One token for every row; returns the rows that finished (and are no longer in the batch)."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(self.rows), 1)], dim=1)
        going = self._advance(self.rows, self._forward(self.last, self.mask, self.cache))
        self.last = torch.tensor([[r.tokens[-1]] for r in self.rows], device=self.mask.device)
        if all(going):
            return []
        finished = [r for r, g in zip(self.rows, going) if not g]
        keep = [i for i, g in enumerate(going) if g]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache = self.mask = self.last = None
            return finished
        self.last = self.last[keep]
        self._compact(torch.tensor(keep, device=self.mask.device))
        return finished

    def _compact(self, index: torch.Tensor) -> None:
        """Keep the rows at `index`, and only the cache columns that one of them uses (exact: positions
        are counted over the mask)."""
        mask = self.mask[index]
        cols = mask.any(0).nonzero().squeeze(1)
        if mask.shape == self.mask.shape and len(cols) == mask.shape[1]:
            return   # every row and column stays: no copy
        self.mask = mask[:, cols]
        self.cache = DynamicCache([(layer.keys[index][:, :, cols], layer.values[index][:, :, cols])
                                   for layer in self.cache.layers])

    def fail(self) -> list[Row]:
        """Drop every row (after an error); returns them."""
        rows, self.rows = self.rows, []
        self.cache = self.mask = self.last = None
        return rows


def run(model, rows: list[Row], stops: set[int], pad: int, max_batch: int, done) -> None:
    """Decode all rows, at most max_batch at once, longest prompts first; done(row) as each finishes."""
    batch = Batch(model, stops, pad)
    waiting = sorted(rows, key=lambda r: -len(r.prompt))
    while waiting or batch.rows:
        free = max_batch - len(batch.rows)
        if waiting and (not batch.rows or free >= max(1, max_batch // 4)):   # join in groups, not one by one
            group, waiting = waiting[:free], waiting[free:]
            for row in batch.admit(group):
                done(row)
        if batch.rows:
            for row in batch.step():
                done(row)
