"""The student's trainer: TRL's SFTTrainer whose training loss is computed on the answer positions only,
with the LM head applied chunk by chunk.

TRL's compute_loss builds fp32 logits at every position of the batch (tokens x vocab: 49,152 columns
for SmolLM2), then their entropy and token accuracy, although only the positions that predict an
answer token carry loss. Here the model runs with its head on the last position only
(`logits_to_keep=1`), the final hidden states at the positions the CE counts (`labels[:, 1:] !=
-100`) are gathered, and the head, log-softmax and loss run on chunks of them (about 256 MB of fp32
logits a chunk), each chunk recomputed in the backward pass (checkpointed). No (tokens x vocab)
tensor exists for the whole batch, and prompt and padding positions cost no head at all. The loss is
TRL's: the same token sum over the same token count (`token_scale`). The per-step entropy and
accuracy metrics are dropped from the training logs; evaluation keeps TRL's path and reports them.

Liger's fused linear cross-entropy (a GPU with liger-kernel installed) keeps TRL's path for plain
SFT; so do heads that scale or soft-cap their logits (`plain_head`). KDTrainer
(imitate.distill.kd_trainer) adds its terms to the same chunks.
"""
from __future__ import annotations

import torch
from trl import SFTTrainer

CHUNK_BYTES = 2 ** 28   # fp32 logits per chunk


def plain_head(model) -> bool:
    """True when logits are exactly head(final hidden state): no logit scale or soft-capping."""
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    return not any(getattr(cfg, k, None) for k in ("final_logit_softcapping", "logit_scale", "logits_scaling"))


def answer_states(model, inputs: dict, **kw):
    """One forward without the full head: (final hidden states at the positions the CE counts (N, d),
    their targets (N,), the mask (B, T-1), the model output). `kw` goes to the forward."""
    labels = inputs["labels"]
    fwd = {k: v for k, v in inputs.items() if k != "labels"}
    out = model(**fwd, use_cache=False, output_hidden_states=True, logits_to_keep=1, **kw)
    mask = labels[:, 1:] != -100
    return out.hidden_states[-1][:, :-1][mask], labels[:, 1:][mask], mask, out


def over_chunks(fn, head, h: torch.Tensor, *rows) -> torch.Tensor:
    """The sum over chunks of rows of fn(head, h[a:b], *(r[a:b] for r in rows)), a 1-D tensor of loss
    terms; each chunk is checkpointed, so its logits live only while it runs."""
    size = max(1, CHUNK_BYTES // 4 // head.weight.shape[0])
    h = h.to(head.weight.dtype)   # accelerate returns the forward's outputs in fp32 beside a bf16 head
    total = None
    for a in range(0, h.shape[0], size):
        part = torch.utils.checkpoint.checkpoint(fn, head, h[a:a + size], *(r[a:a + size] for r in rows),
                                                 use_reentrant=False)
        total = part if total is None else total + part
    if total is None:   # no answer token in this micro-batch: a zero that still belongs to the graph
        total = fn(head, h[:0], *(r[:0] for r in rows))
    return total


def nll(head, h, tgt):
    """[summed NLL of the targets] of one chunk."""
    logp = torch.log_softmax(head(h).float(), dim=-1)
    return -logp.gather(-1, tgt[:, None]).sum()[None]


class StudentTrainer(SFTTrainer):
    """SFTTrainer with the answer-only, chunked CE of the module doc."""

    def head(self, model):
        return self.accelerator.unwrap_model(model).get_output_embeddings()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if (not model.training or return_outputs or self.args.use_liger_kernel
                or not plain_head(self.accelerator.unwrap_model(model))):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        h, tgt, _, _ = answer_states(model, inputs)
        return self.chunks(nll, model, h, tgt)[0] * self.token_scale(inputs["labels"], num_items_in_batch)

    def chunks(self, fn, model, h, *rows):
        """over_chunks with the student's head, under the autocast of the model's forward (accelerate
        wraps the forward only; with bf16 on a CPU the head would otherwise multiply in fp32)."""
        with self.accelerator.autocast():
            return over_chunks(fn, self.head(model), h, *rows)

    def spans_step(self, num_items_in_batch) -> bool:
        """Whether a micro-batch's loss is its share of the whole step's (divided by the step's answer
        tokens, num_items_in_batch) rather than its own mean."""
        return self.model_accepts_loss_kwargs and num_items_in_batch is not None

    def token_scale(self, labels, num_items_in_batch):
        """1 / the token count the CE divides by, as transformers' Trainer.compute_loss does: with
        `num_items_in_batch` (the answer tokens of the whole accumulated batch) that count spans
        micro-batches, and devices with average_tokens_across_devices; without it the Trainer divides
        the micro-batch mean by the accumulation steps itself."""
        if self.spans_step(num_items_in_batch):
            n = torch.as_tensor(num_items_in_batch, device=labels.device, dtype=torch.float32).clamp(min=1)
            scale = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
            return scale / n
        return 1.0 / (labels[:, 1:] != -100).sum().clamp(min=1).float()
