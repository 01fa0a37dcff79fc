"""Knowledge-distillation losses: pure functions, fp32 inside, shapes and masks in the docstrings.

Conventions shared by every function here:
- `mask` is a bool tensor (B, T), True where a position counts. The caller aligns it: for logit KD
  with causal-LM logits, position t predicts token t+1, so the mask is `labels[:, 1:] != -100`
  against `logits[:, :-1]`.
- The result is a scalar: the mean over the masked positions (a sum over the vocabulary or the
  feature dimension inside each position), or with `reduction="sum"` their sum, for a caller that
  divides by a token count of its own (the trainer: the same count as the cross-entropy). With no
  masked position it is a zero that still belongs to the graph, so `backward()` never fails on an
  empty micro-batch.
- Inputs may be bf16/fp16; everything is computed in fp32.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

KINDS = ("forward", "reverse", "jsd")


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, from log-probabilities (N, V) -> (N,). 0 * log 0 counts as 0."""
    p = log_p.exp()
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(-1)


def _teacher_log_probs(teacher_logits, mask, temperature, weights) -> torch.Tensor:
    """log of the weighted mean of the teachers' softened distributions, at masked positions (N, V).

    Averaging probabilities (not logits) is the ensemble: each teacher's distribution weighs by its
    weight, so one teacher's confident error is diluted by the others.
    """
    if isinstance(teacher_logits, torch.Tensor):
        teacher_logits = [teacher_logits]
    n = len(teacher_logits)
    if n == 0:
        raise ValueError("logit_kd needs at least one teacher")
    w = torch.full((n,), 1.0 / n) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    if w.shape != (n,) or (w < 0).any() or float(w.sum()) <= 0:
        raise ValueError(f"weights must be {n} non-negative numbers with a positive sum, got {weights}")
    w = (w / w.sum()).tolist()
    logs = [F.log_softmax(t[mask].float() / temperature, dim=-1) for t in teacher_logits]
    if n == 1:
        return logs[0]
    stacked = torch.stack([lp + math.log(wi) if wi > 0 else torch.full_like(lp, -math.inf)
                           for lp, wi in zip(logs, w)])
    return torch.logsumexp(stacked, dim=0)


def logit_kd(student_logits: torch.Tensor, teacher_logits, mask: torch.Tensor,
             temperature: float = 1.0, kind: str = "forward", weights: Sequence[float] | None = None,
             beta: float = 0.5, reduction: str = "mean") -> torch.Tensor:
    """Divergence between teacher and student next-token distributions, softened by `temperature`.

    Args:
        student_logits: (B, T, V).
        teacher_logits: (B, T, V), or a list of such tensors (several teachers): their softened
            distributions p_T,i = softmax(logits_i / T) are averaged with `weights` (uniform when None).
        mask: (B, T) bool, True where a position counts (aligned by the caller, see module doc).
        temperature: T > 0. Both distributions are softmax(logits / T); the result is multiplied by
            T**2 so that gradient magnitudes stay comparable across temperatures (Hinton et al.).
        kind: "forward" = KL(p_T || p_S) (mean-seeking, the classic KD loss);
              "reverse" = KL(p_S || p_T) (mode-seeking);
              "jsd" = generalized Jensen-Shannon divergence with mixture M = beta*p_T + (1-beta)*p_S:
              beta * KL(p_T || M) + (1 - beta) * KL(p_S || M), as in GKD (Agarwal et al., 2024);
              beta must lie strictly between 0 and 1 (0.5 is the symmetric JSD).
        weights: one non-negative weight per teacher (normalized here).
        beta: the JSD mixture weight, used only by kind="jsd".

    Returns:
        A scalar: T**2 * mean (or sum, see module doc) over masked positions of the divergence
        (summed over V).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    mask = mask.bool()
    if not mask.any():
        return student_logits.sum() * 0.0
    log_s = F.log_softmax(student_logits[mask].float() / temperature, dim=-1)
    log_t = _teacher_log_probs(teacher_logits, mask, temperature, weights).to(log_s.device)
    if log_s.shape != log_t.shape:
        raise ValueError(f"student and teacher logits differ in shape: {tuple(log_s.shape)} vs {tuple(log_t.shape)}")
    if kind == "forward":
        per_pos = _kl(log_t, log_s)
    elif kind == "reverse":
        per_pos = _kl(log_s, log_t)
    else:
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must lie strictly between 0 and 1 for kind='jsd', got {beta}")
        log_m = torch.logsumexp(torch.stack([log_t + math.log(beta), log_s + math.log(1 - beta)]), dim=0)
        per_pos = beta * _kl(log_t, log_m) + (1 - beta) * _kl(log_s, log_m)
    return _reduce(per_pos, reduction) * temperature ** 2


def feature_kd(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor,
               regressor: Callable[[torch.Tensor], torch.Tensor], mask: torch.Tensor,
               reduction: str = "mean") -> torch.Tensor:
    """FitNets hint loss: MSE between teacher features and the regressed student features.

    Args:
        student_hidden: (B, T, d_S), one layer's hidden states of the student (keeps its graph).
        teacher_hidden: (B, T, d_T), the matched teacher layer (normally computed under no_grad).
        regressor: maps (..., d_S) -> (..., d_T), e.g. torch.nn.Linear(d_S, d_T); it is trained, so
            the gradient flows into it and into the student.
        mask: (B, T) bool, True at the positions compared (both models read the same tokens, so no
            shift: position t is the state after reading token t).

    Returns:
        A scalar: the mean over all d_T dimensions of (f_T - R(f_S))**2, then the mean (or sum, see
        module doc) over masked positions.
    """
    mask = mask.bool()
    if not mask.any():
        return student_hidden.sum() * 0.0
    pred = regressor(student_hidden[mask].float()).float()  # (N, d_T)
    target = teacher_hidden[mask].float().to(pred.device)
    if pred.shape != target.shape:
        raise ValueError(f"regressor output {tuple(pred.shape)} does not match teacher features {tuple(target.shape)}")
    return _reduce(((pred - target) ** 2).mean(-1), reduction)


def _reduce(per_pos: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return per_pos.sum() if reduction == "sum" else per_pos.mean()


def topk_kd(student_logprobs: torch.Tensor, top_ids: torch.Tensor, top_logprobs: torch.Tensor,
            temperature: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Gray-box KD: forward KL(p_T || p_S) over the teacher's top-k tokens plus one "rest" bucket.

    Args:
        student_logprobs: (N, K), the student's log-probabilities (log_softmax of its logits) of the
            teacher's top-k ids (any value where the id is -1), at the N positions that count
            (selected by the caller: no mask here). The caller gathers them from the log-softmax it
            has for its CE, so this loss makes no pass over the vocabulary; a row whose ids are all -1
            scores zero.
        top_ids: (N, K) long, the teacher's top-k token ids in the student's vocabulary; -1 marks
            an unknown alternative (its teacher mass then falls into the rest bucket), and so does a
            repeat of an id earlier in the row.
        top_logprobs: (N, K), the teacher's log-probabilities of those tokens (temperature 1).
        temperature: T > 0, applied to both (K+1)-outcome distributions alike (p_j^(1/T), renormalized
            over the K+1 outcomes); the result is multiplied by T**2. T = 1 is the plain KL.

    The K+1 outcomes are the k ids and "rest" = every other token: teacher rest = 1 - sum(p_topk),
    student rest = 1 - sum(q) on the same ids, computed from the K gathered log-probabilities in
    float64 (log(1 - exp(logsumexp)), the stable log1mexp): exact up to the rounding of the input,
    so with fp32 log-probabilities a student rest mass below about 1e-7 is rounding noise. This is a
    proper KL between two distributions over K+1 outcomes, a lower bound of the full-vocabulary KL
    (grouping outcomes never increases a KL), zero when the student equals the teacher on the top-k,
    and it still penalises student mass outside the teacher's top-k (renormalising both on the k
    ids would not: any student with the right ratios among the k ids would score zero).

    Returns: T**2 * the mean (or sum) over the N positions of the KL (a graph-attached zero when N = 0).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    lp = student_logprobs
    if lp.shape[0] == 0:
        return lp.sum() * 0.0
    ids = top_ids.to(lp.device).long()
    k = ids.shape[-1]
    earlier = torch.ones(k, k, dtype=torch.bool, device=ids.device).tril(-1)   # [i, j]: j comes before i
    repeat = ((ids[:, :, None] == ids[:, None, :]) & earlier & (ids[:, None, :] >= 0)).any(-1)
    valid = (ids >= 0) & ~repeat
    inf = torch.tensor(-math.inf, dtype=torch.float64, device=lp.device)
    log_q = torch.where(valid, lp.double(), inf)
    top = torch.logsumexp(log_q, dim=-1, keepdim=True).clamp(max=-1e-12)   # log of the student's top-k mass
    log_q_rest = torch.where(top > -math.log(2), torch.log(-torch.expm1(top)), torch.log1p(-torch.exp(top)))
    log_p = torch.where(valid, top_logprobs.to(lp.device, torch.float64), inf)
    p_rest = (1.0 - log_p.exp().sum(-1, keepdim=True)).clamp(min=0.0)
    log_p_rest = torch.where(p_rest > 1e-12, p_rest.clamp(min=1e-12).log(), torch.full_like(p_rest, -math.inf))
    log_p = torch.cat([log_p, log_p_rest], dim=-1)                          # (N, K+1)
    log_q = torch.cat([log_q, log_q_rest], dim=-1)
    if temperature != 1.0:
        log_p = torch.log_softmax(log_p / temperature, dim=-1)
        log_q = torch.log_softmax(log_q / temperature, dim=-1)
    else:   # the teacher's reported top-k may sum to slightly more than 1: renormalize
        log_p = log_p - torch.logsumexp(log_p, dim=-1, keepdim=True)
    kl = _reduce(_kl(log_p, log_q.clamp(min=-1e4)), reduction) * temperature ** 2
    return kl.to(lp.dtype)
