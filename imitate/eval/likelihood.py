"""How likely a model finds given answers: the negative log-likelihood of each answer's tokens.

eval scores every local student with it on the teacher's answers (`teacher_nll`, nats per answer token):
the quantity that finetune's held-out loss measures and that SFT and KD lower, so it shows how much
closer to the teacher a student got even where generated answers are too few to move the reference
accuracy. The encoding is finetune's (imitate.train.data.encode: the chat template, loss on the
assistant tokens only), so a student is scored on exactly the tokens it would be trained on.
"""
from __future__ import annotations

import torch

from imitate.train.data import encode
from imitate.train.student_trainer import plain_head


@torch.inference_mode()
def answer_nll(model, tok, conversations: list[list[dict]], batch_size: int = 8, *, last_only: bool = False,
               max_length: int | None = None) -> list[tuple[float, int]]:
    """(summed NLL, token count) of the assistant tokens of each conversation under `model` (`last_only`: of
    its last assistant turn; `max_length`: within its first max_length tokens, as finetune cuts). The LM head
    runs on the answer positions only, one row at a time, so no (batch x tokens x vocab) tensor is made
    (a head that scales or soft-caps its logits gets the model's own logits instead)."""
    rows = [{k: v[:max_length] for k, v in encode(tok, msgs, last_only).items()} for msgs in conversations]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    head = model.get_output_embeddings() if plain_head(model) else None
    out = []
    for a in range(0, len(rows), batch_size):
        part = rows[a:a + batch_size]
        width = max(len(r["input_ids"]) for r in part)
        ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in part])
        labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in part])
        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in part])
        fwd = dict(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), use_cache=False)
        if head is not None:
            h = model(**fwd, output_hidden_states=True, logits_to_keep=1).hidden_states[-1][:, :-1]
        else:
            h = model(**fwd).logits[:, :-1]
        for row, tgt in zip(h, labels[:, 1:].to(model.device)):
            keep = tgt != -100
            logp = torch.log_softmax((head(row[keep]) if head is not None else row[keep]).float(), dim=-1)
            out.append((float(-logp.gather(-1, tgt[keep][:, None]).sum()), int(keep.sum())))
    return out
