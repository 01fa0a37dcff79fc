"""White-box KD inside TRL: `kd_setup` loads the teachers, `KDTrainer` adds the KD terms to SFT.

    extra = kd_setup(cfg, model, tokenizer)
    trainer = KDTrainer(model=..., args=SFTConfig(...), train_dataset=..., eval_dataset=...,
                        processing_class=tokenizer, peft_config=..., **extra)

Training loss: L = lambda_ce * CE + lambda_kl * T^2 * KL(p_T || p_S) + lambda_mse * MSE(f_T, R(f_S)).
- Every term lives on the positions the CE counts (those predicting an answer token,
  `labels[:, 1:] != -100`), is summed over them and divided by the CE's token count
  (`StudentTrainer.token_scale`), so KD and CE weigh every token alike, whatever the micro-batches hold.
- CE and the logit terms come from StudentTrainer's chunks (imitate.train.student_trainer): the student's
  final hidden states at those positions go through its head one chunk at a time (checkpointed), and
  so do the teachers': their forward stops before the head, and each chunk applies the teachers' heads
  to their hidden states at the same positions. No (tokens x vocab) tensor, student's or teacher's,
  exists for the whole batch.
- Logit KD: several teachers are averaged as distributions (the ensemble).
- Feature KD: the hidden states at those positions, RMS-normalized, one Linear(d_S, d_T)
  regressor per layer pair, MSE averaged over the pairs. With several teachers, feature KD uses
  the FIRST teacher's features only (one regressor per pair).
- Top-k KD (`--kd topk`, gray-box): no teacher is loaded; the dataset carries the cached top-k of
  each trained token (columns kd_ids / kd_logprobs, see imitate.distill.topk) and the loss is
  `losses.topk_kd` (K+1 outcomes, the rest bucket), in the same chunks.
- Evaluation returns plain CE (TRL's path, no teacher), so eval_loss compares with plain SFT.
The teachers run frozen, in eval mode, under no_grad: bf16 on a GPU; on a CPU bf16 where it multiplies
faster than fp32, else fp32. The regressors
are a submodule `kd_regressors` of the trained model (so the optimizer, DDP and LoRA see them:
attached after PEFT wrapping, they stay trainable) and are saved as regressor.pt, never inside
the model or adapter weights.
"""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import torch

from imitate import embedded
from imitate.device import process_device
from imitate.distill.features import (REGRESSOR_FILE, LayerCapture, build_regressors, load_regressors, pair_key,
                                      parse_layer_map, rms_normalize, save_regressors, text_config)
from imitate.distill.losses import feature_kd, logit_kd, topk_kd
from imitate.distill.options import KDOptions
from imitate.errors import UserError
from imitate.train.student_trainer import StudentTrainer, answer_states, nll, plain_head


def load_teacher(path: str, device=None, dtype=None, bf16: bool | None = None):
    """A frozen teacher: eval mode, no parameter requiring grad. Unset device: process_device(bf16)."""
    from transformers import AutoModelForCausalLM

    if device is None:
        device, dtype = process_device(bf16)
    try:
        teacher = AutoModelForCausalLM.from_pretrained(embedded.resolve(path), dtype=dtype)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the teacher model: {e}", path) from None
    teacher.to(device).eval().requires_grad_(False)
    return teacher


def check_same_vocab(student_tok, teacher_tok, name: str) -> None:
    """Logit KD compares distributions token by token: the vocabularies must be identical."""
    a, b = student_tok.get_vocab(), teacher_tok.get_vocab()
    if a == b:
        return
    diff = sorted(set(a.items()) ^ set(b.items()), key=lambda kv: kv[1])[:3]
    raise UserError(f"logit KD needs the student's vocabulary, but this teacher's tokenizer differs "
                    f"({len(b)} tokens vs the student's {len(a)}; e.g. {diff}). Use `--kd feature` alone "
                    f"with this teacher, or a teacher that shares the student's tokenizer", name)


def kd_setup(cfg: KDOptions, model, tokenizer, seed: int = 0, bf16: bool | None = None) -> dict:
    """Load the teachers, check vocabularies (logit KD), parse the layer map, build the regressors.

    `cfg` needs kd_teacher (list of paths), kd (list among 'logit', 'feature'), layer_map
    ('' = default), kd_temperature, lambda_ce, lambda_kl, lambda_mse, rng_seed. Returns KDTrainer's
    extra kwargs.
    """
    from transformers import AutoTokenizer

    kd = cfg.kinds()
    if kd == ("topk",):   # gray-box: the teacher's top-k come with the dataset, no teacher is loaded
        return dict(teachers=[], kd=kd, temperature=cfg.kd_temperature, lambda_ce=cfg.lambda_ce,
                    lambda_kl=cfg.lambda_kl, lambda_mse=cfg.lambda_mse)
    teachers = [load_teacher(p, bf16=bf16) for p in cfg.kd_teacher]
    if "logit" in kd:
        for path in cfg.kd_teacher:
            try:
                teacher_tok = AutoTokenizer.from_pretrained(embedded.resolve(path))
            except (OSError, ValueError) as e:
                raise UserError(f"logit KD needs the teacher's tokenizer to check its vocabulary: {e}", path) from None
            check_same_vocab(tokenizer, teacher_tok, path)
    pairs, regressors = [], None
    if "feature" in kd:
        s_cfg, t_cfg = text_config(model), text_config(teachers[0])
        pairs = parse_layer_map(cfg.layer_map, s_cfg.num_hidden_layers, t_cfg.num_hidden_layers)
        regressors = build_regressors(pairs, s_cfg.hidden_size, t_cfg.hidden_size, seed=seed)
    return dict(teachers=teachers, kd=kd, layer_map=pairs, regressors=regressors,
                temperature=cfg.kd_temperature, lambda_ce=cfg.lambda_ce, lambda_kl=cfg.lambda_kl,
                lambda_mse=cfg.lambda_mse)


class KDTrainer(StudentTrainer):
    """SFTTrainer whose training loss adds logit and/or feature KD terms (see the module doc)."""

    def __init__(self, *args, teachers=(), kd=("logit",), layer_map=(), regressors=None, temperature=2.0,
                 lambda_ce=1.0, lambda_kl=1.0, lambda_mse=1.0, kl_kind="forward", teacher_weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kd = tuple(kd)
        self.kd_teachers = list(teachers)
        self.kd_layer_map = [tuple(p) for p in layer_map]
        self.temperature, self.kl_kind, self.teacher_weights = temperature, kl_kind, teacher_weights
        self.lambda_ce, self.lambda_kl, self.lambda_mse = lambda_ce, lambda_kl, lambda_mse
        self.kd_logs: dict[str, list[float]] = {}   # KD terms since the last log (see `log`)
        if not self.kd_teachers and self.kd != ("topk",):
            raise ValueError("KDTrainer needs at least one teacher")
        if "topk" in self.kd:
            if self.kd != ("topk",):
                raise ValueError("topk KD goes alone (no teacher is loaded for it)")
            if getattr(self.args, "padding_free", False):
                raise ValueError("topk KD trains without packing / padding-free rows")
            self.data_collator = TopkCollator(self.data_collator)
        for t in self.kd_teachers:
            t.to(self.args.device).eval().requires_grad_(False)
        if "feature" in self.kd:
            if regressors is None or not self.kd_layer_map:
                raise ValueError("feature KD needs layer_map and regressors (see kd_setup)")
            # After PEFT wrapping (done in SFTTrainer.__init__), so they stay trainable.
            self.model.add_module("kd_regressors", regressors.to(self.args.device))

    @property
    def regressors(self):
        return getattr(self.model, "kd_regressors", None)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training or return_outputs:  # evaluation: plain CE, comparable with SFT
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if not plain_head(self.accelerator.unwrap_model(model)):
            raise UserError("KD computes the student's logits from its final hidden states, and this "
                            "student scales or soft-caps its logits: use a LLaMA-family student")
        topk = [inputs.pop(k) for k in TOPK_COLUMNS] if self.kd == ("topk",) else None
        pairs = self.kd_layer_map if "feature" in self.kd else []
        scale = self.token_scale(inputs["labels"], num_items_in_batch)
        with LayerCapture(model, [s for s, _ in pairs]) as cap:
            h, tgt, mask, _ = answer_states(model, inputs)
        if topk:
            terms = self.chunks(partial(_topk_chunk, temperature=self.temperature), model, h, tgt,
                                *(t[:, 1:][mask] for t in topk))
        else:
            states, t_feats = self._teacher_forward(inputs, mask, "logit" in self.kd, [t for _, t in pairs])
            if states:
                fn = partial(_logit_chunk, heads=[t.get_output_embeddings() for t in self.kd_teachers],
                             temperature=self.temperature, kind=self.kl_kind, weights=self.teacher_weights)
                terms = self.chunks(fn, model, h, tgt, *states)
            else:
                terms = self.chunks(nll, model, h, tgt)
        ce = terms[0] * scale
        loss = self.lambda_ce * ce
        logs = {"kd_ce": ce.detach()}
        if len(terms) > 1:
            kl = terms[1] * scale
            loss = loss + self.lambda_kl * kl
            logs["kd_kl"] = kl.detach()
        if pairs:   # the positions the CE counts: those that predict an answer token
            mse = sum(feature_kd(rms_normalize(cap.outputs[s][:, :-1]), rms_normalize(t_feats[t][:, :-1]),
                                 self.regressors[pair_key(s, t)], mask, reduction="sum")
                      for s, t in pairs) * scale / len(pairs)
            loss = loss + self.lambda_mse * mse
            logs["kd_mse"] = mse.detach()
        # A term that is this micro-batch's share of the step's value, scaled by the micro-batches per step:
        # the mean over a logging window is then the mean per step, as for "loss".
        share = self.args.gradient_accumulation_steps if self.spans_step(num_items_in_batch) else 1
        for k, v in logs.items():
            self.kd_logs.setdefault(k, []).append(self.accelerator.gather_for_metrics(v.float()).mean().item() * share)
        return loss

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "topk" in self.kd and self._signature_columns is not None:
            self._signature_columns = [*self._signature_columns, *TOPK_COLUMNS]

    def log(self, logs: dict, *args, **kwargs) -> None:
        """Add the mean of each KD term since the last log to a training log."""
        if "loss" in logs and self.kd_logs:
            logs.update({k: sum(v) / len(v) for k, v in self.kd_logs.items() if v})
            self.kd_logs = {}
        super().log(logs, *args, **kwargs)

    @torch.no_grad()
    def _teacher_forward(self, inputs, mask, logit: bool, layers):
        """With `logit`, each teacher's final hidden states at the masked positions [(N, d_T)], for
        `_logit_chunk` to apply its head per chunk; the FIRST teacher's features {layer: (B, T, d_T)}."""
        t_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "use_cache", "output_router_logits")}
        states, feats = [], {}
        for i, teacher in enumerate(self.kd_teachers):
            want = layers if i == 0 else []
            if not logit and not want:
                continue
            with LayerCapture(teacher, want) as cap:
                if logit:
                    out = teacher(**t_inputs, use_cache=False, output_hidden_states=True, logits_to_keep=1)
                    states.append(out.hidden_states[-1][:, :-1][mask])
                else:  # features only: skip the LM head
                    teacher.get_decoder()(**t_inputs, use_cache=False)
            feats.update(cap.outputs)
        return states, feats

    def _save(self, output_dir=None, state_dict=None):
        """Save the student without the regressors, then regressor.pt beside it."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        regs = self.model._modules.pop("kd_regressors", None)
        if state_dict is not None:
            state_dict = {k: v for k, v in state_dict.items() if "kd_regressors." not in k}
        try:
            super()._save(output_dir, state_dict)
        finally:
            if regs is not None:
                self.model.add_module("kd_regressors", regs)
        if regs is not None and self.args.should_save:
            save_regressors(regs, self.kd_layer_map, Path(output_dir) / REGRESSOR_FILE)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = Path(resume_from_checkpoint) / REGRESSOR_FILE
        if self.regressors is not None and path.exists():
            regs, _ = load_regressors(path)
            self.regressors.load_state_dict(regs.state_dict())


TOPK_COLUMNS = ("kd_ids", "kd_logprobs")


def _topk_chunk(head, h, tgt, ids, lps, temperature):
    """[summed NLL, summed top-k KL] of one chunk of positions, from one log-softmax and one gather (the
    target, then the top-k ids); positions without a top-k (ids all -1) count for the CE only."""
    logp = torch.log_softmax(head(h).float(), dim=-1)
    got = logp.gather(-1, torch.cat([tgt[:, None], ids.clamp(min=0)], dim=-1))
    kl = topk_kd(got[:, 1:], ids, lps, temperature, reduction="sum")
    return torch.stack([-got[:, 0].sum(), kl])


def _logit_chunk(head, h, tgt, *t_states, heads, temperature, kind, weights):
    """[summed NLL, summed logit KD] of one chunk of positions; the teachers' heads run here, on
    their final hidden states at the same positions, so their logits exist one chunk at a time too."""
    logits = head(h).float()
    nll_ = -torch.log_softmax(logits, dim=-1).gather(-1, tgt[:, None]).sum()
    with torch.no_grad():
        t_logits = [th(x) for th, x in zip(heads, t_states)]
    v = min(logits.size(-1), *(t.size(-1) for t in t_logits))  # padded vocab rows are never used
    every = torch.ones(1, logits.shape[0], dtype=torch.bool, device=logits.device)
    kl = logit_kd(logits[None, :, :v], [t[None, :, :v] for t in t_logits], every, temperature, kind, weights,
                  reduction="sum")
    return torch.stack([nll_, kl])


class TopkCollator:
    """TRL's collator on input_ids/labels, plus the top-k columns: each row's flat (T*k) lists (cut to
    --max-length tokens already, as TRL cuts input_ids) padded like the labels, as (B, T, k) tensors."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, examples):
        batch = self.inner([{k: v for k, v in e.items() if k not in TOPK_COLUMNS} for e in examples])
        if "kd_ids" not in examples[0]:   # the held-out set: plain CE
            return batch
        width = batch["input_ids"].shape[1]
        k = len(examples[0]["kd_ids"]) // max(1, len(examples[0]["input_ids"]))
        ids = torch.full((len(examples), width, k), -1, dtype=torch.long)
        lps = torch.full((len(examples), width, k), -math.inf, dtype=torch.float32)
        for r, e in enumerate(examples):
            n = min(len(e["input_ids"]), width)
            ids[r, :n] = torch.as_tensor(e["kd_ids"][:n * k], dtype=torch.long).view(n, k)
            lps[r, :n] = torch.as_tensor(e["kd_logprobs"][:n * k], dtype=torch.float32).view(n, k)
        batch["kd_ids"], batch["kd_logprobs"] = ids, lps
        return batch
