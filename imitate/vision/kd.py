"""Cross-modal feature KD: a vision-language student's image-token hidden states regressed onto a
stronger vision encoder's features of the same image (FitNets across models and modalities).

    imitate finetune --student SMOLVLM --kd feature --kd-teacher SIGLIP_OR_CLIP [--layer-map S:T]

- The teacher is a vision encoder folder (SigLIP, CLIP, ...: a vision config or a full CLIP/SigLIP
  model, whose vision tower is used) with its image processor; it sees each record's images through
  that processor, frozen, under no_grad.
- Its features at layer T (1-based; default: its last layer) are a grid of patch features (CLIP's
  class token is dropped), average-pooled to the student's grid of image tokens per image (SmolVLM:
  8 x 8 = 64; the tiny test student: 2 x 2). With image splitting the student shows an image as
  several tiles and a global view, in that order; the global view (the last run of image tokens of
  each image) is the one matched.
- The student's hidden states at layer S (1-based, the output of its S-th language-model block;
  default: the middle one) at those image-token positions go through the existing regressor
  (imitate.distill.features: one Linear(d_S, d_T), trained, saved as regressor.pt) and the existing
  FitNets loss (imitate.distill.losses.feature_kd: MSE), both sides RMS-normalized per position,
  masked to the image positions and averaged over them.
- Training loss: lambda_ce * CE (TRL's, answer tokens) + lambda_mse * MSE; the MSE of a micro-batch
  is its mean over image positions, divided by the accumulation steps where the Trainer does not
  divide the loss itself, so each micro-batch weighs alike. Evaluation is plain CE.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from trl import SFTTrainer

from imitate.distill.features import LayerCapture, build_regressors, pair_key, parse_layer_map, rms_normalize
from imitate.distill.kd_trainer import KDTrainer
from imitate.distill.losses import feature_kd
from imitate.distill.options import KDOptions
from imitate.errors import UserError

KD_KEYS = ("kd_pixel_values", "kd_image_counts")


def load_encoder(path: str):
    """(frozen vision encoder, its image processor) from a folder or hub id."""
    from transformers import AutoImageProcessor, AutoModel

    try:
        model = AutoModel.from_pretrained(path)
        processor = AutoImageProcessor.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the vision encoder (--kd-teacher) and its image processor: {e}", path) from None
    vlm = any(getattr(model.config, k, None) is not None for k in ("image_token_id", "image_token_index"))
    model = getattr(model, "vision_model", model)   # a full CLIP / SigLIP model: its vision tower
    cfg = model.config
    if vlm or not hasattr(cfg, "patch_size") or not hasattr(cfg, "num_hidden_layers") or hasattr(cfg, "vision_config"):
        raise UserError(f"--kd-teacher with a vision-language student must be a vision encoder (SigLIP, CLIP), "
                        f"not {type(model).__name__}", path)
    return model.eval().requires_grad_(False), processor


def image_groups(input_ids: torch.Tensor, image_token_id: int, counts: list[int], k: int) -> list[tuple[int, torch.Tensor]]:
    """[(row, the k positions of the image's global view)] for each image, in order. Each image is
    one run of k image tokens, or several (tiles, then the global view, the last)."""
    out = []
    for r, m in enumerate(counts):
        if not m:
            continue
        pos = (input_ids[r] == image_token_id).nonzero().flatten()
        if len(pos) % (k * m):
            raise ValueError(f"row {r}: {len(pos)} image tokens do not split into {m} images of runs of {k}")
        per = len(pos) // m
        for i in range(m):
            out.append((r, pos[(i + 1) * per - k:(i + 1) * per]))
    return out


def grid_features(feats: torch.Tensor, side: int) -> torch.Tensor:
    """Patch features (n, P, d) -> (n, side*side, d): the square grid of patches (a leading class
    token, as CLIP's, dropped) average-pooled to side x side, row-major."""
    n, p, d = feats.shape
    g = math.isqrt(p)
    if g * g != p:
        if math.isqrt(p - 1) ** 2 == p - 1:
            feats, g = feats[:, 1:], math.isqrt(p - 1)
        else:
            raise ValueError(f"{p} encoder positions are not a square grid of patches (with or without a class token)")
    grid = feats.float().transpose(1, 2).reshape(n, d, g, g)
    return F.adaptive_avg_pool2d(grid, side).flatten(2).transpose(1, 2)


def cross_modal_loss(student_hidden: torch.Tensor, input_ids: torch.Tensor, image_token_id: int, counts: list[int],
                     teacher_feats: torch.Tensor, regressor: nn.Module, k: int) -> torch.Tensor:
    """MSE between the regressed, RMS-normalized student hidden states at the image positions and
    the RMS-normalized teacher grid features pooled onto them; mean over image positions.

    Args:
        student_hidden: (B, T, d_S), one layer of the student's language model.
        input_ids: (B, T); image_token_id marks the image positions.
        counts: images per row (sum = n).
        teacher_feats: (n, P, d_T), the encoder's features of the n images, in row order.
        regressor: Linear(d_S, d_T).
        k: image tokens per view (a square: 4, 64, ...).
    """
    side = math.isqrt(k)
    if side * side != k:
        raise ValueError(f"cross-modal feature KD needs a square grid of image tokens per image, got {k}")
    groups = image_groups(input_ids, image_token_id, counts, k)
    if len(groups) != teacher_feats.shape[0]:
        raise ValueError(f"{len(groups)} images in the tokens, {teacher_feats.shape[0]} given to the encoder")
    mask = torch.zeros(input_ids.shape, dtype=torch.bool, device=student_hidden.device)
    if not groups:
        return student_hidden.sum() * 0.0
    target = torch.zeros(*input_ids.shape, teacher_feats.shape[-1], device=student_hidden.device)
    pooled = grid_features(teacher_feats, side).to(student_hidden.device)
    for (r, pos), feats in zip(groups, pooled):
        mask[r, pos] = True
        target[r, pos] = feats
    return feature_kd(rms_normalize(student_hidden), rms_normalize(target), regressor, mask)


class LanguageLayerCapture(LayerCapture):
    """LayerCapture on the blocks of a VLM's language model (its vision tower has blocks too)."""

    def __init__(self, model: nn.Module, layers):
        from imitate.distill.features import _base
        self.blocks = _base(model).get_decoder().layers
        self.layers = sorted(set(layers))
        self.outputs = {}
        self._handles = []


def image_seq_len(processor, model) -> int:
    k = getattr(processor, "image_seq_len", None) or getattr(getattr(model, "config", None), "image_seq_length", None)
    if not k:
        raise UserError("cross-modal feature KD needs the student's image tokens per image (processor.image_seq_len)")
    return int(k)


def kd_setup(cfg: KDOptions, model, processor, seed: int = 0) -> dict:
    """The vision encoder, the layer pair, the regressor: CrossModalKDTrainer's extra kwargs."""
    if len(cfg.kd_teacher) != 1:
        raise UserError("cross-modal feature KD takes one vision encoder as --kd-teacher")
    encoder, enc_processor = load_encoder(cfg.kd_teacher[0])
    s_cfg = model.config.get_text_config()
    given = (cfg.layer_map or "").strip()
    pairs = parse_layer_map(given or f"{(s_cfg.num_hidden_layers + 1) // 2}:{encoder.config.num_hidden_layers}",
                            s_cfg.num_hidden_layers, encoder.config.num_hidden_layers)
    if len(pairs) != 1:
        raise UserError("--layer-map: cross-modal feature KD takes one STUDENT:ENCODER pair")
    regressors = build_regressors(pairs, s_cfg.hidden_size, encoder.config.hidden_size, seed=seed)
    image_id = getattr(model.config, "image_token_id", None) or getattr(model.config, "image_token_index", None)
    return dict(teachers=[encoder], kd=("feature",), layer_map=pairs, regressors=regressors,
                temperature=cfg.kd_temperature, lambda_ce=cfg.lambda_ce, lambda_kl=cfg.lambda_kl,
                lambda_mse=cfg.lambda_mse, encoder_processor=enc_processor, image_token_id=int(image_id),
                image_seq_len=image_seq_len(processor, model))


class CrossModalKDTrainer(KDTrainer):
    """KDTrainer (its regressor handling, saving and logs) whose feature term is `cross_modal_loss`;
    its collator also gives the encoder's pixel values of each batch's images."""

    def __init__(self, *args, encoder_processor=None, image_token_id=None, image_seq_len=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.image_token_id, self.image_seq_len = image_token_id, image_seq_len
        self.data_collator.encoder_processor = encoder_processor

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        extra = {k: inputs.pop(k) for k in KD_KEYS if k in inputs}
        if not model.training or return_outputs or not extra:
            return SFTTrainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)
        (s, t), = self.kd_layer_map
        with LanguageLayerCapture(model, [s]) as cap:
            ce = SFTTrainer.compute_loss(self, model, inputs, False, num_items_in_batch)
        with torch.no_grad():
            teacher = self.kd_teachers[0]
            pixels = extra["kd_pixel_values"].to(self.args.device, next(teacher.parameters()).dtype)
            feats = teacher(pixel_values=pixels, output_hidden_states=True).hidden_states[t]
        mse = cross_modal_loss(cap.outputs[s], inputs["input_ids"], self.image_token_id,
                               extra["kd_image_counts"].tolist(), feats, self.regressors[pair_key(s, t)],
                               self.image_seq_len)
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            mse = mse / self.current_gradient_accumulation_steps   # the Trainer leaves the loss undivided
        for k, v in {"kd_ce": ce.detach(), "kd_mse": mse.detach()}.items():
            self.kd_logs.setdefault(k, []).append(self.accelerator.gather_for_metrics(v.float()).mean().item())
        return self.lambda_ce * ce + self.lambda_mse * mse
