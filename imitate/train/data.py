"""Kept records -> token ids and labels, with the loss on the assistant (teacher) tokens only.

Why we build the labels ourselves instead of TRL's `assistant_only_loss=True`: TRL reads the
assistant mask from `{% generation %}` markers in the chat template and, when they are missing,
swaps in a patched template only for the families it knows. SmolLM2's ChatML template (and most
LLaMA-family fine-tunes) is not among them, so TRL would refuse. Here the template renders the
conversation once as text; each assistant turn's character span is where the text of
`messages[:i] + generation prompt` ends and the text of `messages[:i+1]` ends (trailing whitespace
trimmed, so `<|im_end|>` is trained and the newline after it is not). The fast tokenizer's offsets
then map spans to tokens. This works with any prefix-stable template, keeps the exact token ids
the template gives at inference, and needs no template edit. TRL receives `input_ids` + `labels`
(-100 = no loss) and only truncates, packs and pads them.
"""
from __future__ import annotations

import math
import random
import sys

from imitate.errors import UserError

MIN_EVAL = 4  # held-out records wanted at least, when the set is big enough (see split)


def set_system(records: list[dict], system: str | None) -> list[dict]:
    """Prompt erasing (Orca 2): replace the system message; '' drops it; None keeps it."""
    if system is None:
        return records
    out = []
    for rec in records:
        msgs = [m for m in rec["messages"] if m["role"] != "system"]
        if system:
            msgs = [{"role": "system", "content": system}] + msgs
        out.append({**rec, "messages": msgs})
    return out


def eval_size(n: int, fraction: float) -> int:
    """Held-out count: `fraction` of n, at least MIN_EVAL (but no more than a quarter of a tiny set)."""
    return max(1, math.ceil(n * fraction), min(MIN_EVAL, n // 4))


def split(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Seeded train/held-out split. Records sharing a `seed_id` (samples and teachers answering one
    question) stay on the same side, so the held-out loss is not measured on questions seen in training."""
    n = len(records)
    if n < 2:
        raise UserError(f"need at least 2 records to hold some out for evaluation, got {n}")
    want = eval_size(n, fraction)
    groups: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault(str(rec.get("seed_id") or rec.get("id") or i), []).append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    if len(keys) < 2:  # one question only: split the records themselves
        keys, groups = [str(i) for i in range(n)], {str(i): [i] for i in range(n)}
        random.Random(seed).shuffle(keys)
    held: list[int] = []
    for k in keys:
        if len(held) >= want:
            break
        if n - len(held) - len(groups[k]) < 1:
            continue
        held.extend(groups[k])
    held_set = set(held)
    train = [r for i, r in enumerate(records) if i not in held_set]
    return train, [records[i] for i in sorted(held)]


def check_tokenizer(tokenizer, where) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("the student's tokenizer has no chat template; use an instruct/chat model, "
                        "or add a chat_template to its tokenizer_config.json", where)
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("the student's tokenizer is not a fast tokenizer (needed for the token offsets "
                        "that place the loss on assistant tokens)", where)


def _render(tokenizer, messages, generation_prompt=False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """(rendered text, [(start, end) character span of each assistant turn, end-of-turn included])."""
    text = _render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1])
        if not (text.startswith(upto) and upto.startswith(before)):
            raise UserError("the student's chat template is not prefix-stable (rendering the first turns "
                            "alone differs from the start of the whole chat), so the assistant tokens "
                            "cannot be located")
        end = len(upto.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return text, spans


def encode(tokenizer, messages: list[dict], last_only: bool = False) -> dict:
    """{'input_ids': [...], 'labels': [...]}: labels copy input_ids on assistant tokens (`last_only`: those
    of the last assistant turn), -100 elsewhere. A token is trained when it starts inside an assistant span."""
    text, spans = assistant_spans(tokenizer, messages)
    spans = spans[-1:] if last_only else spans
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = [-100] * len(ids)
    for j, (a, _b) in enumerate(enc["offset_mapping"]):
        if any(s <= a < e for s, e in spans):
            labels[j] = ids[j]
    return {"input_ids": ids, "labels": labels}


def encode_all(tokenizer, records: list[dict], where, max_length: int | None = None):
    """A datasets.Dataset of input_ids + labels, each row cut to max_length tokens (warns how many were);
    a row left with no answer token after the cut is dropped, as TRL drops fully masked rows."""
    from datasets import Dataset

    rows = {"input_ids": [], "labels": []}
    too_long = masked = 0
    for i, rec in enumerate(records, start=1):
        row = encode(tokenizer, rec["messages"])
        answers = [m["content"].strip() for m in rec["messages"] if m["role"] == "assistant"]
        if not any(answers) or not any(x != -100 for x in row["labels"]):
            raise UserError("record has only empty assistant turns (nothing to learn)", where, rec.get("_line", i))
        too_long += max_length is not None and len(row["input_ids"]) > max_length
        if all(x == -100 for x in row["labels"][:max_length]):
            masked += 1
            continue
        rows["input_ids"].append(row["input_ids"][:max_length])
        rows["labels"].append(row["labels"][:max_length])
    if too_long:
        print(f"warning: {too_long} of {len(records)} records are longer than --max-length {max_length} "
              "tokens and will be cut" + (f"; {masked} of them have no answer token left and are dropped" if masked else ""),
              file=sys.stderr)
    return Dataset.from_dict(rows)
